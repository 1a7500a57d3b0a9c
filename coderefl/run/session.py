"""One ``coderefl eval`` invocation, from settings to summary.json.

Why separate from the CLI: the CLI parses flags and prints; this module
wires the layers (problems, model, sandbox, strategy, scorer, store,
scheduler) and can be driven from Python or a test with the same result.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from coderefl import __version__
from coderefl.config import ModelConfig
from coderefl.errors import BadInput
from coderefl.records import RunRecord
from coderefl.run.instrument import CountingModel, CountingSandbox, RunStats
from coderefl.run.progress import ProgressDisplay
from coderefl.run.scheduler import Scheduler
from coderefl.run.store import RunStore
from coderefl.run.summary import default_ks, summarize
from coderefl.strategies.base import AgentConfig, Strategy


#: in summary.json of an --advisor run (issue 15): why its figures are not published-comparable
ADVISOR_NOTE = (
    "--advisor: the agent was told what some inputs return (the canonical solution, refused only for inputs "
    "equal to a hidden test's); pass@k is not comparable to published figures"
)


class EvalSettings(BaseModel):
    """Everything one evaluation needs, resolved."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    benchmark: str
    problems_file: str | None = None
    strategy: str = "reflexion"
    samples: int = Field(1, ge=1)
    limit: int | None = Field(None, ge=1)
    concurrency: int = Field(16, ge=1, description="model calls in flight at once")
    max_problems: int | None = Field(None, ge=1, description="problems solved at once (default: 2 x concurrency)")
    sandbox_concurrency: int = Field(2, ge=1)
    sandbox: str = "docker"  # a registered backend (coderefl.execution.available_backends)
    out: Path
    resume: bool = False
    force: bool = False
    check_generated_tests: bool = True
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    ray_actors_per_node: int = Field(1, ge=1)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    model: ModelConfig
    memory: Path | None = Field(None, description="long-term memory (SQLite): lessons recalled and stored")
    advisor: bool = Field(False, description="let the agent ask the oracle advisor when confidence is low")
    advisor_requests: int = Field(1, ge=1, description="advice requests per problem x sample")
    advisor_cost_tokens: int = Field(200, ge=0, description="what one answer costs, counted as prompt tokens")

    @model_validator(mode="after")
    def _agent_knows_the_samples(self) -> EvalSettings:
        """The agent samples (at its sampling temperature) when the run asks
        for several samples: N greedy copies would make pass@k equal pass@1."""
        if self.agent.samples != self.samples:
            self.agent = self.agent.model_copy(update={"samples": self.samples})
        return self

    @property
    def problems(self) -> int:
        """Problems whose agent works at once: enough that while some wait
        for the sandbox, others keep every model slot busy."""
        return self.max_problems or 2 * self.concurrency

    def run_config(self) -> dict[str, Any]:
        """config.json: the full resolved config, secrets redacted. The
        keys named in store.IDENTITY_KEYS are the run's identity."""
        problems_file = str(Path(self.problems_file).resolve()) if self.problems_file else None
        from coderefl.problems.registry import is_benchmark

        bench = self.benchmark
        if not is_benchmark(bench) and Path(bench).expanduser().exists():
            bench = str(Path(bench).expanduser().resolve())
        return {
            "benchmark": {"name": bench, "problems_file": problems_file},
            "strategy": self.strategy,
            "model": {
                "name": self.model.model,
                "api": self.model.api,
                "temperature": self.model.temperature,
                "max_tokens": self.model.max_tokens,
            },
            "agent": self.agent.model_dump(mode="json"),
            "learn": {
                "memory": str(Path(self.memory).resolve()) if self.memory else None,
                "advisor": self.advisor,
                "advisor_requests": self.advisor_requests if self.advisor else None,
                "advisor_cost_tokens": self.advisor_cost_tokens if self.advisor else None,
            },
            "model_config": self.model.redacted(),
            "run": {
                "samples": self.samples,
                "limit": self.limit,
                "concurrency": self.concurrency,
                "max_problems": self.problems,
                "sandbox_concurrency": self.sandbox_concurrency,
                "sandbox": self.sandbox,
                "check_generated_tests": self.check_generated_tests,
                "executor": self.executor,
            },
            "coderefl_version": __version__,
        }


def check_hidden_tests(benchmark: str, tasks: list[Any]) -> None:
    """Hidden tests that do not even compile would score every sample 0:
    a broken problem set, said before any work (BadInput)."""
    for t in tasks:
        try:
            compile(t.hidden.test_code, f"<hidden tests of {t.problem.task_id}>", "exec")
        except (SyntaxError, ValueError) as err:
            where = f" line {err.lineno}" if getattr(err, "lineno", None) else ""
            why = getattr(err, "msg", None) or str(err)
            raise BadInput(
                f"benchmark {benchmark!r}: the hidden tests of {t.problem.task_id} do not compile ({why}{where})"
            ) from None


class EvalOutcome(BaseModel):
    summary: dict[str, Any]
    records: list[RunRecord]
    new_records: int
    out: Path


def _make_sandbox(settings: EvalSettings) -> Any:
    from coderefl.execution import create_sandbox

    # a backend without a pool ignores pool_size
    return create_sandbox(settings.sandbox, pool_size=settings.sandbox_concurrency, limits=settings.agent.limits)


@dataclass
class StrategyFactory:
    """Builds one work item's strategy on the item's own views of the run's
    model and sandbox (the scheduler calls it per item), with the run's
    long-term memory and advisor, which all items share."""

    name: str
    config: AgentConfig
    memory: Any = None
    advisor: Any = None
    #: the strategy's class, looked up once (the registry reads the installed entry points: ~10 ms)
    _cls: type[Strategy] | None = None

    def __call__(self, model: Any, sandbox: Any) -> Strategy:
        from coderefl.strategies.base import create_strategy

        if self._cls is None:
            strategy = create_strategy(self.name, model, sandbox, self.config)
            self._cls = type(strategy)
        else:
            strategy = self._cls(model, sandbox, self.config)
        strategy.memory = self.memory
        strategy.advisor = self.advisor
        return strategy


def build_parts(settings: EvalSettings, stats: RunStats) -> tuple[CountingModel, CountingSandbox, StrategyFactory, Any]:
    """Model, sandbox, strategy factory and scorer of one process: the
    coordinator of a local run, or a node of a Ray run. Nothing is started
    yet, so a failure here (bad strategy name) leaves nothing to clean up."""
    from coderefl.model.client import build_model
    from coderefl.problems.scorer import Scorer

    # --concurrency is this run's model-call limit, and so its client's limit for the endpoint
    client = build_model(settings.model.model_copy(update={"concurrency": settings.concurrency}))
    model = CountingModel(client, stats, settings.concurrency)
    sandbox = CountingSandbox(_make_sandbox(settings), stats, settings.sandbox_concurrency)
    strategies = StrategyFactory(settings.strategy, settings.agent)
    strategies(model, sandbox)  # an unknown strategy, or one that needs a chat model, fails here
    return model, sandbox, strategies, Scorer(sandbox, settings.agent.limits)


def _attach_learning(settings: EvalSettings, strategies: StrategyFactory, sandbox: Any, tasks: list[Any]) -> Any:
    """Long-term memory and the oracle advisor (coderefl.learn), when asked
    for. Both live in this process, so they need the local executor."""
    if not (settings.memory or settings.advisor):
        return None
    if settings.executor != "local":
        raise BadInput("--memory and --advisor need --executor local (their state lives in this process)")
    from coderefl.learn import LessonMemory, OracleAdvisor

    if settings.advisor:
        strategies.advisor = OracleAdvisor(
            sandbox, tasks, max_requests=settings.advisor_requests, cost_tokens=settings.advisor_cost_tokens
        )
    if settings.memory:
        # recall in the benchmark's fixed order: the same lessons whatever finishes first (learn/memory.py)
        strategies.memory = LessonMemory(settings.memory).in_order([t.problem.task_id for t in tasks])
        return strategies.memory
    return None


T = TypeVar("T")


async def _while_sandbox_starts(work: Awaitable[T], sandbox: CountingSandbox) -> T:
    """Await ``work`` (the scheduler) while the sandbox starts in the
    background; a failed start stops the work at once, not at its first run."""
    task = asyncio.ensure_future(work)
    ready = asyncio.ensure_future(sandbox.ready())
    try:
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if ready.done() and not ready.cancelled() and ready.exception() is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise ready.exception()  # type: ignore[misc]
        return await task
    finally:
        for t in (task, ready):
            if not t.done():
                t.cancel()
        await asyncio.gather(task, ready, return_exceptions=True)


async def run_evaluation(
    settings: EvalSettings,
    *,
    stats: RunStats | None = None,
    progress: bool = True,
    progress_interval_s: float = 10.0,
) -> EvalOutcome:
    """Run (or resume) an evaluation and write every output file."""
    from coderefl.problems.registry import load_benchmark

    t0 = time.monotonic()
    store = RunStore(settings.out)
    if settings.resume and not store.exists():
        raise BadInput(f"--resume: nothing to resume in {settings.out} (no config.json or results.jsonl)")
    tasks = load_benchmark(settings.benchmark, problems_file=settings.problems_file, limit=settings.limit)
    if not tasks:
        raise BadInput(f"benchmark {settings.benchmark!r} has no problems")
    ids = [t.problem.task_id for t in tasks]
    if len(set(ids)) != len(ids):
        raise BadInput(f"benchmark {settings.benchmark!r} has duplicate task ids")
    check_hidden_tests(settings.benchmark, tasks)

    stats = stats or RunStats()
    # build everything that can fail on bad input before touching the run folder
    # (with Ray, these local parts only validate the settings; the nodes build their own)
    model, sandbox, strategies, scorer = build_parts(settings, stats)
    memory = _attach_learning(settings, strategies, sandbox, tasks)
    ray_run: Any = None  # (ray, started here) for --executor ray
    remote: Any = None  # the RayScheduler, whose node actors must be closed
    scheduler_s: float | None = None  # wall time of the pipeline alone (no set-up, no summary)
    try:
        if settings.executor == "ray":
            from coderefl.run import ray_executor

            ray_executor.import_ray()  # a missing extra fails here, before the run folder is touched
        store.open(settings.run_config(), force=settings.force, task_ids=ids)
        scheduler = Scheduler(
            strategy=strategies,
            scorer=scorer,
            model=model,
            sandbox=sandbox,
            store=store,
            model_name=settings.model.model or "",
            max_problems=settings.problems,
            stats=stats,
            check_generated_tests=settings.check_generated_tests,
        )
        before = len(store.records)
        pending = len(tasks) * settings.samples - sum(
            1 for t in tasks for s in range(settings.samples) if store.is_done(t.problem.task_id, s)
        )
        complete = False
        try:
            if pending and settings.executor == "ray":
                ray_run = ray_executor.connect(settings.ray_address)  # only when there is work: joining takes seconds
                ray = ray_run[0]
                scheduler = remote = ray_executor.RayScheduler(
                    ray=ray, pool=ray_executor.start_workers(ray, settings, settings.ray_actors_per_node), store=store,
                    model_name=settings.model.model or "", strategy_name=settings.strategy,
                    max_problems=settings.problems, stats=stats,
                )
            if pending and settings.executor == "local":
                # the pool comes up while the model starts and the first model calls are in flight
                await sandbox.start(wait=False)
                await model.start()
            if pending:
                title = f"{settings.strategy} on {settings.benchmark}"
                async with ProgressDisplay(stats, title=title, interval_s=progress_interval_s, enabled=progress):
                    t_sched = time.monotonic()
                    records = await _while_sandbox_starts(scheduler.run(tasks, settings.samples), sandbox)
                    scheduler_s = time.monotonic() - t_sched
            else:
                records = await scheduler.run(tasks, settings.samples)
            complete = True
        finally:
            # even a stopped run leaves a readable summary of what it has
            wanted = {(t.problem.task_id, s) for t in tasks for s in range(settings.samples)}
            have = [r for r in store.records if (r.task_id, r.sample) in wanted]
            summary = summarize(
                have,
                ks=default_ks(settings.samples),
                wall_s=time.monotonic() - t0,
                meta={
                    "strategy": settings.strategy,
                    "model": settings.model.model,
                    "benchmark": settings.benchmark,
                    "complete": complete and len(have) == len(wanted),
                    "expected_records": len(wanted),
                    "new_records": len(store.records) - before,
                    **({"comparability": ADVISOR_NOTE} if settings.advisor else {}),
                    # lines of results.jsonl moved to results.jsonl.rejected when this session opened the run
                    "rejected_lines": [{"line": r.line, "reason": r.reason} for r in store.rejected],
                    "session": {
                        "model_calls": stats.model_calls,
                        "model_calls_cached": stats.usage.cached_calls,
                        "peak_model_calls_in_flight": stats.model_peak,
                        "peak_sandbox_runs_in_flight": stats.sandbox_peak,
                        "peak_problems_in_flight": stats.problems_peak,
                        "peak_problems_solving": stats.solving_peak,
                        "sandbox_runs": stats.sandbox_runs,
                        "scheduler_wall_s": scheduler_s,
                        "model_busy_s": round(stats.model_busy_s, 3),
                        "sandbox_busy_s": round(stats.sandbox_busy_s, 3),
                        "executor": settings.executor,
                        **(
                            {"ray_workers": sorted(remote.workers), "ray_lost_actors": remote.lost_actors,
                             "ray_resent_items": remote.resent_items}
                            if remote is not None else {}
                        ),
                    },
                },
            )
            store.write_samples(have)
            store.write_summary(summary)
            store.close()
        return EvalOutcome(summary=summary, records=records, new_records=len(store.records) - before, out=settings.out)
    finally:
        store.close()
        try:
            if remote is not None:
                await remote.close()
        finally:
            if ray_run is not None and ray_run[1]:
                ray_run[0].shutdown()
            await sandbox.close()
            await model.close()
            if memory is not None:
                memory.close()
