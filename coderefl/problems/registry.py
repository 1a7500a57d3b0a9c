"""One entry point for every problem set: a benchmark name or a file path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coderefl.errors import BadInput
from coderefl.records import BenchmarkTask

Loader = Callable[[str | Path | None], list[BenchmarkTask]]

#: Python entry points an installed package adds benchmarks through (``name = "pkg.module:load"``)
ENTRY_POINT_GROUP = "coderefl.benchmarks"


@dataclass(frozen=True)
class Benchmark:
    """A named problem set with code behind it: its loader (``problems_file``
    overrides its data file), the prefix of its task ids, one line of help."""

    name: str
    load: Loader
    id_prefix: str = ""
    description: str = ""


_BENCHMARKS: dict[str, Benchmark] = {}


def register_benchmark(name: str, *, id_prefix: str = "", description: str = "") -> Callable[[Loader], Loader]:
    """Decorator on a loader: ``--benchmark NAME`` loads with it. One file per benchmark."""

    def deco(load: Loader) -> Loader:
        _BENCHMARKS[name.lower()] = Benchmark(name.lower(), load, id_prefix, description)
        return load

    return deco


def benchmarks() -> dict[str, Benchmark]:
    """Every benchmark: the modules of ``coderefl.problems`` that register one, and
    those installed packages declare under the ``coderefl.benchmarks`` entry point group."""
    from coderefl.plugins import import_package_modules, load_entry_points

    import_package_modules("coderefl.problems")

    def register(name: str, load: object) -> None:
        if callable(load):
            register_benchmark(name)(load)  # type: ignore[arg-type]

    load_entry_points(ENTRY_POINT_GROUP, lambda n: n.lower() in _BENCHMARKS, register, "benchmark")
    return dict(sorted(_BENCHMARKS.items()))


def benchmark_names() -> list[str]:
    return list(benchmarks())


def is_benchmark(name: str) -> bool:
    """A registered benchmark's name (not a path to a custom set)."""
    return name.lower() in benchmarks()


def benchmark_of_task(task_id: str) -> str | None:
    """The benchmark whose task ids start like ``task_id`` (``HumanEval/3`` -> humaneval)."""
    for b in benchmarks().values():
        if b.id_prefix and task_id.lower().startswith(b.id_prefix.lower()):
            return b.name
    return None


def load_benchmark(
    name_or_path: str,
    *,
    problems_file: str | Path | None = None,
    limit: int | None = None,
) -> list[BenchmarkTask]:
    """``humaneval``, ``mbpp`` (``problems_file`` overrides their data file)
    or a path to a custom JSONL/YAML set. ``limit`` keeps the first N."""
    registered = benchmarks()
    if limit is not None and limit < 1:
        raise BadInput(f"--limit must be at least 1, got {limit}")
    key = name_or_path.lower()
    if key in registered:
        tasks = registered[key].load(problems_file)
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
