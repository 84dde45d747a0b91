"""Request bodies checked against the JSON schemas that ``GET /openapi.json`` publishes.

The API is the boundary: a body is decoded, then validated by ``jsonschema`` against the
route's schema (JSON Schema 2020-12, as OpenAPI 3.1 uses) before any handler sees it, so
handlers never meet a wrong type. The first failure becomes one ``InvalidArgument`` line
naming the field and the value, in the shape of Go's ``encoding/json`` errors that Docker's
daemon returns for wrong types. Where a field's rule belongs to the model (a container
name, a hostname), its schema names the model's check with ``x-check`` and that check's own
text (Docker's) is reported instead. Two rules hold for every string anywhere in a body,
keys included: no NUL byte (it would cut a kernel name, an argv entry or a file line short)
and valid Unicode (no lone surrogates).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from controller.errors import InvalidArgument, shown
from controller.rules import names

#: Model checks a schema may name with ``x-check`` (each raises Docker's text).
CHECKS: dict[str, Callable[[str], object]] = {
    "container_name": names.validate_container_name,
    "network_name": names.validate_network_name,
    "hostname": names.validate_hostname,
    "alias": names.validate_alias,
}

#: How Go's encoding/json names a JSON value's type in "cannot unmarshal X".
_GO_JSON_TYPES = {
    bool: "bool",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}
_GO_TYPES = {
    "string": "string",
    "boolean": "bool",
    "integer": "int",
    "number": "float64",
    "array": "array",
    "object": "object",
}


def decode(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object (an empty body is ``{}``)."""
    if not raw:
        return {}
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidArgument("request body is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise InvalidArgument(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidArgument("request body must be a JSON object")
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def check_body(schema: Mapping[str, Any], body: Any) -> None:
    """Raise ``InvalidArgument`` for the first way ``body`` breaks ``schema``."""
    for path, text in _strings(body, ()):
        if "\x00" in text:
            raise InvalidArgument(f"invalid {_where(path)}: NUL bytes are not allowed")
        try:
            text.encode()
        except UnicodeEncodeError:
            raise InvalidArgument(f"invalid {_where(path)}: not valid Unicode text") from None
    # the first failure in the schema's own order: deterministic, and cheap on a big body
    error = next(iter(_validator(json.dumps(schema, sort_keys=True)).iter_errors(body)), None)
    if error is not None:
        raise InvalidArgument(_message(error))


@functools.lru_cache(maxsize=64)
def _validator(schema_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _strings(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every string in a decoded body (keys too) with where it is."""
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, sub in item.items():
                yield (*where, key), key
                stack.append(((*where, key), sub))
        elif isinstance(item, list):
            stack.extend(((*where, i), sub) for i, sub in enumerate(item))


def _where(path: tuple[Any, ...] | list[Any]) -> str:
    """``IPAM.Config[0].Subnet`` for a path into the body."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + shown(str(part), quote_always=False)
    return out or "request body"


def _message(error: ValidationError) -> str:
    where = _where(list(error.absolute_path))
    kind, rule, value = error.validator, error.validator_value, error.instance
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    rule = cast(Any, rule)
    value = cast(Any, value)
    if kind == "type":
        wanted = rule if isinstance(rule, str) else next(t for t in rule if t != "null")
        got = _GO_JSON_TYPES.get(type(value), "value")
        return f"json: cannot unmarshal {got} into field {where} of type {_GO_TYPES[wanted]}"
    if kind == "additionalProperties":
        known = set(schema.get("properties", {}))
        extra = sorted(str(k) for k in value if k not in known)
        inside = "" if where == "request body" else f" in {where}"
        return f"json: unknown field {shown(extra[0], quote_always=True)}{inside}"
    if kind == "required":
        missing = next(k for k in rule if k not in value)
        return f"{missing if where == 'request body' else where + '.' + missing} is required"
    check = CHECKS.get(str(schema.get("x-check", "")))
    if check is not None and isinstance(value, str) and kind != "maxLength":
        check(value)  # raises the model's own text (Docker's) when it agrees
    if kind == "maxLength":
        return f"invalid {where}: longer than {rule} characters"
    if kind == "minLength":
        return f"invalid {where}: must not be empty"
    if kind == "maxItems":
        return f"invalid {where}: more than {rule} items"
    if kind == "maxProperties":
        return f"invalid {where}: more than {rule} entries"
    if kind == "pattern":
        return f"invalid {where}: {shown(str(value), quote_always=True)} does not match {rule}"
    if kind == "enum":
        allowed = ", ".join(str(v) for v in rule)
        return f"invalid {where}: {shown(str(value), quote_always=True)} is not one of {allowed}"
    return f"invalid {where}: {shown(error.message)}"
