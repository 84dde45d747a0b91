"""Top-level pytest plumbing shared by every suite.

- Tests under tests/kernel and tests/e2e are marked ``kernel`` automatically.
- A ``kernel`` test is skipped, with the precise reason, when the machine cannot run it
  (not root, no bcc, no bpffs, no cgroup v2).
- In CI (``CI=true``) a skipped ``kernel`` test fails the run: CI must exercise the datapath,
  so a silent skip there would hide that nothing was tested. Outside CI a skip is fine.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
KERNEL_SUITES = frozenset({"kernel", "e2e"})

_skipped_kernel_tests: list[str] = []


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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kernel: needs root, netns and BPF (runs in CI; a skip there is a failure)"
    )


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


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    if "kernel" in report.keywords and report.nodeid not in _skipped_kernel_tests:
        _skipped_kernel_tests.append(report.nodeid)


def _ci_failure_message() -> str:
    shown = "\n".join(f"  {nodeid}" for nodeid in _skipped_kernel_tests[:20])
    more = len(_skipped_kernel_tests) - 20
    tail = f"\n  ... and {more} more" if more > 0 else ""
    return (
        f"CI=true and {len(_skipped_kernel_tests)} kernel test(s) were skipped; in CI every "
        f"kernel test must run (see the skip reasons above):\n{shown}{tail}"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if in_ci() and _skipped_kernel_tests and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if in_ci() and _skipped_kernel_tests:
        terminalreporter.section("kernel tests skipped in CI", sep="=", red=True, bold=True)
        terminalreporter.line(_ci_failure_message(), red=True)
