"""``coderefl view``: browse runs and trajectories in a web page."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("view")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--port", "-p", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to serve on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; the default serves this machine only.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None,
              help="Write the page and its data as static files into this folder (opens from disk) instead of serving.")
def view(runs: tuple[Path, ...], port: int, host: str, out: Path | None) -> None:
    """Browse RUN folders (from `coderefl eval`) in a web page: the overview
    with pass@k, cost and the problem list; each problem's steps, diffs,
    test results and reflections; several runs side by side. A run still
    being written shows new records as they land."""
    from coderefl.view import ViewServer, export_static, open_runs

    sources = open_runs(runs)
    if out is not None:
        written = export_static(sources, out)
        click.echo(f"wrote {written['index']} and {written['trajectories']} trajectories; open it in a browser")
        return
    server = ViewServer(sources, host=host, port=port)
    click.echo(f"coderefl view: serving {', '.join(s.name for s in sources)} at {server.url}  (Ctrl-C to stop)")
    if not server.loopback:
        click.echo(f"coderefl view: warning: {host} is not loopback; anyone who can reach this port can read these runs", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
