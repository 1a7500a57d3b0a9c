"""What tests can do in judge mode: the test forms, exceptions, mutated
arguments, iterators, the program's own classes, and the feedback messages.

Through the local backend, which runs the very runner the containers run."""

from __future__ import annotations

import pytest

from coderefl.execution.jobs import with_plain_values
from coderefl.execution.local import LocalSandbox
from coderefl.records import Limits


@pytest.fixture(scope="module")
def sb():
    return LocalSandbox(limits=Limits(timeout_s=20))


def judged(sb, program: str, tests: str):
    result = sb.run_sync(program, with_plain_values(tests))
    assert result.isolation == "judge"
    return result


def outcomes(result) -> dict[str, tuple[str, str]]:
    return {t.name: (t.status, t.message) for t in result.tests}


def test_every_test_form_runs_and_feedback_shows_the_values(sb):
    program = "def f(x):\n    return x * 2\n"
    tests = (
        "import pytest\nfrom hypothesis import given, strategies as st\n"
        "assert f(2) == 4\n"
        "assert f(3) == 7\n"
        "def check(candidate):\n    assert candidate(5) == 11\n"
        "check(f)\n"
        "def test_plain():\n    assert f(1) == 2\n"
        "@given(st.integers())\ndef test_property(x):\n    assert f(x) == x + x\n"
        "@given(st.integers(min_value=1))\ndef test_bad_property(x):\n    assert f(x) == x\n"
        "class TestK:\n    def test_m(self):\n        assert f(0) == 0\n"
    )
    got = outcomes(judged(sb, program, tests))
    # (line 1 is the plain-values line)
    assert got["line 4: assert f(2) == 4"] == ("passed", "")
    assert got["line 5: assert f(3) == 7"] == ("failed", "f(3) returned 6, expected 7")
    assert got["line 8: check(f)"][0] == "failed"
    assert "candidate(5) returned 10, expected 11" in got["line 8: check(f)"][1]
    assert got["test_plain"] == ("passed", "")
    assert got["test_property"] == ("passed", "")
    assert got["test_bad_property"][0] == "failed" and "Falsifying example" in got["test_bad_property"][1]
    assert got["TestK::test_m"] == ("passed", "")


def test_exceptions_cross_as_builtin_types(sb):
    program = (
        "class Invalid(ValueError):\n    pass\n"
        "def f(x):\n"
        "    if x < 0:\n        raise Invalid('negative')\n"
        "    if x == 0:\n        raise ZeroDivisionError('zero')\n"
        "    return {}[x]\n"
        "def leave(x):\n    import sys\n    sys.exit(3)\n"
    )
    tests = (
        "import pytest\n"
        "def test_raises():\n    with pytest.raises(ValueError, match='negative'):\n        f(-1)\n"
        "def test_except():\n    try:\n        f(0)\n    except ZeroDivisionError:\n        pass\n"
        "    else:\n        assert False\n"
        "def test_keyerror():\n    assert f(5) == 1\n"
        "def test_exit():\n    assert leave(1) == 1\n"
    )
    got = outcomes(judged(sb, program, tests))
    assert got["test_raises"] == ("passed", "")
    assert got["test_except"] == ("passed", "")
    status, message = got["test_keyerror"]
    assert status == "error" and message.startswith("KeyError") and "solution.py line 8" in message
    assert got["test_exit"][0] == "error" and "sys.exit(3)" in got["test_exit"][1]


def test_mutated_arguments_are_copied_back(sb):
    program = (
        "def sort_in_place(xs):\n    xs.sort()\n"
        "def fill(grid):\n    grid[0][0] = 9\n    grid.append([7])\n"
        "def tag(d):\n    d['seen'] = True\n"
    )
    tests = (
        "def test_all():\n"
        "    xs = [3, 1, 2]\n    assert sort_in_place(xs) is None\n    assert xs == [1, 2, 3]\n"
        "    row = [0]\n    grid = [row]\n    fill(grid)\n    assert grid == [[9], [7]] and row == [9]\n"
        "    d = {}\n    tag(d)\n    assert d == {'seen': True}\n"
    )
    assert judged(sb, program, tests).passed


def test_generators_the_programs_classes_and_constants(sb):
    program = (
        "import collections\n"
        "LIMIT = 3\n"
        "def gen(n):\n    yield from range(n)\n"
        "class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"
        "def chain(pairs):\n    return sum(1 for p in pairs if p.a < p.b)\n"
        "def leak():\n    return Pair(1, 2)\n"
    )
    tests = (
        "def test_gen():\n    assert list(gen(LIMIT)) == [0, 1, 2]\n"
        "def test_pairs():\n    assert chain([Pair(1, 5), Pair(6, 2)]) == 1\n"
        "def test_leak():\n    assert leak()\n"
        "def test_counter():\n    assert collections.Counter('aa') == {'a': 2}\n"
    )
    got = outcomes(judged(sb, program, tests))
    assert got["test_gen"] == ("passed", "")
    assert got["test_pairs"] == ("passed", "")
    assert got["test_leak"][0] == "error" and "only plain data can be compared" in got["test_leak"][1]
    assert got["test_counter"] == ("passed", "")


def test_a_program_that_dies_mid_call_is_an_error_for_that_test_and_the_rest(sb):
    program = "import os\ndef f(x):\n    if x == 2:\n        os._exit(0)\n    return x\n"
    result = judged(sb, program, "assert f(1) == 1\nassert f(2) == 2\nassert f(3) == 3\n")
    assert [t.status for t in result.tests] == ["passed", "error", "error"]
    assert "died during the call" in result.tests[1].message


def test_a_function_passed_to_the_program_is_refused_clearly(sb):
    result = judged(sb, "def apply(fn, x):\n    return fn(x)\n", "assert apply(lambda v: v + 1, 1) == 2\n")
    assert result.tests[0].status == "error"
    assert "judge mode passes only plain data" in result.tests[0].message


def test_an_import_error_is_reported_as_before(sb):
    result = judged(sb, "def f(:\n", "assert f(1) == 1\n")
    assert result.status == "error"
    assert result.tests[0].name == "import solution" and "does not compile" in result.tests[0].message
    result = judged(sb, "raise RuntimeError('boom')\n", "assert f(1) == 1\n")
    assert "raised while being imported: RuntimeError: boom" in result.tests[0].message


def test_the_problems_own_helpers_win_over_the_programs(sb):
    """HumanEval/32: the check evaluates poly; a program redefining poly changes nothing."""
    from coderefl.problems.registry import load_benchmark
    from coderefl.problems.samples import program_for

    task = load_benchmark("humaneval", limit=33)[32]
    cheat = "def poly(xs, x):\n    return 0\ndef find_zero(xs):\n    return 0.0\n"
    result = sb.run_sync(program_for(task, cheat), task.hidden.test_code)
    assert result.isolation == "judge" and not result.passed
    result = sb.run_sync(program_for(task, task.hidden.canonical_solution), task.hidden.test_code)
    assert result.passed


def test_trace_feedback_shows_what_the_failing_call_did(sb):
    """``# coderefl: trace``: the last call of a failed test runs again under
    sys.settrace and its steps, with the variables that changed, are in the message."""
    program = "def total(xs):\n    s = 0\n    for i in range(len(xs) - 1):\n        s += xs[i]\n    return s\n"
    tests = "# coderefl: trace\nassert total([1, 2, 3]) == 6\nassert total([]) == 0\n"
    result = judged(sb, program, tests)
    failed, passed = result.tests
    assert passed.status == "passed" and passed.message == ""
    lines = failed.message.splitlines()
    assert lines[0] == "total([1, 2, 3]) returned 3, expected 6"
    assert "What total did, line by line" in lines[1]
    assert "total line 4: s += xs[i]   [i=1]" in lines and lines[-1] == "total returns 3"
    assert lines.count("total line 4: s += xs[i]   [i=0]") == 1  # the loop stops one element early
    # without the line, no trace
    plain = judged(sb, program, tests.replace("# coderefl: trace\n", ""))
    assert plain.tests[0].message == "total([1, 2, 3]) returned 3, expected 6"


def test_a_runaway_trace_is_bounded(sb):
    program = "def spin(n):\n    k = 0\n    while k < n:\n        k += 1\n    return -1\n"
    result = judged(sb, program, "# coderefl: trace\nassert spin(100000) == 0\n")
    message = result.tests[0].message
    assert "more steps" in message and "stopped after 20000 steps" in message
    assert len(message) <= 6200


PER_TEST = (
    "STATE = []\n"
    "def f(x):\n"
    "    STATE.append(x)\n"
    "    if x == 2:\n        while True:\n            pass\n"
    "    if x == 3:\n        import os\n        os._exit(1)\n"
    "    return x * 10 + len(STATE)\n"
)
PER_TEST_TESTS = "assert f(1) == 11\nassert f(2) == 0\nassert f(5) == 51\nassert f(3) == 0\nassert f(4) == 41\n"


def check_per_test_outcomes(result) -> None:
    statuses = [t.status for t in result.tests]
    assert statuses == ["passed", "timeout", "passed", "error", "passed"], result.tests
    assert result.tests[1].message == "f() ran over the test's time limit of 1s"
    assert "ended during the call (exit code 1" in result.tests[3].message
    assert result.status == "failed"  # the job itself finished in time


def test_a_test_over_its_own_limit_does_not_cost_the_others_their_outcome(sb):
    """With Limits.test_timeout_s, a test that loops is a timeout, one whose process
    dies is an error, and each next test runs on a fresh copy of the imported
    program (STATE starts empty again: f(5) sees one call)."""
    result = sb.run_sync(PER_TEST, with_plain_values(PER_TEST_TESTS), Limits(timeout_s=15, test_timeout_s=1))
    check_per_test_outcomes(result)
    without = sb.run_sync(PER_TEST, with_plain_values(PER_TEST_TESTS), Limits(timeout_s=2))
    assert [t.status for t in without.tests] == ["passed", "timeout", "skipped", "skipped", "skipped"]


def test_jobs_with_workers_leave_nothing_behind():
    """After each job, every process of its sessions is gone (the worker too,
    which has a group of its own): the job is clean and the container is kept."""
    import subprocess
    import sys

    from coderefl.execution.image import sandbox_dir

    script = (
        "import sys, tempfile\n"
        f"sys.path.insert(0, {str(sandbox_dir())!r})\n"
        "from coderefl_runner import proc\n"
        "from coderefl_runner.server import Server\n"
        "proc.set_subreaper()\n"
        "srv, work, seen = Server(local=True), tempfile.mkdtemp(), set()\n"
        "for _ in range(12):\n"
        "    r = srv.run_job({'program': 'def f(x):\\n    return x\\n', 'tests': '# coderefl: plain-values\\nassert f(1) == 1\\n',\n"
        "                    'limits': {'timeout_s': 10, 'test_timeout_s': 2}, 'work_root': work})\n"
        "    seen.add((r['status'], r['clean'], r['recycle']))\n"
        "    srv.prepare_next()\n"
        "print(sorted(seen))\n"
    )
    out = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[('passed', True, False)]", out.stderr
