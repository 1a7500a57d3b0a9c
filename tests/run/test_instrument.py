"""The sandbox slots of a run (CountingSandbox) on the real local backend:
runs start without waiting for a busy event loop, the oldest problem goes
first, each problem's time is accounted, and a closed sandbox refuses runs."""

from __future__ import annotations

import asyncio
import time

import pytest

from coderefl.errors import SandboxUnavailable
from coderefl.execution import create_sandbox
from coderefl.run.instrument import ITEM_CLOCK, CountingSandbox, ItemClock, RunStats

STAMP = "import time\nprint(repr(time.time()))\ntime.sleep({pause})\n"


def started_at(result) -> float:
    return float(result.stdout.strip().splitlines()[0])


async def in_item(sb: CountingSandbox, clock: ItemClock, pause: float):
    ITEM_CLOCK.set(clock)  # this task's context only
    return await sb.run(STAMP.format(pause=pause))


def test_a_freed_slot_is_taken_while_the_event_loop_is_blocked():
    async def main():
        sb = CountingSandbox(create_sandbox("local"), RunStats(), 1)
        try:
            tasks = [asyncio.create_task(in_item(sb, ItemClock(), 0.3)) for _ in range(3)]
            await asyncio.sleep(0.05)  # all three queued, the first running
            t_block = time.time()
            time.sleep(1.5)  # the loop is busy: nothing on it runs for 1.5 s
            t_free = time.time()
            results = await asyncio.gather(*tasks)
        finally:
            await sb.close()
        return t_block, t_free, sorted(started_at(r) for r in results)

    t_block, t_free, starts = asyncio.run(main())
    # the 2nd and 3rd runs began during the block, one after the other
    assert t_block < starts[1] < starts[2] < t_free
    assert starts[2] - starts[1] >= 0.3


def test_queued_runs_go_oldest_problem_first_and_are_accounted():
    async def main():
        stats = RunStats()
        sb = CountingSandbox(create_sandbox("local"), stats, 1)
        old, young = ItemClock(started=1.0), ItemClock(started=2.0)
        try:
            blocker = asyncio.create_task(in_item(sb, ItemClock(started=0.0), 0.4))
            await asyncio.sleep(0.1)
            # the younger problem asks first, the older one second
            y = asyncio.create_task(in_item(sb, young, 0.0))
            await asyncio.sleep(0.05)
            o = asyncio.create_task(in_item(sb, old, 0.0))
            await asyncio.gather(blocker, y, o)
        finally:
            await sb.close()
        return stats, old, young, started_at(o.result()), started_at(y.result())

    stats, old, young, t_old, t_young = asyncio.run(main())
    assert t_old < t_young
    assert stats.sandbox_runs == 3 and stats.sandbox_peak == 1 and stats.sandbox_in_flight == 0
    assert stats.sandbox_queued == 0
    for clock in (old, young):
        assert clock.sandbox_runs == 1 and clock.sandbox_s > 0 and clock.sandbox_wait_s > 0.1
    assert young.sandbox_wait_s > old.sandbox_wait_s
    assert stats.sandbox_busy_s >= old.sandbox_s + young.sandbox_s + 0.4  # and the blocker's pause


def test_a_closed_sandbox_refuses_runs():
    async def main():
        sb = CountingSandbox(create_sandbox("local"), RunStats(), 2)
        assert (await sb.run("x = 1", "assert x == 1")).passed
        await sb.close()
        with pytest.raises(SandboxUnavailable):
            await sb.run("x = 1")

    asyncio.run(main())
