"""tests/conftest.py: kernel auto-marking and "a skipped kernel test fails CI"."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A throw-away tests/ tree using the real conftest, one test of each kind."""
    monkeypatch.delenv("CI", raising=False)
    tests = pytester.path / "tests"
    for sub in ("unit", "kernel", "e2e"):
        (tests / sub).mkdir(parents=True)
    # The real conftest, with the machine check stubbed so results do not depend on this host.
    (tests / "conftest.py").write_text(
        CONFTEST.read_text() + "\n\ndef kernel_unavailable_reason():\n    return None\n"
    )
    (tests / "unit" / "test_u.py").write_text(
        "import pytest\n"
        "def test_unit_ok():\n    assert 1 + 1 == 2\n"
        "def test_unit_skipped():\n    pytest.skip('not here')\n"
    )
    (tests / "kernel" / "test_k.py").write_text(
        "import pytest\n"
        "@pytest.mark.xfail(reason='known', run=False)\n"
        "def test_kernel_xfail():\n    raise AssertionError\n"
    )
    (tests / "e2e" / "test_e.py").write_text(
        "def test_e2e_marked(request):\n"
        "    assert request.node.get_closest_marker('kernel') is not None\n"
    )
    return pytester


def _run(p: pytest.Pytester, *args: str) -> pytest.RunResult:
    return p.runpytest_subprocess("-p", "no:cacheprovider", "-ra", *args)


def test_kernel_and_e2e_tests_are_auto_marked(suite: pytest.Pytester) -> None:
    result = _run(suite, "tests", "-m", "not kernel")
    result.assert_outcomes(passed=1, skipped=1, deselected=2)


def test_skips_outside_kernel_suites_do_not_fail_ci(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    result = _run(suite, "tests", "-m", "not kernel")
    assert result.ret == pytest.ExitCode.OK


def test_skipped_kernel_test_fails_only_in_ci(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    (suite.path / "tests" / "kernel" / "test_skip.py").write_text(
        "import pytest\ndef test_kernel_skipped():\n    pytest.skip('no BPF here')\n"
    )
    local = _run(suite, "tests/kernel")
    assert local.ret == pytest.ExitCode.OK
    local.assert_outcomes(skipped=1, xfailed=1)

    monkeypatch.setenv("CI", "true")
    ci = _run(suite, "tests/kernel")
    assert ci.ret == pytest.ExitCode.TESTS_FAILED
    ci.stdout.fnmatch_lines(
        ["*kernel tests skipped in CI*", "*1 kernel test(s) were skipped*", "*test_kernel_skipped*"]
    )
