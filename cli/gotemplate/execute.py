"""Execution of a parsed template over Python data, with Go's semantics and errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cli.gotemplate.funcs import BUILTINS, Func, FuncError
from cli.gotemplate.nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    CommentNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    StringNode,
    TextNode,
    VariableNode,
)
from cli.gotemplate.values import (
    MISSING,
    GoMap,
    GoObject,
    Iface,
    Member,
    StrList,
    is_true,
    sprint_value,
    type_name,
)


class ExecError(Exception):
    """A template that failed on its data; the message is Go's
    (``template: :1:2: executing "" at <.Foo>: …``)."""


class _NoFinal:
    """No value piped in from the previous command (Go's ``missingVal``)."""


NO_FINAL: Any = _NoFinal()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_GO_KIND = {"string": "string", "int": "int", "bool": "bool"}


class State:
    def __init__(
        self, text: str, data: Any, functions: Mapping[str, Func], missingkey_error: bool
    ) -> None:
        self.text = text
        self.functions = functions
        self.missingkey_error = missingkey_error
        self.node: Node | None = None
        self.out: list[str] = []
        self.vars: list[tuple[str, Any]] = [("$", _dig(data))]

    # errors -------------------------------------------------------------------------------
    def at(self, node: Node) -> None:
        self.node = node

    def errorf(self, message: str) -> ExecError:
        if self.node is None:
            return ExecError(f"template: : {message}")
        before = self.text[: self.node.pos]
        line = before.count("\n") + 1
        column = len(before[before.rfind("\n") + 1 :].encode())
        return ExecError(f'template: :{line}:{column}: executing "" at <{self.node}>: {message}')

    # variables ----------------------------------------------------------------------------
    def var_value(self, name: str) -> Any:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise self.errorf(f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise self.errorf(f"undefined variable: {name}")

    def set_top_var(self, n: int, value: Any) -> None:
        self.vars[-n] = (self.vars[-n][0], value)

    # walking ------------------------------------------------------------------------------
    def walk(self, dot: Any, node: Node) -> None:
        self.at(node)
        if isinstance(node, ActionNode):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.at(node)
                self.out.append(sprint_value(value))
        elif isinstance(node, TextNode):
            self.out.append(node.text)
        elif isinstance(node, ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, BranchNode):
            if node.keyword == "range":
                self.walk_range(dot, node)
            else:
                self.walk_if_or_with(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break
        elif isinstance(node, ContinueNode):
            raise _Continue
        elif isinstance(node, CommentNode):
            pass
        else:  # pragma: no cover - the parser makes no other node
            raise self.errorf(f"unknown node: {node}")

    def walk_if_or_with(self, dot: Any, node: BranchNode) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            truth, ok = is_true(value)
            if not ok:
                raise self.errorf(f"if/with can't use {sprint_value(value, False)}")
            if truth:
                self.walk(value if node.keyword == "with" else dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, node: BranchNode) -> None:
        self.at(node)
        outer = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            mark = len(self.vars)
            items = self._range_items(value)
            if not items:
                if node.else_list is not None:
                    self.walk(dot, node.else_list)
                return
            for index, elem in items:
                if node.pipe.decl:
                    self.set_top_var(1, elem)
                if len(node.pipe.decl) > 1:
                    self.set_top_var(2, index)
                try:
                    self.walk(elem, node.list)
                except _Continue:
                    pass
                finally:
                    del self.vars[mark:]
        except _Break:
            pass
        finally:
            del self.vars[outer:]

    def _range_items(self, value: Any) -> list[tuple[Any, Any]]:
        if value is MISSING:
            return []
        if isinstance(value, GoMap):
            return [(k, value[k]) for k in sorted(value)]
        if isinstance(value, dict):
            return [(k, Iface(value[k])) for k in sorted(value)]
        if isinstance(value, StrList):
            return list(enumerate(value))
        if isinstance(value, list | tuple):
            return [(i, Iface(v)) for i, v in enumerate(value)]
        raise self.errorf(f"range can't iterate over {sprint_value(value, False)}")

    # evaluation ---------------------------------------------------------------------------
    def eval_pipeline(self, dot: Any, pipe: PipeNode | None) -> Any:
        if pipe is None:
            return MISSING
        self.at(pipe)
        value: Any = NO_FINAL
        for cmd in pipe.cmds:
            value = _dig(self.eval_command(dot, cmd, value))
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.ident[0], value)
            else:
                self.vars.append((var.ident[0], value))
        return value

    def not_a_function(self, args: list[Node], final: Any) -> None:
        if len(args) > 1 or final is not NO_FINAL:
            raise self.errorf(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self.eval_field_node(dot, first, cmd.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain_node(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable_node(dot, first, cmd.args, final)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise self.errorf("nil is not a command")
        if isinstance(first, NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, StringNode):
            return first.text
        raise self.errorf(f"can't evaluate command {first}")  # pragma: no cover

    def ideal_constant(self, node: NumberNode) -> Any:
        self.at(node)
        text = node.text
        hex_int = len(text) > 2 and text[0] == "0" and text[1] in "xX" and "p" not in text.lower()
        if (
            node.is_float
            and not hex_int
            and not text.startswith("'")
            and any(c in text for c in ".eEpP")
        ):
            return node.float_value
        if node.is_int:
            return node.int_value
        raise self.errorf(f"{text} overflows int")

    def eval_field_node(self, dot: Any, node: FieldNode, args: list[Node], final: Any) -> Any:
        self.at(node)
        return self.eval_field_chain(dot, dot, node, node.ident, args, final)

    def eval_chain_node(
        self, dot: Any, node: ChainNode, args: list[Node] | None, final: Any
    ) -> Any:
        self.at(node)
        if isinstance(node.node, NilNode):
            raise self.errorf(f"indirection through explicit nil in {node}")
        receiver = self.eval_arg(dot, "value", node.node)
        return self.eval_field_chain(dot, receiver, node, node.fields, args, final)

    def eval_variable_node(
        self, dot: Any, node: VariableNode, args: list[Node] | None, final: Any
    ) -> Any:
        self.at(node)
        value = self.var_value(node.ident[0])
        if len(node.ident) == 1:
            self.not_a_function(args or [node], final)
            return value
        return self.eval_field_chain(dot, value, node, node.ident[1:], args, final)

    def eval_field_chain(
        self,
        dot: Any,
        receiver: Any,
        node: Node,
        ident: list[str],
        args: list[Node] | None,
        final: Any,
    ) -> Any:
        for name in ident[:-1]:
            receiver = self.eval_field(dot, name, node, None, NO_FINAL, receiver)
        return self.eval_field(dot, ident[-1], node, args, final, receiver)

    def eval_function(
        self, dot: Any, node: IdentifierNode, cmd: Node, args: list[Node] | None, final: Any
    ) -> Any:
        self.at(node)
        func = self.functions[node.ident]
        builtin = node.ident in BUILTINS and self.functions[node.ident] is BUILTINS[node.ident]
        return self.eval_call(dot, func, builtin, cmd, node.ident, args, final)

    def eval_field(
        self,
        dot: Any,
        name: str,
        node: Node,
        args: list[Node] | None,
        final: Any,
        receiver: Any,
    ) -> Any:
        if receiver is MISSING:
            if self.missingkey_error:
                raise self.errorf(f'nil data; no entry for key "{name}"')
            return MISSING
        typ = type_name(receiver)
        if isinstance(receiver, Iface):
            if receiver.value is None:
                raise self.errorf(f"nil pointer evaluating {typ}.{name}")
            receiver = receiver.value
        member = _member(receiver, name)
        if member is not None:
            return self.eval_call(dot, member, False, node, name, args, final)
        has_args = bool(args and len(args) > 1) or final is not NO_FINAL
        if isinstance(receiver, dict):
            if has_args:
                raise self.errorf(f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name] if isinstance(receiver, GoMap) else Iface(receiver[name])
            if self.missingkey_error and not isinstance(receiver, GoMap):
                raise self.errorf(f'map has no entry for key "{name}"')
            return MISSING
        raise self.errorf(f"can't evaluate field {name} in type {typ}")

    def eval_call(
        self,
        dot: Any,
        func: Func | Member,
        builtin: bool,
        node: Node,
        name: str,
        args: list[Node] | None,
        final: Any,
    ) -> Any:
        rest = list(args[1:]) if args is not None else []
        params = func.params
        variadic = func.variadic if isinstance(func, Func) else None
        num_in = len(rest) + (0 if final is NO_FINAL else 1)
        if variadic is not None:
            if num_in < len(params):
                raise self.errorf(
                    f"wrong number of args for {name}: want at least {len(params)} got {len(rest)}"
                )
        elif num_in != len(params):
            raise self.errorf(f"wrong number of args for {name}: want {len(params)} got {num_in}")

        if builtin and name in ("and", "or"):
            value: Any = MISSING
            for arg in rest:
                value = self.eval_arg(dot, "value", arg)
                if is_true(value)[0] == (name == "or"):
                    return value
            if final is not NO_FINAL:
                value = self.validate_type(final, "value")
            return value

        argv: list[Any] = []
        fixed = len(params) if variadic is not None else len(rest)
        for i, arg in enumerate(rest):
            kind = params[i] if i < fixed else str(variadic)
            argv.append(self.eval_arg(dot, kind, arg))
        if final is not NO_FINAL:
            if variadic is None:
                kind = params[-1]
            else:
                kind = params[num_in - 1] if num_in - 1 < len(params) else variadic
            argv.append(self.validate_type(final, kind))
        try:
            result = func.call(*argv)
        except FuncError as exc:
            self.at(node)
            raise self.errorf(f"error calling {name}: {exc}") from None
        return MISSING if result is None else result

    def validate_type(self, value: Any, kind: str) -> Any:
        if kind == "value":
            return value
        if kind == "any":
            if isinstance(value, Iface):
                value = value.value
            return None if value is MISSING else value
        go = _GO_KIND[kind]
        if value is MISSING:
            raise self.errorf(f"invalid value; expected {go}")
        shown = value
        if isinstance(value, Iface):
            if value.value is None:
                raise self.errorf(f"wrong type for value; expected {go}; got interface {{}}")
            value = shown = value.value
        if _fits(value, kind):
            return value
        raise self.errorf(f"wrong type for value; expected {go}; got {type_name(shown)}")

    def eval_arg(self, dot: Any, kind: str, node: Node) -> Any:
        self.at(node)
        if isinstance(node, DotNode):
            return self.validate_type(dot, kind)
        if isinstance(node, NilNode):
            if kind in ("value", "any"):
                return MISSING if kind == "value" else None
            raise self.errorf(f"cannot assign nil to {_GO_KIND[kind]}")
        if isinstance(node, FieldNode):
            return self.validate_type(self.eval_field_node(dot, node, [node], NO_FINAL), kind)
        if isinstance(node, VariableNode):
            return self.validate_type(self.eval_variable_node(dot, node, None, NO_FINAL), kind)
        if isinstance(node, PipeNode):
            return self.validate_type(self.eval_pipeline(dot, node), kind)
        if isinstance(node, IdentifierNode):
            value = self.eval_function(dot, node, node, None, NO_FINAL)
            return self.validate_type(value, kind)
        if isinstance(node, ChainNode):
            return self.validate_type(self.eval_chain_node(dot, node, None, NO_FINAL), kind)
        if kind == "bool":
            if isinstance(node, BoolNode):
                return node.value
            raise self.errorf(f"expected bool; found {node}")
        if kind == "int":
            if isinstance(node, NumberNode) and node.is_int:
                return node.int_value
            raise self.errorf(f"expected integer; found {node}")
        if kind == "string":
            if isinstance(node, StringNode):
                return node.text
            raise self.errorf(f"expected string; found {node}")
        # an interface{} (or reflect.Value) parameter takes any literal
        if isinstance(node, BoolNode):
            return node.value
        if isinstance(node, NumberNode):
            return self.ideal_constant(node)
        if isinstance(node, StringNode):
            return node.text
        raise self.errorf(f"can't handle assignment of {node} to empty interface argument")


def _dig(value: Any) -> Any:
    """Go's pipeline step that looks through ``interface{}`` to the concrete value."""
    if isinstance(value, Iface):
        value = value.value
    return MISSING if value is None else value


def _member(receiver: Any, name: str) -> Member | None:
    if isinstance(receiver, GoObject):
        return receiver.members().get(name)
    if isinstance(receiver, GoMap):
        return receiver.methods().get(name)
    return None


def _fits(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    return True
