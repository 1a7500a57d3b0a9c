"""The run's limits as each item passes its own scope to them: a problem
keeps its model slot from one call to the next (not across a sandbox run,
not past the hold time), a failed call gives it back, and the sandbox pool
starts in the background: runs wait for it, a failed start stops the run."""

from __future__ import annotations

import asyncio

import pytest

from coderefl.errors import SandboxUnavailable
from coderefl.execution.memory import InMemorySandbox, verdict
from coderefl.run.concurrency import ModelSlots
from coderefl.run.instrument import CountingModel, CountingSandbox, ItemClock, ItemScope, RunStats
from coderefl.run.session import _while_sandbox_starts


def passing(_program, _tests):
    return verdict([("test_x", "passed")])


def order_of_calls(young_between: str, hold_s: float | None = None) -> list[str]:
    """One model slot. A young problem asks twice (``young_between`` its two
    calls: nothing, a sandbox run, or a pause longer than the hold); an
    older one asks while the young one's first call is in flight. The
    order the server saw the calls in."""
    from coderefl.config import resolve_model_config
    from coderefl.model.client import build_model
    from coderefl.records import ChatMessage
    from tests.openai_server import ScriptedServer

    async def main(url: str):
        stats = RunStats()
        cfg = resolve_model_config(settings={}, env={}, model="scripted-model", base_url=url, api_key="k",
                                   cache_path=None, no_cache=True)
        model = CountingModel(build_model(cfg), stats, 1)  # the run's own default hold
        if hold_s is not None:
            model.slots = ModelSlots(1, hold_s=hold_s)
        sandbox = CountingSandbox(InMemorySandbox(passing), stats, 1)
        young, old = ItemScope(ItemClock(started=5.0)), ItemScope(ItemClock(started=1.0))

        async def ask(scope: ItemScope, text: str):
            return await model.for_item(scope).chat([ChatMessage(role="user", content=text)], phase="generate")

        async def young_problem():
            await ask(young, "young 1")
            if young_between == "sandbox run":
                assert (await sandbox.for_item(young).run("x = 1", "assert x == 1")).passed
            elif young_between == "pause":
                await asyncio.sleep(3 * (hold_s or 0))
            await ask(young, "young 2")
            young.close()

        async def old_problem():
            await asyncio.sleep(0.05)  # the young problem's first call is in flight
            await ask(old, "old")
            old.close()

        try:
            await asyncio.gather(young_problem(), old_problem())
        finally:
            await sandbox.close()
            await model.close()
        assert stats.model_queued == 0 and stats.model_in_flight == 0 and stats.model_calls == 3
        assert model.slots.gate.held == 0  # every slot given back
        return stats

    with ScriptedServer(latency_s=0.2) as server:
        asyncio.run(main(server.base_url))
        return [b["messages"][0]["content"] for b in server.requests]


def test_a_problem_keeps_its_model_slot_from_one_call_to_the_next():
    # the older problem waits although it goes first in the queue: the young one's chain is not broken
    assert order_of_calls("nothing") == ["young 1", "young 2", "old"]


def test_a_sandbox_run_or_a_long_pause_gives_the_kept_slot_back():
    assert order_of_calls("sandbox run") == ["young 1", "old", "young 2"]
    assert order_of_calls("pause", hold_s=0.1) == ["young 1", "old", "young 2"]


def test_a_failed_call_gives_its_slot_back_at_once():
    async def main():
        slots = ModelSlots(1, hold_s=60.0)
        item = slots.for_item(priority=1.0)
        assert await item.acquire() is True  # waited for (took) a slot
        item.failed()
        assert slots.gate.held == 0
        assert await item.acquire() is True
        item.done()  # kept for the next call
        assert slots.gate.held == 1
        assert await item.acquire() is False  # the kept slot, no queue
        item.done()
        item.let_go()
        assert slots.gate.held == 0

    asyncio.run(main())


class SlowStart(InMemorySandbox):
    """Comes up ``delay`` seconds after start() is called (a pool starting its containers)."""

    def __init__(self, delay: float, error: Exception | None = None) -> None:
        super().__init__(self.answer)
        self.delay, self.error, self.up = delay, error, False

    def answer(self, _program, _tests):
        assert self.up, "a run reached the backend before it was started"
        return verdict([("test_x", "passed")])

    async def start(self) -> None:
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        self.up = True


def test_runs_wait_for_a_sandbox_started_in_the_background():
    async def main():
        backend = SlowStart(0.3)
        sandbox = CountingSandbox(backend, RunStats(), 2)
        try:
            await sandbox.start(wait=False)
            assert not backend.up  # start() returned before the backend was up
            results = await asyncio.gather(*(sandbox.for_item(ItemScope()).run("x = 1") for _ in range(3)))
        finally:
            await sandbox.close()
        return results, backend

    results, backend = asyncio.run(main())
    assert all(r.passed for r in results) and len(backend.calls) == 3


def test_a_failed_background_start_stops_the_run_and_fails_every_run():
    async def main():
        sandbox = CountingSandbox(SlowStart(0.1, SandboxUnavailable("docker is not running")), RunStats(), 2)
        stopped = asyncio.Event()

        async def scheduler_work():  # model calls in flight, never done by itself
            try:
                await asyncio.Event().wait()
            finally:
                stopped.set()

        await sandbox.start(wait=False)
        try:
            with pytest.raises(SandboxUnavailable, match="docker is not running"):
                await asyncio.wait_for(_while_sandbox_starts(scheduler_work(), sandbox), 30)
            assert stopped.is_set()
            with pytest.raises(SandboxUnavailable, match="docker is not running"):
                await sandbox.for_item(ItemScope()).run("x = 1")
        finally:
            await sandbox.close()

    asyncio.run(main())


def test_calls_of_one_problem_side_by_side_keep_one_slot_at_most():
    async def main():
        slots = ModelSlots(3, hold_s=60.0)
        item = slots.for_item(priority=1.0)
        assert await item.acquire() and await item.acquire()  # two calls at once: two slots
        item.done()
        item.done()
        assert slots.gate.held == 1  # the second gave its slot back, one is kept
        item.let_go()
        assert slots.gate.held == 0

    asyncio.run(main())
