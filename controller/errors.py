"""The one exception hierarchy of Hawser.

Every error the API returns is a ``HawserError``; its ``status`` is the HTTP
status code and its message is the single line a user sees (Docker's text
where Docker has one). Anything else that reaches the API is a bug, reported as
``internal error: …`` with the traceback in the log.

    HawserError                 500  unexpected failure (a stored state that cannot be)
    ├── InvalidArgument         400  malformed input (port spec, CIDR, option …)
    │   └── StartFailed         400  a container's command cannot start (not found: 127)
    ├── NotFound                404  unknown network, container, endpoint
    ├── Conflict                409  taken name/port/IP, object in use, mode conflicts
    ├── KernelError             500  the kernel refused an operation: what and why (errno)
    ├── PrerequisiteMissing     503  the kernel or machine cannot run the datapath
    ├── DatapathUnavailable     503  the datapath is not started (yet, or any more)
    ├── StoreError              500  the etcd cluster store answered with an error
    │   ├── StoreUnavailable    503  no endpoint of the cluster store answered
    │   └── LeaseLost           503  this node's lease expired
    └── HttpError               4xx  the HTTP layer's own refusals (411, 413)

Where they come from: ``KernelError`` only from the kernel boundary
(``controller.kernel.errors``: a ``NetlinkError`` or ``OSError`` of pyroute2, netns,
sandbox files, processes or tc never reaches the API raw); the ``StoreError`` family from
the cluster store's client (``controller.cluster.client``: every message names the store,
``cluster store etcd://… is unreachable: …``); ``HttpError`` in ``controller.api.server``.
The overlay's refusals that Docker words (name taken, network in use, address in use) are
the ordinary ``Conflict``/``NotFound``/``InvalidArgument``.

A message is one line by construction: control characters in it (a user's value holding a
newline, say) are escaped, so no value can add a line to what the CLI prints or the log.
``shown()`` is how a message quotes a user's value.
"""

from __future__ import annotations

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    if ch.isprintable():
        return ch
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def one_line(text: str) -> str:
    """``text`` with every non-printable character escaped (``\\n``, ``\\x00``)."""
    return text if text.isprintable() else "".join(_escape(ch) for ch in text)


def shown(value: str, quote_always: bool = False, limit: int = 200) -> str:
    """A user's value in a message: as is when printable and short, else quoted like Go's %q.

    Quoted values have their control characters escaped and are cut to ``limit`` characters.
    """
    cut = value[:limit]
    if not quote_always and cut == value and value.isprintable():
        return value
    body = "".join("\\" + ch if ch in '"\\' else _escape(ch) for ch in cut)
    return f'"{body}"' + ("…" if len(value) > limit else "")


class HawserError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        message = one_line(message)
        super().__init__(message)
        self.message = message


class InvalidArgument(HawserError):
    status = 400


class StartFailed(InvalidArgument):
    """The command cannot be started (Docker's ``startInvalidConfigError``): the exit status
    it is recorded with, 127 when it is not found, 126 when it cannot be executed."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NotFound(HawserError):
    status = 404


class Conflict(HawserError):
    status = 409


def network_has_endpoints(name: str, net_id: str) -> Conflict:
    """Docker's refusal to remove a network that still has endpoints (on any node)."""
    return Conflict(
        f"error while removing network: network {name} id {net_id} has active endpoints"
    )


class PrerequisiteMissing(HawserError):
    status = 503


class KernelError(HawserError):
    """The kernel refused what an operation asked (raised at the kernel boundary only)."""

    status = 500


class DatapathUnavailable(HawserError):
    status = 503


class StoreError(HawserError):
    """The cluster store (etcd) answered with an error we do not expect."""

    status = 500


class StoreUnavailable(StoreError):
    """No endpoint of the cluster store answered."""

    status = 503


class LeaseLost(StoreError):
    """This node's lease in the cluster store expired (its keys are gone)."""

    status = 503
