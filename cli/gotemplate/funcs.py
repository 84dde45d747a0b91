"""Template functions: Go's builtins and the ones Docker's CLI adds (``json``, ``split``,
``join``, ``title``, ``lower``, ``upper``, ``pad``, ``truncate``), plus Docker's header
variants, which return a table header unchanged.

A parameter kind says how an argument is checked before the call, as Go's reflection
does: ``value`` (anything, even no value), ``any`` (an ``interface{}``: no value is nil),
``string``, ``int``.
"""

from __future__ import annotations

import html
import json
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cli.gotemplate import gofmt
from cli.gotemplate.values import (
    MISSING,
    GoMap,
    GoObject,
    Iface,
    StrList,
    is_true,
    sprint_value,
    type_name,
    unwrap,
)


class FuncError(Exception):
    """A function's error result: reported as ``error calling NAME: MESSAGE``."""


@dataclass(frozen=True)
class Func:
    params: tuple[str, ...]
    call: Callable[..., Any]
    variadic: str | None = None  # kind of the ``...`` parameter, if any


def _concrete(value: Any) -> Any:
    """Go's ``indirectInterface``: the value inside an interface; nil/no value → MISSING."""
    value = unwrap(value)
    return MISSING if value is None else value


# --- builtins ------------------------------------------------------------------------------


def _not(value: Any) -> bool:
    return not is_true(value)[0]


def _len(value: Any) -> int:
    if value is MISSING:
        raise FuncError("reflect: call of reflect.Value.Type on zero Value")
    value = _concrete(value)
    if value is MISSING:
        raise FuncError("len of nil pointer")
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, list | tuple | dict):
        return len(value)
    raise FuncError(f"len of type {type_name(value)}")


def _index_arg(index: Any, cap: int) -> int:
    index = _concrete(index)
    if index is MISSING:
        raise FuncError("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise FuncError(f"cannot index slice/array with type {type_name(index)}")
    if index < 0 or index > cap:
        raise FuncError(f"index out of range: {index}")
    return index


def _index(item: Any, *indexes: Any) -> Any:
    item = _concrete(item)
    if item is MISSING:
        raise FuncError("index of untyped nil")
    for index in indexes:
        item = _concrete(item)
        if item is MISSING:
            raise FuncError("index of nil pointer")
        if isinstance(item, list | tuple | str):
            seq: Any = item.encode() if isinstance(item, str) else item
            i = _index_arg(index, len(seq))
            if i == len(seq):  # Go's bound check lets len through; reflect then panics
                kind = "string" if isinstance(item, str) else "slice"
                raise FuncError(f"reflect: {kind} index out of range")
            item = seq[i] if isinstance(item, str) else Iface(seq[i])
        elif isinstance(item, dict):
            key = _concrete(index)
            if key is MISSING:
                key_text = ""
            elif isinstance(key, str):
                key_text = key
            else:
                raise FuncError(f"value has type {type_name(key)}; should be string")
            if key_text in item:
                item = item[key_text] if isinstance(item, GoMap) else Iface(item[key_text])
            else:
                item = _zero_element(item)
        else:
            raise FuncError(f"can't index item of type {type_name(item)}")
    return item


def _zero_element(mapping: dict[str, Any]) -> Any:
    """The zero value of a map's element type when a key is absent. A JSON object has
    no element type; Docker inspects typed structs, where labels, options and the like
    are ``map[string]string`` and a missing key reads "". So: a map whose values are all
    strings (or that is empty) answers "", any other answers nil."""
    if isinstance(mapping, GoMap) or all(isinstance(v, str) for v in mapping.values()):
        return ""
    return Iface(None)


def _slice(item: Any, *indexes: Any) -> Any:
    item = _concrete(item)
    if item is MISSING:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        data = item.encode()
    elif isinstance(item, list | tuple):
        data = item  # type: ignore[assignment]
    else:
        raise FuncError(f"can't slice item of type {type_name(item)}")
    bounds = [0, len(data)]
    for n, index in enumerate(indexes):
        value = _index_arg(index, len(data))
        if n < 2:
            bounds[n] = value
    if bounds[0] > bounds[1]:
        raise FuncError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    part = data[bounds[0] : bounds[1]]
    if isinstance(item, str):
        return bytes(part).decode(errors="replace")  # type: ignore[arg-type]
    return list(part) if not isinstance(item, StrList) else StrList(part)


_BAD_TYPE = "invalid type for comparison"
_BAD = "incompatible types for comparison"


def _kind(value: Any) -> str:
    if value is MISSING:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "other"


def _eq(arg1: Any, *rest: Any) -> bool:
    arg1 = _concrete(arg1)
    if not rest:
        raise FuncError("missing argument for comparison")
    k1 = _kind(arg1)
    for arg in rest:
        arg = _concrete(arg)
        k2 = _kind(arg)
        if k1 != k2:
            if arg1 is not MISSING and arg is not MISSING:
                raise FuncError(_BAD)
            truth = False
        elif k1 in ("invalid",):
            truth = True
        elif k1 == "other":
            if isinstance(arg, list | dict) or isinstance(arg1, list | dict):
                raise FuncError(f"non-comparable type {sprint_value(arg, False)}: {type_name(arg)}")
            truth = arg1 is arg
        else:
            truth = arg1 == arg
        if truth:
            return True
    return False


def _ne(a: Any, b: Any) -> bool:
    return not _eq(a, b)


def _lt(a: Any, b: Any) -> bool:
    a, b = _concrete(a), _concrete(b)
    ka, kb = _kind(a), _kind(b)
    if ka in ("invalid", "other") or kb in ("invalid", "other"):
        raise FuncError(_BAD_TYPE)
    if ka != kb:
        raise FuncError(_BAD)
    if ka == "bool":
        raise FuncError(_BAD_TYPE)
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    return _lt(a, b) or _eq(a, b)


def _gt(a: Any, b: Any) -> bool:
    return not _le(a, b)


def _ge(a: Any, b: Any) -> bool:
    return not _lt(a, b)


def _html(*args: Any) -> str:
    text = _eval_args(args)
    return html.escape(text, quote=True).replace("&#x27;", "&#39;").replace("&quot;", "&#34;")


def _js(*args: Any) -> str:
    text = _eval_args(args)
    out = []
    for ch in text:
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=":
            out.append(f"\\u{ord(ch):04X}")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(_eval_args(args), safe="")


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(unwrap(args[0]), str):
        return str(unwrap(args[0]))
    return gofmt.sprint(*args)


def _call(fn: Any, *args: Any) -> Any:
    fn = _concrete(fn)
    if fn is MISSING:
        raise FuncError("call of nil")
    raise FuncError(f"non-function of type {type_name(fn)}")


def _and(*args: Any) -> Any:  # pragma: no cover - short-circuited by the executor
    raise AssertionError


BUILTINS: dict[str, Func] = {
    "and": Func(("value",), _and, variadic="value"),
    "or": Func(("value",), _and, variadic="value"),
    "not": Func(("value",), _not),
    "len": Func(("value",), _len),
    "index": Func(("value",), _index, variadic="value"),
    "slice": Func(("value",), _slice, variadic="value"),
    "call": Func(("value",), _call, variadic="value"),
    "print": Func((), gofmt.sprint, variadic="any"),
    "printf": Func(("string",), gofmt.sprintf, variadic="any"),
    "println": Func((), gofmt.sprintln, variadic="any"),
    "html": Func((), _html, variadic="any"),
    "js": Func((), _js, variadic="any"),
    "urlquery": Func((), _urlquery, variadic="any"),
    "eq": Func(("value",), _eq, variadic="value"),
    "ne": Func(("value", "value"), _ne),
    "lt": Func(("value", "value"), _lt),
    "le": Func(("value", "value"), _le),
    "gt": Func(("value", "value"), _gt),
    "ge": Func(("value", "value"), _ge),
}


# --- Docker's functions (docker/cli templates package) -----------------------------------


def go_json(value: Any) -> str:
    """``json.Marshal`` as Docker's ``json`` function writes it: no HTML escaping, except
    inside what a Go value marshals itself (Docker's contexts: ``->`` reads ``-\\u003e``)."""
    value = unwrap(value)
    text = json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, GoObject):
        text = html_escape_json(text)
    return text


def html_escape_json(text: str) -> str:
    """Go's ``json.HTMLEscape``."""
    for ch, esc in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(ch, esc)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def looks_like_struct(mapping: dict[str, Any]) -> bool:
    """A JSON object that came from a Go struct (every key an exported field name) keeps
    its order; any other came from a Go map, which Go writes with sorted keys."""
    return bool(mapping) and all(k[:1].isupper() and k.isidentifier() for k in mapping)


def _jsonable(value: Any) -> Any:
    value = unwrap(value)
    if value is MISSING:
        return None
    if isinstance(value, GoObject):
        return value.json_value()
    if isinstance(value, dict):
        keys = list(value) if looks_like_struct(value) else sorted(value)
        return {k: _jsonable(value[k]) for k in keys}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _join(elems: Any, sep: str) -> str:
    if elems is None:
        return ""
    if isinstance(elems, list | tuple):
        return sep.join(sprint_value(e, top=False) for e in elems)
    if isinstance(elems, dict):
        return sep.join(sorted(sprint_value(v, top=False) for v in elems.values()))
    raise FuncError(f"expected slice, got {type_name(elems)}")


def _split(text: str, sep: str) -> StrList:
    if sep == "":
        return StrList(list(text))
    return StrList(text.split(sep))


def _title(text: str) -> str:
    """Go's deprecated ``strings.Title``: upper-case each letter that follows a separator
    (ASCII: anything but letters, digits and ``_``; beyond ASCII: white space)."""
    out = []
    prev = " "
    for ch in text:
        out.append(ch.upper() if _separator(prev) else ch)
        prev = ch
    return "".join(out)


def _separator(ch: str) -> bool:
    if ord(ch) < 0x80:
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or ch.isdigit():
        return False
    return ch.isspace()


def _pad(text: str, prefix: int, suffix: int) -> str:
    if text == "":
        return text
    return " " * prefix + text + " " * suffix


def _truncate(text: str, length: int) -> str:
    data = text.encode()
    if len(data) < length:
        return text
    return data[:length].decode(errors="replace")


DOCKER: dict[str, Func] = {
    "json": Func(("any",), go_json),
    "split": Func(("string", "string"), _split),
    "join": Func(("any", "string"), _join),
    "title": Func(("string",), _title),
    "lower": Func(("string",), str.lower),
    "upper": Func(("string",), str.upper),
    "pad": Func(("string", "int", "int"), _pad),
    "truncate": Func(("string", "int"), _truncate),
}


def _same(text: str, *_: Any) -> str:
    return text


HEADER: dict[str, Func] = {
    "json": Func(("string",), _same),
    "split": Func(("string", "string"), _same),
    "join": Func(("string", "string"), _same),
    "title": Func(("string",), _same),
    "lower": Func(("string",), _same),
    "upper": Func(("string",), _same),
    "truncate": Func(("string", "int"), _same),
}

FUNCTIONS: Mapping[str, Func] = {**BUILTINS, **DOCKER}
