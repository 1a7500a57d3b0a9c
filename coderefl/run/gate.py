"""A priority semaphore for asyncio: who gets the next free slot.

Why not ``asyncio.Semaphore``: it lets waiters in first come, first
served. The scheduler wants the oldest problem's call first (see
:class:`coderefl.run.instrument.CountingModel`).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any


class PriorityGate:
    """At most ``size`` holders at once; waiters get in lowest priority
    value first (then by arrival). asyncio, one event loop at a time."""

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
