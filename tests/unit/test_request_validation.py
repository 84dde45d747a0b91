"""The API boundary: bodies checked against the published schemas, HTTP errors as JSON.

Before the fix 16 of 88 malformed requests got ``500 internal error`` and wrong types were
coerced (``"Internal": "no"`` made an internal network, ``"Cmd": [1, 2]`` ran ``1``, exec
``"Cmd": "ls"`` ran ``l s``); the HTTP layer answered HTML.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cli.networks import build_create_body
from controller.api import routes, schemas, validation
from controller.api.server import Request, Router, serve
from controller.errors import InvalidArgument

NET = schemas.NETWORK_BODY
RUN = schemas.CONTAINER_BODY
EXEC = schemas.EXEC_BODY
CONNECT = schemas.CONNECT_BODY

REFUSED: list[tuple[dict[str, Any], dict[str, Any], str]] = [
    (NET, {"Name": 123}, "json: cannot unmarshal number into field Name of type string"),
    (NET, {"Name": "n", "IPAM": "x"}, "json: cannot unmarshal string into field IPAM of type object"),
    (NET, {"Name": "n", "IPAM": [None]}, "json: cannot unmarshal array into field IPAM of type object"),
    (NET, {"Name": "n", "IPAM": {"Config": [None]}},
     "json: cannot unmarshal null into field IPAM.Config[0] of type object"),
    (NET, {"Name": "n", "IPAM": {"Config": "10.0.0.0/24"}},
     "json: cannot unmarshal string into field IPAM.Config of type array"),
    (NET, {"Name": "n", "IPAM": {"Config": [{"Subnet": 10}]}},
     "json: cannot unmarshal number into field IPAM.Config[0].Subnet of type string"),
    (NET, {"Name": "n", "IPAM": {"Config": [{"AuxAddress": ["a"]}]}},
     "json: cannot unmarshal array into field IPAM.Config[0].AuxAddress of type object"),
    (NET, {"Name": "n", "Options": [1]}, "json: cannot unmarshal array into field Options of type object"),
    (NET, {"Name": "n", "Options": {"a": 1}}, "json: cannot unmarshal number into field Options.a of type string"),
    (NET, {"Name": "n", "Labels": "a=b"}, "json: cannot unmarshal string into field Labels of type object"),
    (NET, {"Name": "n", "Internal": "no"}, "json: cannot unmarshal string into field Internal of type bool"),
    (NET, {"Name": "n", "Attachable": 1}, "json: cannot unmarshal number into field Attachable of type bool"),
    (NET, {"Name": "a" * 1_000_000}, "invalid Name: longer than 128 characters"),
    (NET, {"Name": "bad name"}, 'network name "bad name" includes invalid characters'),
    (NET, {"Name": "n", "Options": {"x\x00": "1"}}, 'invalid Options."x\\x00": NUL bytes are not allowed'),
    (NET, {"Name": "n", "Labels": {f"k{i}": "v" for i in range(257)}}, "invalid Labels: more than 256 entries"),
    (NET, {"Name": "n", "Scope": "global"}, 'json: unknown field "Scope"'),
    (NET, {"Name": "n", "IPAM": {"Driver": "x"}}, 'json: unknown field "Driver" in IPAM'),
    (NET, {}, "Name is required"),
    (RUN, {"Cmd": [1, 2]}, "json: cannot unmarshal number into field Cmd[0] of type string"),
    (RUN, {"Cmd": "sleep 1"}, "json: cannot unmarshal string into field Cmd of type array"),
    (RUN, {"Cmd": ["sleep\x00"]}, "invalid Cmd[0]: NUL bytes are not allowed"),
    (RUN, {"Env": ["A=\x00"]}, "invalid Env[0]: NUL bytes are not allowed"),
    (RUN, {"Env": [None]}, "json: cannot unmarshal null into field Env[0] of type string"),
    (RUN, {"Env": ["A=\ud800"]}, "invalid Env[0]: not valid Unicode text"),
    (RUN, {"Dns": "1.1.1.1"}, "json: cannot unmarshal string into field Dns of type array"),
    (RUN, {"Dns": ["1.1.1.1"] * 17}, "invalid Dns: more than 16 items"),
    (RUN, {"Publish": {"80": 80}}, "json: cannot unmarshal object into field Publish of type array"),
    (RUN, {"PublishAll": "yes"}, "json: cannot unmarshal string into field PublishAll of type bool"),
    (RUN, {"Name": "b@d"}, "Invalid container name (b@d), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
    (RUN, {"Name": "we\nb"}, 'Invalid container name ("we\\nb"), only'),
    (RUN, {"Hostname": "h" * 65}, "invalid Hostname: longer than 64 characters"),
    (RUN, {"NetworkAliases": ["a b"]}, 'invalid alias "a b": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'),
    (RUN, {"Cmd": ["x" * 32768]}, "invalid Cmd[0]: longer than 32767 characters"),
    (EXEC, {"Cmd": "ls"}, "json: cannot unmarshal string into field Cmd of type array"),
    (CONNECT, {"Container": "c", "EndpointConfig": "x"},
     "json: cannot unmarshal string into field EndpointConfig of type object"),
    (CONNECT, {"Container": "c", "EndpointConfig": {"Aliases": "a"}},
     "json: cannot unmarshal string into field EndpointConfig.Aliases of type array"),
    (CONNECT, {"Container": "c", "EndpointConfig": {"IPAMConfig": []}},
     "json: cannot unmarshal array into field EndpointConfig.IPAMConfig of type object"),
    (CONNECT, {}, "Container is required"),
    (CONNECT, {"Container": ""}, "invalid Container: must not be empty"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "body", "message"), REFUSED, ids=[repr(b)[:60] for _, b, _ in REFUSED]
)
def test_a_malformed_body_is_refused_with_one_line_naming_the_field(
    schema: dict[str, Any], body: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        validation.check_body(schema, body)
    assert info.value.message.startswith(message)
    assert len(info.value.message) < 400 and "\n" not in info.value.message


def test_what_the_cli_sends_is_accepted() -> None:
    body = build_create_body(
        "net1", "bridge", "172.30.0.0/24", "172.30.0.1", "172.30.0.128/25", {"a": "172.30.0.5"},
        True, False, {"k": "v"}, {"com.docker.network.bridge.enable_icc": "false"},
    )  # fmt: skip
    validation.check_body(NET, body)
    validation.check_body(NET, build_create_body("n", "bridge", None, None, None, {}, False,
                                                 False, {}, {}))  # fmt: skip
    run = {"Name": None, "Network": "bridge", "IP": None, "Hostname": None, "Dns": [],
           "Env": ["A=1"], "Cmd": ["sh", "-c", "echo\nhi"], "Publish": ["8080:80"],
           "PublishAll": False, "Expose": [], "Links": ["web:w"], "NetworkAliases": [],
           "AutoRemove": False, "Detach": True}  # fmt: skip
    validation.check_body(RUN, run)
    validation.check_body(EXEC, {"Cmd": ["ls"], "Env": []})
    validation.check_body(CONNECT, {"Container": "web", "EndpointConfig": {"Aliases": ["db"]}})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "request body is not valid JSON: nested too deeply"),
        (b'{"Name": NaN}', "request body is not valid JSON: NaN is not a JSON value"),
        (b'{"Name": Infinity}', "request body is not valid JSON: Infinity is not a JSON value"),
        (b"[]", "request body must be a JSON object"),
        (b'"x"', "request body must be a JSON object"),
        (b"\xff\xfe{", "request body is not valid JSON"),
        (b'{"a": 1' + b"0" * 5000 + b"}", "request body is not valid JSON"),
    ],
)
def test_an_undecodable_body_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validation.decode(raw)
    assert info.value.message.startswith(message)


def test_the_published_document_is_openapi_31_with_the_validated_schemas() -> None:
    node = SimpleNamespace(extra_routes=[], observe=lambda *a: None)
    doc = routes.build(node).openapi()  # type: ignore[arg-type]
    assert doc["openapi"] == "3.1.0"
    body = doc["paths"]["/v1/networks"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] is schemas.NETWORK_BODY
    from jsonschema import Draft202012Validator

    for path in doc["paths"].values():
        for op in path.values():
            if "requestBody" in op:
                Draft202012Validator.check_schema(
                    op["requestBody"]["content"]["application/json"]["schema"]
                )


# --- the HTTP layer -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    router = Router()

    @router.add("POST", "/v1/things", "Make a thing", 201, schemas.EXEC_BODY)
    def make(req: Request) -> Any:
        return {"Got": req.body}

    @router.add("GET", "/v1/things/{ref}", "Show a thing", query={"force": schemas.FLAG})
    def show(req: Request) -> Any:
        return {"Ref": req.params["ref"]}

    path = tmp_path_factory.mktemp("api") / "api.sock"
    srv = serve(router, Path(path))
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield str(path)
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


def exchange(path: str, data: bytes) -> tuple[int, dict[str, str], Any]:
    """Send raw bytes; return the status, headers and decoded JSON body of the answer."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(data)
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before the headers: {raw!r}"
            raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk
            body += chunk
    return status, headers, json.loads(body) if body else None


def request(method: str, target: str, body: bytes = b"", headers: str = "") -> bytes:
    return (
        f"{method} {target} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


HTTP_ERRORS = [
    (b"GET /v1/things/a HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400,
     "invalid Content-Length header: 'abc'"),
    (b"GET /v1/things/a HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400,
     "invalid Content-Length header: '-5'"),
    (b"POST /v1/things HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{}", 413,
     "request body too large: 99999999999 bytes (at most 1048576)"),
    (b"POST /v1/things HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400,
     "invalid Content-Length header"),
    (b"POST /v1/things HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 411,
     "a request body must be sent with a Content-Length"),
    (request("POST", "/v1/things", b'{"Cmd": "ls"}'), 400,
     "json: cannot unmarshal string into field Cmd of type array"),
    (request("POST", "/v1/things", b"{nope"), 400, "request body is not valid JSON"),
    (request("PUT", "/v1/things"), 405, "method PUT not allowed for /v1/things (allowed: POST)"),
    (request("DELETE", "/v1/things/a"), 405, "method DELETE not allowed for /v1/things/a"),
    (request("BREW", "/v1/things"), 501, "Unsupported method ('BREW')"),
    (request("GET", "/nowhere"), 404, "page not found: GET /nowhere"),
    (request("GET", "/v1/things/a?force=maybe"), 400,
     'invalid force: "maybe" is not one of 0, 1, true, false'),
    (request("GET", "/" + "a" * 70_000), 414, "Request-URI Too Long"),
    (b"GET /v1/things/a HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n", 431, "Too many headers"),
    (b"garbage\r\n\r\n", 400, "Bad request syntax ('garbage')"),
    (b"GET /v1/things/a HTTP/9.9\r\n\r\n", 505, "Invalid HTTP version (9.9)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "status", "message"), HTTP_ERRORS, ids=[d[:40].decode() for d, _, _ in HTTP_ERRORS]
)
def test_every_http_error_is_json_with_a_message(
    server: str, data: bytes, status: int, message: str
) -> None:
    got, headers, body = exchange(server, data)
    assert (got, headers["content-type"]) == (status, "application/json")
    assert set(body) == {"message"} and body["message"].startswith(message)


def test_405_names_the_allowed_methods(server: str) -> None:
    _, headers, _ = exchange(server, request("PUT", "/v1/things"))
    assert headers["allow"] == "POST"


def test_a_valid_request_passes_and_the_connection_serves_another(server: str) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(server)
        reader = sock.makefile("rb")
        for n in range(2):  # keep-alive: the second request on the same connection
            sock.sendall(request("POST", "/v1/things", json.dumps({"Cmd": [f"c{n}"]}).encode()))
            status = reader.readline()
            headers = {}
            while (line := reader.readline()) != b"\r\n":
                key, _, value = line.decode().partition(":")
                headers[key.lower()] = value.strip()
            body = json.loads(reader.read(int(headers["content-length"])))
            assert status.startswith(b"HTTP/1.1 201")
            assert body == {"Got": {"Cmd": [f"c{n}"]}}


def test_declared_query_parameters_pass_when_valid(server: str) -> None:
    status, _, body = exchange(server, request("GET", "/v1/things/a?force=1&other=anything"))
    assert (status, body) == (200, {"Ref": "a"})
