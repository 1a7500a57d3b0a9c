"""``coderefl export``: successful trajectories as fine-tuning data (FireAct).

Reads one or more run folders of ``coderefl eval`` and writes chat-jsonl
(see :mod:`coderefl.run.export`) to stdout or, atomically, to ``--out``.
The count of what was exported and skipped goes to stderr.
"""

from __future__ import annotations

from pathlib import Path

import click

from coderefl.errors import BadInput


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["chat-jsonl"]), default="chat-jsonl", show_default=True,
    help="Output format: one {\"messages\": [...]} conversation per line.",
)
@click.option(
    "--only-passed", is_flag=True,
    help="Only records that passed the hidden tests (default: those that passed the agent's own tests).",
)
@click.option(
    "--methods", default=None,
    help="Comma-separated strategies to keep (e.g. reflexion,simple); default all.",
)
@click.option(
    "--out", "out", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="Write to FILE (atomically) instead of stdout.",
)
@click.option("--dedupe/--no-dedupe", default=True, show_default=True,
              help="Drop conversations identical to one already exported.")
@click.option("--metadata/--no-metadata", "metadata", default=True, show_default=True,
              help="Add a 'metadata' object (task, strategy, model, run) to each line.")
def export(runs: tuple[Path, ...], fmt: str, only_passed: bool, methods: str | None, out: Path | None,
           dedupe: bool, metadata: bool) -> None:
    """Export successful trajectories of RUN folders for fine-tuning."""
    from coderefl.run.export import BenchmarkLookup, export_chat
    from coderefl.atomic import atomic_write_text

    for run in runs:
        if not run.is_dir():
            raise BadInput(f"{run}: no such run folder")
    wanted = [m for m in methods.split(",") if m.strip()] if methods else None
    if methods is not None and not wanted:
        raise BadInput("--methods: give at least one strategy name")
    if wanted:
        _check_methods(runs, wanted)
    lookup = BenchmarkLookup()
    result = export_chat(
        runs,
        only_passed=only_passed,
        methods=wanted,
        dedupe=dedupe,
        include_metadata=metadata,
        problems=lookup.problem,
        guard=lookup.hidden,
    )
    text = "".join(line + "\n" for line in result.lines)
    if out is not None:
        try:
            atomic_write_text(out, text)
        except OSError as err:
            raise BadInput(f"--out {out}: cannot write ({err.strerror or err})") from None
    else:
        click.echo(text, nl=False)
    note = result.describe()
    if lookup.unavailable:
        note += f"; benchmark not loadable (no hidden-assert guard) for: {', '.join(sorted(set(lookup.unavailable)))}"
    click.echo(f"coderefl export: {note}" + (f" -> {out}" if out else ""), err=True)


def _check_methods(runs: tuple[Path, ...], wanted: list[str]) -> None:
    """``--methods`` names must be strategies (known, or found in RUNS),
    and at least one must have records there: a filter that can keep
    nothing is a mistake, not an empty export."""
    from coderefl.run.store import RESULTS, read_records
    from coderefl.strategies.base import strategy_names

    present = {r.strategy for run in runs for r in read_records(run / RESULTS)[0]}
    there = ", ".join(sorted(present)) or "none: no records"
    unknown = [m for m in wanted if m not in present and m not in strategy_names()]
    if unknown:
        raise BadInput(f"--methods: unknown strategy {', '.join(map(repr, unknown))} (strategies in the runs: {there})")
    if not present & set(wanted):
        raise BadInput(f"--methods: no record of {', '.join(map(repr, wanted))} in the runs (strategies there: {there})")
