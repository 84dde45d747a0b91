"""JSON schemas of the API's request bodies and query parameters.

``GET /openapi.json`` publishes them and ``validation`` checks every request against them
before a handler runs. Every property may be ``null``, meaning "not given" (as in Docker's API).
"""

from __future__ import annotations

from typing import Any

from controller.rules import names

FLAG = {"type": "string", "enum": ["0", "1", "true", "false"]}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


def _obj(required: tuple[str, ...] = (), **props: Any) -> dict[str, Any]:
    """A JSON object with exactly these properties (unknown keys are refused).

    Every property may be ``null``, which means "not given" (as in Docker's API).
    """
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {key: _nullable(prop) for key, prop in props.items()},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


def _str(max_length: int = 256, **more: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, **more}


def _list(items: dict[str, Any], max_items: int) -> dict[str, Any]:
    return {"type": "array", "items": items, "maxItems": max_items}


def _map(max_entries: int, max_value: int = 4096) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": _str(max_value),
        "maxProperties": max_entries,
    }


# Limits. Docker sets few; these keep every value usable where it goes: an argv or
# environment entry is at most MAX_ARG_STRLEN (128 KiB, up to 4 bytes a character), a
# hostname what sethostname(2) takes, names what a table shows.
_BOOL = {"type": "boolean"}
_INT = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
_UINT16 = {"type": "integer", "minimum": 0, "maximum": 65535}
_IP = _str(64)
_ARG = _str(32767)
_CONTAINER_NAME = _str(
    names.NAME_MAX, pattern=names.CONTAINER_NAME_PATTERN, **{"x-check": "container_name"}
)
_NETWORK_NAME = _str(
    names.NAME_MAX, pattern=names.NETWORK_NAME_PATTERN, **{"x-check": "network_name"}
)
_ALIAS = _str(names.ALIAS_MAX, pattern=names.NETWORK_NAME_PATTERN, **{"x-check": "alias"})
_SPEC = _str(256)  # -p, --expose, --link
NETWORK_BODY = _obj(
    required=("Name",),
    Name=_NETWORK_NAME,
    Driver=_str(64),
    IPAM=_obj(
        Config=_list(
            _obj(
                Subnet=_IP,
                Gateway=_IP,
                IPRange=_IP,
                AuxAddress=_map(256, 64),
                AuxiliaryAddresses=_map(256, 64),
            ),
            8,
        )
    ),
    Internal=_BOOL,
    Attachable=_BOOL,
    Labels=_map(256),
    Options=_map(64, 256),
)
CONNECT_BODY = _obj(
    required=("Container",),
    Container=_str(names.NAME_MAX + 1, minLength=1),
    EndpointConfig=_obj(IPAMConfig=_obj(IPv4Address=_IP), Aliases=_list(_ALIAS, 64)),
)
DISCONNECT_BODY = _obj(
    required=("Container",), Container=_str(names.NAME_MAX + 1, minLength=1), Force=_BOOL
)
CONTAINER_BODY = _obj(
    Name=_CONTAINER_NAME,
    Network=_str(names.NAME_MAX + len("container:")),
    IP=_IP,
    Hostname=_str(names.HOST_NAME_MAX, **{"x-check": "hostname"}),
    Dns=_list(_IP, 16),
    Env=_list(_ARG, 4096),
    Cmd=_list(_ARG, 4096),
    Publish=_list(_SPEC, 1024),
    PublishAll=_BOOL,
    Expose=_list(_SPEC, 1024),
    Links=_list(_SPEC, 64),
    NetworkAliases=_list(_ALIAS, 64),
    AutoRemove=_BOOL,
    Detach=_BOOL,
    Tty=_BOOL,
    OpenStdin=_BOOL,
    Labels=_map(1024, 32767),
    RestartPolicy=_obj(Name=_str(32), MaximumRetryCount=_INT),
    ExtraHosts=_list(_str(512), 1024),
    DnsSearch=_list(_str(256), 64),
    DnsOptions=_list(_str(256), 64),
    MacAddress=_str(64),
    Sysctls=_map(256, 4096),
)
_CONSOLE_SIZE = {"type": "array", "items": _UINT16, "minItems": 2, "maxItems": 2}
EXEC_BODY = _obj(
    Cmd=_list(_ARG, 4096),
    Env=_list(_ARG, 4096),
    WorkingDir=_str(4096),
    User=_str(256),
    Tty=_BOOL,
    AttachStdin=_BOOL,
    Detach=_BOOL,
    ConsoleSize=_CONSOLE_SIZE,
)
EXEC_START_BODY = _obj(Detach=_BOOL, Tty=_BOOL, ConsoleSize=_CONSOLE_SIZE)
SIGNAL = _str(32)
SECONDS = {"type": "string", "pattern": "^-?[0-9]{1,9}$"}
DIMENSION = {"type": "string", "pattern": "^[0-9]{1,5}$"}
WAIT_CONDITION = {"type": "string", "enum": ["not-running", "next-exit", "removed"]}
LOG_TAIL = {"type": "string", "pattern": "^(all|-?[0-9]{1,12})$"}
TIMESTAMP = {"type": "string", "pattern": "^-?[0-9]{1,12}(\\.[0-9]{1,9})?$"}
