"""Run-level figures for learning from experience: advice rate and accuracy.

Why together: asking an expert always helps a little, so an advice
figure alone means nothing. The report shows how often the agent asked
(advice rate) next to how the advised and the unadvised problems scored,
so a strategy that asks on every problem cannot hide behind its pass rate.

Conventions follow :mod:`coderefl.run.summary`: a record is one solve of
one problem (task x sample); a record with ``error`` counts as a hidden
failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from coderefl.records import RunRecord


def _requests(record: RunRecord) -> int:
    # RunRecord.advice_requests is added by the coordinator; 0 until then
    try:
        return int(getattr(record, "advice_requests", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _rate(passed: int, n: int) -> float | None:
    return passed / n if n else None


def advice_summary(records: Sequence[RunRecord]) -> dict[str, Any]:
    """Advice rate and hidden pass rates of advised vs not-advised records.

    Keys: ``records``, ``advised`` (records with at least one request),
    ``advice_rate`` (advised / records), ``requests`` (total),
    ``requests_per_advised``, ``pass_rate`` (all), ``pass_rate_advised``,
    ``pass_rate_not_advised``, ``tasks``, ``tasks_advised`` (distinct tasks
    with at least one advised sample) and ``task_advice_rate`` (the same
    per problem; equal to ``advice_rate`` with one sample per task). Rates
    are None when their group is empty.
    """
    records = list(records)
    n = len(records)
    advised = [r for r in records if _requests(r) > 0]
    plain = [r for r in records if _requests(r) <= 0]

    def passed(rs: Sequence[RunRecord]) -> int:
        return sum(1 for r in rs if r.hidden_passed and not r.error)

    total_requests = sum(_requests(r) for r in records)
    return {
        "records": n,
        "advised": len(advised),
        "advice_rate": _rate(len(advised), n),
        "requests": total_requests,
        "requests_per_advised": (total_requests / len(advised)) if advised else None,
        "tasks": len({r.task_id for r in records}),
        "tasks_advised": len({r.task_id for r in advised}),
        "task_advice_rate": _rate(len({r.task_id for r in advised}), len({r.task_id for r in records})),
        "pass_rate": _rate(passed(records), n),
        "pass_rate_advised": _rate(passed(advised), len(advised)),
        "pass_rate_not_advised": _rate(passed(plain), len(plain)),
    }
