"""Batch evaluation: scheduler, result store and resume, summaries, reports.

Public API: :class:`RunStore` (the run folder), :class:`Scheduler` (the
asyncio pipeline), :func:`summarize` (the figures of summary.json),
:func:`run_evaluation` with :class:`EvalSettings` (one ``coderefl eval``).
"""

from coderefl.run.scheduler import Scheduler, WorkItem
from coderefl.run.store import RunStore, read_records
from coderefl.run.summary import summarize

__all__ = ["EvalSettings", "RunStore", "Scheduler", "WorkItem", "read_records", "run_evaluation", "summarize"]


def __getattr__(name: str):  # session pulls in the model and strategy layers: load on use
    if name in ("EvalSettings", "run_evaluation"):
        from coderefl.run import session

        return getattr(session, name)
    raise AttributeError(name)
