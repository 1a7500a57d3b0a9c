"""``coderefl sandbox``: run a program against tests in the sandbox; build,
check (doctor) and prune it. Only this module prints."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from coderefl.cli.options import backend_choice
from coderefl.cli.signals import sigterm_as_interrupt
from pydantic import ValidationError

from coderefl.errors import BadInput
from coderefl.records import ExecutionResult, Limits


@click.group()
def sandbox() -> None:
    """Run code in the hardened sandbox; build, check and prune it."""


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read {what} file {path}: {type(err).__name__}: {err}") from None


@sandbox.command("run")
@click.argument("solution", type=click.Path(dir_okay=False))
@click.option("--tests", "tests_path", type=click.Path(dir_okay=False), default=None,
              help="Tests file: top-level asserts, test_* functions, hypothesis properties.")
@click.option("--timeout", type=float, default=None, help="Wall-clock limit, s [10].")
@click.option("--test-timeout", type=float, default=None,
              help="Judge mode: each test's own limit, s; the next test runs on a fresh copy of the program.")
@click.option("--memory", type=int, default=None, help="Memory limit, MB, no swap [512].")
@click.option("--pids", type=int, default=None, help="Max processes+threads [64].")
@click.option("--cpus", type=float, default=None, help="CPU quota in cores [1].")
@click.option("--backend", type=backend_choice(), default="docker", show_default=True,
              help="Sandbox backend ('local' is UNSAFE: no isolation).")
@click.option("--isolation", type=click.Choice(["auto", "judge", "in-process"]), default="auto", show_default=True,
              help="judge: tests and program in separate processes, plain data between them (a verdict the "
                   "program cannot forge); in-process: one process, for tests that need the program's objects; "
                   "auto: judge when the tests carry '# coderefl: plain-values'.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (ExecutionResult).")
def run_cmd(solution: str, tests_path: str | None, timeout: float | None, test_timeout: float | None,
            memory: int | None, pids: int | None,
            cpus: float | None, backend: str, isolation: str, as_json: bool) -> None:
    """Run SOLUTION (then its tests) in the sandbox. Exit 0 iff the verdict is passed."""
    program = _read(solution, "solution")
    tests = _read(tests_path, "tests") if tests_path else None
    if tests is not None:
        tests = with_isolation(tests, isolation)
    values = {k: v for k, v in {"timeout_s": timeout, "test_timeout_s": test_timeout, "memory_mb": memory, "pids": pids,
                                "cpus": cpus}.items() if v is not None}
    try:
        limits = Limits(**values)
    except ValidationError as err:
        first = err.errors()[0]
        raise BadInput(f"bad limit {first['loc'][0]}: {first['msg']}") from None
    from coderefl.execution import create_sandbox

    if backend == "local" and not as_json:
        click.echo("warning: the local backend is UNSAFE: the program runs unisolated as you", err=True)
    sigterm_as_interrupt()
    sb = create_sandbox(backend, pool_size=1, limits=limits)
    try:
        result = sb.run_sync(program, tests, limits)
    finally:
        sb.close_sync()
    if as_json:
        click.echo(json.dumps(result.model_dump()))
    else:
        _print_result(result)
    # sys.exit, not click's Exit: main() runs click with standalone_mode=False,
    # which turns Exit into a return value it ignores.
    sys.exit(0 if result.passed else 1)


def _print_result(result: ExecutionResult) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from coderefl.cli.render import safe_text

    console = Console()
    colour = {"passed": "green", "failed": "red", "error": "magenta", "timeout": "yellow", "skipped": "dim"}
    if result.tests:
        table = Table(show_header=True, header_style="bold")
        table.add_column("test", overflow="fold")
        table.add_column("status")
        table.add_column("message", overflow="fold")
        for t in result.tests:
            table.add_row(safe_text(t.name), Text(t.status, style=colour.get(t.status, "white")), safe_text(t.message))
        console.print(table)
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if text.strip():
            console.rule(name)
            console.print(safe_text(text.rstrip()), highlight=False)
    trunc = " (output truncated)" if result.truncated else ""
    console.print(f"[bold {colour[result.status]}]{result.status}[/] in {result.duration_s:.3f}s{trunc}")


def with_isolation(tests: str, isolation: str) -> str:
    """The tests file asking for ``isolation`` (the runner reads the plain-values line)."""
    from coderefl.execution.jobs import PLAIN_VALUES_PRAGMA, wants_judge, with_plain_values

    if isolation == "judge" and not wants_judge(tests):
        return with_plain_values(tests)
    if isolation == "in-process":
        return "\n".join("" if line.strip() == PLAIN_VALUES_PRAGMA else line for line in tests.split("\n"))
    return tests


@sandbox.command("build")
@click.option("--offline", is_flag=True,
              help="Bootstrap the base from Debian packages (debootstrap) instead of pulling an image.")
@click.option("--force", is_flag=True, help="Rebuild even if the tag exists.")
def build_cmd(offline: bool, force: bool) -> None:
    """Build the sandbox image (reused when sandbox/ is unchanged)."""
    from coderefl.execution.image import build_image

    result = build_image(offline=offline, force=force)
    click.echo(f"{'built' if result.built else 'up to date'}: {result.tag}")


@sandbox.command("prune")
@click.option("--all", "all_", is_flag=True, help="Remove every coderefl sandbox container, not only orphans.")
@click.option("--images", is_flag=True, help="Also remove sandbox images of older sandbox/ versions.")
def prune_cmd(all_: bool, images: bool) -> None:
    """Remove sandbox containers left by crashed runs (owner process gone)."""
    from coderefl.execution.maintenance import prune, prune_images

    removed, kept = prune(all_=all_)
    click.echo(f"removed {removed} container(s); kept {kept} owned by running processes")
    if images:
        click.echo(f"removed {prune_images()} stale image tag(s)")


@sandbox.command("doctor")
@click.option("--backend", type=click.Choice(["docker"]), default="docker", hidden=True)
def doctor_cmd(backend: str) -> None:
    """Check the daemon, the image and that every limit is really enforced."""
    from rich.console import Console
    from rich.table import Table

    from coderefl.execution.doctor import run_checks

    checks = run_checks()
    table = Table(title="coderefl sandbox doctor", header_style="bold")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for c in checks:
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]FAIL[/]", c.detail)
    Console().print(table)
    failed = [c.name for c in checks if not c.ok]
    if failed:
        click.echo(f"coderefl: {len(failed)} check(s) failed: {', '.join(failed)}", err=True)
        sys.exit(1)


__all__ = ["sandbox"]
