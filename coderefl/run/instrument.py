"""Counting wrappers around the model and the sandbox.

Why wrappers: the progress display must show how many model calls and
sandbox executions are in flight, and each problem's trajectory file where
its time went, without the strategies knowing about it. Each wrapper is a
full :class:`ChatModel` / :class:`Sandbox` that delegates to the real one
and keeps gauges in a shared :class:`RunStats`; the run's limits it
applies on the way are :mod:`coderefl.run.concurrency`'s.

Per problem, the scheduler makes an :class:`ItemClock` and hands the
problem's agent ``model.for_item(clock)`` and ``sandbox.for_item(clock)``:
views that add the problem's calls and runs to that clock and queue them
at its priority (its start). Nothing is passed implicitly.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coderefl.errors import SandboxUnavailable
from coderefl.execution.base import Sandbox
from coderefl.model.base import ChatModel, RetryEvent
from coderefl.records import ChatMessage, Completion, ExecutionResult, Limits, Usage
from coderefl.run.concurrency import PriorityGate, SandboxSlots


@dataclass
class ItemClock:
    """Where one work item's time went: its own model calls and sandbox
    runs (time holding a slot), and time queued for a slot. The item's
    steps are sequential, so ``model_s + sandbox_s`` is the shortest wall
    time it could have taken (its critical path); the scheduler writes
    this into the item's trajectory file."""

    model_calls: int = 0
    model_s: float = 0.0
    model_wait_s: float = 0.0  # queued for one of the run's --concurrency model slots
    sandbox_runs: int = 0
    sandbox_s: float = 0.0
    sandbox_wait_s: float = 0.0
    #: sandbox time that ran side by side with another run of the item
    #: (:meth:`ItemSandbox.measure`): not on its critical path
    sandbox_overlap_s: float = 0.0
    #: when the item started: its sandbox runs go before those of younger items
    started: float = field(default_factory=time.monotonic)

    @property
    def critical_path_s(self) -> float:
        return self.model_s + self.sandbox_s - self.sandbox_overlap_s

    def as_dict(self) -> dict[str, float | int]:
        return {
            "model_calls": self.model_calls,
            "model_s": round(self.model_s, 4),
            "model_wait_s": round(self.model_wait_s, 4),
            "sandbox_runs": self.sandbox_runs,
            "sandbox_s": round(self.sandbox_s, 4),
            "sandbox_wait_s": round(self.sandbox_wait_s, 4),
            "sandbox_overlap_s": round(self.sandbox_overlap_s, 4),
            "critical_path_s": round(self.critical_path_s, 4),
        }


@dataclass
class RunStats:
    """Live figures of one run session, read by the progress display."""

    total: int = 0  # task x sample items in the whole run
    resumed: int = 0  # items already done when this session started
    done: int = 0  # items finished in this session
    passing: int = 0  # all sessions
    failing: int = 0
    errors: int = 0
    problems_in_flight: int = 0  # solving or measuring
    problems_solving: int = 0  # their agent at work (at most --concurrency)
    solving_peak: int = 0
    model_in_flight: int = 0
    model_queued: int = 0  # calls waiting for one of the run's model slots
    model_calls: int = 0
    model_peak: int = 0  # most model calls in flight at once
    sandbox_in_flight: int = 0
    sandbox_queued: int = 0
    sandbox_runs: int = 0
    sandbox_peak: int = 0
    problems_peak: int = 0
    model_busy_s: float = 0.0  # sum of model call durations
    sandbox_busy_s: float = 0.0  # sum of time sandbox slots were held (runs)
    usage: Usage = field(default_factory=Usage)  # this session's model usage
    resumed_usage: Usage = field(default_factory=Usage)
    started: float = field(default_factory=time.monotonic)
    model_retries: int = 0  # model calls asked again (timeouts, 5xx, 429, refused, bad bodies)
    last_retry: RetryEvent | None = None
    #: when each model call in flight started (to show how long the oldest has waited)
    model_call_starts: dict[int, float] = field(default_factory=dict)

    @property
    def oldest_model_call_s(self) -> float | None:
        if not self.model_call_starts:
            return None
        return time.monotonic() - min(self.model_call_starts.values())

    def note_retry(self, event: RetryEvent) -> None:
        self.model_retries += 1
        self.last_retry = event

    @property
    def finished(self) -> int:
        return self.resumed + self.done

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.finished)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def eta_s(self) -> float | None:
        """Remaining items at this session's pace (None before the first one finishes)."""
        if self.done == 0:
            return None
        return self.remaining * self.elapsed_s / self.done

    @property
    def tokens(self) -> int:
        return self.usage.total_tokens + self.resumed_usage.total_tokens

    @property
    def cost_usd(self) -> float:
        return self.usage.cost_usd + self.resumed_usage.cost_usd


_CALL_IDS = itertools.count()


class CountingModel(ChatModel):
    """Delegates to ``inner``; counts calls in flight and sums usage.

    With ``concurrency``, at most that many calls are in flight
    (a :class:`PriorityGate`): queued calls go oldest problem first, like
    sandbox runs, since the problems still working after many have
    finished are the long chains, whose every call is on their critical
    path. The wait is counted apart from the call (``model_wait_s``), so a
    problem's critical path is the time its calls really took. Calls made
    on this object directly belong to no problem (queued by arrival); a
    problem's go through :meth:`for_item`.
    """

    def __init__(self, inner: ChatModel, stats: RunStats, concurrency: int | None = None) -> None:
        self.inner = inner
        self.stats = stats
        self.name = inner.name
        self.api = inner.api
        self.gate = PriorityGate(concurrency) if concurrency else None
        if hasattr(inner, "on_retry"):
            inner.on_retry = stats.note_retry  # retries show on the progress line as they happen

    def __getattr__(self, item: str) -> Any:  # usage, config, ... of the real client
        return getattr(self.inner, item)

    def for_item(self, clock: ItemClock) -> ItemModel:
        """The model as ``clock``'s item sees it: its calls counted on its clock, queued at its start."""
        return ItemModel(self, clock)

    async def counted(self, call: Callable[[], Awaitable[Completion]], clock: ItemClock | None) -> Completion:
        if self.gate is not None:
            self.stats.model_queued += 1
            t0 = time.monotonic()
            try:
                await self.gate.acquire(clock.started if clock is not None else t0)
            finally:
                self.stats.model_queued -= 1
            if clock is not None:
                clock.model_wait_s += time.monotonic() - t0
        try:
            return await self._timed(call, clock)
        finally:
            if self.gate is not None:
                self.gate.release()

    async def _timed(self, call: Callable[[], Awaitable[Completion]], clock: ItemClock | None) -> Completion:
        self.stats.model_in_flight += 1
        self.stats.model_peak = max(self.stats.model_peak, self.stats.model_in_flight)
        t0 = time.monotonic()
        ticket = next(_CALL_IDS)
        self.stats.model_call_starts[ticket] = t0
        try:
            completion = await call()
        finally:
            del self.stats.model_call_starts[ticket]
            self.stats.model_in_flight -= 1
            took = time.monotonic() - t0
            self.stats.model_busy_s += took
            if clock is not None:
                clock.model_calls += 1
                clock.model_s += took
        self.stats.model_calls += 1
        self.stats.usage.add(completion.usage)
        return completion

    async def start(self) -> None:
        await self.inner.start()

    async def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Completion:
        return await self.counted(lambda: self.inner.chat(messages, **kwargs), None)

    async def complete(self, prompt: str, **kwargs: Any) -> Completion:
        return await self.counted(lambda: self.inner.complete(prompt, **kwargs), None)

    async def close(self) -> None:
        await self.inner.close()


class ItemModel(ChatModel):
    """One work item's view of the run's :class:`CountingModel`."""

    def __init__(self, counting: CountingModel, clock: ItemClock) -> None:
        self.counting = counting
        self.clock = clock
        self.name = counting.name
        self.api = counting.api

    def __getattr__(self, item: str) -> Any:  # usage, config, ... of the real client
        return getattr(self.counting, item)

    async def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Completion:
        return await self.counting.counted(lambda: self.counting.inner.chat(messages, **kwargs), self.clock)

    async def complete(self, prompt: str, **kwargs: Any) -> Completion:
        return await self.counting.counted(lambda: self.counting.inner.complete(prompt, **kwargs), self.clock)


class _Measuring:
    """Slot times of the runs of one :meth:`ItemSandbox.measure`."""

    def __init__(self) -> None:
        self.held: list[float] = []


class CountingSandbox(Sandbox):
    """Delegates to ``inner`` with at most ``concurrency`` runs at once
    (:class:`SandboxSlots`).

    Queued runs go oldest problem first (by the start of the item they
    belong to), not first come first served: the problems still running
    after many others have finished are the long chains (many rounds), and
    each of their runs would otherwise wait behind the whole queue, so the
    last of them would set the end of the run. Younger problems have time
    to absorb the wait. Measurements (:meth:`ItemSandbox.measure`) go after
    all agents' runs; runs made on this object directly (no item) by arrival.

    :meth:`start` can return before the backend is up (``wait=False``): the
    first runs wait for it, so the pool starts while the first model calls
    are in flight.
    """

    def __init__(self, inner: Sandbox, stats: RunStats, concurrency: int) -> None:
        super().__init__(inner.limits)
        self.inner = inner
        self.stats = stats
        self.name = inner.name
        self.isolated = inner.isolated
        self.concurrency = concurrency
        # a backend synchronous at heart (its own run_sync) is dispatched from threads
        synchronous = type(inner).run_sync is not Sandbox.run_sync
        self.slots = SandboxSlots(
            concurrency, run=inner.run, run_sync=inner.run_sync if synchronous else None,
            is_closed=lambda: bool(getattr(inner, "closed", False)),
        )
        self._lock = threading.Lock()  # stats are written from the dispatch threads
        self._starting: asyncio.Task[None] | None = None

    def for_item(self, clock: ItemClock) -> ItemSandbox:
        """The sandbox as ``clock``'s item sees it: its runs on its clock, at its priority."""
        return ItemSandbox(self, clock)

    async def run(
        self,
        program: str,
        tests: str | None = None,
        limits: Limits | None = None,
        files: Mapping[str, str | bytes] | None = None,
    ) -> ExecutionResult:
        return await self.counted((program, tests, limits, files), None, None)

    async def counted(
        self, args: tuple[Any, ...], clock: ItemClock | None, measuring: _Measuring | None
    ) -> ExecutionResult:
        await self.ready()
        state = {"started": False}
        with self._lock:
            self.stats.sandbox_queued += 1

        def began(waited: float) -> None:
            with self._lock:
                if not state["started"]:
                    state["started"] = True
                    self.stats.sandbox_queued -= 1
                self.stats.sandbox_in_flight += 1
                self.stats.sandbox_peak = max(self.stats.sandbox_peak, self.stats.sandbox_in_flight)
                if clock is not None:
                    clock.sandbox_wait_s += waited

        def ended(held: float) -> None:
            with self._lock:
                self.stats.sandbox_in_flight -= 1
                self.stats.sandbox_runs += 1
                self.stats.sandbox_busy_s += held
                if clock is not None:
                    clock.sandbox_runs += 1
                    clock.sandbox_s += held
                if measuring is not None:
                    measuring.held.append(held)

        # agents' runs before measurements; oldest problem first; runs outside any problem by arrival
        priority = (measuring is not None, clock.started if clock is not None else time.monotonic())
        try:
            return await self.slots.run(priority, args, began, ended)
        finally:
            with self._lock:
                if not state["started"]:  # never ran (cancelled, closed): no longer queued
                    state["started"] = True
                    self.stats.sandbox_queued -= 1

    async def start(self, wait: bool = True) -> None:
        """Start the backend; with ``wait=False`` in the background (see :meth:`ready`)."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self.inner.start())
        if wait:
            await self.ready()

    async def ready(self) -> None:
        """Wait for a background start; its error, if any, is raised here (to every run)."""
        task = self._starting
        if task is None:
            return
        if not task.done():
            await asyncio.shield(task)  # one start for all: a cancelled run does not stop it
        elif task.cancelled():
            raise SandboxUnavailable("the sandbox was closed while it started")
        elif task.exception() is not None:
            raise task.exception()  # type: ignore[misc]

    async def close(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()  # the backend's close removes what it started
            await asyncio.gather(self._starting, return_exceptions=True)
        await self.slots.close(self.inner.close)


class ItemSandbox(Sandbox):
    """One work item's view of the run's :class:`CountingSandbox`."""

    def __init__(self, counting: CountingSandbox, clock: ItemClock, measuring: _Measuring | None = None) -> None:
        super().__init__(counting.limits)
        self.counting = counting
        self.clock = clock
        self._measuring = measuring
        self.name = counting.name
        self.isolated = counting.isolated

    async def run(
        self,
        program: str,
        tests: str | None = None,
        limits: Limits | None = None,
        files: Mapping[str, str | bytes] | None = None,
    ) -> ExecutionResult:
        return await self.counting.counted((program, tests, limits, files), self.clock, self._measuring)

    async def measure(self, *measures: Callable[[Sandbox], Awaitable[Any]]) -> list[Any]:
        """Run the item's measurements side by side and behind the agents' work.

        Measurements are the sandbox runs no later step of the item waits
        for: the hidden scoring and the check of the agent's tests against
        the canonical solution. Each gets a sandbox on which its runs go, in
        the sandbox queue, after every agent run of any problem: an agent
        run gates that problem's next model call, a measurement only the end
        of the run, so the model is kept busy and measurements fill the
        sandbox's gaps. They run at once (each in its own slot), and the
        item's critical path counts only the longest of them. Every
        measurement runs to its end; the first exception is raised after
        that."""
        group = _Measuring()
        view = ItemSandbox(self.counting, self.clock, group)
        results = await asyncio.gather(*(m(view) for m in measures), return_exceptions=True)
        if len(group.held) > 1:
            self.clock.sandbox_overlap_s += sum(group.held) - max(group.held)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return results
