"""Go's ``fmt.Sprint``, ``Sprintln`` and a ``Sprintf`` covering the verbs templates use
(``%s %v %d %q %t %x %X %o %b %c %U %f %F %e %E %g %G %%`` with flags, width, precision),
including Go's in-band error forms such as ``%!d(string=abc)`` and ``%!s(MISSING)``."""

from __future__ import annotations

from typing import Any

from cli.gotemplate.lexer import go_quote
from cli.gotemplate.values import MISSING, GoMap, Iface, format_float, sprint_value, type_name


def _arg(value: Any) -> Any:
    """An operand as a Go ``interface{}`` argument: no value becomes nil."""
    value = value.value if isinstance(value, Iface) else value
    return None if value is MISSING else value


def sprint(*args: Any) -> str:
    """Spaces between operands when neither is a string."""
    values = [_arg(a) for a in args]
    out: list[str] = []
    for i, value in enumerate(values):
        if i > 0 and not isinstance(value, str) and not isinstance(values[i - 1], str):
            out.append(" ")
        out.append(_v(value))
    return "".join(out)


def sprintln(*args: Any) -> str:
    return " ".join(_v(_arg(a)) for a in args) + "\n"


def _v(value: Any) -> str:
    return "<nil>" if value is None else sprint_value(value, top=False)


class _Spec:
    __slots__ = ("minus", "plus", "sharp", "space", "zero", "width", "prec", "verb")

    def __init__(self) -> None:
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.width: int | None = None
        self.prec: int | None = None
        self.verb = ""


def sprintf(fmt: str, *args: Any) -> str:
    values = [_arg(a) for a in args]
    out: list[str] = []
    argi = 0
    i = 0
    n = len(fmt)
    while i < n:
        ch = fmt[i]
        if ch != "%":
            j = fmt.find("%", i)
            j = n if j < 0 else j
            out.append(fmt[i:j])
            i = j
            continue
        i += 1
        spec = _Spec()
        while i < n and fmt[i] in "+-# 0":
            flag = fmt[i]
            spec.plus |= flag == "+"
            spec.minus |= flag == "-"
            spec.sharp |= flag == "#"
            spec.space |= flag == " "
            spec.zero |= flag == "0"
            i += 1
        i, spec.width = _number(fmt, i)
        if i < n and fmt[i] == ".":
            i, prec = _number(fmt, i + 1)
            spec.prec = prec or 0
        if i >= n:
            out.append("%!(NOVERB)")
            break
        spec.verb = fmt[i]
        i += 1
        if spec.verb == "%":
            out.append("%")
            continue
        if argi >= len(values):
            out.append(f"%!{spec.verb}(MISSING)")
            continue
        out.append(_format_one(spec, values[argi]))
        argi += 1
    if argi < len(values):
        extra = ", ".join(_bad_arg(v) for v in values[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _number(fmt: str, i: int) -> tuple[int, int | None]:
    start = i
    while i < len(fmt) and fmt[i].isdigit():
        i += 1
    return i, int(fmt[start:i]) if i > start else None


def _bad_arg(value: Any) -> str:
    if value is None:
        return "<nil>"
    return f"{type_name(value)}={_v(value)}"


def _bad(spec: _Spec, value: Any) -> str:
    if value is None:
        return f"%!{spec.verb}(<nil>)"
    return f"%!{spec.verb}({type_name(value)}={_v(value)})"


def _pad(spec: _Spec, text: str, numeric: bool = False) -> str:
    width = spec.width or 0
    if len(text) >= width:
        return text
    if spec.minus:
        return text + " " * (width - len(text))
    if spec.zero and numeric:
        sign = text[0] if text[:1] in ("-", "+", " ") else ""
        body = text[len(sign) :]
        return sign + "0" * (width - len(text)) + body
    return " " * (width - len(text)) + text


def _format_one(spec: _Spec, value: Any) -> str:  # noqa: C901 - one case per verb family
    verb = spec.verb
    if isinstance(value, list | tuple) and verb != "v":
        inner = [_nested(spec, v) for v in value]
        return _pad(spec, "[" + " ".join(inner) + "]")
    if isinstance(value, dict) and not isinstance(value, GoMap) and verb != "v":
        body = " ".join(f"{_nested(spec, k)}:{_nested(spec, v)}" for k, v in sorted(value.items()))
        return _pad(spec, "map[" + body + "]")
    if verb == "v":
        if isinstance(value, int) and not isinstance(value, bool):
            return _int(spec, value, 10)
        if isinstance(value, float):
            return _float(spec, value, "g")
        if isinstance(value, str):
            return _str(spec, value)
        return _pad(spec, _v(value))
    if isinstance(value, bool):
        return _pad(spec, "true" if value else "false") if verb == "t" else _bad(spec, value)
    if isinstance(value, int):
        return _int_verb(spec, value)
    if isinstance(value, float):
        if verb in "eEfFgG":
            return _float(spec, value, verb)
        return _bad(spec, value)
    if isinstance(value, str):
        if verb == "s":
            return _str(spec, value)
        if verb == "q":
            return _pad(spec, go_quote(_trunc(spec, value)))
        if verb in "xX":
            data = _trunc(spec, value).encode()
            text = data.hex() if verb == "x" else data.hex().upper()
            return _pad(spec, text)
        return _bad(spec, value)
    return _bad(spec, value)


def _nested(spec: _Spec, value: Any) -> str:
    """An element inside a slice or map: a nil one reads ``<nil>`` whatever the verb."""
    return "<nil>" if value is None else _format_one(_copy(spec, width=None), value)


def _copy(spec: _Spec, width: int | None) -> _Spec:
    new = _Spec()
    for slot in _Spec.__slots__:
        setattr(new, slot, getattr(spec, slot))
    new.width = width
    return new


def _trunc(spec: _Spec, text: str) -> str:
    return text[: spec.prec] if spec.prec is not None else text


def _str(spec: _Spec, text: str) -> str:
    return _pad(spec, _trunc(spec, text))


def _int_verb(spec: _Spec, value: int) -> str:
    verb = spec.verb
    bases = {"d": 10, "x": 16, "X": 16, "o": 8, "b": 2}
    if verb in bases:
        return _int(spec, value, bases[verb])
    if verb == "c":
        return _pad(spec, chr(value))
    if verb == "q":
        return _pad(spec, "'" + go_quote(chr(value))[1:-1].replace("'", "\\'") + "'")
    if verb == "U":
        return _pad(spec, f"U+{value:04X}")
    if verb in "eEfFgG":
        return _bad(spec, value)
    return _bad(spec, value)


def _int(spec: _Spec, value: int, base: int) -> str:
    digits = {
        10: f"{abs(value)}",
        16: f"{abs(value):x}",
        8: f"{abs(value):o}",
        2: f"{abs(value):b}",
    }
    body = digits[base]
    if spec.verb == "X":
        body = body.upper()
    if spec.prec is not None:
        body = body.rjust(spec.prec, "0") if not (spec.prec == 0 and value == 0) else ""
    if spec.sharp:
        body = {16: "0X" if spec.verb == "X" else "0x", 8: "0", 2: "0b"}.get(base, "") + body
    sign = "-" if value < 0 else "+" if spec.plus else " " if spec.space else ""
    return _pad(spec, sign + body, numeric=spec.prec is None)


def _float(spec: _Spec, value: float, verb: str) -> str:
    if verb in "gG" and spec.prec is None:
        body = format_float(value, verb)
    elif verb in "fF":
        body = f"{value:.{6 if spec.prec is None else spec.prec}f}"
    elif verb in "eE":
        body = f"{value:.{6 if spec.prec is None else spec.prec}{verb}}"
    else:
        body = f"{value:.{spec.prec}{verb}}"
    if spec.plus and not body.startswith("-"):
        body = "+" + body
    elif spec.space and not body.startswith("-"):
        body = " " + body
    return _pad(spec, body, numeric=True)
