"""The sandbox pool starts in the background, beside the first model calls:
runs wait for it, and a failed start stops the run at once and fails every
run."""

from __future__ import annotations

import asyncio

import pytest

from coderefl.errors import SandboxUnavailable
from coderefl.execution.memory import InMemorySandbox, verdict
from coderefl.run.instrument import CountingSandbox, ItemClock, RunStats
from coderefl.run.session import _while_sandbox_starts


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
            results = await asyncio.gather(*(sandbox.for_item(ItemClock()).run("x = 1") for _ in range(3)))
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
                await sandbox.for_item(ItemClock()).run("x = 1")
        finally:
            await sandbox.close()

    asyncio.run(main())

