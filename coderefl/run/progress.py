"""Showing a run's progress on stderr.

Why two modes: on a terminal people watch a live panel (rich); in a CI
log, a ``nohup`` file or a pipe, a redrawn panel is garbage, so there the
same figures go out as one plain line every ``interval_s`` seconds.
Either way the display only reads :class:`RunStats`; it never changes it.
"""

from __future__ import annotations

import asyncio
import sys
from typing import IO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from coderefl.run.instrument import RunStats


def _duration(s: float | None) -> str:
    if s is None:
        return "?"
    s = int(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s"


def status_line(st: RunStats) -> str:
    """One plain line with every live figure."""
    return (
        f"done {st.finished}/{st.total} (pass {st.passing}, fail {st.failing}, err {st.errors}) | "
        f"problems {st.problems_in_flight} (solving {st.problems_solving}) | model in flight {st.model_in_flight} | "
        f"sandbox in flight {st.sandbox_in_flight} (queued {st.sandbox_queued}) | "
        f"tokens {st.tokens:,} | cost ${st.cost_usd:.4f} | "
        f"elapsed {_duration(st.elapsed_s)} | eta {_duration(st.eta_s)}"
    )


def status_panel(st: RunStats, title: str = "") -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_column(style="bold")
    t.add_column(justify="right")
    pct = 100 * st.finished / st.total if st.total else 0.0
    t.add_row("done", f"{st.finished}/{st.total} ({pct:.0f}%)", "eta", _duration(st.eta_s))
    t.add_row("passing", f"[green]{st.passing}[/]", "failing", f"[red]{st.failing}[/]")
    t.add_row("errors", f"[yellow]{st.errors}[/]", "problems in flight", f"{st.problems_in_flight} ({st.problems_solving} solving)")
    t.add_row("model calls in flight", str(st.model_in_flight), "sandbox in flight", f"{st.sandbox_in_flight} (+{st.sandbox_queued} queued)")
    t.add_row("tokens", f"{st.tokens:,}", "cost", f"${st.cost_usd:.4f}")
    t.add_row("model calls", str(st.model_calls), "elapsed", _duration(st.elapsed_s))
    if title:
        t.title = title
    return t


class ProgressDisplay:
    """Async context manager: a live panel on a TTY, else periodic log lines."""

    def __init__(self, stats: RunStats, *, title: str = "", stream: IO[str] | None = None,
                 interval_s: float = 10.0, live: bool | None = None, enabled: bool = True) -> None:
        self.stats = stats
        self.title = title
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.enabled = enabled
        self.live = self.stream.isatty() if live is None else live
        self._task: asyncio.Task[None] | None = None
        self._live: Live | None = None

    async def __aenter__(self) -> "ProgressDisplay":
        if not self.enabled:
            return self
        if self.live:
            console = Console(file=self.stream, stderr=self.stream is sys.stderr)
            self._live = Live(status_panel(self.stats, self.title), console=console, refresh_per_second=4, transient=False)
            self._live.start()
            self._task = asyncio.create_task(self._refresh_live())
        else:
            self._task = asyncio.create_task(self._log_lines())
        return self

    async def _refresh_live(self) -> None:
        while True:
            assert self._live is not None
            self._live.update(status_panel(self.stats, self.title))
            await asyncio.sleep(0.25)

    async def _log_lines(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self._write(status_line(self.stats))

    def _write(self, line: str) -> None:
        prefix = f"[{self.title}] " if self.title else ""
        print(f"coderefl: {prefix}{line}", file=self.stream, flush=True)

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._live is not None:
            self._live.update(status_panel(self.stats, self.title))
            self._live.stop()
        elif self.enabled:
            self._write(status_line(self.stats))
