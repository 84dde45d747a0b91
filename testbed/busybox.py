"""A root filesystem of busybox-static as a tar stream: the image the engine tests import
(``docker import`` / ``podman import``), with no registry and no download."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from testbed.shell import StepFailed, sh

BUSYBOX = "/bin/busybox"  # from busybox-static: no dynamic loader needed inside the image


def busybox_tar() -> bytes:
    """A root filesystem of busybox-static: /bin/busybox and every applet as a symlink at the
    path busybox names for it (bin/sh, sbin/ip, usr/sbin/httpd, usr/bin/wget, …)."""
    if not Path(BUSYBOX).is_file():
        raise StepFailed(f"{BUSYBOX} is missing: install busybox-static (make install)")
    applets = sh(BUSYBOX, "--list-full").stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs = {"bin", "dev", "etc", "proc", "root", "sys", "tmp", "var", "www"}
        dirs |= {str(p) for a in applets for p in Path(a).parents if str(p) != "."}
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        data = Path(BUSYBOX).read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in applets:
            if applet == "bin/busybox" or "/" not in applet:
                continue
            info = tarfile.TarInfo(applet)
            info.type, info.linkname = tarfile.SYMTYPE, "/bin/busybox"
            tar.addfile(info)
        for name, text in (
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
            ("etc/group", "root:x:0:\n"),
            ("www/index.html", "busybox httpd\n"),
        ):
            raw = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(raw), 0o644
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()
