"""Counting wrappers around the model and the sandbox.

Why wrappers: the progress display must show how many model calls and
sandbox executions are in flight, without the strategies knowing about
it. Each wrapper is a full :class:`ChatModel` / :class:`Sandbox` that
delegates to the real one and keeps gauges in a shared :class:`RunStats`.

Both wrappers also hold the run's limits: ``--concurrency`` model calls
and ``--sandbox-concurrency`` sandbox runs at once. Calls and runs beyond
them wait here, counted as queued (so "in flight" means really running)
and let in oldest problem first.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coderefl.errors import SandboxUnavailable
from coderefl.execution.base import Sandbox
from coderefl.model.base import ChatModel, RetryEvent
from coderefl.records import ChatMessage, Completion, ExecutionResult, Limits, Usage
from coderefl.run.gate import PriorityGate


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
    #: (:func:`measure_concurrently`): not on its critical path
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


#: the clock of the item the current asyncio task works on (None: not counted)
ITEM_CLOCK: contextvars.ContextVar[ItemClock | None] = contextvars.ContextVar("coderefl_item_clock", default=None)


@dataclass
class _Measuring:
    """Slot times of the runs started inside one :func:`measure_concurrently`."""

    held: list[float] = field(default_factory=list)


#: set while the current task runs measurements (see measure_concurrently)
_MEASURING: contextvars.ContextVar[_Measuring | None] = contextvars.ContextVar("coderefl_measuring", default=None)


async def measure_concurrently(*coros: Awaitable[Any]) -> list[Any]:
    """Run an item's measurements side by side and behind the agents' work.

    Measurements are the sandbox runs no later step of the item waits for:
    the hidden scoring and the check of the agent's tests against the
    canonical solution. They run at once (each in its own slot), and in
    the sandbox queue they come after every agent run of any problem: an
    agent run gates that problem's next model call, a measurement only the
    end of the run, so the model is kept busy and measurements fill the
    sandbox's gaps. The item's critical path counts only the longest of
    them. Every coroutine runs to its end; the first exception is raised
    after that."""
    group = _Measuring()
    token = _MEASURING.set(group)  # the tasks gather creates copy this context
    try:
        results = await asyncio.gather(*coros, return_exceptions=True)
    finally:
        _MEASURING.reset(token)
    clock = ITEM_CLOCK.get()
    if clock is not None and len(group.held) > 1:
        clock.sandbox_overlap_s += sum(group.held) - max(group.held)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


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

    With ``concurrency``, at most that many calls are in flight, and queued
    calls go oldest problem first, like sandbox runs (see
    :class:`CountingSandbox`): the problems still working after many have
    finished are the long chains, whose every call is on their critical
    path. The wait is counted apart from the call (``model_wait_s``), so a
    problem's critical path is the time its calls really took.
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

    async def _counted(self, call: Callable[[], Awaitable[Completion]]) -> Completion:
        clock = ITEM_CLOCK.get()
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
        return await self._counted(lambda: self.inner.chat(messages, **kwargs))

    async def complete(self, prompt: str, **kwargs: Any) -> Completion:
        return await self._counted(lambda: self.inner.complete(prompt, **kwargs))

    async def close(self) -> None:
        await self.inner.close()


class CountingSandbox(Sandbox):
    """Delegates to ``inner`` with at most ``concurrency`` runs at once.

    Why worker threads when the backend has ``run_sync`` (both shipped
    ones do): with 64 problems in flight on a small machine the event loop
    is busy (HTTP, parsing, records), and a slot handed over through an
    asyncio semaphore waits a loop turn or two each time, leaving the
    sandbox idle ~10 ms per run. Here ``concurrency`` threads take runs
    from one FIFO queue, so the next run starts the moment a slot frees,
    whatever the loop is doing; only the result travels back through it.
    Other backends get the same limit through a semaphore.

    Queued runs go oldest problem first (by the start of the item they
    belong to), not first come first served: the problems still running
    after many others have finished are the long chains (many rounds), and
    each of their runs would otherwise wait behind the whole queue, so the
    last of them would set the end of the run. Younger problems have time
    to absorb the wait. Measurements (:func:`measure_concurrently`) go after
    all agents' runs.
    """

    def __init__(self, inner: Sandbox, stats: RunStats, concurrency: int) -> None:
        super().__init__(inner.limits)
        self.inner = inner
        self.stats = stats
        self.name = inner.name
        self.isolated = inner.isolated
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._threaded = callable(getattr(inner, "run_sync", None))
        self._jobs: queue.PriorityQueue[Any] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # stats are written from the dispatch threads
        self._closed = False

    async def run(
        self,
        program: str,
        tests: str | None = None,
        limits: Limits | None = None,
        files: Mapping[str, str | bytes] | None = None,
    ) -> ExecutionResult:
        clock = ITEM_CLOCK.get()
        if self._threaded:
            return await self._run_threaded(clock, program, tests, limits, files)
        with self._lock:
            self.stats.sandbox_queued += 1
        t0 = time.monotonic()
        try:
            await self._slots.acquire()
        finally:
            with self._lock:
                self.stats.sandbox_queued -= 1
        self._began(clock, time.monotonic() - t0)
        t1 = time.monotonic()
        try:
            return await self.inner.run(program, tests, limits, files)
        finally:
            self._ended(clock, time.monotonic() - t1, _MEASURING.get())
            self._slots.release()

    # -- bookkeeping shared by both paths ----------------------------------
    def _began(self, clock: ItemClock | None, waited: float) -> None:
        with self._lock:
            self.stats.sandbox_in_flight += 1
            self.stats.sandbox_peak = max(self.stats.sandbox_peak, self.stats.sandbox_in_flight)
            if clock is not None:
                clock.sandbox_wait_s += waited

    def _ended(self, clock: ItemClock | None, held: float, measuring: _Measuring | None) -> None:
        with self._lock:
            self.stats.sandbox_in_flight -= 1
            self.stats.sandbox_runs += 1
            self.stats.sandbox_busy_s += held
            if clock is not None:
                clock.sandbox_runs += 1
                clock.sandbox_s += held
            if measuring is not None:
                measuring.held.append(held)

    # -- the threaded path -------------------------------------------------
    async def _run_threaded(self, clock: ItemClock | None, *args: Any) -> ExecutionResult:
        if self._closed:
            raise SandboxUnavailable("the sandbox is closed")
        self._ensure_threads()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[ExecutionResult] = loop.create_future()
        with self._lock:
            self.stats.sandbox_queued += 1
        now = time.monotonic()
        measuring = _MEASURING.get()
        # agents' runs before measurements; oldest problem first; runs outside any problem by arrival
        priority = (measuring is not None, clock.started if clock is not None else now)
        self._jobs.put((priority, next(self._seq), (loop, fut, clock, measuring, now, args)))
        return await fut

    def _ensure_threads(self) -> None:
        with self._lock:
            while len(self._threads) < self.concurrency:
                t = threading.Thread(target=self._dispatch, name=f"coderefl-slot-{len(self._threads)}", daemon=True)
                t.start()
                self._threads.append(t)

    def _dispatch(self) -> None:
        while True:
            _, _, job = self._jobs.get()
            if job is None:
                return
            loop, fut, clock, measuring, queued_at, args = job
            with self._lock:
                self.stats.sandbox_queued -= 1
            if fut.cancelled():  # its problem was stopped while the run waited
                continue
            if self._closed or getattr(self.inner, "closed", False):
                # never start a run on a closed backend: it could bring up containers nobody removes
                self._deliver(loop, fut, SandboxUnavailable("the sandbox is closed"), False)
                continue
            self._began(clock, time.monotonic() - queued_at)
            t1 = time.monotonic()
            try:
                result: Any = self.inner.run_sync(*args)  # type: ignore[attr-defined]
                ok = True
            except BaseException as err:  # delivered to the awaiting task, typed as raised
                result, ok = err, False
            finally:
                self._ended(clock, time.monotonic() - t1, measuring)
            self._deliver(loop, fut, result, ok)

    @staticmethod
    def _deliver(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any], result: Any, ok: bool) -> None:
        try:
            loop.call_soon_threadsafe(_settle, fut, result, ok)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        self._closed = True
        threads, self._threads = self._threads, []
        for _ in threads:  # ahead of every queued run
            self._jobs.put(((False, float("-inf")), next(self._seq), None))
        await self.inner.close()  # a run still going fails fast once its containers are gone
        for t in threads:
            await asyncio.to_thread(t.join, 30)
        while not self._jobs.empty():  # runs nobody will take: their waiters must not hang
            _, _, job = self._jobs.get_nowait()
            if job is not None:
                loop, fut, *_ = job
                self._deliver(loop, fut, SandboxUnavailable("the sandbox was closed before this run started"), False)


def _settle(fut: asyncio.Future[Any], result: Any, ok: bool) -> None:
    if fut.cancelled():
        return
    if ok:
        fut.set_result(result)
    else:
        fut.set_exception(result)
