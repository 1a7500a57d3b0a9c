"""Outcomes map to tests by identity, never by position; a test that did
not run is unknown, never evidence against it. Runs the real runner (the
local backend: the same runner code as the container, without Docker)."""

from __future__ import annotations

import asyncio

from coderefl.execution import create_sandbox
from coderefl.records import ExecutionResult, Limits, TestOutcome
from coderefl.strategies.agreement import dual_agreement, outcome_vector
from coderefl.strategies.feedback import format_test_feedback
from coderefl.strategies.testset import TestSet, build_tests_file

PROPS = (
    "from hypothesis import given, strategies as st\n\n"
    "@given(st.integers())\n"
    "def test_zero_is_neutral(x):\n    assert add(x, 0) == x\n\n"
    "@given(st.integers(), st.integers())\n"
    "def test_commutes(x, y):\n    assert add(x, y) == add(y, x)\n"
)
USER = "def test_user_two():\n    assert add(2, 2) == 4\n"


def run(code: str, tests: list[str], timeout_s: float = 5.0) -> ExecutionResult:
    sandbox = create_sandbox("local")
    return asyncio.run(sandbox.run(code, build_tests_file(tests).source, Limits(timeout_s=timeout_s)))


def test_a_block_of_two_properties_and_a_user_test_function_map_to_their_own_snippets():
    # the user's test_ function runs after every assert, and the property block
    # yields two outcomes: by position these would land on the wrong tests
    tests = [USER, "assert add(1, 2) == 3", PROPS, "assert add(0, 0) == 0"]
    result = run("def add(a, b):\n    return a - b\n", tests)
    assert len(result.tests) == 5  # more outcomes than tests
    omap = build_tests_file(tests).map(result)
    assert omap.mismatch is None
    # a - b: 2-2 == 0 fails; 1-2 fails; x-0 == x passes but commutes fails; 0-0 passes
    assert omap.verdicts() == [False, False, False, True]
    assert [o.name for o in omap.outcomes[2]] == ["test_zero_is_neutral", "test_commutes"]
    assert "returned -1" in omap.message(1)
    assert outcome_vector(result, tests) == [False, False, False, True]


def test_tests_that_never_ran_after_a_timeout_are_unknown_not_failed():
    tests = ["assert add(1, 2) == 3", "assert add(7, 1) == 8", "assert add(1, 1) == 2", "assert add(2, 0) == 2"]
    result = run("def add(a, b):\n    while a == 7:\n        pass\n    return a + b\n", tests, timeout_s=2)
    assert result.status == "timeout"
    verdicts = build_tests_file(tests).map(result).verdicts()
    assert verdicts == [True, None, None, None]


def test_unknown_outcomes_are_no_evidence_against_a_generated_test():
    # two distinct candidates both time out before tests 1 and 2 run
    matrix = [[True, None, None], [True, None, None]]
    res = dual_agreement(matrix, [True, False, False], [["", "", ""], ["", "", ""]], programs=["a", "b"])
    assert res.suspicious == []
    # the same candidates failing test 1 for real, agreeing on the value, do flag it
    matrix = [[True, False, None], [True, False, None]]
    msgs = [["", "f(1) returned 2", ""], ["", "f(1) returned 2", ""]]
    assert dual_agreement(matrix, [True, False, False], msgs, programs=["a", "b"]).suspicious == [1]


def test_identical_programs_are_votes_but_not_independent_evidence():
    # candidates 0-2 are one program; 3 is another that passes more tests
    matrix = [[True, False], [True, False], [True, False], [True, True]]
    res = dual_agreement(matrix, [False, False], programs=["p", "p", "p", "q"])
    assert res.chosen == 0  # 3 votes x 1 test beats 1 vote x 2 tests (CodeT)
    # three copies of one program failing a test prove nothing about the test
    msgs = [["", "returned 1"]] * 3
    assert dual_agreement([[True, False]] * 3, [True, False], msgs, programs=["p"] * 3).suspicious == []


def test_an_outcome_no_test_owns_is_a_mismatch_not_a_drop():
    tests = ["assert f(1) == 1", "assert f(2) == 2"]
    tf = build_tests_file(tests)
    line = tf.spans[0][0]
    result = ExecutionResult(status="failed", tests=[
        TestOutcome(name=f"line {line}: assert f(1) == 1", status="passed"),
        TestOutcome(name="test_something_else", status="failed", message="boom"),
    ])
    omap = tf.map(result)
    assert omap.unowned == ["test_something_else"]
    assert omap.missing == ["assert f(2) == 2"]
    assert "belong to no test" in omap.mismatch and "got no outcome" in omap.mismatch
    assert omap.verdicts() == [True, None]


def test_a_crash_at_import_leaves_every_test_unknown_without_a_mismatch():
    tests = ["assert add(1, 2) == 3"]
    result = run("import nonexistent_module_xyz\ndef add(a, b):\n    return a + b\n", tests)
    omap = build_tests_file(tests).map(result)
    assert result.status == "error"
    assert omap.mismatch is None and omap.verdicts() == [None]
    assert "nonexistent_module_xyz" in format_test_feedback(omap)


def test_the_tests_file_is_judge_mode_and_numbers_lines_as_the_runner_does():
    tf = build_tests_file(["assert f(1) == 1", "x = 2\nassert f(x) == x"])
    lines = tf.source.splitlines()
    assert lines[0] == "# coderefl: plain-values"
    for (first, last), test in zip(tf.spans, tf.tests):
        assert "\n".join(lines[first - 1 : last]) == test
    assert tf.owner(f"line {tf.spans[1][1]}: assert f(x) == x") == 1
    assert tf.owner("line 999: assert nothing") is None


def test_feedback_labels_every_test_with_its_trust_tier():
    ts = TestSet(user=["assert add(5, 5) == 10"], examples=["assert add(2, 3) == 5"],
                 generated=["assert add(1, 2) == 4"])
    tests = ts.all()
    result = run("def add(a, b):\n    return a + b\n", tests)
    text = format_test_feedback(build_tests_file(tests).map(result), ts.tiers(tests))
    assert "Passed: assert add(5, 5) == 10  [user test (authoritative)]" in text
    assert "Passed: assert add(2, 3) == 5  [example from the problem" in text
    assert "Failed: assert add(1, 2) == 4  [your own test (may be wrong)]  # add(1, 2) returned 3, expected 4" in text
    assert ts.tiers(tests) == ["user", "example", "generated"]


def _episode():
    from coderefl.records import Problem
    from coderefl.strategies.base import create_strategy

    strategy = create_strategy("simple", model=None, sandbox=None)  # type: ignore[arg-type]
    return strategy.episode(Problem(task_id="t", prompt="def f(x): ...", entry_point="f"))


def test_the_best_candidate_is_chosen_on_comparable_tests_and_ties_go_to_the_earlier():
    from coderefl.strategies.episode import Candidate

    ep = _episode()
    a, b, c = "assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 3"
    ep.consider(Candidate("first", 1, 2, 1, results={a: True, b: False}))
    ep.consider(Candidate("second", 1, 2, 2, results={a: False, b: True}))
    assert ep.best.code == "first"  # a tie: the earlier stays
    # 2 of 3 (66%) against 1 of 2 (50%) by fraction, but on the tests both ran (a, b) it is 1 against 1;
    # the new one also fails its own third test, so it is no better
    ep.consider(Candidate("third", 2, 3, 3, results={a: True, b: False, c: True}))
    assert ep.best.code == "first"
    ep.consider(Candidate("fourth", 2, 2, 4, results={a: True, b: True}))
    assert ep.best.code == "fourth"
    # the same program rescored on fewer tests (one was dropped) replaces itself
    ep.consider(Candidate("fourth", 1, 1, 4, results={a: True}))
    assert ep.best.total == 1


def test_a_candidate_that_fails_an_example_loses_to_one_that_fails_only_its_own_test():
    from coderefl.strategies.episode import Candidate

    ep = _episode()
    example, own = "assert f(2) == 5", "assert f(1) == 0"
    ep.consider(Candidate("buggy", 1, 2, 1, results={example: False, own: True}, strong=frozenset({example})))
    ep.consider(Candidate("good", 1, 2, 2, results={example: True, own: False}, strong=frozenset({example})))
    assert ep.best.code == "good"
