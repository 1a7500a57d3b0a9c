"""The runner's trusted logic, without Docker: the plan, the strict report
parser, the verdict rules and the per-assert messages (through the local
backend, which runs the very same runner script)."""

from __future__ import annotations

import importlib.util

import pytest

from coderefl.execution.image import runner_path
from coderefl.execution.local import LocalSandbox
from coderefl.records import Limits


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("coderefl_runner", runner_path())
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def local():
    return LocalSandbox(limits=Limits(timeout_s=5))


def test_plan_orders_statement_tests_then_functions(runner):
    src = (
        "import math\n"
        "'''doc'''\n"
        "def helper(x):\n    return x\n"
        "assert helper(1) == 1\n"
        "def test_b():\n    pass\n"
        "check = helper\n"
        "check(2)\n"
        "for i in range(2):\n    assert i < 2\n"
        "class TestK:\n    def test_m(self):\n        pass\n"
        "def test_a():\n    pass\n"
    )
    steps, names = runner.make_plan(src)
    assert names == [
        "line 5: assert helper(1) == 1",
        "line 9: check(2)",
        "line 10: for i in range(2): assert i < 2",
        "test_b",
        "TestK::test_m",
        "test_a",
    ]
    assert [s["kind"] for s in steps].count("setup") == 6


def test_plan_rejects_bad_syntax(runner):
    with pytest.raises(SyntaxError):
        runner.make_plan("assert (\n")


def test_report_parser_is_strict(runner):
    good = b"R abc import 0 passed 0\nR abc test 0 failed 3\nxyzR abc done 0 passed 0\n"
    assert runner.parse_report(good, "abc") == [
        ("import", 0, "passed", ""), ("test", 0, "failed", "xyz"), ("done", 0, "passed", "")]
    assert runner.parse_report(good, "abd") is None  # wrong nonce
    assert runner.parse_report(b"R abc test 0 passed 9\nshort", "abc") is None  # truncated
    assert runner.parse_report(b"R abc test 0 great 0\n", "abc") is None  # unknown status


def test_judge_needs_every_expected_test_and_done(runner):
    names = ["a", "b"]
    rec = lambda *rs: b"".join(f"R n {k} {i} {s} 0\n".encode() for k, i, s in rs)  # noqa: E731
    full = rec(("import", 0, "passed"), ("test", 0, "passed"), ("test", 1, "passed"), ("done", 0, "passed"))
    assert runner.judge(names, full, "n", False, 0, False, False)[0] == "passed"
    no_done = rec(("import", 0, "passed"), ("test", 0, "passed"), ("test", 1, "passed"))
    assert runner.judge(names, no_done, "n", False, 0, False, False)[0] == "error"
    missing = rec(("import", 0, "passed"), ("test", 0, "passed"), ("done", 0, "passed"))
    assert runner.judge(names, missing, "n", False, 0, False, False)[0] == "error"
    dup = rec(("import", 0, "passed"), ("test", 0, "passed"), ("test", 0, "passed"), ("test", 1, "passed"),
              ("done", 0, "passed"))
    assert runner.judge(names, dup, "n", False, 0, False, False)[0] == "error"
    forged_first = rec(("import", 0, "passed"), ("test", 0, "passed"), ("test", 1, "passed"), ("done", 0, "passed"))
    assert runner.judge(names, forged_first + full, "n", False, 0, False, False)[0] == "error"
    status, outcomes = runner.judge(names, rec(("import", 0, "passed"), ("test", 0, "passed")), "n", True, -9, False, False)
    assert status == "timeout"
    assert [o["status"] for o in outcomes] == ["passed", "timeout"]


def test_per_assert_reports_actual_values(local):
    program = "def f(x):\n    return x * 2\n"
    tests = (
        "assert f(2) == 4\n"
        "assert f(3) == 7, 'three'\n"
        "assert f(1) in (5, 6)\n"
        "assert not f(1)\n"
        "assert f(0)\n"
        "assert f(2) + 1 == 9\n"
        "def check(candidate):\n    assert candidate(5) == 11\n"
        "check(f)\n"
    )
    r = local.run_sync(program, tests)
    assert r.status == "failed"
    msgs = {t.name: (t.status, t.message) for t in r.tests}
    assert msgs["line 1: assert f(2) == 4"] == ("passed", "")
    assert msgs["line 2: assert f(3) == 7, 'three'"] == ("failed", "f(3) returned 6, expected 7 (message: 'three')")
    assert msgs["line 3: assert f(1) in (5, 6)"] == ("failed", "f(1) returned 2, expected in (5, 6)")
    assert msgs["line 4: assert not f(1)"] == ("failed", "f(1) returned 2")
    assert msgs["line 5: assert f(0)"] == ("failed", "f(0) returned 0")
    assert msgs["line 6: assert f(2) + 1 == 9"] == ("failed", "f(2) + 1 was 5, expected 9")
    status, message = msgs["line 9: check(f)"]
    assert status == "failed" and "candidate(5) returned 10, expected 11" in message


def test_pytest_and_hypothesis_tests_run(local):
    program = "def rev(xs):\n    return list(reversed(xs))\n\ndef bad(xs):\n    return xs\n"
    tests = (
        "from hypothesis import given, strategies as st\n"
        "import pytest\n"
        "@given(st.lists(st.integers()))\n"
        "def test_involution(xs):\n    assert rev(rev(xs)) == xs\n"
        "@given(st.lists(st.integers(), min_size=2, unique=True))\n"
        "def test_bad_reverses(xs):\n    assert bad(xs) == xs[::-1]\n"
        "def test_raises():\n    with pytest.raises(ZeroDivisionError):\n        1 / 0\n"
    )
    r = local.run_sync(program, tests, Limits(timeout_s=60))  # hypothesis is slow on a loaded CI box
    by = {t.name: t for t in r.tests}
    assert by["test_involution"].status == "passed"
    assert by["test_raises"].status == "passed"
    assert by["test_bad_reverses"].status == "failed"
    assert "Falsifying example" in by["test_bad_reverses"].message or "returned" in by["test_bad_reverses"].message
    assert r.status == "failed"


def test_solution_names_and_helpers_in_scope(local):
    program = "_hidden = 3\ndef g():\n    return _hidden\n"
    tests = "import math\nfrom solution import g as g2\ndef helper():\n    return g() + _hidden\nassert helper() == 6\nassert g2() == 3\n"
    assert local.run_sync(program, tests).status == "passed"


def test_no_tests_rules(local):
    assert local.run_sync("x = 1\n", None).status == "passed"  # imports cleanly, no tests asked
    r = local.run_sync("raise ValueError('boom')\n", None)
    assert r.status == "error" and "boom" in r.tests[0].message
    r = local.run_sync("x = 1\n", "")
    assert r.status == "error" and "no tests" in r.tests[0].message
    r = local.run_sync("x = 1\n", "import os\ndef helper():\n    pass\n")
    assert r.status == "error"
    r = local.run_sync("x = 1\n", "assert (\n")
    assert r.status == "error" and "does not parse" in r.tests[0].message


def test_setup_failure_is_error_not_failed(local):
    r = local.run_sync("x = 1\n", "import no_such_module_xyz\nassert x == 1\n")
    assert r.status == "error"
    assert any("no_such_module_xyz" in t.message for t in r.tests)


def test_hidden_tests_are_not_on_disk(local):
    program = (
        "import os\n"
        "def on_disk():\n"
        "    return [f for f in os.listdir('.') if f != 'solution.py']\n"
    )
    assert local.run_sync(program, "assert on_disk() == []\n").status == "passed"


def test_a_function_named_solution_wins_over_the_module(local):
    # HumanEval/121's entry point is called ``solution``
    r = local.run_sync("def solution(xs):\n    return sum(xs)\n", "assert solution([1, 2]) == 3\n")
    assert r.status == "passed", r
    r = local.run_sync("def g():\n    return 1\n", "assert solution.g() == 1\n")
    assert r.status == "passed", r
