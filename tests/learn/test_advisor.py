"""Asking an expert: the oracle (canonical solution in the sandbox), the
human at the terminal, the agent's question and the run's advice figures."""

from __future__ import annotations

import asyncio
import io

import pytest

from coderefl.learn import (
    Advice,
    HumanAdvisor,
    OracleAdvisor,
    advice_note,
    advice_summary,
    advice_tests,
    low_confidence,
    parse_unsure_args,
    unsure_prompt,
)
from coderefl.strategies.asking import UNSURE_NEEDLE
from coderefl.problems.firewall import hidden_fragments
from coderefl.records import BenchmarkTask, HiddenTests, Limits, Problem, RunRecord, Step, Trajectory

from .conftest import ADD, ADD_TASK

DIV = BenchmarkTask(
    problem=Problem(task_id="demo/div", prompt='def div(a, b):\n    """a // b"""\n', entry_point="div",
                    visible_tests=["assert div(7, 2) == 3"]),
    hidden=HiddenTests(
        test_code="def test_h():\n    assert div(7, 2) == 3\n    assert div(1000001, 7) == 142857\n",
        canonical_solution="def div(a, b):\n    if b == 0:\n        raise ZeroDivisionError('SECRET-CANON-MESSAGE')\n    return a // b\n",
    ),
)
ODD = BenchmarkTask(
    problem=Problem(task_id="demo/odd", prompt="def odd(x): ...", entry_point="odd"),
    hidden=HiddenTests(
        test_code="def test_h():\n    assert odd(1) is not None\n",
        canonical_solution="class Thing:\n    pass\n\ndef odd(x):\n    if x < 0:\n        while True:\n            pass\n    return Thing()\n",
    ),
)
NO_CANON = BenchmarkTask(
    problem=Problem(task_id="demo/nc", prompt="def nc(x): ...", entry_point="nc"),
    hidden=HiddenTests(test_code="def test_h():\n    assert nc(1) == 1\n"),
)


def ask(advisor, problem, args, sample=0):
    return asyncio.run(advisor.advise(problem, args, sample=sample))


def oracle(sandbox, **kw):
    return OracleAdvisor(sandbox, [ADD_TASK, DIV, ODD, NO_CANON], limits=Limits(timeout_s=2.0), **kw)


def test_oracle_answers_with_a_computed_example(local_sandbox):
    adv = oracle(local_sandbox, cost_tokens=150)
    a = ask(adv, ADD, (2, 40))
    assert a == Advice(task_id="demo/add", kind="example", text="assert add(2, 40) == 42", args="add(2, 40)",
                       cost_tokens=150, source="oracle")
    # a value of any literal type, computed by the canonical solution
    b = ask(adv, DIV.problem, (-7, 2))
    assert b.text == "assert div(-7, 2) == -4"
    nested = ask(adv, ADD, ([1, 2], [3]))
    assert nested.text == "assert add([1, 2], [3]) == [1, 2, 3]"


def test_oracle_caps_requests_per_problem_and_sample(local_sandbox):
    adv = oracle(local_sandbox, max_requests=2)
    assert ask(adv, ADD, (1, 1)) is not None and ask(adv, ADD, (1, 2)) is not None
    assert adv.remaining(ADD) == 0
    assert ask(adv, ADD, (1, 3)) is None
    assert adv.requests[("demo/add", 0)] == 2  # the refused one is not counted
    assert ask(adv, ADD, (1, 3), sample=1) is not None  # another sample has its own cap
    assert ask(adv, DIV.problem, (9, 3)).text == "assert div(9, 3) == 3"


def test_oracle_reports_an_exception_by_type_only(local_sandbox):
    a = ask(oracle(local_sandbox), DIV.problem, (1, 0))
    assert a.kind == "hint" and a.text == "div(1, 0) should raise ZeroDivisionError"
    assert "SECRET" not in a.model_dump_json() and "line" not in a.text


def test_oracle_non_literal_timeouts_and_missing_canonical(local_sandbox):
    adv = oracle(local_sandbox, max_requests=3)
    assert ask(adv, ODD.problem, (1,)) is None  # the hidden test's input: withheld
    a = ask(adv, ODD.problem, (2,))
    assert a.kind == "hint" and "Thing object" in a.text and not a.text.startswith("assert")
    assert ask(adv, ODD.problem, (-1,)) is None  # the canonical loops: no answer, but the request counted
    assert adv.requests[("demo/odd", 0)] == 3 and adv.remaining(ODD.problem) == 0
    assert not adv.available(NO_CANON.problem)
    assert ask(adv, NO_CANON.problem, (1,)) is None and adv.requests[("demo/nc", 0)] == 0
    assert ask(adv, ADD, None) is None  # the oracle answers about inputs only
    unknown = Problem(task_id="elsewhere/x", prompt="p", entry_point="x")
    assert ask(adv, unknown, (1,)) is None


def test_oracle_withholds_inputs_of_hidden_tests_but_answers_visible_ones(local_sandbox):
    adv = oracle(local_sandbox)
    assert ask(adv, ADD, (1234567, 7654321)) is None  # a hidden test's input
    assert ask(adv, DIV.problem, (1000001, 7)) is None
    assert adv.withheld == 2
    shown = ask(adv, DIV.problem, (7, 2))  # also in the hidden tests, but shown in the problem
    assert shown.text == "assert div(7, 2) == 3"


def test_oracle_answers_never_contain_a_hidden_assert_on_real_humaneval(local_sandbox):
    """Every input a hidden HumanEval test uses, and others around them: no
    answer may contain a hidden fragment (the hidden-test firewall's check)."""
    import ast

    from coderefl.problems.registry import load_benchmark

    tasks = load_benchmark("humaneval", limit=4)
    adv = OracleAdvisor(local_sandbox, tasks, max_requests=1000, limits=Limits(timeout_s=5.0))
    answered = 0
    for task in tasks:
        frags = hidden_fragments(task)
        assert frags
        inputs = []
        for node in ast.walk(ast.parse(task.hidden.test_code)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "candidate":
                try:
                    inputs.append(tuple(ast.literal_eval(a) for a in node.args))
                except ValueError:
                    pass
        shown = [args for args in inputs if f"{task.problem.entry_point}{args!r}".replace(",)", ")") in task.problem.prompt]
        for args in inputs[:6]:
            a = ask(adv, task.problem, args)
            if args in shown:  # a doctest example: the agent has seen it already
                assert a is None or not any(f in a.text for f in frags)
            else:
                assert a is None  # hidden inputs: withheld
        probes = [(2.5,), ([1.0, 2.0, 2.05], 0.1), ("(()) ()",), ([1, -5, 3],), ([],)]
        for args in probes:
            a = ask(adv, task.problem, args)
            if a is not None:
                answered += 1
                assert not any(f in a.text for f in frags), (a.text, frags)
    assert answered >= 4  # each task answers its own kind of input
    assert adv.withheld >= 15  # most hidden inputs were asked about, and withheld


def test_human_advisor_asks_on_the_terminal():
    err = io.StringIO()
    adv = HumanAdvisor(inp=io.StringIO("42\nit must ignore case\n\n"), err=err, interactive=True)
    a = ask(adv, ADD, (40, 2))
    assert a.kind == "example" and a.text == "assert add(40, 2) == 42" and a.source == "human"
    assert "add(40, 2)" in err.getvalue()
    b = ask(adv, ADD, ("A", "a"))
    assert b.kind == "hint" and b.text == "About add('A', 'a'): it must ignore case"
    assert ask(adv, ADD, None) is None  # empty line: no advice
    assert ask(adv, ADD, (1, 1)) is None  # cap of 3 reached
    assert HumanAdvisor(inp=io.StringIO("7\n"), err=io.StringIO(), interactive=True).advise is not None


def test_human_advisor_never_blocks_without_a_tty():
    class Exploding(io.StringIO):
        def readline(self, *a):  # pragma: no cover - must not be called
            raise AssertionError("read stdin without a TTY")

    adv = HumanAdvisor(inp=Exploding(), err=io.StringIO())  # StringIO is not a TTY
    assert not adv.interactive
    assert ask(adv, ADD, (1, 2)) is None and adv.requests[("demo/add", 0)] == 0


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("(3, [1, 2])", (3, [1, 2])),
        ("`(3, 'x')`", (3, "x")),
        ("```python\n(0, -1)\n```", (0, -1)),
        ("I am unsure about this one:\n(\"\", 0)\nthanks", ("", 0)),
        ("add(1, {'a': 2})", (1, {"a": 2})),
        ("Arguments: (5, 5)", (5, 5)),
        ("'abc'", ("abc",)),
        ("[1, 2]", ([1, 2],)),
        ("(None,)", (None,)),
        ("NONE", None),
        ("none.", None),
        ("", None),
        ("__import__('os').system('touch /tmp/pwned')", None),
        ("add(__import__('os').getcwd())", None),
        ("add(1, b=2)", None),
        ("I think it is fine.", None),
    ],
)
def test_parse_unsure_args_is_literal_only(reply, expected):
    assert parse_unsure_args(reply, "add") == expected


def test_unsure_prompt_and_how_answers_come_back():
    msgs = unsure_prompt(ADD, "def add(a, b):\n    return a - b\n", "assert add(1, 2) == 3 failed", ["assert add(2, 3) == 5"])
    assert [m.role for m in msgs] == ["system", "user", "assistant", "user"]
    assert UNSURE_NEEDLE in msgs[-1].content and "assert add(1, 2) == 3 failed" in msgs[-1].content
    assert "return a - b" in msgs[2].content
    ex = Advice(task_id="t", kind="example", text="assert add(1, 2) == 3")
    hint = Advice(task_id="t", kind="hint", text="add(1, 0) should raise ValueError")
    assert advice_tests([ex, None, hint]) == ["assert add(1, 2) == 3"]
    note = advice_note([ex, hint, None])
    assert "assert add(1, 2) == 3" in note and "should raise ValueError" in note
    assert advice_note([None]) == ""


def test_low_confidence():
    assert low_confidence(Trajectory(task_id="t", strategy="s", internal_passed=False))
    assert not low_confidence(Trajectory(task_id="t", strategy="s", internal_passed=True))
    assert not low_confidence(Trajectory(task_id="t", strategy="s", internal_passed=None))
    split = Trajectory(task_id="t", strategy="s", internal_passed=True, steps=[
        Step(index=0, kind="decision", note="chose candidate 1 of 2", data={"groups": [{"a": 1}, {"b": 2}]}),
    ])
    assert low_confidence(split)
    split.steps[0].data["groups"] = [{"a": 1}]
    assert not low_confidence(split)


class AdvisedRecord(RunRecord):
    """RunRecord with the field the coordinator adds."""

    advice_requests: int = 0


def test_advice_summary_reports_rate_and_accuracy_together():
    recs = [
        AdvisedRecord(task_id="a", strategy="s", model="m", hidden_passed=True, advice_requests=2),
        AdvisedRecord(task_id="b", strategy="s", model="m", hidden_passed=False, advice_requests=1),
        AdvisedRecord(task_id="c", strategy="s", model="m", hidden_passed=True),
        AdvisedRecord(task_id="d", strategy="s", model="m", hidden_passed=True, error="crash"),
    ]
    s = advice_summary(recs)
    assert s["records"] == 4 and s["advised"] == 2 and s["advice_rate"] == 0.5
    assert s["requests"] == 3 and s["requests_per_advised"] == 1.5 and s["tasks_advised"] == 2
    assert s["tasks"] == 4 and s["task_advice_rate"] == 0.5
    assert s["pass_rate_advised"] == 0.5 and s["pass_rate_not_advised"] == 0.5  # the error counts as a failure
    assert s["pass_rate"] == 0.5
    # records without the field yet: nobody was advised
    plain = advice_summary([RunRecord(task_id="a", strategy="s", model="m", hidden_passed=True)])
    assert plain["advice_rate"] == 0.0 and plain["pass_rate_advised"] is None and plain["pass_rate_not_advised"] == 1.0
    assert advice_summary([])["advice_rate"] is None


@pytest.mark.docker
def test_oracle_in_the_docker_sandbox(docker_sandbox):
    adv = OracleAdvisor(docker_sandbox, [ADD_TASK, DIV])
    assert ask(adv, ADD, (20, 22)).text == "assert add(20, 22) == 42"
    assert ask(adv, DIV.problem, (1, 0)).text == "div(1, 0) should raise ZeroDivisionError"
    assert ask(adv, ADD, (1234567, 7654321)) is None


def test_oracle_answers_a_doctest_example_but_never_a_hidden_assert_verbatim(local_sandbox):
    prompt = 'def sq(x):\n    """Square.\n    >>> sq(12345)\n    152399025\n    """\n'
    canon = "def sq(x):\n    return x * x\n"

    def task(hidden: str) -> BenchmarkTask:
        return BenchmarkTask(problem=Problem(task_id="demo/sq", prompt=prompt, entry_point="sq"),
                             hidden=HiddenTests(test_code=hidden, canonical_solution=canon))

    # HumanEval style: the hidden test repeats the doctest input through `candidate`
    he = task("def check(candidate):\n    assert candidate(12345) == 152399025\n    assert candidate(54321) == 2950771041\n")
    adv = OracleAdvisor(local_sandbox, [he], max_requests=5)
    assert ask(adv, he.problem, (12345,)).text == "assert sq(12345) == 152399025"  # shown in the prompt
    assert ask(adv, he.problem, (54321,)) is None  # hidden only
    # the computed answer would be a hidden assert word for word: the last guard withholds it
    verbatim = task("def test_h():\n    assert sq(12345) == 152399025\n")
    adv = OracleAdvisor(local_sandbox, [verbatim], max_requests=5)
    assert ask(adv, verbatim.problem, (12345,)) is None and adv.withheld == 1
