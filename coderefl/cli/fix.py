"""``coderefl fix``: repair functions whose tests fail (a pre-commit hook).

Given Python files (pre-commit passes the staged ones; without arguments
the staged files are asked of git), run the repository's tests covering
them in the sandbox; when some fail, repair the functions under test with
the reflection loop and write a repair back only when the whole affected
test set passes. Prints ``Fixing <file>`` and a unified diff per change.

Exit codes (pre-commit's fixer convention): 0 when the covering tests
pass (nothing to do), 1 when a file was changed, and 1 when tests still
fail and nothing could be fixed (a commit with failing tests should stop);
2 on bad input or when the sandbox cannot run.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import click

from coderefl.cli.options import sandbox_option
from coderefl.cli.render import step_line
from coderefl.config import model_options, pop_model_flags, resolve_model_config
from coderefl.errors import BadInput
from coderefl.execution import create_sandbox
from coderefl.fix.discover import find_root, relative_to_root, staged_files
from coderefl.fix.fixer import FixConfig, Fixer, FixReport
from coderefl.model.client import build_model
from coderefl.records import Limits


async def _run(fixer: Fixer, staged: list[str]) -> FixReport:
    try:
        await fixer.sandbox.start()
        return await fixer.run(staged)
    finally:
        await fixer.sandbox.close()
        await fixer.close()


def _config(max_iters, max_wall, max_calls, reflection, exec_timeout, exec_memory, dry_run, temperature) -> FixConfig:
    try:
        limits = Limits(timeout_s=exec_timeout, memory_mb=exec_memory, pids=128)
        return FixConfig(
            max_iters=max_iters, max_wall_s=max_wall, max_calls=max_calls, reflection=reflection, limits=limits,
            dry_run=dry_run, temperature=temperature,
        )
    except ValueError as err:
        first = err.errors()[0] if hasattr(err, "errors") else {"loc": (), "msg": str(err)}
        where = ".".join(str(p) for p in first["loc"])
        raise BadInput(f"bad fix setting {where}: {first['msg']}") from None


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the diffs; change no file.")
@click.option("--json", "as_json", is_flag=True, help="Print the report and every repair's trajectory as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@click.option("--max-iters", type=int, default=3, show_default=True, help="Repair rounds per function.")
@click.option("--max-wall", type=float, default=300.0, show_default=True, help="Time budget for the whole run, s.")
@click.option("--max-calls", type=int, default=None, help="Model calls per function at most.")
@click.option("--reflection/--no-reflection", default=True, show_default=True, help="Verbal reflection between attempts.")
@click.option("--exec-timeout", type=float, default=120.0, show_default=True, help="Time limit of one sandboxed test run, s.")
@click.option("--exec-memory", type=int, default=1024, show_default=True, help="Memory limit of one sandboxed test run, MB.")
@sandbox_option
@model_options
def fix(files, dry_run, as_json, quiet, max_iters, max_wall, max_calls, reflection, exec_timeout, exec_memory,
        sandbox_backend, **kwargs) -> None:
    """Run the tests covering FILES (default: the staged Python files) in the
    sandbox and repair the functions whose tests fail."""
    model_config = resolve_model_config(**pop_model_flags(kwargs))
    if model_config.api != "chat":
        raise BadInput("coderefl fix gives the model instructions, so it needs a chat model (--api chat)")
    config = _config(max_iters, max_wall, max_calls, reflection, exec_timeout, exec_memory, dry_run, model_config.temperature)
    under_precommit = os.environ.get("PRE_COMMIT") == "1"
    root = find_root(Path.cwd())
    if files:
        staged = [relative_to_root(root, f) for f in files]
        missing = [f for f in staged if not (root / f).is_file()]
        if missing:
            raise BadInput(f"not a file: {missing[0]}")
    elif under_precommit:
        staged = []  # pre-commit passed no file of ours: nothing to do
    else:
        staged = staged_files(root)
    staged = [f for f in dict.fromkeys(staged) if f.endswith(".py")]
    say = (lambda msg: None) if quiet else (lambda msg: click.echo(f"coderefl fix: {msg}", err=True))
    if not staged:
        say("no Python files to check")
        raise SystemExit(0)

    def observer(step) -> None:
        click.echo("    " + step_line(step).plain.replace("\n", "\n    "), err=True)

    fixer = Fixer(
        root,
        create_sandbox(sandbox_backend, pool_size=1, limits=config.limits),
        lambda: build_model(model_config),
        config,
        log=say,
        observer=None if quiet or under_precommit else observer,  # pre-commit: events and diffs only
    )
    report = asyncio.run(_run(fixer, staged))
    _render(report, as_json, quiet, dry_run)
    raise SystemExit(report.exit_code)


def _render(report: FixReport, as_json: bool, quiet: bool, dry_run: bool) -> None:
    for change in report.changes:
        applied = change.written or (dry_run and report.status == "fixed")
        if applied:
            out_to_err = as_json  # stdout is the JSON document then
            click.echo(f"{'Would fix' if dry_run else 'Fixing'} {change.file}", err=out_to_err)
            click.echo(change.diff, nl=False, err=out_to_err)
        else:
            if change.note not in report.problems:
                click.echo(f"coderefl fix: {change.file}: {change.note}", err=True)
            if not quiet:
                click.echo(change.diff, nl=False, err=True)
    for problem in report.problems:
        click.echo(f"coderefl fix: {problem}", err=True)
    failing = [f for f in report.failing if not f.startswith("<")]
    if report.status == "failed" and failing and not quiet:
        more = f" and {len(failing) - 10} more" if len(failing) > 10 else ""
        click.echo("coderefl fix: still failing: " + ", ".join(failing[:10]) + more, err=True)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
