"""``problems check``: every canonical solution against its own hidden tests.

A benchmark whose reference solutions fail its tests cannot score anyone;
this runs them all in the sandbox, ``concurrency`` at a time, and reports
which fail and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pydantic import BaseModel, Field

from coderefl.execution.base import Sandbox
from coderefl.problems.scorer import Scorer
from coderefl.records import BenchmarkTask, ExecutionResult, Limits


class CheckFailure(BaseModel):
    task_id: str
    status: str
    reason: str


class CheckReport(BaseModel):
    total: int
    passed: int
    skipped: list[str] = Field(default_factory=list, description="tasks without a canonical solution")
    failures: list[CheckFailure] = Field(default_factory=list)

    @property
    def checked(self) -> int:
        return self.total - len(self.skipped)


def failure_reason(result: ExecutionResult, limit: int = 300) -> str:
    bad = result.failing
    if bad:
        first = bad[0]
        text = f"{first.name}: {first.status}" + (f": {first.message}" if first.message else "")
    else:
        text = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"status {result.status}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def check_canonical(
    sandbox: Sandbox,
    tasks: list[BenchmarkTask],
    *,
    limits: Limits | None = None,
    concurrency: int = 2,
    on_result: Callable[[str, ExecutionResult], None] | None = None,
) -> CheckReport:
    scorer = Scorer(sandbox, limits)
    gate = asyncio.Semaphore(max(1, concurrency))
    report = CheckReport(total=len(tasks), passed=0)

    async def one(task: BenchmarkTask) -> None:
        canonical = task.hidden.canonical_solution
        if canonical is None:
            report.skipped.append(task.problem.task_id)
            return
        async with gate:
            result = await scorer.score(task, canonical)
        if on_result is not None:
            on_result(task.problem.task_id, result)
        if result.passed:
            report.passed += 1
        else:
            report.failures.append(
                CheckFailure(task_id=task.problem.task_id, status=result.status, reason=failure_reason(result))
            )

    await asyncio.gather(*(one(t) for t in tasks))
    order = {t.problem.task_id: i for i, t in enumerate(tasks)}
    report.failures.sort(key=lambda f: order[f.task_id])
    report.skipped.sort(key=order.__getitem__)
    return report
