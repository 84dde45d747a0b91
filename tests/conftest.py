"""Top-level pytest plumbing shared by every suite.

- Tests under tests/kernel and tests/e2e are marked ``kernel`` automatically.
- A ``kernel`` test is skipped, with the precise reason, when the machine cannot run it
  (not root, no bcc, no bpffs, no cgroup v2).
- In CI (``CI=true``) nothing may leave tests out silently; each of these fails the run:
  a skipped ``kernel`` test, a module skipped at collection (any suite), an ``importorskip``
  that skipped (any suite), an xfail of a ``kernel`` test (xfailed or xpassed), and any
  deselection (``-k``, ``-m``, ``--deselect``, ``--lf``…). And when the run covers the whole
  of tests/kernel and tests/e2e, at least the floor in tests/ci_floor.txt of ``kernel``
  tests must have run. Outside CI all of this is allowed.
- With pytest-xdist (``make test`` runs two workers), collection happens in the workers: each
  sends what its collection left out (deselections, collection-time skips) with its output, and
  the controller, which also gets every test's report, applies the same checks and the floor.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
KERNEL_SUITES = ("kernel", "e2e")
FLOOR_FILE = TESTS_DIR / "ci_floor.txt"
WORKER_KEY = "hawser_left_out"  # what an xdist worker's collection left out, for the controller


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@functools.cache
def kernel_unavailable_reason() -> str | None:
    """Why kernel tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "kernel tests need root (CAP_NET_ADMIN, CAP_BPF); run as root"
    if importlib.util.find_spec("bcc") is None:
        return "bcc is not importable; run `make install` (Debian's python3-bpfcc)"
    if not os.path.ismount("/sys/fs/bpf"):
        return "bpffs is not mounted at /sys/fs/bpf; run `make install`"
    build = Path("/lib/modules", os.uname().release, "build")
    if not (build / "Makefile").exists():
        return f"kernel headers missing at {build}; run `make install`"
    if not any(
        Path(d).is_dir() and (Path(d) / "cgroup.controllers").exists()
        for d in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")
    ):
        return "cgroup v2 is not mounted (/sys/fs/cgroup/unified or /sys/fs/cgroup)"
    return None


@dataclass(eq=False)  # a plugin: pluggy keeps it in sets
class CiGuard:
    """A plugin (one per session) recording what was left out and which kernel tests ran."""

    config: pytest.Config
    skipped_kernel: list[str] = field(default_factory=list)
    collection_skips: list[str] = field(default_factory=list)
    import_skips: list[str] = field(default_factory=list)
    kernel_xfails: list[str] = field(default_factory=list)
    deselected: int = 0
    kernel_ran: set[str] = field(default_factory=set)
    floor_problem: str = ""

    def problems(self) -> list[str]:
        out = []
        for what, ids in (
            ("kernel test(s) were skipped", self.skipped_kernel),
            ("module(s) were skipped at collection", self.collection_skips),
            ("importorskip(s) skipped", self.import_skips),
            ("kernel test(s) are marked xfail", self.kernel_xfails),
        ):
            if ids:
                shown = "".join(f"\n  {i}" for i in ids[:20])
                more = f"\n  ... and {len(ids) - 20} more" if len(ids) > 20 else ""
                out.append(f"{len(ids)} {what}:{shown}{more}")
        if self.deselected:
            out.append(
                f"{self.deselected} test(s) were deselected (-k, -m, --deselect, --lf …): "
                "CI runs everything it collects"
            )
        if self.floor_problem:
            out.append(self.floor_problem)
        return out

    # hooks ---------------------------------------------------------------------------------
    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += len(items)
        self._tell_controller()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:
            self.collection_skips.append(f"{report.nodeid}: {_reason(report)}")
            self._tell_controller()

    def _tell_controller(self) -> None:
        """In an xdist worker: what collection left out travels with the worker's output."""
        output = getattr(self.config, "workeroutput", None)
        if output is not None:
            output[WORKER_KEY] = {
                "deselected": self.deselected,
                "collection_skips": list(self.collection_skips),
            }

    @pytest.hookimpl(optionalhook=True)  # pytest-xdist's, on the controller
    def pytest_testnodedown(self, node: object, error: object) -> None:
        told = (getattr(node, "workeroutput", None) or {}).get(WORKER_KEY) or {}
        self.deselected = max(self.deselected, int(told.get("deselected", 0)))  # each worker
        for skip in told.get("collection_skips", []):  # collects the whole suite
            if skip not in self.collection_skips:
                self.collection_skips.append(skip)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        kernel = "kernel" in report.keywords
        if hasattr(report, "wasxfail"):  # xfailed, xpassed, or xfail(run=False)
            if kernel and report.nodeid not in self.kernel_xfails:
                self.kernel_xfails.append(report.nodeid)
        elif report.skipped:
            if "could not import" in _reason(report):  # pytest.importorskip's wording
                self.import_skips.append(f"{report.nodeid}: {_reason(report)}")
            elif kernel and report.nodeid not in self.skipped_kernel:
                self.skipped_kernel.append(report.nodeid)
        elif kernel and report.when == "call":
            self.kernel_ran.add(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not in_ci():
            return
        self._check_floor()
        if self.problems() and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        problems = self.problems() if in_ci() else []
        if problems:
            terminalreporter.section("tests left out in CI", sep="=", red=True, bold=True)
            for problem in problems:
                terminalreporter.line(f"CI=true and {problem}", red=True)

    def _check_floor(self) -> None:
        if in_worker(self.config):  # a worker runs a share; the controller sees every report
            return
        if self.config.option.collectonly or not covers_kernel_suites(self.config):
            return
        try:
            floor = read_floor()
        except (OSError, ValueError) as exc:
            self.floor_problem = f"no kernel-test floor: {exc}"
            return
        if len(self.kernel_ran) < floor:
            self.floor_problem = (
                f"only {len(self.kernel_ran)} kernel+e2e tests ran, fewer than the floor of "
                f"{floor} in tests/{FLOOR_FILE.name}: tests were lost (lower it only on purpose)"
            )


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def in_worker(config: pytest.Config) -> bool:
    """Whether this process is a pytest-xdist worker (the controller has no workerinput)."""
    return hasattr(config, "workerinput")


def covers_kernel_suites(config: pytest.Config) -> bool:
    """Whether the run was asked for all of tests/kernel and tests/e2e (or more)."""
    base = config.invocation_params.dir
    asked = [(base / arg).resolve() for arg in config.args if "::" not in arg]
    return all(
        any(path == suite or path in suite.parents for path in asked)
        for suite in (TESTS_DIR / name for name in KERNEL_SUITES)
    )


def read_floor(path: Path = FLOOR_FILE) -> int:
    """The first number in ``path`` (``#`` starts a comment): the kernel+e2e minimum."""
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            return int(line)
    raise ValueError(f"{path} holds no number")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kernel: needs root, netns and BPF (runs in CI; a skip there is a failure)"
    )
    config.pluginmanager.register(CiGuard(config), "hawser-ci-guard")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            suite = item.path.resolve().relative_to(TESTS_DIR).parts[0]
        except ValueError:
            continue
        if suite in KERNEL_SUITES:
            item.add_marker(pytest.mark.kernel)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("kernel") is None:
        return
    reason = kernel_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
