"""Parse-tree nodes of Go templates, with Go's ``String`` forms (they appear in execution
errors)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Node:
    pos: int

    def __str__(self) -> str:  # pragma: no cover - every node overrides it
        raise NotImplementedError


@dataclass
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclass
class TextNode(Node):
    text: str = ""

    def __str__(self) -> str:
        return self.text


@dataclass
class CommentNode(Node):
    def __str__(self) -> str:
        return "{{/* */}}"


@dataclass
class IdentifierNode(Node):
    ident: str = ""

    def __str__(self) -> str:
        return self.ident


@dataclass
class VariableNode(Node):
    ident: list[str] = field(default_factory=list)  # ["$x", "Field", ...]

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass
class DotNode(Node):
    def __str__(self) -> str:
        return "."


@dataclass
class NilNode(Node):
    def __str__(self) -> str:
        return "nil"


@dataclass
class FieldNode(Node):
    ident: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


@dataclass
class BoolNode(Node):
    value: bool = False

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass
class NumberNode(Node):
    text: str = ""
    is_int: bool = False
    is_float: bool = False
    int_value: int = 0
    float_value: float = 0.0

    def __str__(self) -> str:
        return self.text


@dataclass
class StringNode(Node):
    quoted: str = ""
    text: str = ""

    def __str__(self) -> str:
        return self.quoted


@dataclass
class CommandNode(Node):
    args: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, PipeNode) else str(a) for a in self.args)


@dataclass
class PipeNode(Node):
    line: int = 1
    is_assign: bool = False
    decl: list[VariableNode] = field(default_factory=list)
    cmds: list[CommandNode] = field(default_factory=list)

    def __str__(self) -> str:
        head = ", ".join(str(v) for v in self.decl) + " := " if self.decl else ""
        return head + " | ".join(str(c) for c in self.cmds)


@dataclass
class ChainNode(Node):
    node: Node = field(default_factory=lambda: DotNode(0))
    fields: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return head + "".join("." + f for f in self.fields)


@dataclass
class ActionNode(Node):
    line: int = 1
    pipe: PipeNode = field(default_factory=lambda: PipeNode(0))

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass
class BranchNode(Node):
    """``if``, ``range`` and ``with``: ``keyword`` says which."""

    keyword: str = "if"
    pipe: PipeNode = field(default_factory=lambda: PipeNode(0))
    list: ListNode = field(default_factory=lambda: ListNode(0))
    else_list: ListNode | None = None

    def __str__(self) -> str:
        text = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.list)
        if self.else_list is not None:
            text += "{{else}}" + str(self.else_list)
        return text + "{{end}}"


@dataclass
class BreakNode(Node):
    def __str__(self) -> str:
        return "{{break}}"


@dataclass
class ContinueNode(Node):
    def __str__(self) -> str:
        return "{{continue}}"


@dataclass
class _EndNode(Node):
    def __str__(self) -> str:
        return "{{end}}"


@dataclass
class _ElseNode(Node):
    def __str__(self) -> str:
        return "{{else}}"


# --- parser --------------------------------------------------------------------------------
