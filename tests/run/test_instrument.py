"""The limits of a run on real parts. Sandbox slots (CountingSandbox, the
local backend): runs start without waiting for a busy event loop, the
oldest problem goes first, measurements after every agent run, each
problem's time is accounted, and a closed sandbox refuses runs. Model slots
(CountingModel, the real client and HTTP server): oldest problem first,
the wait counted apart from the call."""

from __future__ import annotations

import asyncio
import time

import pytest

from coderefl.errors import SandboxUnavailable
from coderefl.execution import create_sandbox
from coderefl.run.instrument import CountingModel, CountingSandbox, ItemClock, RunStats

STAMP = "import time\nprint(repr(time.time()))\ntime.sleep({pause})\n"


def started_at(result) -> float:
    return float(result.stdout.strip().splitlines()[0])


async def in_item(sb: CountingSandbox, clock: ItemClock, pause: float):
    return await sb.for_item(clock).run(STAMP.format(pause=pause))


def test_a_freed_slot_is_taken_while_the_event_loop_is_blocked():
    async def main():
        sb = CountingSandbox(create_sandbox("local"), RunStats(), 1)
        try:
            tasks = [asyncio.create_task(in_item(sb, ItemClock(), 0.3)) for _ in range(3)]
            while not (sb.stats.sandbox_in_flight == 1 and sb.stats.sandbox_queued == 2):
                await asyncio.sleep(0.001)  # until all three are queued and the first is running
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


async def behind_a_blocker(sb: CountingSandbox, first, second):
    """Hold the only slot of ``sb`` for 0.4 s, queue ``first``, then ``second``; their results."""
    blocker = asyncio.create_task(in_item(sb, ItemClock(started=0.0), 0.4))
    await asyncio.sleep(0.1)
    a = asyncio.create_task(first)
    await asyncio.sleep(0.05)
    b = asyncio.create_task(second)
    await asyncio.gather(blocker, a, b)
    return a.result(), b.result()


def test_queued_runs_go_oldest_problem_first_and_are_accounted():
    async def main():
        stats = RunStats()
        sb = CountingSandbox(create_sandbox("local"), stats, 1)
        old, young = ItemClock(started=1.0), ItemClock(started=2.0)
        try:
            # the younger problem asks first, the older one second
            y, o = await behind_a_blocker(sb, in_item(sb, young, 0.0), in_item(sb, old, 0.0))
        finally:
            await sb.close()
        return stats, old, young, started_at(o), started_at(y)

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


async def measuring(sb: CountingSandbox, clock: ItemClock, *pauses: float):
    return await sb.for_item(clock).measure(*(lambda s, p=p: s.run(STAMP.format(pause=p)) for p in pauses))


def test_measurements_wait_behind_every_agent_run_and_overlap_on_the_path():
    async def main():
        sb = CountingSandbox(create_sandbox("local"), RunStats(), 1)
        oldest, young = ItemClock(started=1.0), ItemClock(started=5.0)
        try:
            # the oldest problem's measurements queue first, a young problem's agent run second
            m, a = await behind_a_blocker(sb, measuring(sb, oldest, 0.0), in_item(sb, young, 0.0))
        finally:
            await sb.close()
        # two measurements side by side (two slots): only the longer is on the item's path
        sb2 = CountingSandbox(create_sandbox("local"), RunStats(), 2)
        pair = ItemClock()
        try:
            await asyncio.create_task(measuring(sb2, pair, 0.3, 0.3))
        finally:
            await sb2.close()
        return started_at(m[0]), started_at(a), pair

    t_measure, t_agent, pair = asyncio.run(main())
    assert t_agent < t_measure
    assert pair.sandbox_runs == 2 and pair.sandbox_s >= 0.6
    assert 0.25 < pair.sandbox_overlap_s < pair.sandbox_s / 2 + 0.01
    assert pair.critical_path_s == pytest.approx(pair.sandbox_s - pair.sandbox_overlap_s)
    assert pair.critical_path_s <= pair.sandbox_s - 0.25  # the overlap came off the path (no wall-clock bound: load varies)


def test_measurements_run_to_the_end_and_raise_the_first_error():
    async def main():
        done = []

        async def ok():
            await asyncio.sleep(0.2)
            done.append("ok")
            return 1

        async def bad():
            raise ValueError("broken measurement")

        sb = CountingSandbox(create_sandbox("local"), RunStats(), 1)
        try:
            with pytest.raises(ValueError, match="broken measurement"):
                await sb.for_item(ItemClock()).measure(lambda _sb: bad(), lambda _sb: ok())
        finally:
            await sb.close()
        return done

    assert asyncio.run(main()) == ["ok"]  # the other measurement was not abandoned


def test_model_calls_beyond_the_limit_wait_oldest_problem_first():
    from coderefl.config import resolve_model_config
    from coderefl.model.client import build_model
    from coderefl.records import ChatMessage
    from tests.openai_server import ScriptedServer

    async def ask(model: CountingModel, clock: ItemClock, text: str):
        return await model.for_item(clock).chat([ChatMessage(role="user", content=text)], phase="generate")

    async def main(url: str, cache):
        stats = RunStats()
        cfg = resolve_model_config(settings={}, env={}, model="scripted-model", base_url=url, api_key="k",
                                   cache_path=cache, no_cache=True)
        model = CountingModel(build_model(cfg), stats, 1)
        old, young = ItemClock(started=1.0), ItemClock(started=2.0)
        try:
            first = asyncio.create_task(ask(model, ItemClock(started=0.0), "first"))
            await asyncio.sleep(0.1)
            y = asyncio.create_task(ask(model, young, "young"))
            await asyncio.sleep(0.05)
            assert stats.model_queued == 1 and stats.model_in_flight == 1
            o = asyncio.create_task(ask(model, old, "old"))
            await asyncio.gather(first, y, o)
        finally:
            await model.close()
        return stats, old, young

    with ScriptedServer(latency_s=0.3) as server:
        stats, old, young = asyncio.run(main(server.base_url, None))
        asked = [b["messages"][0]["content"] for b in server.requests]
    assert asked == ["first", "old", "young"]
    assert stats.model_peak == 1 and stats.model_calls == 3 and stats.model_queued == 0
    # the wait is not the call: each call took about the latency, the young one waited for two
    for clock in (old, young):
        assert clock.model_calls == 1 and 0.3 <= clock.model_s < 0.55
    assert young.model_wait_s > old.model_wait_s + 0.2
