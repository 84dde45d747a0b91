"""A recursive-descent parser of Go templates into ``nodes``, reporting Go's parse errors."""

from __future__ import annotations

from collections.abc import Collection, Iterator

from cli.gotemplate.lexer import Lexer, T, Token
from cli.gotemplate.nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
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
    _ElseNode,
    _EndNode,
)


class ParseError(Exception):
    """A template that does not parse; the message is Go's (``template: :1: …``)."""


class Parser:
    """Go's ``parse.Tree`` for one anonymous template (no ``define``/``template``)."""

    def __init__(self, text: str, functions: Collection[str]) -> None:
        self.text = text
        self.functions = functions
        self.tokens: Iterator[Token] = Lexer(text).tokens()
        self.lookahead: list[Token] = []  # pushed-back tokens, last = next
        self.lexed: Token = Token(T.EOF, 0, "", 1)  # newest token from the lexer
        self.vars = ["$"]
        self.range_depth = 0
        self.action_line = 0

    # token plumbing -------------------------------------------------------------------------
    def next(self) -> Token:
        if self.lookahead:
            return self.lookahead.pop()
        self.lexed = next(self.tokens)
        return self.lexed

    def backup(self, token: Token) -> None:
        self.lookahead.append(token)

    def peek(self) -> Token:
        token = self.next()
        self.backup(token)
        return token

    def next_non_space(self) -> Token:
        token = self.next()
        while token.kind is T.SPACE:
            token = self.next()
        return token

    def peek_non_space(self) -> Token:
        token = self.next_non_space()
        self.backup(token)
        return token

    def errorf(self, message: str) -> ParseError:
        return ParseError(f"template: :{self.lexed.line}: {message}")

    def unexpected(self, token: Token, context: str) -> ParseError:
        if token.kind is T.ERROR:
            extra = ""
            if self.action_line and self.action_line != token.line:
                extra = f" in action started at :{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            return self.errorf(f"{token}{extra}")
        return self.errorf(f"unexpected {token} in {context}")

    def expect(self, kind: T, context: str) -> Token:
        token = self.next_non_space()
        if token.kind is not kind:
            raise self.unexpected(token, context)
        return token

    # grammar --------------------------------------------------------------------------------
    def parse(self) -> ListNode:
        root = ListNode(self.peek().pos)
        while self.peek().kind is not T.EOF:
            if self.peek().kind is T.LEFT_DELIM:
                delim = self.next()
                word = self.next_non_space()
                if word.kind is T.DEFINE:
                    raise self.errorf("{{define}} is not supported here")
                self.backup(word)
                self.backup(delim)
            node = self.text_or_action()
            if isinstance(node, _EndNode | _ElseNode):
                raise self.errorf(f"unexpected {node}")
            root.nodes.append(node)
        return root

    def item_list(self) -> tuple[ListNode, Node]:
        nodes = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().kind is not T.EOF:
            node = self.text_or_action()
            if isinstance(node, _EndNode | _ElseNode):
                return nodes, node
            nodes.nodes.append(node)
        raise self.errorf("unexpected EOF")

    def text_or_action(self) -> Node:
        token = self.next_non_space()
        if token.kind is T.TEXT:
            return TextNode(token.pos, token.val)
        if token.kind is T.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        raise self.unexpected(token, "input")

    def action(self) -> Node:
        token = self.next_non_space()
        kind = token.kind
        if kind is T.ELSE:
            peek = self.peek_non_space()
            if peek.kind is T.IF:
                return _ElseNode(peek.pos)
            return _ElseNode(self.expect(T.RIGHT_DELIM, "else").pos)
        if kind is T.END:
            return _EndNode(self.expect(T.RIGHT_DELIM, "end").pos)
        if kind in (T.IF, T.RANGE, T.WITH):
            return self.control(token.val)
        if kind in (T.BREAK, T.CONTINUE):
            closing = self.next_non_space()
            if closing.kind is not T.RIGHT_DELIM:
                raise self.unexpected(closing, "{{" + token.val + "}}")
            if not self.range_depth:
                raise self.errorf("{{" + token.val + "}} outside {{range}}")
            return BreakNode(token.pos) if kind is T.BREAK else ContinueNode(token.pos)
        if kind in (T.TEMPLATE, T.BLOCK):
            raise self.errorf("{{" + token.val + "}} is not supported here")
        self.backup(token)
        start = self.peek()
        return ActionNode(start.pos, start.line, self.pipeline("command", T.RIGHT_DELIM))

    def control(self, keyword: str) -> BranchNode:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(keyword, T.RIGHT_DELIM)
            if keyword == "range":
                self.range_depth += 1
            body, nxt = self.item_list()
            if keyword == "range":
                self.range_depth -= 1
            else_list = None
            if isinstance(nxt, _ElseNode):
                if keyword == "if" and self.peek().kind is T.IF:
                    self.next()
                    else_list = ListNode(nxt.pos, [self.control("if")])
                else:
                    else_list, end = self.item_list()
                    if not isinstance(end, _EndNode):
                        raise self.errorf(f"expected end; found {end}")
            return BranchNode(pipe.pos, keyword, pipe, body, else_list)
        finally:
            del self.vars[mark:]

    def pipeline(self, context: str, end: T) -> PipeNode:
        start = self.peek_non_space()
        pipe = PipeNode(start.pos, start.line)
        self._declarations(pipe, context)
        while True:
            token = self.next_non_space()
            if token.kind is end:
                self._check_pipeline(pipe, context)
                return pipe
            if token.kind in _OPERAND_STARTS:
                self.backup(token)
                pipe.cmds.append(self.command())
                continue
            raise self.unexpected(token, context)

    def _declarations(self, pipe: PipeNode, context: str) -> None:
        while True:
            var = self.peek_non_space()
            if var.kind is not T.VARIABLE:
                return
            self.next_non_space()
            after_var = self.peek()
            nxt = self.peek_non_space()
            if nxt.kind in (T.ASSIGN, T.DECLARE):
                pipe.is_assign = nxt.kind is T.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(var.pos, var.val.split(".")))
                self.vars.append(var.val)
                return
            if nxt.kind is T.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(var.pos, var.val.split(".")))
                self.vars.append(var.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().kind in (T.VARIABLE, T.RIGHT_DELIM, T.RIGHT_PAREN):
                        continue
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            # not a declaration: put back the variable (and the space after it)
            if after_var.kind is T.SPACE:
                self.lookahead = [t for t in self.lookahead if t is not nxt]
                self.backup(nxt)
                self.backup(after_var)
            self.backup(var)
            return

    def _check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.errorf(f"missing value for {context}")
        for i, cmd in enumerate(pipe.cmds[1:]):
            if isinstance(cmd.args[0], BoolNode | DotNode | NilNode | NumberNode | StringNode):
                raise self.errorf(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.kind is T.SPACE:
                continue
            if token.kind in (T.RIGHT_DELIM, T.RIGHT_PAREN):
                self.backup(token)
            elif token.kind is not T.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.errorf("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind is T.FIELD:
            chain = ChainNode(self.peek().pos, node)
            while self.peek().kind is T.FIELD:
                chain.fields.append(self.next().val[1:])
            if isinstance(node, FieldNode):
                return FieldNode(chain.pos, [*node.ident, *chain.fields])
            if isinstance(node, VariableNode):
                return VariableNode(chain.pos, [*node.ident, *chain.fields])
            if isinstance(node, BoolNode | StringNode | NumberNode | NilNode | DotNode):
                raise self.errorf(f"unexpected . after term {_quote(str(node))}")
            return chain
        return node

    def term(self) -> Node | None:
        token = self.next_non_space()
        kind = token.kind
        if kind is T.ERROR:
            raise self.errorf(token.val)
        if kind is T.IDENTIFIER:
            if token.val not in self.functions:
                raise self.errorf(f"function {_quote(token.val)} not defined")
            return IdentifierNode(token.pos, token.val)
        if kind is T.DOT:
            return DotNode(token.pos)
        if kind is T.NIL:
            return NilNode(token.pos)
        if kind is T.VARIABLE:
            name = token.val.split(".")[0]
            if name not in self.vars:
                raise self.errorf(f"undefined variable {_quote(name)}")
            return VariableNode(token.pos, token.val.split("."))
        if kind is T.FIELD:
            return FieldNode(token.pos, token.val[1:].split("."))
        if kind is T.BOOL:
            return BoolNode(token.pos, token.val == "true")
        if kind in (T.NUMBER, T.CHAR_CONSTANT):
            return self.number(token)
        if kind is T.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", T.RIGHT_PAREN)
        if kind in (T.STRING, T.RAW_STRING):
            return StringNode(token.pos, token.val, self.unquote(token.val))
        self.backup(token)
        return None

    def unquote(self, quoted: str) -> str:
        try:
            return go_unquote(quoted)
        except ValueError as exc:
            raise self.errorf(str(exc)) from None

    def number(self, token: Token) -> NumberNode:
        text = token.val
        node = NumberNode(token.pos, text)
        if token.kind is T.CHAR_CONSTANT:
            body = text[1:-1]
            if not body.startswith("\\") and len(body) != 1:
                raise self.errorf(f"malformed character constant: {text}")
            try:
                char = go_unquote(text)
            except ValueError as exc:
                raise self.errorf(str(exc)) from None
            node.is_int = node.is_float = True
            node.int_value = ord(char)
            node.float_value = float(node.int_value)
            return node
        if text.endswith("i"):
            raise self.errorf("complex numbers are not supported")
        digits = text.replace("_", "")
        value = _parse_int(digits)
        if value is not None:
            if not -(2**63) <= value < 2**64:
                raise self.errorf(f"integer overflow: {_quote(text)}")
            node.is_int = value < 2**63  # beyond: Go's uint64, which overflows int
            node.int_value = value
            node.is_float = True
            node.float_value = float(value)
            return node
        try:
            hexa = digits.lstrip("+-").lower().startswith("0x")
            node.float_value = float.fromhex(digits) if hexa else float(digits)
        except ValueError:
            raise self.errorf(f"illegal number syntax: {_quote(text)}") from None
        node.is_float = True
        if node.float_value.is_integer() and abs(node.float_value) < 2**63:
            node.is_int = True
            node.int_value = int(node.float_value)
        return node


def _parse_int(digits: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 0, …)`` syntax: 0x, 0o, 0b prefixes, a leading 0 = octal."""
    try:
        return int(digits, 0)
    except ValueError:
        pass
    body = digits.lstrip("+-")
    if len(body) > 1 and body[0] == "0" and all(c in "01234567" for c in body):
        value = int(body, 8)
        return -value if digits.startswith("-") else value
    return None


_OPERAND_STARTS = {
    T.BOOL,
    T.CHAR_CONSTANT,
    T.DOT,
    T.FIELD,
    T.IDENTIFIER,
    T.NUMBER,
    T.NIL,
    T.RAW_STRING,
    T.STRING,
    T.VARIABLE,
    T.LEFT_PAREN,
}


def _quote(text: str) -> str:
    from cli.gotemplate.lexer import go_quote

    return go_quote(text)


_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}


def go_unquote(quoted: str) -> str:
    """Go's ``strconv.Unquote`` for "…", `…` and '…' literals; ValueError("invalid syntax")."""
    if len(quoted) < 2 or quoted[0] != quoted[-1] or quoted[0] not in "\"`'":
        raise ValueError("invalid syntax")
    quote, body = quoted[0], quoted[1:-1]
    if quote == "`":
        if "`" in body:
            raise ValueError("invalid syntax")
        return body.replace("\r", "")
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == quote or ch == "\n":
            raise ValueError("invalid syntax")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        i += 1
        if i >= len(body):
            raise ValueError("invalid syntax")
        esc = body[i]
        i += 1
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
        elif esc == quote:
            out.append(esc)
        elif esc in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[esc]
            hexdigits = body[i : i + width]
            if len(hexdigits) != width or any(c not in "0123456789abcdefABCDEF" for c in hexdigits):
                raise ValueError("invalid syntax")
            code = int(hexdigits, 16)
            if esc != "x" and (code > 0x10FFFF or 0xD800 <= code < 0xE000):
                raise ValueError("invalid syntax")
            out.append(chr(code))
            i += width
        elif esc in "01234567":
            octal = body[i - 1 : i + 2]
            if len(octal) != 3 or any(c not in "01234567" for c in octal) or int(octal, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(chr(int(octal, 8)))
            i += 2
        else:
            raise ValueError("invalid syntax")
    text = "".join(out)
    if quote == "'" and len(text) != 1:
        raise ValueError("invalid syntax")
    return text
