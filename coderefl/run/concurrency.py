"""The run's concurrency limits: who calls the model, runs in the sandbox,
or starts solving next.

Three limits, each with the order in which waiters get in:

* :class:`PriorityGate`: ``--concurrency`` model calls at once (held by
  :class:`coderefl.run.instrument.CountingModel`), oldest problem first;
* :class:`SandboxSlots`: ``--sandbox-concurrency`` sandbox runs at once,
  oldest problem first, measurements after every agent run; dispatched by
  worker threads when the backend runs synchronously at heart;
* :class:`SolvingSlots`: ``--max-problems`` problems whose agent works at
  once (the scheduler's admission), each held by a :class:`SolvingPermit`.

Nothing here counts or measures (that is :mod:`coderefl.run.instrument`);
callers pass priorities and callbacks explicitly.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from coderefl.errors import SandboxUnavailable


class PriorityGate:
    """At most ``size`` holders at once; waiters get in lowest priority
    value first (then by arrival). asyncio, one event loop at a time.

    Why not ``asyncio.Semaphore``: it lets waiters in first come, first
    served, and the run wants the oldest problem's call first."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a gate needs at least one slot")
        self.size = size
        self.held = 0
        self._waiters: list[tuple[Any, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    async def acquire(self, priority: Any) -> None:
        if self.held < self.size and not self._waiters:
            self.held += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # handed a slot just as it was cancelled: pass it on
                self.release()
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():  # a cancelled waiter's future is done: skip it
                fut.set_result(None)  # the slot passes straight to the waiter
                return
        self.held -= 1


#: a queued sandbox run: (priority, arrival, job); job None stops a dispatch thread
_Job = tuple[Any, int, Any]


class SandboxSlots:
    """``size`` sandbox runs at once, by priority (lower first, then arrival).

    Why worker threads when the backend is synchronous at heart (it
    overrides ``run_sync``, as both shipped ones do): with 64 problems in
    flight on a small machine the event loop is busy (HTTP, parsing,
    records), and a slot handed over through asyncio waits a loop turn or
    two each time, leaving the sandbox idle ~10 ms per run. Here ``size``
    threads take runs from one priority queue, so the next run starts the
    moment a slot frees, whatever the loop is doing; only the result
    travels back through it. Other backends (async at heart) get the same
    limit and order through a :class:`PriorityGate` in the loop.

    ``began(waited_s)`` and ``ended(held_s)`` are called around each run
    that starts (from a dispatch thread on the threaded path); a run that
    never starts (cancelled, or the sandbox closed) gets neither."""

    def __init__(
        self,
        size: int,
        *,
        run: Callable[..., Awaitable[Any]],
        run_sync: Callable[..., Any] | None,
        is_closed: Callable[[], bool] = lambda: False,
    ) -> None:
        self.size = size
        self._run = run
        self._run_sync = run_sync
        self._is_closed = is_closed
        self._gate = PriorityGate(size)
        self._jobs: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.closed = False

    async def run(
        self, priority: Any, args: tuple[Any, ...], began: Callable[[float], None], ended: Callable[[float], None]
    ) -> Any:
        if self.closed:
            raise SandboxUnavailable("the sandbox is closed")
        if self._run_sync is not None:
            return await self._run_threaded(priority, args, began, ended)
        t0 = time.monotonic()
        await self._gate.acquire(priority)
        began(time.monotonic() - t0)
        t1 = time.monotonic()
        try:
            return await self._run(*args)
        finally:
            ended(time.monotonic() - t1)
            self._gate.release()

    async def _run_threaded(
        self, priority: Any, args: tuple[Any, ...], began: Callable[[float], None], ended: Callable[[float], None]
    ) -> Any:
        self._ensure_threads()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((priority, next(self._seq), (loop, fut, time.monotonic(), args, began, ended)))
        return await fut

    def _ensure_threads(self) -> None:
        with self._lock:
            while len(self._threads) < self.size:
                t = threading.Thread(target=self._dispatch, name=f"coderefl-slot-{len(self._threads)}", daemon=True)
                t.start()
                self._threads.append(t)

    def _dispatch(self) -> None:
        assert self._run_sync is not None
        while True:
            _, _, job = self._jobs.get()
            if job is None:
                return
            loop, fut, queued_at, args, began, ended = job
            if fut.cancelled():  # its problem was stopped while the run waited
                continue
            if self.closed or self._is_closed():
                # never start a run on a closed backend: it could bring up containers nobody removes
                _deliver(loop, fut, SandboxUnavailable("the sandbox is closed"), False)
                continue
            began(time.monotonic() - queued_at)
            t1 = time.monotonic()
            try:
                result: Any = self._run_sync(*args)
                ok = True
            except BaseException as err:  # delivered to the awaiting task, typed as raised
                result, ok = err, False
            finally:
                ended(time.monotonic() - t1)
            _deliver(loop, fut, result, ok)

    def pending(self) -> int:
        return self._jobs.qsize()

    async def close(self, close_backend: Callable[[], Awaitable[None]]) -> None:
        """Stop taking runs, close the backend (a run still going fails fast
        once its resources are gone), then fail the runs nobody will take."""
        self.closed = True
        threads, self._threads = self._threads, []
        for _ in threads:  # ahead of every queued run
            self._jobs.put((_FIRST, next(self._seq), None))
        await close_backend()
        for t in threads:
            await asyncio.to_thread(t.join, 30)
        while not self._jobs.empty():  # runs nobody will take: their waiters must not hang
            _, _, job = self._jobs.get_nowait()
            if job is not None:
                loop, fut, *_ = job
                _deliver(loop, fut, SandboxUnavailable("the sandbox was closed before this run started"), False)


class _First:
    """Sorts before every priority (the stop marks of the dispatch threads)."""

    def __lt__(self, other: object) -> bool:
        return True

    def __gt__(self, other: object) -> bool:
        return False


_FIRST = _First()


def _deliver(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any], result: Any, ok: bool) -> None:
    try:
        loop.call_soon_threadsafe(_settle, fut, result, ok)
    except RuntimeError:  # the loop is closed: nobody waits any more
        pass


def _settle(fut: asyncio.Future[Any], result: Any, ok: bool) -> None:
    if fut.cancelled():
        return
    if ok:
        fut.set_result(result)
    else:
        fut.set_exception(result)


class SolvingSlots:
    """``size`` problems whose agent works at once (``--max-problems``).

    ``on_change(+1 / -1)`` is told each time a permit is taken or given up
    (the progress display's count of problems solving)."""

    def __init__(self, size: int, on_change: Callable[[int], None] = lambda _delta: None) -> None:
        self._semaphore = asyncio.Semaphore(size)
        self._on_change = on_change

    async def take(self) -> SolvingPermit:
        await self._semaphore.acquire()
        self._on_change(+1)
        return SolvingPermit(self)

    def _give_back(self) -> None:
        self._semaphore.release()
        self._on_change(-1)


class SolvingPermit:
    """A worker's hold on one solving slot, given up at most once: when the
    item's agent is done (its measurements need no slot), or at the latest
    when the item is. ``SolvingPermit(None)`` holds nothing (a Ray node,
    whose coordinator holds the slot)."""

    def __init__(self, slots: SolvingSlots | None) -> None:
        self._slots = slots
        self.held = slots is not None

    def release(self) -> None:
        if self.held:
            self.held = False
            assert self._slots is not None
            self._slots._give_back()
