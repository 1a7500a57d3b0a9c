"""``coderefl report``: compare evaluation runs side by side."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console


@click.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for report.html, report.json and the plots [default: FIRST_RUN/report].")
def report(runs: tuple[Path, ...], out: Path | None) -> None:
    """Compare RUN folders (from `coderefl eval`): pass@1 with intervals, the
    paired delta against the first run, self-test quality, cost; and plots of
    pass rate against iteration and against cost."""
    from coderefl.run.report import compare, comparison_table, load_run, write_report

    data = [load_run(p) for p in runs]
    names = [d.name for d in data]
    for d in data:  # the same folder name twice (runs/a/x, runs/b/x): use the paths
        if names.count(d.name) > 1:
            d.name = str(d.path)
    rep = compare(data)
    # piped output has no terminal width; do not squeeze the table into 80 columns
    Console(file=sys.stdout, width=None if sys.stdout.isatty() else 220).print(comparison_table(rep))
    written = write_report(rep, out or (runs[0] / "report"))
    click.echo("wrote " + ", ".join(str(p) for p in written.values()))
