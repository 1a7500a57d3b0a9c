"""One entry point for every problem set: a benchmark name or a file path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from coderefl.errors import BadInput
from coderefl.records import BenchmarkTask

BENCHMARKS: dict[str, Callable[[str | Path | None], list[BenchmarkTask]]] = {}


def _builtin() -> None:
    if BENCHMARKS:
        return
    from coderefl.problems.humaneval import load_humaneval
    from coderefl.problems.mbpp import load_mbpp

    BENCHMARKS["humaneval"] = load_humaneval
    BENCHMARKS["mbpp"] = load_mbpp


def benchmark_names() -> list[str]:
    _builtin()
    return sorted(BENCHMARKS)


def load_benchmark(
    name_or_path: str,
    *,
    problems_file: str | Path | None = None,
    limit: int | None = None,
) -> list[BenchmarkTask]:
    """``humaneval``, ``mbpp`` (``problems_file`` overrides their data file)
    or a path to a custom JSONL/YAML set. ``limit`` keeps the first N."""
    _builtin()
    if limit is not None and limit < 1:
        raise BadInput(f"--limit must be at least 1, got {limit}")
    key = name_or_path.lower()
    if key in BENCHMARKS:
        tasks = BENCHMARKS[key](problems_file)
    elif Path(name_or_path).expanduser().exists():
        from coderefl.problems.custom import load_custom

        tasks = load_custom(name_or_path)
    else:
        raise BadInput(
            f"unknown benchmark {name_or_path!r}: use {', '.join(benchmark_names())} or a path to a .jsonl/.yaml set"
        )
    return tasks[:limit] if limit else tasks


def find_task(tasks: list[BenchmarkTask], task_id: str) -> BenchmarkTask:
    for task in tasks:
        if task.problem.task_id == task_id:
            return task
    raise BadInput(f"no problem {task_id!r} in this set ({len(tasks)} problems)")
