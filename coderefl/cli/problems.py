"""``coderefl problems``: list, show and check problem sets.

``check`` is the benchmark's own sanity test: every canonical solution runs
against its hidden tests in the sandbox (Docker by default).
"""

from __future__ import annotations

from pathlib import Path

import click

from coderefl.cli.options import backend_choice
from coderefl.cli.render import terminal_safe
from coderefl.cli.signals import run_interruptible

from coderefl.errors import BadInput, CodereflError
from coderefl.records import BenchmarkTask, Limits


class CanonicalFailures(CodereflError):
    """Some canonical solutions fail their own hidden tests (exit 1)."""

    exit_code = 1


EXAMPLE_SET = Path(__file__).resolve().parents[2] / "problems" / "examples.yaml"

bench_argument = click.argument("bench", metavar="BENCH")
problems_file_option = click.option(
    "--problems-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="data file for humaneval/mbpp instead of the default source",
)


def _load(bench: str, problems_file: Path | None, limit: int | None = None) -> list[BenchmarkTask]:
    from coderefl.problems.registry import load_benchmark

    return load_benchmark(bench, problems_file=problems_file, limit=limit)


@click.group()
def problems() -> None:
    """List, show and check problem sets (humaneval, mbpp, or a .jsonl/.yaml file)."""


@problems.command("list")
@click.argument("bench", metavar="[BENCH]", required=False)
@problems_file_option
@click.option("--limit", type=click.IntRange(min=1), default=None, help="only the first N problems")
def list_cmd(bench: str | None, problems_file: Path | None, limit: int | None) -> None:
    """Without BENCH: the known sets. With BENCH: its problems, one per line."""
    from coderefl.problems.registry import benchmark_names

    if bench is None:
        for name in benchmark_names():
            click.echo(name)
        if EXAMPLE_SET.is_file():
            click.echo(f"{EXAMPLE_SET}  (example custom set)")
        return
    tasks = _load(bench, problems_file, limit)
    for task in tasks:
        p = task.problem
        canon = "" if task.hidden.canonical_solution else "  (no canonical solution)"
        click.echo(f"{p.task_id}\t{p.entry_point}{canon}")
    click.echo(f"{len(tasks)} problems", err=True)


@problems.command("show")
@click.argument("task_id")
@click.option("--bench", "bench", default=None, help="set to look in (inferred from HumanEval/ and mbpp/ ids)")
@problems_file_option
@click.option("--hidden", is_flag=True, help="also print the hidden tests and canonical solution")
def show_cmd(task_id: str, bench: str | None, problems_file: Path | None, hidden: bool) -> None:
    """Print what the agent sees of TASK_ID (and, with --hidden, what it never sees)."""
    from coderefl.problems.registry import find_task

    if bench is None:
        from coderefl.problems.registry import benchmark_of_task

        bench = benchmark_of_task(task_id)
        if bench is None:
            raise BadInput(f"cannot tell which set {task_id!r} is in; pass --bench NAME_OR_PATH")
    task = find_task(_load(bench, problems_file), task_id)
    p = task.problem
    click.echo(f"task_id:     {p.task_id}\nsource:      {p.source}\nentry_point: {p.entry_point}\n")
    click.echo("--- prompt")
    click.echo(p.prompt.rstrip("\n"))
    if p.visible_tests:
        click.echo("--- visible tests")
        for t in p.visible_tests:
            click.echo(t)
    if hidden:
        click.echo("--- hidden tests")
        click.echo(task.hidden.test_code.rstrip("\n"))
        click.echo("--- canonical solution")
        click.echo((task.hidden.canonical_solution or "(none)").rstrip("\n"))


@problems.command("check")
@bench_argument
@problems_file_option
@click.option("--limit", type=click.IntRange(min=1), default=None, help="only the first N problems")
@click.option(
    "--sandbox",
    "backend",
    type=backend_choice(),
    default="docker",
    show_default=True,
    help="sandbox backend",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="programs run at once (the Docker pool size)",
)
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="seconds per program")
def check_cmd(
    bench: str, problems_file: Path | None, limit: int | None, backend: str, concurrency: int, timeout: float
) -> None:
    """Run every canonical solution of BENCH against its hidden tests; print passed N/M.

    Exits 1 when any canonical solution fails.
    """
    tasks = _load(bench, problems_file, limit)
    report = run_interruptible(_check(tasks, backend, concurrency, Limits(timeout_s=timeout)))
    click.echo(f"passed {report.passed}/{report.checked}")
    for f in report.failures:
        click.echo(terminal_safe(f"FAIL {f.task_id} [{f.status}] {f.reason}"))
    if report.skipped:
        click.echo(f"skipped (no canonical solution): {', '.join(report.skipped)}")
    if report.failures:
        raise CanonicalFailures(f"{len(report.failures)} canonical solution(s) failed their hidden tests")


async def _check(tasks: list[BenchmarkTask], backend: str, concurrency: int, limits: Limits):
    from coderefl.execution import create_sandbox
    from coderefl.problems.check import check_canonical

    sandbox = create_sandbox(backend, pool_size=concurrency)  # a backend without a pool ignores pool_size
    async with sandbox:
        return await check_canonical(sandbox, tasks, limits=limits, concurrency=concurrency)
