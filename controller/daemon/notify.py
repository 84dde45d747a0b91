"""systemd's readiness protocol (sd_notify(3)), without a dependency.

With ``Type=notify`` systemd passes ``NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
namespace) and waits for a datagram holding ``READY=1`` before it calls the service started.
The variable is taken out of the environment at once: the daemon's children (containers'
processes) must not inherit it and speak for the daemon.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import MutableMapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends state lines to the service manager; does nothing when none is listening."""

    def __init__(self, environ: MutableMapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.pop("NOTIFY_SOCKET", "")

    def _target(self) -> str | None:
        if self.address.startswith("@"):
            return "\0" + self.address[1:]
        if self.address.startswith("/"):
            return self.address
        return None  # unset, or a transport this daemon does not speak (vsock)

    def send(self, **fields: str | int) -> bool:
        """One datagram of ``KEY=value`` lines (``ready=1`` → ``READY=1``); True when sent."""
        target = self._target()
        if target is None:
            return False
        text = "\n".join(f"{key.upper()}={value}" for key, value in fields.items())
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(target)
                s.sendall(text.encode())
        except OSError as exc:  # the manager went away: the daemon runs on regardless
            log.warning("cannot notify the service manager at %s: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send(ready=1, status=status, mainpid=os.getpid())

    def stopping(self) -> bool:
        return self.send(stopping=1, status="stopping")
