"""``coderefl fix``: repair functions whose tests fail (a pre-commit hook).

Given Python files (pre-commit passes the staged ones; without arguments
the staged files are asked of git), run the repository's tests covering
them in the sandbox; when some fail, repair the functions under test with
the reflection loop and write a repair back only when the whole affected
test set passes. Prints ``Fixing <file>`` and a unified diff per change.

Exit codes (pre-commit's fixer convention): 0 when the covering tests
pass (nothing to do), when no test covers the files, and when the sandbox
cannot run (with a warning; ``if_no_sandbox = "fail"`` makes that 2);
1 when a file was changed, and when tests still fail and nothing could be
fixed (a commit with failing tests should stop); 2 on bad input.

Heavy parts are imported only when needed: the sandbox backend when there
are tests to run, the model client when a test fails.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import click

from coderefl.cli.options import model_options, pop_model_flags, sandbox_option
from coderefl.config import load_settings, resolve_model_config
from coderefl.errors import BadInput
from coderefl.execution import create_sandbox
from coderefl.fix.check import Check, cache_dir, take_over
from coderefl.fix.discover import files_to_check, find_root
from coderefl.fix.fixer import FixConfig, Fixer, FixReport
from coderefl.fix.worker import idle_seconds
from coderefl.records import Limits

#: the hook's id in .pre-commit-hooks.yaml, for the "skip it once" hint
HOOK_ID = "coderefl-fix"
#: flags that coderefl.toml's [fix] table may set (when not given otherwise)
FILE_SETTINGS = ("max_iters", "max_wall", "max_calls", "reflection", "exec_timeout", "exec_memory", "if_no_sandbox",
                 "check_in")


async def _run(fixer: Fixer, staged: list[str], check: Check | None) -> FixReport:
    try:
        return await fixer.run(staged, check)
    finally:
        await fixer.close()


def _config(max_iters, max_wall, max_calls, reflection, exec_timeout, exec_memory, dry_run, temperature,
            if_no_sandbox, check_in, cache) -> FixConfig:
    try:
        limits = Limits(timeout_s=exec_timeout, memory_mb=exec_memory, pids=128)
        return FixConfig(
            max_iters=max_iters, max_wall_s=max_wall, max_calls=max_calls, reflection=reflection, limits=limits,
            dry_run=dry_run, temperature=temperature, if_no_sandbox=if_no_sandbox, check_in=check_in,
            pass_cache=cache / "fix-passed" if cache else None, reach_cache=cache / "fix-reach" if cache else None,
        )
    except ValueError as err:
        first = err.errors()[0] if hasattr(err, "errors") else {"loc": (), "msg": str(err)}
        where = ".".join(str(p) for p in first["loc"])
        raise BadInput(f"bad fix setting {where}: {first['msg']}") from None


def _file_settings(ctx: click.Context, values: dict) -> dict:
    """``[fix]`` of coderefl.toml for the options left at their defaults."""
    table = load_settings().get("fix") or {}
    if not isinstance(table, dict):
        raise BadInput("[fix] in coderefl.toml must be a table")
    unknown = sorted(set(table) - set(FILE_SETTINGS))
    if unknown:
        raise BadInput(f"unknown setting [fix] {unknown[0]} in coderefl.toml; known: {', '.join(FILE_SETTINGS)}")
    out = dict(values)
    for name, value in table.items():
        if ctx.get_parameter_source(name) == click.core.ParameterSource.DEFAULT:
            out[name] = value
    return out


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
@click.option("--if-no-sandbox", type=click.Choice(["pass", "fail"]), default="pass", show_default=True,
              help="When the sandbox cannot start (Docker down, image missing): pass with a warning, or fail (exit 2).")
@click.option("--check-in", type=click.Choice(["host", "sandbox"]), default="host", show_default=True,
              help="Where your staged code's own tests run; model-written repairs always run in the sandbox.")
@sandbox_option
@model_options
@click.pass_context
def fix(ctx, files, dry_run, as_json, quiet, sandbox_backend, **kwargs) -> None:
    """Run the tests covering FILES (default: the staged Python files) and
    repair the functions whose tests fail (repairs are checked in the sandbox)."""
    model_flags = pop_model_flags(kwargs)
    idle_seconds()  # the hook's warm worker setting: a bad value is reported here, whoever started the command
    opts = _file_settings(ctx, kwargs)
    under_precommit = os.environ.get("PRE_COMMIT") == "1"
    root = find_root(Path.cwd())
    staged = files_to_check(root, list(files), under_precommit)
    # the fixer never reads or writes the response cache: a cached failed repair would only replay,
    # and a reply cached from another endpoint must never be applied
    resolved = resolve_model_config(**model_flags)
    model_config = resolved.model_copy(update={"cache": False})
    # --no-cache (CODEREFL_NO_CACHE=1) also turns off remembering passes and what each test file reached
    cache = cache_dir() if resolved.cache else None
    if model_config.api != "chat":
        raise BadInput("coderefl fix gives the model instructions, so it needs a chat model (--api chat)")
    config = _config(dry_run=dry_run, temperature=model_config.temperature, cache=cache, **opts)
    say = (lambda msg: None) if quiet else (lambda msg: click.echo(f"coderefl fix: {msg}", err=True))
    if not staged:
        say("no Python files to check")
        raise SystemExit(0)

    def observer(step) -> None:
        from coderefl.cli.render import step_line

        click.echo("    " + step_line(step).plain.replace("\n", "\n    "), err=True)

    def model():
        from coderefl.model.client import build_model  # only when a test fails

        return build_model(model_config)

    fixer = Fixer(
        root,
        lambda limits: create_sandbox(sandbox_backend, pool_size=1, limits=limits),
        model,
        config,
        log=say,
        observer=None if quiet or under_precommit else observer,  # pre-commit: events and diffs only
    )
    report = asyncio.run(_run(fixer, staged, take_over(root, staged)))
    _render(report, as_json, quiet, dry_run)
    raise SystemExit(report.exit_code)


def _render(report: FixReport, as_json: bool, quiet: bool, dry_run: bool) -> None:
    def note(msg: str) -> None:
        click.echo(f"coderefl fix: {msg}", err=True)

    if report.coverage and not quiet:
        note(report.coverage)
    for change in report.changes:
        applied = change.written or (dry_run and report.status == "fixed")
        if applied:
            out_to_err = as_json  # stdout is the JSON document then
            click.echo(f"{'Would fix' if dry_run else 'Fixing'} {change.file}", err=out_to_err)
            click.echo(change.diff, nl=False, err=out_to_err)
        else:
            note(f"{change.file}: {change.note or 'not applied'}")
            if not quiet:
                click.echo(change.diff, nl=False, err=True)
    for problem in report.problems:
        note(problem)
    failing = [f for f in report.failing if not f.startswith("<")]
    if report.status == "failed" and failing:
        for nodeid in failing[:10]:
            why = report.why.get(nodeid)
            note(f"still failing: {nodeid}" + (f": {why}" if why else ""))
        if len(failing) > 10:
            note(f"... and {len(failing) - 10} more failing tests")
    if report.status == "failed":
        note(f"to commit anyway, skip this hook once: SKIP={HOOK_ID} git commit ...")
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
