"""Whose wrong test: a problem example that rejects the canonical solution
is the problem's fault (HumanEval/47), an agent's own test is the agent's."""

from __future__ import annotations

import asyncio

import pytest

from coderefl.problems import find_task, load_benchmark
from coderefl.problems.scorer import wrong_tests_by_tier
from coderefl.problems.selftest import self_test_quality
from coderefl.records import RunRecord
from coderefl.run.summary import summarize, summary_table
from coderefl.strategies.examples import visible_examples

PROPERTY_FAILS = "from hypothesis import given, strategies as st\n\n@given(st.integers())\ndef test_never(x):\n    assert median([x]) == x + 1\n"


@pytest.mark.docker
def test_a_wrong_example_is_the_problems_fault(docker_sandbox):
    task = find_task(load_benchmark("humaneval"), "HumanEval/47")
    (wrong_example,) = [e for e in visible_examples(task.problem) if "1000" in e]
    assert wrong_example.endswith("== 15.0")  # the docstring's; the hidden test says 8.0
    right = "assert median([3, 1, 2, 4, 5]) == 3"
    wrong_own = "assert median([1, 2]) == 2"

    def check(tests):
        return asyncio.run(wrong_tests_by_tier(docker_sandbox, task, tests, examples=visible_examples(task.problem)))

    assert check([right]) == (True, [])
    assert check([right, wrong_example]) == (False, ["example"])
    assert check([wrong_own, right]) == (False, ["generated"])
    assert check([wrong_example, wrong_own]) == (False, ["example", "generated"])
    assert check([right, PROPERTY_FAILS]) == (False, ["generated"])
    assert check([]) == (None, [])
    assert check([right, "assert median([1) == 1"]) == (False, ["unknown"])  # the tests file never ran


def _rec(task_id: str, tiers: list[str] | None, canon: bool | None) -> RunRecord:
    return RunRecord(task_id=task_id, strategy="s", model="m", canonical_vs_generated=canon, canonical_rejected_by=tiers)


def test_summary_separates_the_agents_wrong_tests_from_the_problems():
    recs = [_rec("HumanEval/47", ["example"], False), _rec("a", ["generated"], False), _rec("b", [], True),
            _rec("c", ["example", "generated"], False), _rec("d", None, None)]
    by = self_test_quality(recs)["wrong_tests_by_tier"]
    assert by["known"] == 4
    assert by["agent"] == {"records": 2, "rate": 0.5, "task_ids": ["a", "c"]}
    assert by["problem_example"] == {"records": 2, "rate": 0.5, "task_ids": ["HumanEval/47", "c"]}
    assert by["unknown"]["records"] == 0
    # the old figure still counts every rejecting record, the example-only one included
    assert self_test_quality(recs)["wrong_tests"]["wrong"] == 3
    rows = dict(zip(*(c._cells for c in summary_table(summarize(recs)).columns)))
    assert rows["  by tier: agent's own / problem's examples"] == "50.0% / 50.0% of 4"
    only_problem = summarize([_rec("HumanEval/47", ["example"], False), _rec("b", [], True)])
    assert only_problem["self_test"]["wrong_tests_by_tier"]["agent"]["rate"] == 0.0


def test_no_tier_row_without_tiers():
    rows = dict(zip(*(c._cells for c in summary_table(summarize([_rec("a", None, False)])).columns)))
    assert "  by tier: agent's own / problem's examples" not in rows


def test_the_scheduler_records_the_tier_of_a_wrong_visible_test(tmp_path):
    from tests.openai_server import ScriptedServer
    from tests.run.helpers import handler_rules, tiny_tasks
    from tests.run.test_scheduler import run_once

    with ScriptedServer(handler_rules()) as server:
        records, _, _ = asyncio.run(run_once(server, tmp_path, tiny_tasks()))
    by = {r.task_id: r for r in records}
    # t/sub's visible test (a problem example) is wrong: the problem's fault, not the agent's
    assert by["t/sub"].canonical_vs_generated is False and by["t/sub"].canonical_rejected_by == ["example"]
    assert by["t/add"].canonical_vs_generated is True and by["t/add"].canonical_rejected_by == []
    assert by["t/crash"].canonical_rejected_by is None  # never scored
