"""Tokens of Go's text/template syntax, with the positions and messages Go reports.

Positions are indexes into the template string; error locations are turned into Go's
byte columns by the caller. Go's scanner emits an error token and stops; so does this one.
"""

from __future__ import annotations

import contextlib
import enum
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

LEFT, RIGHT = "{{", "}}"
SPACE_CHARS = " \t\r\n"


class T(enum.IntEnum):
    """Token kinds; those after KEYWORD are keywords (Go prints them as ``<word>``)."""

    ERROR = enum.auto()
    BOOL = enum.auto()
    CHAR = enum.auto()  # one printable ASCII character, e.g. a comma
    CHAR_CONSTANT = enum.auto()
    ASSIGN = enum.auto()  # =
    DECLARE = enum.auto()  # :=
    EOF = enum.auto()
    FIELD = enum.auto()  # .Name
    IDENTIFIER = enum.auto()  # a function name
    LEFT_DELIM = enum.auto()
    LEFT_PAREN = enum.auto()
    NUMBER = enum.auto()
    PIPE = enum.auto()
    RAW_STRING = enum.auto()
    RIGHT_DELIM = enum.auto()
    RIGHT_PAREN = enum.auto()
    SPACE = enum.auto()
    STRING = enum.auto()
    TEXT = enum.auto()
    VARIABLE = enum.auto()  # $ or $name
    KEYWORD = enum.auto()
    BLOCK = enum.auto()
    BREAK = enum.auto()
    CONTINUE = enum.auto()
    DOT = enum.auto()
    DEFINE = enum.auto()
    ELSE = enum.auto()
    END = enum.auto()
    IF = enum.auto()
    NIL = enum.auto()
    RANGE = enum.auto()
    TEMPLATE = enum.auto()
    WITH = enum.auto()


KEYWORDS = {
    ".": T.DOT,
    "block": T.BLOCK,
    "break": T.BREAK,
    "continue": T.CONTINUE,
    "define": T.DEFINE,
    "else": T.ELSE,
    "end": T.END,
    "if": T.IF,
    "range": T.RANGE,
    "nil": T.NIL,
    "template": T.TEMPLATE,
    "with": T.WITH,
}


@dataclass(frozen=True)
class Token:
    kind: T
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        """Go's ``item.String``, used in "unexpected X in Y" messages."""
        if self.kind is T.EOF:
            return "EOF"
        if self.kind is T.ERROR:
            return self.val
        if self.kind > T.KEYWORD:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` (%q of a string): printable runes kept, others escaped."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif _printable(ch):
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _printable(ch: str) -> bool:
    if ch == " ":
        return True
    return unicodedata.category(ch)[0] in "LMNPS"


def rune_repr(ch: str) -> str:
    """Go's ``%#U``: ``U+0023 '#'``."""
    code = ord(ch)
    text = f"U+{code:04X}"
    return f"{text} '{ch}'" if _printable(ch) else text


def is_space(ch: str) -> bool:
    return ch in SPACE_CHARS and ch != ""


def is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or (ch != "" and unicodedata.category(ch) == "Nd")


class _Stop(Exception):
    pass


class Lexer:
    """Go's state-machine scanner, as a generator of tokens."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.out: list[Token] = []

    # helpers ------------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.text[i] if i < len(self.text) else ""

    def line_at(self, pos: int) -> int:
        return 1 + self.text.count("\n", 0, pos)

    def emit(self, kind: T) -> None:
        val = self.text[self.start : self.pos]
        self.out.append(Token(kind, self.start, val, self.line_at(self.start)))
        self.start = self.pos

    def ignore(self) -> None:
        self.start = self.pos

    def error(self, message: str) -> None:
        self.out.append(Token(T.ERROR, self.start, message, self.line_at(self.start)))
        raise _Stop

    def at_right_delim(self) -> tuple[bool, bool]:
        rest = self.text[self.pos :]
        if _right_trim(rest) and rest[2:].startswith(RIGHT):
            return True, True
        return rest.startswith(RIGHT), False

    def at_terminator(self) -> bool:
        ch = self.peek()
        if ch == "" or is_space(ch) or ch in ".,|:()":
            return True
        return self.text.startswith(RIGHT, self.pos)

    # states -------------------------------------------------------------------------------
    def tokens(self) -> Iterator[Token]:
        with contextlib.suppress(_Stop):
            self._text()
        yield from self.out

    def _text(self) -> None:
        while True:
            found = self.text.find(LEFT, self.pos)
            if found < 0:
                self.pos = len(self.text)
                if self.pos > self.start:
                    self.emit(T.TEXT)
                self.emit(T.EOF)
                return
            self.pos = found
            trim = 0
            if _left_trim(self.text[found + 2 :]):
                chunk = self.text[self.start : found]
                trim = len(chunk) - len(chunk.rstrip(SPACE_CHARS))
            self.pos -= trim
            if self.pos > self.start:
                self.emit(T.TEXT)
            self.pos += trim
            self.ignore()
            self._left_delim()

    def _left_delim(self) -> None:
        self.pos += len(LEFT)
        trim = _left_trim(self.text[self.pos :])
        after = 2 if trim else 0
        if self.text.startswith("/*", self.pos + after):
            self.pos += after
            self.ignore()
            self._comment()
            return
        self.emit(T.LEFT_DELIM)
        self.pos += after
        self.ignore()
        self.paren_depth = 0
        self._inside_action()

    def _comment(self) -> None:
        self.pos += 2
        end = self.text.find("*/", self.pos)
        if end < 0:
            self.error("unclosed comment")
        self.pos = end + 2
        delim, trim = self.at_right_delim()
        if not delim:
            self.error("comment ends before closing delimiter")
        if trim:
            self.pos += 2
        self.pos += len(RIGHT)
        if trim:
            rest = self.text[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
        self.ignore()

    def _right_delim(self) -> None:
        trim = _right_trim(self.text[self.pos :])
        if trim:
            self.pos += 2
            self.ignore()
        self.pos += len(RIGHT)
        self.emit(T.RIGHT_DELIM)
        if trim:
            rest = self.text[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
            self.ignore()

    def _inside_action(self) -> None:  # noqa: C901 - one branch per character class, as Go's
        while True:
            delim, _ = self.at_right_delim()
            if delim:
                if self.paren_depth == 0:
                    self._right_delim()
                    return
                self.error("unclosed left paren")
            ch = self.peek()
            if ch == "":
                self.error("unclosed action")
            if is_space(ch):
                self._space()
                if self.out[-1].kind is T.RIGHT_DELIM:
                    return
                continue
            self.pos += 1
            if ch == "=":
                self.emit(T.ASSIGN)
            elif ch == ":":
                if self.peek() != "=":
                    self.pos += 1 if self.peek() else 0
                    self.error("expected :=")
                self.pos += 1
                self.emit(T.DECLARE)
            elif ch == "|":
                self.emit(T.PIPE)
            elif ch == '"':
                self._quote()
            elif ch == "`":
                self._raw_quote()
            elif ch == "$":
                self._variable()
            elif ch == "'":
                self._char()
            elif ch == "." and self.peek() != "" and not ("0" <= self.peek() <= "9"):
                self._field_or_variable(T.FIELD)
            elif ch in "+-." or "0" <= ch <= "9":
                self.pos -= 1
                self._number()
            elif is_alnum(ch):
                self.pos -= 1
                self._identifier()
            elif ch == "(":
                self.emit(T.LEFT_PAREN)
                self.paren_depth += 1
            elif ch == ")":
                self.emit(T.RIGHT_PAREN)
                self.paren_depth -= 1
                if self.paren_depth < 0:
                    self.error(f"unexpected right paren {rune_repr(ch)}")
            elif ord(ch) < 0x80 and ch.isprintable():
                self.emit(T.CHAR)
            else:
                self.error(f"unrecognized character in action: {rune_repr(ch)}")

    def _space(self) -> None:
        spaces = 0
        while is_space(self.peek()):
            self.pos += 1
            spaces += 1
        # " -}}" closes the action: the space before the dash belongs to the delimiter
        rest = self.text[self.pos - 1 :]
        if _right_trim(rest) and rest[2:].startswith(RIGHT):
            self.pos -= 1
            if spaces == 1:
                self._right_delim()
                return
        self.emit(T.SPACE)

    def _identifier(self) -> None:
        while is_alnum(self.peek()):
            self.pos += 1
        word = self.text[self.start : self.pos]
        if not self.at_terminator():
            self.pos += 1
            self.error(f"bad character {rune_repr(self.text[self.pos - 1])}")
        kind = KEYWORDS.get(word)
        if kind is not None and kind > T.KEYWORD:
            self.emit(kind)
        elif word[0] == ".":
            self.emit(T.FIELD)
        elif word in ("true", "false"):
            self.emit(T.BOOL)
        else:
            self.emit(T.IDENTIFIER)

    def _variable(self) -> None:
        if self.at_terminator():
            self.emit(T.VARIABLE)
            return
        self._field_or_variable(T.VARIABLE)

    def _field_or_variable(self, kind: T) -> None:
        if self.at_terminator():
            self.emit(T.VARIABLE if kind is T.VARIABLE else T.DOT)
            return
        while is_alnum(self.peek()):
            self.pos += 1
        if not self.at_terminator():
            self.pos += 1
            self.error(f"bad character {rune_repr(self.text[self.pos - 1])}")
        self.emit(kind)

    def _char(self) -> None:
        self._quoted("'", "unterminated character constant", T.CHAR_CONSTANT)

    def _number(self) -> None:
        if not self._scan_number():
            self.error(f"bad number syntax: {go_quote(self.text[self.start : self.pos])}")
        if self.peek() != "" and self.peek() in "+-":
            if not self._scan_number() or self.text[self.pos - 1] != "i":
                self.error(f"bad number syntax: {go_quote(self.text[self.start : self.pos])}")
            self.error("complex numbers are not supported")
        self.emit(T.NUMBER)

    def _accept(self, valid: str) -> bool:
        ch = self.peek()
        if ch != "" and ch in valid:
            self.pos += 1
            return True
        return False

    def _accept_run(self, valid: str) -> None:
        while self._accept(valid):
            pass

    def _scan_number(self) -> bool:
        self._accept("+-")
        digits = "0123456789_"
        if self._accept("0"):
            if self._accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self._accept("oO"):
                digits = "01234567_"
            elif self._accept("bB"):
                digits = "01_"
        self._accept_run(digits)
        if self._accept("."):
            self._accept_run(digits)
        if len(digits) == 11 and self._accept("eE"):
            self._accept("+-")
            self._accept_run("0123456789_")
        if len(digits) == 23 and self._accept("pP"):
            self._accept("+-")
            self._accept_run("0123456789_")
        self._accept("i")
        if is_alnum(self.peek()):
            self.pos += 1
            return False
        return True

    def _quote(self) -> None:
        self._quoted('"', "unterminated quoted string", T.STRING)

    def _quoted(self, end: str, unterminated: str, kind: T) -> None:
        """Up to the closing ``end``: backslash escapes one character, not a newline."""
        while True:
            ch = self.peek()
            self.pos += 1 if ch else 0
            if ch == "\\":
                nxt = self.peek()
                if nxt not in ("", "\n"):
                    self.pos += 1
                    continue
                ch = nxt
            if ch in ("", "\n"):
                self.error(unterminated)
            if ch == end:
                break
        self.emit(kind)

    def _raw_quote(self) -> None:
        end = self.text.find("`", self.pos)
        if end < 0:
            self.pos = len(self.text)
            self.error("unterminated raw quoted string")
        self.pos = end + 1
        self.emit(T.RAW_STRING)


def _left_trim(rest: str) -> bool:
    return len(rest) >= 2 and rest[0] == "-" and is_space(rest[1])


def _right_trim(rest: str) -> bool:
    return len(rest) >= 2 and is_space(rest[0]) and rest[1] == "-"
