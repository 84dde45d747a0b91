"""tests/conftest.py: kernel auto-marking, and nothing left out silently in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
FLOOR = 2  # the fake suite's floor: its two kernel tests (one in kernel/, one in e2e/)


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A throw-away tests/ tree using the real conftest: a few tests of each kind."""
    monkeypatch.delenv("CI", raising=False)
    tests = pytester.path / "tests"
    for sub in ("unit", "kernel", "e2e"):
        (tests / sub).mkdir(parents=True)
    # The real conftest, with the machine check stubbed so results do not depend on this host.
    (tests / "conftest.py").write_text(
        CONFTEST.read_text() + "\n\ndef kernel_unavailable_reason():\n    return None\n"
    )
    (tests / "ci_floor.txt").write_text(f"# kernel+e2e tests that must run in CI\n{FLOOR}\n")
    (tests / "unit" / "test_u.py").write_text(
        "import pytest\n"
        "def test_unit_ok():\n    assert 1 + 1 == 2\n"
        "def test_unit_skipped():\n    pytest.skip('not here')\n"
        "@pytest.mark.xfail(reason='known')\ndef test_unit_xfail():\n    raise AssertionError\n"
    )
    (tests / "kernel" / "test_k.py").write_text("def test_kernel_ok():\n    pass\n")
    (tests / "e2e" / "test_e.py").write_text(
        "def test_e2e_marked(request):\n"
        "    assert request.node.get_closest_marker('kernel') is not None\n"
    )
    return pytester


def _run(p: pytest.Pytester, *args: str) -> pytest.RunResult:
    # hypothesis's plugin costs ~0.5 s per run and has nothing to do here
    plugins = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    return p.runpytest_inprocess(*plugins, "-ra", *(args or ("tests",)))


def _ci(p: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str) -> pytest.RunResult:
    monkeypatch.setenv("CI", "true")
    try:
        return _run(p, *args)
    finally:
        monkeypatch.delenv("CI")


def test_kernel_and_e2e_tests_are_auto_marked(suite: pytest.Pytester) -> None:
    result = _run(suite, "tests", "-m", "not kernel")
    result.assert_outcomes(passed=1, skipped=1, xfailed=1, deselected=2)


def test_a_full_ci_run_passes_with_unit_skips_and_xfails(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _ci(suite, monkeypatch)
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=3, skipped=1, xfailed=1)
    assert "tests left out in CI" not in result.stdout.str()


# (file to add, its text, extra pytest args, the line CI must print)
LEFT_OUT = {
    "kernel test skipped at run time": (
        "kernel/test_skip.py",
        "import pytest\ndef test_kernel_skipped():\n    pytest.skip('no BPF here')\n",
        (),
        "*1 kernel test(s) were skipped:*",
    ),
    "kernel test skipped by a mark": (
        "e2e/test_skipif.py",
        "import pytest\n@pytest.mark.skipif(True, reason='needs root')\ndef test_e():\n    pass\n",
        (),
        "*1 kernel test(s) were skipped:*",
    ),
    "unit module skipped at collection": (
        "unit/test_modskip.py",
        "import pytest\npytest.skip('whole module', allow_module_level=True)\n"
        "def test_never():\n    pass\n",
        (),
        "*1 module(s) were skipped at collection:*",
    ),
    "importorskip at module level": (
        "kernel/test_imp.py",
        "import pytest\nbcc = pytest.importorskip('no_such_module_h3')\n"
        "def test_never():\n    pass\n",
        (),
        ("*1 module(s) were skipped at collection:*", "*could not import 'no_such_module_h3'*"),
    ),
    "importorskip inside a unit test": (
        "unit/test_imp_call.py",
        "import pytest\ndef test_u():\n    pytest.importorskip('no_such_module_h3')\n",
        (),
        "*1 importorskip(s) skipped:*",
    ),
    "kernel xfail not run": (
        "kernel/test_xf.py",
        "import pytest\n@pytest.mark.xfail(reason='known', run=False)\ndef test_x():\n    pass\n",
        (),
        "*1 kernel test(s) are marked xfail:*",
    ),
    "kernel xfail that fails": (
        "e2e/test_xf.py",
        "import pytest\n@pytest.mark.xfail(reason='known')\ndef test_x():\n    assert 0\n",
        (),
        "*1 kernel test(s) are marked xfail:*",
    ),
    "kernel xfail that passes": (
        "kernel/test_xp.py",
        "import pytest\n@pytest.mark.xfail(reason='known')\ndef test_x():\n    pass\n",
        (),
        "*1 kernel test(s) are marked xfail:*",
    ),
    "-k": ("", "", ("tests", "-k", "not unit_skipped"), "*1 test(s) were deselected*"),
    "-m": ("", "", ("tests", "-m", "not kernel"), "*2 test(s) were deselected*"),
    "--deselect": (
        "",
        "",
        ("tests", "--deselect", "tests/unit/test_u.py::test_unit_ok"),
        "*1 test(s) were deselected*",
    ),
    "fewer kernel tests than the floor": (
        "ci_floor.txt",
        f"{FLOOR + 1}\n",
        (),
        f"*only {FLOOR} kernel+e2e tests ran, fewer than the floor of {FLOOR + 1}*",
    ),
}


@pytest.mark.parametrize("case", list(LEFT_OUT))
def test_leaving_tests_out_fails_only_in_ci(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    path, text, args, line = LEFT_OUT[case]
    if path:
        (suite.path / "tests" / path).write_text(text)
    local = _run(suite, *args)
    assert local.ret == pytest.ExitCode.OK, local.stdout.str()
    ci = _ci(suite, monkeypatch, *args)
    assert ci.ret == pytest.ExitCode.TESTS_FAILED, ci.stdout.str()
    ci.stdout.fnmatch_lines(
        ["*tests left out in CI*", *([line] if isinstance(line, str) else line)]
    )


@pytest.mark.parametrize(
    ("args", "checked"),
    [
        (("tests",), True),
        (("tests/unit", "tests/kernel", "tests/e2e"), True),
        ((".",), True),
        (("tests/kernel",), False),  # `make kernel`: a part, no floor
        (("tests/unit", "tests/e2e"), False),
        (("tests/kernel", "tests/e2e/test_e.py"), False),
    ],
)
def test_the_floor_applies_to_full_kernel_runs_only(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], checked: bool
) -> None:
    (suite.path / "tests" / "ci_floor.txt").write_text("99\n")
    result = _ci(suite, monkeypatch, *args)
    expected = pytest.ExitCode.TESTS_FAILED if checked else pytest.ExitCode.OK
    assert result.ret == expected, result.stdout.str()


def test_a_missing_floor_fails_a_full_ci_run(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    (suite.path / "tests" / "ci_floor.txt").unlink()
    result = _ci(suite, monkeypatch)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*no kernel-test floor:*ci_floor.txt*"])


def test_the_repository_floor_is_a_number() -> None:
    from tests.conftest import FLOOR_FILE, read_floor

    assert read_floor(FLOOR_FILE) > 100  # the suite's kernel+e2e tests, counted at its update


# Through pytest-xdist (``make test`` runs two workers): collection happens in the workers.
XDIST_LEFT_OUT = {
    "kernel test skipped at run time": "*1 kernel test(s) were skipped:*",
    "unit module skipped at collection": "*1 module(s) were skipped at collection:*",
    "-k": "*1 test(s) were deselected*",
    "fewer kernel tests than the floor": f"*only {FLOOR} kernel+e2e tests ran, fewer than*",
}


@pytest.mark.parametrize("case", list(XDIST_LEFT_OUT))
def test_leaving_tests_out_fails_ci_through_xdist_workers(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    path, text, args, _ = LEFT_OUT[case]
    if path:
        (suite.path / "tests" / path).write_text(text)
    monkeypatch.setenv("CI", "true")
    plugins = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result = suite.runpytest_subprocess(*plugins, "-n", "2", *(args or ("tests",)))
    assert result.ret != pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines([XDIST_LEFT_OUT[case]])


def test_a_full_ci_run_through_xdist_workers_passes(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    plugins = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result = suite.runpytest_subprocess(*plugins, "-n", "2", "tests")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["*3 passed, 1 skipped, 1 xfailed*"])
