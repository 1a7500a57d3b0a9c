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

from coderefl.model.base import RetryEvent
from coderefl.run.instrument import RunStats


def _duration(s: float | None) -> str:
    if s is None:
        return "?"
    s = int(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s"


def model_gauge(st: RunStats) -> str:
    """Model calls in flight, how long the oldest has waited, and retries so far."""
    out = str(st.model_in_flight)
    oldest = st.oldest_model_call_s
    if oldest is not None and oldest >= 5:
        out += f" (oldest {oldest:.0f}s)"
    if st.model_retries:
        out += f", retries {st.model_retries}"
    return out


def retry_line(event: RetryEvent) -> str:
    """One retry as it happens: what failed, and when it is asked again."""
    return f"model: {event.reason}; retry {event.attempt}/{event.limit} in {event.wait_s:.1f}s"


def status_line(st: RunStats) -> str:
    """One plain line with every live figure."""
    return (
        f"done {st.finished}/{st.total} (pass {st.passing}, fail {st.failing}, err {st.errors}) | "
        f"problems {st.problems_in_flight} (solving {st.problems_solving}) | model in flight {model_gauge(st)} | "
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
    t.add_row("model calls in flight", model_gauge(st), "sandbox in flight", f"{st.sandbox_in_flight} (+{st.sandbox_queued} queued)")
    t.add_row("tokens", f"{st.tokens:,}", "cost", f"${st.cost_usd:.4f}")
    t.add_row("model calls", str(st.model_calls), "elapsed", _duration(st.elapsed_s))
    if st.last_retry is not None:
        t.add_row("last retry", retry_line(st.last_retry))
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
        self._retries_shown = 0

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
        """A status line every ``interval_s``; a retry at once (at most one
        line a second), so a failing endpoint shows before the next status."""
        loop = asyncio.get_running_loop()
        next_status = loop.time() + self.interval_s
        while True:
            await asyncio.sleep(min(1.0, self.interval_s))
            self._write_retries()
            if loop.time() >= next_status:
                self._write(status_line(self.stats))
                next_status = loop.time() + self.interval_s

    def _write_retries(self) -> None:
        """The latest retry not yet shown, with how many came with it."""
        st = self.stats
        if st.model_retries > self._retries_shown and st.last_retry is not None:
            more = st.model_retries - self._retries_shown - 1
            self._write(retry_line(st.last_retry) + (f" (+{more} more retries)" if more else ""))
            self._retries_shown = st.model_retries

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
            self._write_retries()
            self._write(status_line(self.stats))
