"""The asyncio pipeline: many problems in flight, each one sequential.

Why this shape: a long evaluation is bound by two independent resources,
the model endpoint and the sandbox. Each has its own limit
(``--concurrency`` model calls, ``--sandbox-concurrency`` sandbox runs,
applied by the counting wrappers of :mod:`coderefl.run.instrument` with
the limits of :mod:`coderefl.run.concurrency`), and up to
``--max-problems`` problems (twice ``--concurrency`` by default) are being
solved at once, so while some problems wait for the sandbox others keep
every model slot busy, and neither resource idles. Inside one problem the
agent's steps stay in order: solve (the strategy's loop), then measure:
score once on the hidden tests and check the agent's own tests against the
canonical solution, side by side (:meth:`ItemSandbox.measure`).

Each item gets its own agent, built by the solver factory on the item's
views of the run's model and sandbox (``for_item``): they count its calls
and runs on its :class:`ItemClock` and queue them at its priority. What an
item's parts know about it is passed to them, never found in a context
variable.

A problem gives up its solving slot when its agent is done, so the next
problem starts while the measurements wait behind the agents' sandbox runs
(nothing but the end of the run waits for them). Up to ``--max-problems``
more problems may be measuring, which bounds the records held in memory.

What is recorded when:

* a strategy that crashes unexpectedly (any non-coderefl exception) gets a
  record with ``error`` set and ``hidden_passed`` False; the run goes on;
* a coderefl error (sandbox gone, endpoint unusable, bad configuration)
  stops the whole run *without* writing a record for the problems in
  flight, so a resume redoes them instead of trusting a broken verdict.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from coderefl.errors import BadInput, ModelError, SandboxError
from coderefl.execution.base import Sandbox
from coderefl.learn import advice_requests
from coderefl.model.base import ChatModel
from coderefl.problems.samples import completion_for
from coderefl.problems.scorer import wrong_tests_by_tier
from coderefl.records import BenchmarkTask, ExecutionResult, RunRecord, Trajectory
from coderefl.run.concurrency import SolvingPermit, SolvingSlots
from coderefl.run.instrument import CountingModel, CountingSandbox, ItemClock, RunStats
from coderefl.run.store import RunStore
from coderefl.strategies.examples import visible_examples

#: errors that mean the run itself cannot go on (not: this problem failed)
FATAL = (SandboxError, ModelError, BadInput)


class Solver(Protocol):
    name: str

    async def solve(self, problem: Any, user_tests: list[str] | None = None, sample: int = 0) -> Trajectory: ...


#: builds one item's agent on the item's own model and sandbox views
SolverFactory = Callable[[ChatModel, Sandbox], Solver]


class HiddenScorer(Protocol):
    per_sample: Any  # Counter[(task_id, sample)] of hidden evaluations
    limits: Any

    async def score(
        self, task: BenchmarkTask, code: str, *, sample: int = 0, sandbox: Sandbox | None = None
    ) -> ExecutionResult: ...


@dataclass(frozen=True)
class WorkItem:
    task: BenchmarkTask
    sample: int

    @property
    def task_id(self) -> str:
        return self.task.problem.task_id


def work_items(tasks: Iterable[BenchmarkTask], samples: int, store: RunStore) -> Iterator[WorkItem]:
    """Items not yet done, sample-major: every task's sample 0 first, so an
    early stop still gives a pass@1 over all tasks."""
    tasks = list(tasks)
    for s in range(samples):
        for task in tasks:
            if not store.is_done(task.problem.task_id, s):
                yield WorkItem(task, s)


class Scheduler:
    """Runs work items through strategy -> scorer -> store.

    ``strategy`` builds each item's strategy (:data:`SolverFactory`) on
    that item's views of ``model`` and ``sandbox``, the run's counting
    wrappers; the scorer measures on the item's sandbox view too."""

    #: whether an item gives up its solving slot before its measurements
    #: (the Ray coordinator cannot see that moment on a node: it holds the slot)
    measure_apart = True

    def __init__(
        self,
        *,
        strategy: SolverFactory,
        scorer: HiddenScorer,
        model: CountingModel,
        sandbox: CountingSandbox,
        store: RunStore,
        model_name: str,
        max_problems: int = 8,
        stats: RunStats | None = None,
        check_generated_tests: bool = True,
    ) -> None:
        if max_problems < 1:
            raise BadInput(f"--max-problems must be at least 1, got {max_problems}")
        self.make_solver = strategy
        self.scorer = scorer
        self.model = model
        self.sandbox = sandbox
        self.store = store
        self.model_name = model_name
        self.max_problems = max_problems
        self.stats = stats or RunStats()
        self.check_generated_tests = check_generated_tests
        self.hidden_calls = 0
        self._solving = SolvingSlots(max_problems, self._count_solving)  # problems whose agent is working

    def _count_solving(self, delta: int) -> None:
        self.stats.problems_solving += delta
        self.stats.solving_peak = max(self.stats.solving_peak, self.stats.problems_solving)

    async def run(self, tasks: list[BenchmarkTask], samples: int) -> list[RunRecord]:
        """Process every item not yet in the store; return all records of
        the requested tasks x samples (old and new). Raises the first fatal
        error after cancelling the items in flight."""
        wanted = {(t.problem.task_id, s) for t in tasks for s in range(samples)}
        self.stats.total = len(wanted)
        old = [r for r in self.store.records if (r.task_id, r.sample) in wanted]
        self.stats.resumed = len(old)
        for r in old:
            self._count(r)
            self.stats.resumed_usage.add(r.usage)

        queue: asyncio.Queue[WorkItem] = asyncio.Queue()
        for item in work_items(tasks, samples, self.store):
            queue.put_nowait(item)

        self._writer = ThreadPoolExecutor(1, thread_name_prefix="coderefl-store")  # one writer: commits stay in order
        # max_problems solving, as many measuring (each worker takes a solving slot before an item)
        n_workers = min((2 if self.measure_apart else 1) * self.max_problems, max(1, queue.qsize()))
        workers = [asyncio.create_task(self._worker(queue), name=f"worker-{i}") for i in range(n_workers)]
        try:
            # the first worker to raise (a fatal error) ends the run
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for w in done:
                if not w.cancelled() and w.exception() is not None:
                    raise w.exception()  # type: ignore[misc]
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            # a commit already handed to the writer finishes: a record is never half-kept
            await asyncio.to_thread(self._writer.shutdown, wait=True)
        return [r for r in self.store.records if (r.task_id, r.sample) in wanted]

    async def _worker(self, queue: asyncio.Queue[WorkItem]) -> None:
        while True:
            permit = await self._solving.take()
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                permit.release()
                return
            if self.store.is_done(item.task_id, item.sample):
                permit.release()
                continue  # a retried remote item whose first answer already arrived
            self.stats.problems_in_flight += 1
            self.stats.problems_peak = max(self.stats.problems_peak, self.stats.problems_in_flight)
            try:
                record, trajectory, extra = await self.execute(item, permit)  # gives it up when the agent is done
            finally:
                permit.release()
                self.stats.problems_in_flight -= 1
            # the fsyncs of a commit take milliseconds: in the writer thread, so the
            # event loop (every other problem's HTTP and parsing) does not stall on them
            await asyncio.get_running_loop().run_in_executor(self._writer, self.commit, item, record, trajectory, extra)

    async def execute(
        self, item: WorkItem, permit: SolvingPermit
    ) -> tuple[RunRecord, Trajectory | None, dict[str, Any]]:
        """Where an item runs: here, in this event loop. The Ray executor
        overrides this to run :meth:`process` on a cluster node instead."""
        return await self.process(item, permit)

    def commit(self, item: WorkItem, record: RunRecord, trajectory: Trajectory | None, extra: dict[str, Any]) -> None:
        """Write one finished item; only the coordinator calls this, so the
        run folder has one writer however many nodes do the work."""
        if self.store.is_done(item.task_id, item.sample):
            return  # a duplicate answer (a retried remote task): the first one stands
        # trajectory first: a record on disk always has its trajectory
        self.store.write_trajectory(item.task_id, item.sample, trajectory, extra)
        self.store.append(record)
        self.stats.done += 1
        self._count(record)

    def _count(self, record: RunRecord) -> None:
        if record.error:
            self.stats.errors += 1
        elif record.hidden_passed:
            self.stats.passing += 1
        else:
            self.stats.failing += 1

    async def process(
        self, item: WorkItem, permit: SolvingPermit | None = None
    ) -> tuple[RunRecord, Trajectory | None, dict[str, Any]]:
        """Solve, score once, check generated tests. Fatal errors propagate.
        ``permit`` is the item's solving slot, given up when its agent is
        done (None on a Ray node: the coordinator holds it). ``extra``
        (written into the trajectory file) carries the item's ``timing``:
        its model and sandbox time (see :class:`ItemClock`)."""
        clock = ItemClock()  # the item's model calls and sandbox runs add to it
        t0, started_at = time.monotonic(), time.time()
        extra: dict[str, Any] = {}
        record, trajectory = await self._solve_and_score(item, extra, permit or SolvingPermit(None), clock)
        record.wall_s = time.monotonic() - t0
        extra["timing"] = {**clock.as_dict(), "wall_s": round(record.wall_s, 4), "started_at": round(started_at, 3)}
        return record, trajectory, extra

    async def _solve_and_score(
        self, item: WorkItem, extra: dict[str, Any], permit: SolvingPermit, clock: ItemClock
    ) -> tuple[RunRecord, Trajectory | None]:
        sandbox = self.sandbox.for_item(clock)
        record = RunRecord(
            task_id=item.task_id, sample=item.sample, strategy=getattr(self.make_solver, "name", ""),
            model=self.model_name,
        )
        try:
            solver = self.make_solver(self.model.for_item(clock), sandbox)
            record.strategy = solver.name
            trajectory = await solver.solve(item.task.problem, user_tests=None, sample=item.sample)
        except FATAL:
            raise
        except Exception as err:  # a bug in a strategy must not end a run of hours
            record.error = f"strategy crashed: {type(err).__name__}: {err}"
            extra["traceback"] = traceback.format_exc()
            return record, None
        permit.release()  # the agent is done: the next problem may start solving

        record.final_code = trajectory.final_code
        record.internal_passed = trajectory.internal_passed
        record.iterations = trajectory.iterations
        record.stop_reason = trajectory.stop_reason
        record.advice_requests = advice_requests(trajectory)
        record.usage = trajectory.usage
        try:
            record.completion = completion_for(item.task, trajectory.final_code)
            self.hidden_calls += 1
            check = self.check_generated_tests and bool(trajectory.internal_tests)
            task, code, tests, limits = item.task, trajectory.final_code, trajectory.internal_tests, self.scorer.limits
            measures: list[Callable[[Sandbox], Any]] = [
                lambda sb: self.scorer.score(task, code, sample=item.sample, sandbox=sb)
            ]
            if check:
                shown = visible_examples(task.problem)
                measures.append(lambda sb: wrong_tests_by_tier(sb, task, tests, limits, examples=shown))
            result, *checked = await sandbox.measure(*measures)
            # the scorer's own count, so a second evaluation anywhere would show as 2
            record.hidden_evals = self.scorer.per_sample[(item.task_id, item.sample)]
            record.hidden_status = result.status
            record.hidden_passed = result.passed
            record.hidden_isolation = result.isolation
            extra["hidden"] = {
                "status": result.status, "failing": [t.name for t in result.failing][:20], "duration_s": result.duration_s,
                "isolation": result.isolation,
            }
            if check:
                record.canonical_vs_generated, record.canonical_rejected_by = checked[0]
        except FATAL:
            raise
        except Exception as err:
            record.error = f"scoring crashed: {type(err).__name__}: {err}"
            record.hidden_passed = False
            extra["traceback"] = traceback.format_exc()
        return record, trajectory
