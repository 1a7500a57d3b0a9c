"""When a repair is accepted: its tests pass, nothing that passed fails or
vanishes; a test file that did not even collect counts as fixed when its
tests now run and pass."""

from __future__ import annotations

from coderefl.fix.pytest_report import NodeResult
from coderefl.fix.repair import Target, accepts
from coderefl.fix.testrun import TestRun
from coderefl.records import ExecutionResult


def run(*nodes: tuple[str, str]) -> TestRun:
    results = [NodeResult(nodeid, status) for nodeid, status in nodes]
    status = "failed" if any(n.bad for n in results) else "passed"
    return TestRun(status=status, nodes=results, output="", execution=ExecutionResult(status=status))


COLLECTION = run(("tests/test_c.py", "error"), ("tests/test_other.py::test_ok", "passed"))
TARGET = Target("pkg/c.py", "fib", tests=[NodeResult("tests/test_c.py", "error")])


def test_a_collection_error_is_fixed_when_the_files_tests_run_and_pass():
    fixed = run(("tests/test_c.py::test_a", "passed"), ("tests/test_c.py::test_b", "passed"),
                ("tests/test_other.py::test_ok", "passed"))
    assert accepts(fixed, COLLECTION, TARGET)


def test_a_collection_error_is_not_fixed_while_its_tests_fail_or_do_not_run():
    still = run(("tests/test_c.py::test_a", "passed"), ("tests/test_c.py::test_b", "failed"),
                ("tests/test_other.py::test_ok", "passed"))
    assert not accepts(still, COLLECTION, TARGET)
    nothing = run(("tests/test_other.py::test_ok", "passed"))
    assert not accepts(nothing, COLLECTION, TARGET)
    erroring = run(("tests/test_c.py", "error"), ("tests/test_other.py::test_ok", "passed"))
    assert not accepts(erroring, COLLECTION, TARGET)


def test_nothing_that_passed_may_fail_or_vanish():
    lost = run(("tests/test_c.py::test_a", "passed"))
    assert not accepts(lost, COLLECTION, TARGET)  # test_other vanished
    broke = run(("tests/test_c.py::test_a", "passed"), ("tests/test_other.py::test_ok", "failed"))
    assert not accepts(broke, COLLECTION, TARGET)


def test_a_test_target_must_itself_pass():
    baseline = run(("tests/test_c.py::test_a", "failed"), ("tests/test_c.py::test_b", "passed"))
    target = Target("pkg/c.py", "fib", tests=[NodeResult("tests/test_c.py::test_a", "failed")])
    assert accepts(run(("tests/test_c.py::test_a", "passed"), ("tests/test_c.py::test_b", "passed")), baseline, target)
    assert not accepts(run(("tests/test_c.py::test_a", "failed"), ("tests/test_c.py::test_b", "passed")),
                       baseline, target)
    assert not accepts(run(("tests/test_c.py::test_b", "passed")), baseline, target)  # the target vanished
    timed_out = run(("tests/test_c.py::test_a", "passed"), ("tests/test_c.py::test_b", "passed"))
    timed_out.status = "timeout"
    assert not accepts(timed_out, baseline, target)
