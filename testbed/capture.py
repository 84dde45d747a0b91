"""Frames seen on an interface (AF_PACKET in its netns, both directions), and VXLAN decoding.

``Capture(scope, ns, ifname)`` starts capturing at once (it returns after the capture said
``READY``); ``stop()`` ends it and returns every frame seen. ``parse_vxlan`` splits an
IPv4/UDP/4789 frame into its VNI and inner frame.
"""

from __future__ import annotations

import json
import struct

from testbed.procs import PY, Proc, netns_exec
from testbed.scope import Scope

VXLAN_PORT = 4789

_SCRIPT = """
import json, select, socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(3)); s.bind((sys.argv[1], 0))
print("READY", flush=True)
frames = []
while True:
    ready, _, _ = select.select([s, sys.stdin], [], [])
    if s in ready:
        frames.append(s.recv(65535).hex())
    if sys.stdin in ready and not sys.stdin.readline():
        break
s.setblocking(False)
while True:
    try:
        frames.append(s.recv(65535).hex())
    except BlockingIOError:
        break
print(json.dumps(frames))
"""


class Capture:
    def __init__(self, scope: Scope, ns: str, ifname: str) -> None:
        self._proc = Proc(netns_exec(ns, PY, "-c", _SCRIPT, ifname), stdin=True, lines=True)
        scope.on_close(self._proc.stop, key=self._proc)
        self._proc.expect("READY")

    def stop(self) -> list[bytes]:
        self._proc.stdin.close()  # the capture ends and prints every frame it saw
        return [bytes.fromhex(f) for f in json.loads(self._proc.line(30))]


def parse_vxlan(frame: bytes) -> tuple[int, bytes] | None:
    """(vni, inner frame) of an IPv4/UDP/4789 frame, else None."""
    if len(frame) < 14 + 20 + 8 + 8 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return None
    ihl = (frame[14] & 0x0F) * 4
    udp = 14 + ihl
    if struct.unpack("!H", frame[udp + 2 : udp + 4])[0] != VXLAN_PORT:
        return None
    vx = udp + 8
    return struct.unpack("!I", frame[vx + 4 : vx + 8])[0] >> 8, frame[vx + 8 :]
