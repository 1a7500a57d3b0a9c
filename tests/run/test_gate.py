"""PriorityGate: at most `size` holders, waiters let in by priority, and
cancellation never loses or leaks a slot."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coderefl.run.concurrency import PriorityGate


def test_waiters_get_in_by_priority_then_arrival():
    async def main():
        gate = PriorityGate(1)
        order: list[str] = []

        async def user(name: str, priority: float):
            await gate.acquire(priority)
            order.append(name)
            await asyncio.sleep(0.01)
            gate.release()

        await gate.acquire(0)  # held: everyone below queues
        tasks = []
        for name, prio in (("young", 3.0), ("old", 1.0), ("middle", 2.0), ("old-later", 1.0)):
            tasks.append(asyncio.create_task(user(name, prio)))
            await asyncio.sleep(0)  # arrival order as listed
        gate.release()
        await asyncio.gather(*tasks)
        return order, gate.held

    order, held = asyncio.run(main())
    assert order == ["old", "old-later", "middle", "young"]
    assert held == 0


def test_a_cancelled_waiter_neither_gets_nor_loses_a_slot():
    async def main():
        gate = PriorityGate(1)
        await gate.acquire(0)
        cancelled = asyncio.create_task(gate.acquire(1))
        waiting = asyncio.create_task(gate.acquire(2))
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.sleep(0)
        gate.release()  # skips the cancelled waiter
        await asyncio.wait_for(waiting, 1)
        # a slot handed over just as its waiter is cancelled goes to the next one
        late = asyncio.create_task(gate.acquire(1))
        after = asyncio.create_task(gate.acquire(2))
        await asyncio.sleep(0)
        gate.release()  # hands the slot to `late`...
        late.cancel()  # ...which is cancelled before it runs: it passes the slot on
        with pytest.raises(asyncio.CancelledError):
            await late
        await asyncio.wait_for(after, 1)
        gate.release()
        return gate.held

    assert asyncio.run(main()) == 0


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 4),
    users=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 3), st.booleans()),  # priority, hold (loop turns), cancel it
        min_size=1,
        max_size=25,
    ),
)
def test_never_more_than_size_and_every_slot_comes_back(size, users):
    async def main():
        gate = PriorityGate(size)
        holding = [0]
        peak = [0]
        done: list[int] = []

        async def user(i: int, priority: int, hold: int):
            await gate.acquire(priority)
            holding[0] += 1
            peak[0] = max(peak[0], holding[0])
            try:
                for _ in range(hold):
                    await asyncio.sleep(0)
            finally:
                holding[0] -= 1
                gate.release()
            done.append(i)

        tasks = [asyncio.create_task(user(i, p, h)) for i, (p, h, _) in enumerate(users)]
        await asyncio.sleep(0)
        for task, (_, _, cancel) in zip(tasks, users):
            if cancel:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return gate.held, peak[0], done, [t.cancelled() for t in tasks]

    held, peak, done, cancelled = asyncio.run(main())
    assert held == 0 and peak <= size
    # every user that was not cancelled got a slot and finished
    assert sorted(done) == [i for i, c in enumerate(cancelled) if not c]
