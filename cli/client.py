"""A tiny HTTP/1.1 + JSON client for the Hawser daemon's unix socket.

One connection per request: the CLI makes few calls, and a fresh connection
keeps streams (logs, exec, monitor) independent of the calls made beside them.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import click

DEFAULT_SOCKET = "/run/hawser/hawser.sock"


class CliError(click.ClickException):
    """A local error: printed as ``Error: MSG``; exit code 1."""


class DaemonError(CliError):
    """The daemon answered with a non-2xx status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status

    def show(self, file: Any = None) -> None:
        click.echo(f"Error response from daemon: {self.message}", err=True)


class PlainError(CliError):
    """An error Docker's CLI prints as its bare text (exit 1)."""

    def show(self, file: Any = None) -> None:
        click.echo(self.message, err=True)


class ConnectError(CliError):
    """The socket is missing, refused or not reachable: printed as is, like Docker."""

    def show(self, file: Any = None) -> None:
        click.echo(self.message, err=True)


#: The daemon went away mid-exchange (killed, crashed, restarted): one line, not a traceback.
_CUT_OFF = (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionError)


def _cut_off(exc: BaseException, replied: bool) -> CliError:
    when = "before its reply was complete" if replied else "before replying"
    detail = (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
    if isinstance(exc, http.client.IncompleteRead):
        detail = f"got {len(exc.partial)} bytes" + (
            f", {exc.expected} more expected" if exc.expected is not None else ""
        )
    return CliError(f"the daemon closed the connection {when} ({detail})")


class UnixHTTPConnection(http.client.HTTPConnection):
    """``HTTPConnection`` whose transport is a unix stream socket."""

    def __init__(self, path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def path_for(*parts: str, query: Mapping[str, Any] | None = None) -> str:
    """Build ``/v1/<parts>`` quoting each part (names may hold any character)."""
    path = "/v1/" + "/".join(quote(p, safe="") for p in parts)
    if query:
        kept = {k: v for k, v in query.items() if v is not None and v != ""}
        if kept:
            path += "?" + urlencode(kept)
    return path


class Client:
    """JSON requests and NDJSON streams against one daemon socket."""

    def __init__(self, socket_path: str = DEFAULT_SOCKET, timeout: float | None = None) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def _connect_error(self, exc: OSError) -> ConnectError:
        where = f"unix://{self.socket_path}"
        if isinstance(exc, PermissionError):
            return ConnectError(
                "Got permission denied while trying to connect to the Hawser daemon socket "
                f"at {where}: {exc.strerror or exc}"
            )
        return ConnectError(
            f"Cannot connect to the Hawser daemon at {where}. Is the daemon running?"
        )

    def _open(
        self, method: str, path: str, body: Any = None
    ) -> tuple[UnixHTTPConnection, http.client.HTTPResponse]:
        conn = UnixHTTPConnection(self.socket_path, timeout=self.timeout)
        headers = {"Accept": "application/json"}
        payload: bytes | None = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
        except (FileNotFoundError, ConnectionRefusedError, PermissionError) as exc:
            conn.close()
            raise self._connect_error(exc) from exc
        except _CUT_OFF as exc:
            conn.close()
            raise _cut_off(exc, replied=False) from exc
        except OSError as exc:
            conn.close()
            if conn.sock is None:  # never connected: e.g. ENOTSOCK, ENOENT on a parent dir
                raise self._connect_error(exc) from exc
            raise CliError(f"error during connect: {exc}") from exc
        except http.client.HTTPException as exc:
            conn.close()
            raise CliError(f"invalid response from the daemon: {exc!r}") from exc
        if not 200 <= resp.status < 300:
            try:
                raise _daemon_error(resp)
            except _CUT_OFF as exc:
                raise _cut_off(exc, replied=True) from exc
            finally:
                conn.close()
        return conn, resp

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; return the decoded JSON body (None when empty)."""
        conn, resp = self._open(method, path, body)
        try:
            data = resp.read()
        except _CUT_OFF as exc:
            raise _cut_off(exc, replied=True) from exc
        finally:
            conn.close()
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise CliError(f"invalid JSON from the daemon: {exc}") from exc

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def stream(self, method: str, path: str, body: Any = None) -> Iterator[dict[str, Any]]:
        """Yield each JSON object of an NDJSON (chunked) response as it arrives."""
        conn, resp = self._open(method, path, body)
        try:
            for line in _lines(resp):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as exc:
                    raise CliError(f"invalid JSON in stream from the daemon: {exc}") from exc
                yield obj
        finally:
            conn.close()


def _lines(resp: http.client.HTTPResponse) -> Iterator[bytes]:
    """Lines of a response body as they arrive; a cut-off body is a ``CliError``.

    ``read1`` rather than ``readline``: on a chunked body http.client's ``readline`` takes a
    connection closed before the last chunk for a clean end, ``read1`` reports it.
    """
    pending = b""
    while True:
        try:
            data = resp.read1(65536)
        except _CUT_OFF as exc:
            raise _cut_off(exc, replied=True) from exc
        if not data:
            if pending:
                yield pending
            return
        pending += data
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line + b"\n"


def _daemon_error(resp: http.client.HTTPResponse) -> DaemonError:
    raw = resp.read()
    message = ""
    try:
        decoded = json.loads(raw)
        if isinstance(decoded, dict):
            message = str(decoded.get("message", ""))
    except ValueError:
        message = raw.decode(errors="replace").strip()
    if not message:
        message = f"{resp.status} {resp.reason}".strip()
    return DaemonError(message.splitlines()[0] if message else message, resp.status)


pass_client = click.make_pass_decorator(Client)
