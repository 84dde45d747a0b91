"""Real container engines inside a test's node netns: Debian's dockerd 20.10 and podman 4.3.

Each engine runs in the node netns (``nsenter --net``, like Hawser's daemon in testbed/hawser.py)
and in a private mount namespace kept by a holder process (:class:`EngineNamespace`). In that
namespace ``/run`` and ``/var/lib`` are empty tmpfs, so every default path the engines write to
without a flag to move it stays inside the test: containerd's shim sockets
(``/run/containerd/s``), runc's state (``/run/runc``), podman's netns bind mounts
(``/run/netns/netns-*``), the CNI result cache (``/var/lib/cni``), the image blob cache
(``/var/lib/containers/cache``), and dockerd's plugin discovery directory
(``/run/docker/plugins``, bound to ``<workdir>/plugins`` so a test can put a plugin socket
there). ``/etc/docker`` is bound to ``<workdir>/etc-docker`` (plugin ``.spec`` files). Every
mount an engine makes (overlay roots, netns files) lives and dies in that namespace; the host's
mount table never sees one.

What the engines needed on this machine (hybrid cgroups: v1 controllers at /sys/fs/cgroup/*,
v2 with hugetlb only at /sys/fs/cgroup/unified; no CAP_SYS_RESOURCE, RLIMIT_NOFILE hard 20000;
no systemd):

- dockerd picks the cgroupfs driver and cgroup v1 by itself. ``--cgroup-parent /t-<tag>-docker``
  keeps its cgroups apart (removed by :meth:`DockerEngine.stop`). Docker sets no rlimits by
  default, so containers inherit dockerd's and start. 20.10 writes a trust key to
  ``/etc/docker/key.json`` unless ``deprecated-key-path`` is set in its config file: it is.
  dockerd starts its own containerd (``--containerd`` unset) with root under
  ``<data-root>/containerd`` and state under ``<exec-root>/containerd``.
- podman 4.3 defaults to ``nofile=1048576``, above the hard limit it cannot raise here, and runc
  refuses the container: ``default_ulimits`` in the test's containers.conf fixes it. The
  cgroupfs manager (no systemd), ``events_logger = "file"`` (no journald), runc (Debian's podman
  has no crun), ``--cgroup-parent /t-<tag>-podman`` on every run.
- ``/usr/local/bin/docker`` on this machine is a newer CLI: tests call ``/usr/bin/docker``.
- busybox-static 1.35's ``wget -T N`` segfaults (on the host too): use ``timeout N wget``.
- podman refuses a runroot longer than 50 characters: it is /run/containers/storage in the
  private /run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from testbed.busybox import busybox_tar
from testbed.procs import Proc, enter
from testbed.shell import StepFailed
from testbed.wait import NotReady, until

DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"  # Debian's 20.10 CLI, not /usr/local/bin/docker
PODMAN = "/usr/bin/podman"
CNI_PLUGIN_DIR = "/usr/lib/cni"  # containernetworking-plugins
CGROUP_ROOT = Path("/sys/fs/cgroup")
SOCKET_PATH_MAX = 107  # sun_path minus the terminating NUL

# The holder: private /run and /var/lib, plugin and config dirs bound from the workdir, then a
# READY line and a process that keeps the namespace alive until the fixture kills it.
_HOLDER_SCRIPT = """
set -eu
work=$1
mount -t tmpfs -o mode=0755 t-engine-run /run
mount -t tmpfs -o mode=0755 t-engine-varlib /var/lib
mkdir -p /run/docker/plugins /run/netns
mount --bind "$work/plugins" /run/docker/plugins
if [ -d /etc/docker ]; then mount --bind "$work/etc-docker" /etc/docker; fi
echo READY
exec sleep infinity
"""


class EngineError(StepFailed):
    """An engine did not start, or left something behind."""


def cgroup_dirs(name: str) -> list[Path]:
    """``name`` (a top-level cgroup) in every mounted hierarchy, v1 and v2."""
    return sorted(p for p in CGROUP_ROOT.glob(f"*/{name}") if p.is_dir())


def remove_cgroups(name: str) -> None:
    for top in cgroup_dirs(name):
        for d in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if d.is_dir():
                with contextlib.suppress(OSError):
                    d.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


class EngineNamespace:
    """A holder process in ``netns`` with a private mount namespace (see the module docstring).

    ``enter()`` prefixes a command so it runs in both namespaces.
    """

    def __init__(self, netns: str, workdir: Path) -> None:
        self.netns = netns
        self.workdir = workdir
        (workdir / "plugins").mkdir(parents=True, exist_ok=True)
        (workdir / "etc-docker" / "plugins").mkdir(parents=True, exist_ok=True)
        argv = enter(
            netns, "unshare", "--mount", "--propagation", "slave",
            "sh", "-c", _HOLDER_SCRIPT, "holder", str(workdir),
        )  # fmt: skip
        self.proc = Proc(argv, lines=True)
        try:
            self.proc.expect("READY", 10)
        except NotReady as exc:
            self.close()
            raise EngineError(f"engine namespace did not start: {exc}") from None
        self.pid = self.proc.pid  # the shell exec'd sleep: same pid
        self.mnt_ns = os.readlink(f"/proc/{self.pid}/ns/mnt")

    @property
    def plugin_dir(self) -> Path:
        """Seen by processes in the namespace as /run/docker/plugins."""
        return self.workdir / "plugins"

    @property
    def spec_dir(self) -> Path:
        """Seen by processes in the namespace as /etc/docker/plugins."""
        return self.workdir / "etc-docker" / "plugins"

    def enter(self, *argv: str) -> list[str]:
        return ["nsenter", f"--target={self.pid}", "--mount", "--net", *argv]

    def pids(self) -> list[int]:
        """Processes in the private mount namespace, the holder excluded."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self.pid:
                continue
            with contextlib.suppress(OSError):
                if os.readlink(entry / "ns" / "mnt") == self.mnt_ns:
                    found.append(int(entry.name))
        return found

    def kill_all(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        self.kill_all()
        self.proc.kill()


def _wait(check: Callable[[], bool], what: str, proc: Proc, log: Path, timeout: float) -> None:
    """Poll ``check()`` until it is true; fail at once if ``proc`` exits."""

    def ready() -> bool:
        if not proc.alive():
            raise EngineError(f"{what} exited {proc.popen.returncode}:\n{_tail(log)}")
        return check()

    if not until(ready, timeout, 0.05):
        raise EngineError(f"{what} not ready after {timeout} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    if not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


class DockerEngine:
    """Debian's dockerd in the node netns, with all its state under ``workdir``.

    ``iptables=False`` (the default) also runs without a bridge (``--bridge=none``); with
    ``iptables=True`` dockerd makes its docker0 from ``bip`` and programs the node netns'
    ruleset (and only that one: it runs in the node netns).
    """

    def __init__(
        self,
        netns: str,
        workdir: Path,
        tag: str,
        *,
        iptables: bool = False,
        bip: str = "172.31.250.1/24",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.netns = netns
        self.workdir = workdir
        self.tag = tag
        self.iptables = iptables
        self.bip = bip
        self.extra_args = list(extra_args)
        self.socket = workdir / "docker.sock"
        if len(str(self.socket)) > SOCKET_PATH_MAX - 10:
            raise EngineError(f"workdir too long for a unix socket path: {self.socket}")
        self.pidfile = workdir / "docker.pid"
        self.data_root = workdir / "docker-data"
        self.exec_root = "/run/docker"  # in the private /run tmpfs: short, and gone with it
        self.config_file = workdir / "daemon.json"
        self.log_path = workdir / "dockerd.log"
        self.cgroup_parent = f"t-{tag}-docker"
        self.ns: EngineNamespace | None = None
        self.proc: Proc | None = None

    def start(self, timeout: float = 60) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.ns is None:
            self.ns = EngineNamespace(self.netns, self.workdir)
        self.config_file.write_text(
            json.dumps({"deprecated-key-path": str(self.workdir / "docker-key.json")})
        )
        network = (
            ["--iptables=true", "--ip-masq=true", f"--bip={self.bip}"]
            if self.iptables
            else ["--iptables=false", "--ip-masq=false", "--bridge=none"]
        )
        argv = self.ns.enter(
            DOCKERD,
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.pidfile}",
            f"--host=unix://{self.socket}",
            f"--config-file={self.config_file}",
            f"--cgroup-parent=/{self.cgroup_parent}",
            "--shutdown-timeout=2",
            *network,
            *self.extra_args,
        )
        self.proc = Proc(argv, log=self.log_path, new_session=False)
        _wait(self._answers, "dockerd", self.proc, self.log_path, timeout)

    def _answers(self) -> bool:
        return (
            self.socket.exists()
            and self.docker("version", "--format", "{{.Server.Version}}", check=False).returncode
            == 0
        )

    def docker(
        self, *args: str, check: bool = True, timeout: float = 60, input: str | bytes | None = None
    ) -> subprocess.CompletedProcess[Any]:
        argv = [DOCKER, f"--host=unix://{self.socket}", *args]
        text = not isinstance(input, bytes)
        result = subprocess.run(
            argv, input=input, capture_output=True, text=text, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            err = result.stderr if text else result.stderr.decode(errors="replace")
            raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}: {err}")
        return result

    def import_busybox(self, ref: str = "busybox:latest") -> str:
        out = self.docker("import", "-", ref, input=busybox_tar()).stdout
        return out.decode().strip()

    def stop(self) -> None:
        """Remove containers (at once, no grace period), stop dockerd, and check that nothing
        of it is left: no process in its mount namespace, no cgroup."""
        if self.proc is not None and self.proc.alive():
            ids = self.docker("ps", "-aq", check=False).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
            self.proc.stop(20)
        self.proc = None
        if self.ns is not None:
            left = self.ns.pids()
            self.ns.close()
            self.ns = None
            remove_cgroups(self.cgroup_parent)
            if left:
                raise EngineError(f"processes left by dockerd (killed): {left}")
        remove_cgroups(self.cgroup_parent)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        if self.ns is not None:
            self.ns.close()
        remove_cgroups(self.cgroup_parent)


def containers_conf(workdir: Path, network_dir: Path, plugin_dirs: Sequence[str]) -> str:
    dirs = ", ".join(json.dumps(d) for d in plugin_dirs)
    return f"""\
[containers]
# podman's default nofile=1048576 is above this machine's hard limit: runc would refuse.
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[network]
network_backend = "cni"
cni_plugin_dirs = [{dirs}]
network_config_dir = {json.dumps(str(network_dir))}

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = {json.dumps(str(workdir / "events.log"))}
tmp_dir = "/run/libpod"
runtime = "runc"
static_dir = {json.dumps(str(workdir / "storage" / "libpod"))}
volume_path = {json.dumps(str(workdir / "storage" / "volumes"))}
"""


def overlay_usable() -> bool:
    return any(
        line.split()[-1] == "overlay"
        for line in Path("/proc/filesystems").read_text().splitlines()
        if line.strip()
    )


class PodmanEngine:
    """Debian's podman with CNI, everything test-local: containers.conf (``CONTAINERS_CONF``),
    storage.conf (``CONTAINERS_STORAGE_CONF``), ``--root``/``--runroot``, the conflist dir
    ``<workdir>/net.d`` and the plugin dirs (``plugin_dirs`` first, then Debian's)."""

    def __init__(
        self, netns: str, workdir: Path, tag: str, *, plugin_dirs: Sequence[str] = ()
    ) -> None:
        self.netns = netns
        self.workdir = workdir
        self.tag = tag
        self.network_dir = workdir / "net.d"
        self.root = workdir / "storage"
        # podman refuses a runroot over 50 characters; /run is the namespace's private tmpfs
        self.runroot = "/run/containers/storage"
        self.conf = workdir / "containers.conf"
        self.storage_conf = workdir / "storage.conf"
        self.cgroup_parent = f"t-{tag}-podman"
        self.driver = "overlay" if overlay_usable() else "vfs"
        self.plugin_dirs = [*plugin_dirs, CNI_PLUGIN_DIR]
        self.ns: EngineNamespace | None = None

    def start(self) -> None:
        self.network_dir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(containers_conf(self.workdir, self.network_dir, self.plugin_dirs))
        self.storage_conf.write_text(
            f'[storage]\ndriver = "{self.driver}"\n'
            f"graphroot = {json.dumps(str(self.root))}\nrunroot = {json.dumps(self.runroot)}\n"
        )
        self.ns = EngineNamespace(self.netns, self.workdir)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.conf),
            "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
        }

    def podman(
        self, *args: str, check: bool = True, timeout: float = 60, input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        assert self.ns is not None, "start() first"
        argv = self.ns.enter(PODMAN, f"--root={self.root}", f"--runroot={self.runroot}", *args)
        result = subprocess.run(
            argv, input=input, capture_output=True, timeout=timeout, env=self.env, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"podman {' '.join(args)} exited {result.returncode}: "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        return result

    def run(self, *args: str, check: bool = True) -> str:
        """``podman run`` in this test's cgroup parent; returns stdout (the id with ``-d``)."""
        out = self.podman("run", f"--cgroup-parent=/{self.cgroup_parent}", *args, check=check)
        return out.stdout.decode().strip()

    def import_busybox(self, ref: str = "localhost/busybox:latest") -> str:
        return self.podman("import", "-", ref, input=busybox_tar()).stdout.decode().strip()

    def add_conflist(self, name: str, plugins: Sequence[Mapping[str, Any]]) -> Path:
        path = self.network_dir / f"{name}.conflist"
        conf = {"cniVersion": "1.0.0", "name": name, "plugins": list(plugins)}
        path.write_text(json.dumps(conf, indent=1))
        return path

    def stop(self) -> None:
        """Remove every container at once, then check nothing is left in the namespace."""
        if self.ns is None:
            return
        self.podman("rm", "--all", "--force", "--time=0", check=False)
        ns = self.ns
        until(lambda: not ns.pids(), 10, 0.05)  # conmon exits right after its container
        left = self.ns.pids()
        self.ns.close()
        self.ns = None
        remove_cgroups(self.cgroup_parent)
        if left:
            raise EngineError(f"processes left by podman (killed): {left}")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        if self.ns is not None:
            self.ns.close()
            self.ns = None
        remove_cgroups(self.cgroup_parent)
