"""How Python data looks to a Go template: types, truth, and ``fmt.Sprint`` text.

JSON-shaped data maps onto what Go's ``encoding/json`` decodes into ``interface{}``:
dict → ``map[string]interface {}``, list → ``[]interface {}``, str, bool, int, float, None.
``GoObject`` stands for a Go struct pointer with methods (Docker's ``*formatter.…Context``);
``MISSING`` is Go's invalid ``reflect.Value`` (a map key that is not there).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class _Missing:
    """No value at all (Go's zero ``reflect.Value``): printed ``<no value>``."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Iface:
    """A value seen through a static ``interface {}`` type: an element of a JSON map or
    list before Go's pipeline evaluation "digs down" to the concrete value. Errors on it
    name the type ``interface {}``, and a nil one prints ``<nil>`` inside containers."""

    value: Any


def unwrap(value: Any) -> Any:
    return value.value if isinstance(value, Iface) else value


class GoObject:
    """A Go struct (pointer) with fields and methods, for Docker's formatter contexts.

    ``go_type`` is the type name Go prints in errors. ``members`` maps a name to a
    ``Member``: its parameter kinds (``"string"``, ``"int"``) and a callable.
    """

    go_type = "*struct"

    def members(self) -> Mapping[str, Member]:
        return {}

    def json_value(self) -> Any:
        """What ``{{json .}}`` encodes (Docker marshals its contexts to a map)."""
        return {}


@dataclass(frozen=True)
class Member:
    params: tuple[str, ...]
    call: Callable[..., Any]
    result: str = "string"


class GoMap(dict):  # type: ignore[type-arg]
    """A named Go map type with methods (Docker's ``formatter.SubHeaderContext``): keys are
    looked up like a map, missing keys give no value (never an error), elements are strings."""

    go_type = "map[string]string"

    def methods(self) -> Mapping[str, Member]:
        return {}


def type_name(value: Any) -> str:
    """The Go type name of a value, as ``reflect.Type.String`` prints it."""
    if isinstance(value, Iface):
        return "interface {}"
    if isinstance(value, GoObject | GoMap):
        return value.go_type
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, StrList):
        return "[]string"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if value is None:
        return "<nil>"
    return type(value).__name__


class StrList(list):  # type: ignore[type-arg]
    """A Go ``[]string`` (what ``split`` returns), distinct from ``[]interface {}``."""


def is_true(value: Any) -> tuple[bool, bool]:
    """Go's ``template.IsTrue``: (truth, meaningful)."""
    value = unwrap(value)
    if value is MISSING or value is None:
        return False, True
    if isinstance(value, bool):
        return value, True
    if isinstance(value, int | float):
        return value != 0, True
    if isinstance(value, str | list | tuple | dict):
        return len(value) > 0, True
    if isinstance(value, GoObject):
        return True, True
    return False, False


# --- fmt.Sprint -----------------------------------------------------------------------------


def sprint_value(value: Any, top: bool = True) -> str:
    """``fmt.Sprint`` of one operand (Go's ``%v``). ``top``: printed by a template action,
    where nothing at all reads ``<no value>``; nested, a nil reads ``<nil>``."""
    if isinstance(value, Iface):
        value = value.value
        if value is None:
            return "<no value>" if top else "<nil>"
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<no value>" if top else "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, GoMap):
        return "map[" + " ".join(f"{k}:{value[k]}" for k in sorted(value)) + "]"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: kv[0])
        return "map[" + " ".join(f"{k}:{sprint_value(v, False)}" for k, v in items) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(sprint_value(v, False) for v in value) + "]"
    if isinstance(value, GoObject):
        return "&{" + " ".join(str(v) for v in value.json_value().values()) + "}"
    return str(value)


def format_float(value: float, verb: str = "g", prec: int = -1) -> str:
    """``strconv.FormatFloat(v, 'g', -1, 64)`` as %v prints it (e.g. ``1e+06``, ``0.5``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if prec < 0:
        digits = repr(value)  # shortest round-trip, as Go's
        mantissa, exp = _decompose(digits)
        threshold = 21 if verb == "v" else 6
        if verb in "gGv":
            if exp < -4 or exp >= threshold:
                return _exp_form(mantissa, exp, "e" if verb != "G" else "E", value < 0)
            return _plain_form(mantissa, exp, value < 0)
    return repr(value)


def _decompose(text: str) -> tuple[str, int]:
    """'-1.25e-07' → ('125', -7): significant digits and the decimal exponent of the first."""
    text = text.lstrip("-")
    if "e" in text:
        base, e = text.split("e")
        exp = int(e)
    else:
        base, exp = text, 0
    if "." in base:
        whole, frac = base.split(".")
    else:
        whole, frac = base, ""
    digits = (whole + frac).lstrip("0")
    if not digits:
        return "0", 0
    lead_zeros = len(whole + frac) - len((whole + frac).lstrip("0"))
    point = len(whole) - lead_zeros - 1
    return digits.rstrip("0") or "0", exp + point


def _exp_form(mantissa: str, exp: int, e: str, neg: bool) -> str:
    body = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    sign = "-" if exp < 0 else "+"
    return ("-" if neg else "") + f"{body}{e}{sign}{abs(exp):02d}"


def _plain_form(mantissa: str, exp: int, neg: bool) -> str:
    if mantissa == "0":
        return "0"
    if exp >= 0:
        whole = mantissa[: exp + 1].ljust(exp + 1, "0")
        frac = mantissa[exp + 1 :]
    else:
        whole = "0"
        frac = "0" * (-exp - 1) + mantissa
    return ("-" if neg else "") + whole + ("." + frac if frac else "")
