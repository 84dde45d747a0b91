"""``hawser-cni``: the CNI plugin executable (spec 1.0.0; also answers 0.3.1 and 0.4.0).

The runtime runs it once per operation with ``CNI_*`` variables and the network configuration
on stdin. It validates both, asks the daemon (:mod:`.client`) and prints the result or the
spec's error object. It never touches the kernel itself.

Plugin keys in the network configuration, besides the spec's: ``network`` (the Hawser network,
default: the configuration's ``name``) and ``socket`` (the daemon's API socket, default
``$HAWSER_SOCKET`` or /run/hawser/hawser.sock).
"""

from __future__ import annotations

import json
import os
import sys

from controller.plugins.cni import client
from controller.plugins.cni.spec import (
    CNI_VERSION,
    SUPPORTED_VERSIONS,
    CniError,
    convert_result,
    merge_prev,
    parse_invocation,
    port_mappings,
    version_result,
)


def run(env: dict[str, str], stdin: bytes) -> dict[str, object] | None:
    """One invocation; the result to print (None: print nothing). Raises CniError."""
    inv = parse_invocation(env, stdin)
    if inv.command == "VERSION":
        return version_result(inv.config)
    sock = str(inv.config.get("socket") or env.get("HAWSER_SOCKET") or client.DEFAULT_SOCKET)
    ports = port_mappings(inv.config) if inv.command == "ADD" else []
    reply = client.call(sock, client.PATHS[inv.command], client.request_body(inv, ports))
    if inv.command != "ADD":
        return None
    prev = inv.config.get("prevResult")
    merged = merge_prev(prev if isinstance(prev, dict) else None, reply)
    return convert_result(merged, inv.version)


def _error_version(stdin: bytes) -> str:
    try:
        version = json.loads(stdin).get("cniVersion")
    except (ValueError, AttributeError):
        return CNI_VERSION
    return version if version in SUPPORTED_VERSIONS else CNI_VERSION


def main() -> int:
    stdin = sys.stdin.buffer.read() if not sys.stdin.isatty() else b""
    try:
        result = run(dict(os.environ), stdin)
    except CniError as exc:
        sys.stdout.write(json.dumps(exc.to_json(_error_version(stdin))) + "\n")
        return 1
    if result is not None:
        sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
