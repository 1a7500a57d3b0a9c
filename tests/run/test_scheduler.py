"""The scheduler on real parts: the real model client against the scripted
HTTP server, the local sandbox backend (subprocess; our own trusted test
code only) and the real scorer."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from coderefl.config import resolve_model_config
from coderefl.errors import SandboxUnavailable
from coderefl.model.client import build_model
from coderefl.problems.scorer import Scorer
from coderefl.run.instrument import CountingModel, CountingSandbox, RunStats
from coderefl.run.scheduler import Scheduler
from coderefl.run.store import RunStore, read_records
from coderefl.strategies.base import AgentConfig
from tests.openai_server import ScriptedServer
from tests.run.helpers import OneShot, handler_rules, many_add_tasks, task, tiny_tasks

CONFIG = {"benchmark": {"name": "tiny"}, "strategy": "test-oneshot", "model": {"name": "scripted-model"}, "agent": {}}


@pytest.fixture
def server():
    with ScriptedServer(handler=handler_rules()) as srv:
        yield srv


async def run_once(server, root, tasks, *, samples=1, concurrency=4, max_problems=None, cache_path=None, stats=None):
    stats = stats or RunStats()
    cfg = resolve_model_config(
        settings={}, env={}, model="scripted-model", base_url=server.base_url, api_key="k",
        cache_path=cache_path or (root / "cache.sqlite"),
    )
    from coderefl.execution import create_sandbox

    model = CountingModel(build_model(cfg), stats, concurrency)
    sandbox = CountingSandbox(create_sandbox("local"), stats, 2)
    store = RunStore(root / "run")
    store.open(CONFIG)
    scorer = Scorer(sandbox)
    try:
        await sandbox.start()
        sched = Scheduler(
            strategy=lambda m, s: OneShot(m, s, AgentConfig()), scorer=scorer, model=model, sandbox=sandbox, store=store,
            model_name="scripted-model", max_problems=max_problems or concurrency, stats=stats,
        )
        records = await sched.run(tasks, samples)
    finally:
        store.close()
        await sandbox.close()
        await model.close()
    return records, scorer, stats


def test_every_task_sample_once_with_verdicts(server, tmp_path):
    records, scorer, stats = asyncio.run(run_once(server, tmp_path, tiny_tasks(), samples=2))
    by = {(r.task_id, r.sample): r for r in records}
    assert sorted(by) == [(t, s) for t in ("t/add", "t/crash", "t/sub") for s in (0, 1)]
    add, sub, crash = by[("t/add", 0)], by[("t/sub", 1)], by[("t/crash", 0)]
    assert add.hidden_passed and add.hidden_status == "passed" and add.internal_passed is True
    assert add.canonical_vs_generated is True and add.hidden_evals == 1 and add.completion.strip()
    # sub: wrong code; its visible test is wrong too, so it rejects the canonical solution
    assert not sub.hidden_passed and sub.hidden_status == "failed" and sub.canonical_vs_generated is False
    # crash: a strategy bug becomes an error record, the run goes on
    assert crash.error and "strategy bug" in crash.error and not crash.hidden_passed and crash.hidden_evals == 0
    assert all(v == 1 for v in scorer.per_sample.values()) and len(scorer.per_sample) == 4
    assert (stats.passing, stats.failing, stats.errors) == (2, 2, 2)
    on_disk, _ = read_records(tmp_path / "run" / "results.jsonl")
    assert len(on_disk) == 6
    traj = json.loads((tmp_path / "run" / "trajectories" / "t_crash__s0.json").read_text())
    assert "RuntimeError" in traj["traceback"]
    traj = json.loads((tmp_path / "run" / "trajectories" / "t_add__s1.json").read_text())
    assert traj["trajectory"]["final_code"].startswith("def add")
    # where the problem's time went: 1 model call; its visible run, the hidden scoring, the canonical check
    timing = traj["timing"]
    assert timing["model_calls"] == 1 and timing["sandbox_runs"] == 3
    # the hidden scoring and the canonical check ran side by side: only the longer is on the path
    assert timing["sandbox_overlap_s"] > 0
    assert timing["critical_path_s"] == pytest.approx(
        timing["model_s"] + timing["sandbox_s"] - timing["sandbox_overlap_s"], abs=1e-3
    )
    assert 0 < timing["critical_path_s"] <= timing["wall_s"] + 1e-3
    assert traj["hidden"]["status"] == "passed" and traj["hidden"]["duration_s"] > 0


def test_resume_skips_done_and_repeats_no_model_call(server, tmp_path):
    asyncio.run(run_once(server, tmp_path, tiny_tasks()))
    sent = len(server.requests)
    assert sent == 3
    records, scorer, stats = asyncio.run(run_once(server, tmp_path, tiny_tasks()))
    assert len(server.requests) == sent and stats.done == 0 and stats.resumed == 3 and not scorer.per_sample
    assert len(records) == 3
    # more samples extend the run; only the new ones call the model
    records, _, stats = asyncio.run(run_once(server, tmp_path, tiny_tasks(), samples=2))
    assert len(records) == 6 and stats.done == 3 and len(server.requests) == sent + 3


def test_problems_overlap_up_to_concurrency(tmp_path):
    """Model calls and sandbox runs of different problems happen at the same time."""
    stats = RunStats()
    both_busy = []

    async def main(server):
        async def sample():
            while True:
                both_busy.append(stats.model_in_flight > 0 and stats.sandbox_in_flight > 0)
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        try:
            return await run_once(server, tmp_path, many_add_tasks(6), concurrency=3, stats=stats)
        finally:
            sampler.cancel()

    with ScriptedServer(handler=handler_rules(), latency_s=0.4) as slow:
        t0 = time.monotonic()
        records, _, _ = asyncio.run(main(slow))
        elapsed = time.monotonic() - t0
    assert len(records) == 6 and all(r.hidden_passed for r in records)
    # at most 3 agents at work; finished ones measure beside them (up to 3 more)
    assert stats.solving_peak == 3 and 3 <= stats.problems_peak <= 6
    assert stats.model_peak == 3 and stats.sandbox_peak == 2
    assert any(both_busy)
    assert elapsed < sum(r.wall_s for r in records)  # problems overlapped


def test_one_problem_at_a_time_is_strictly_sequential(server, tmp_path):
    """--max-problems 1: each problem's agent starts after the one before has finished
    (its measurements may still run), whatever the model and sandbox limits."""
    stats = RunStats()
    records, _, _ = asyncio.run(run_once(server, tmp_path, many_add_tasks(4), concurrency=4, max_problems=1, stats=stats))
    assert len(records) == 4 and all(r.hidden_passed for r in records)
    assert stats.solving_peak == 1 and stats.model_peak == 1
    asked = [[i for i in range(4) if f"variant {i}" in b["messages"][0]["content"]] for b in server.requests]
    assert asked == [[0], [1], [2], [3]]  # in task order, one after another


def test_fatal_error_stops_the_run_without_a_record(server, tmp_path):
    tasks = [*tiny_tasks()[:1], task("fatal", "", "def test_h():\n    assert True\n", "assert True", "0")]
    with pytest.raises(SandboxUnavailable):
        asyncio.run(run_once(server, tmp_path, tasks, concurrency=1))
    done, _ = read_records(tmp_path / "run" / "results.jsonl")
    # t/add may have been measuring when the run stopped: then it has no record either
    assert {r.task_id for r in done} <= {"t/add"}
    records, _, _ = asyncio.run(run_once(server, tmp_path, tasks[:1], concurrency=1))
    assert [r.task_id for r in records] == ["t/add"]  # the resume finishes it, once


def test_the_next_problem_starts_while_the_last_one_is_measured(server, tmp_path):
    """One problem solved at a time, yet the second starts before the first
    is done: the first gave up its solving slot when its agent finished and
    was scored beside it."""
    asyncio.run(run_once(server, tmp_path, many_add_tasks(2), concurrency=1))
    timing = {
        name: json.loads((tmp_path / "run" / "trajectories" / f"t_{name}__s0.json").read_text())["timing"]
        for name in ("add0", "add1")
    }
    first, second = sorted(timing.values(), key=lambda t: t["started_at"])
    assert second["started_at"] < first["started_at"] + first["wall_s"]
