"""Scale-out on Ray: the same pipeline, with problems solved on cluster nodes.

Why this shape: :meth:`Scheduler.process` (solve, score once, check the
agent's tests) is already the unit of work that needs the model and a
sandbox and nothing else, so it is what runs remotely. Each node runs one
:class:`NodeWorker`, an async Ray actor holding that node's own Docker
sandbox pool, model client and strategy; many problems are in flight in
it at once, just as in the local event loop. Every problem is one actor
task (``NodeWorker.process``).

The coordinator (the ``coderefl eval`` process) keeps everything that
touches the run folder: it queues the items not yet done, sends them to
the least busy node, and appends each answer through the same
:class:`RunStore` as a local run. So the output format, the single-writer
lock and resume are unchanged.

Node loss: actors restart (``max_restarts``) and Ray retries their
unfinished tasks (``max_task_retries``); if a node's actor is gone for
good the coordinator sends the item to another node. A record is appended
only when an answer arrives, and only the first answer for a task x
sample counts (:meth:`Scheduler.commit`), so a retried task is never
recorded twice.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

from coderefl.errors import BadInput, SandboxUnavailable
from coderefl.records import RunRecord, Trajectory
from coderefl.run.concurrency import SolvingPermit
from coderefl.run.instrument import RunStats
from coderefl.run.scheduler import FATAL, Scheduler, WorkItem
from coderefl.run.store import RunStore

INSTALL_HINT = "the Ray executor needs ray: pip install 'coderefl[ray]'"

#: a node's actor is restarted this often; its unfinished tasks are retried by Ray
ACTOR_RESTARTS = 3
TASK_RETRIES = 3
#: the coordinator's own attempts per item, over different actors
ITEM_ATTEMPTS = 4


def import_ray() -> Any:
    """``ray``, or a one-line install hint (it is an optional extra)."""
    try:
        import ray
    except ImportError:
        raise BadInput(INSTALL_HINT) from None
    return ray


@dataclass
class NodeAnswer:
    """What a node sends back for one item: the result, or a fatal error
    (by class and message, so it is re-raised typed on the coordinator),
    and the node's live gauges."""

    result: tuple[RunRecord, Trajectory | None, dict[str, Any]] | None = None
    fatal: tuple[type[Exception], str] | None = None
    gauges: dict[str, int] = field(default_factory=dict)
    worker: str = ""  # host:pid of the node process that answered


class NodeWorker:
    """The per-node half: model, sandbox pool, strategy and scorer, built in
    the actor's own event loop on first use. Plain class; made a Ray actor
    by :func:`start_workers`."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.stats = RunStats()
        self._scheduler: Scheduler | None = None
        self._parts: tuple[Any, Any] | None = None
        self._lock: asyncio.Lock | None = None
        self._runs_reported = 0

    async def _ready(self) -> Scheduler:
        if self._scheduler is not None:
            return self._scheduler
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._scheduler is None:
                from coderefl.run.session import build_parts

                model, sandbox, strategies, scorer = build_parts(self.settings, self.stats)
                try:
                    await sandbox.start()
                    await model.start()
                except BaseException:  # the next item tries afresh; leave nothing running
                    await sandbox.close()
                    await model.close()
                    raise
                self._parts = (model, sandbox)
                self._scheduler = Scheduler(
                    strategy=strategies,
                    scorer=scorer,
                    model=model,
                    sandbox=sandbox,
                    store=None,
                    model_name=self.settings.model.model or "",
                    max_problems=self.settings.problems,
                    stats=self.stats,
                    check_generated_tests=self.settings.check_generated_tests,
                )
        return self._scheduler

    async def process(self, item: WorkItem) -> NodeAnswer:
        try:
            scheduler = await self._ready()
            result = await scheduler.process(item)
        except FATAL as err:
            return NodeAnswer(fatal=(type(err), str(err)), gauges=self.gauges(), worker=self.node())
        return NodeAnswer(result=result, gauges=self.gauges(), worker=self.node())

    def gauges(self) -> dict[str, int]:
        st = self.stats
        runs, self._runs_reported = st.sandbox_runs - self._runs_reported, st.sandbox_runs
        return {
            "model_in_flight": st.model_in_flight,
            "model_peak": st.model_peak,
            "sandbox_in_flight": st.sandbox_in_flight,
            "sandbox_peak": st.sandbox_peak,
            "sandbox_runs": runs,
        }

    async def close(self) -> None:
        """Remove the node's sandbox containers and close the model client."""
        if self._parts is not None:
            model, sandbox = self._parts
            self._parts = None
            try:
                await sandbox.close()
            finally:
                await model.close()

    def node(self) -> str:
        import socket

        return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class NodeActor:
    """One node's :class:`NodeWorker` actor, as the coordinator sees it."""

    actor: Any
    node_id: str
    in_flight: int = 0
    alive: bool = True


class WorkerPool:
    """The coordinator's view of the node actors: least busy first."""

    def __init__(self, actors: list[NodeActor]) -> None:
        self.actors = actors

    def pick(self, avoid: set[int] = frozenset()) -> NodeActor | None:  # type: ignore[assignment]
        live = [s for s in self.actors if s.alive]
        if not live:
            return None
        preferred = [s for s in live if id(s) not in avoid] or live
        return min(preferred, key=lambda s: s.in_flight)


def connect(address: str | None) -> tuple[Any, bool]:
    """Connect to a cluster at ``address`` (or start a local Ray on this
    machine when None). Returns (ray, whether we started it here). An
    already-initialised Ray (a test, a notebook) is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise SandboxUnavailable(f"cannot start or join {where}: {first}") from None
    return ray, True


def start_workers(ray: Any, settings: Any, per_node: int = 1) -> WorkerPool:
    """One NodeWorker per alive node with a CPU (``per_node`` > 1 only for
    tests on one machine). Soft node affinity: a restarted actor may land
    on another node when its own is gone."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= 1]
    if not nodes:
        raise SandboxUnavailable("the Ray cluster has no alive node with a CPU to run problems on")
    remote_cls = ray.remote(NodeWorker)
    # --concurrency is the run's model calls in flight: each node's client gets its share
    share = -(-settings.concurrency // (len(nodes) * per_node))
    node_settings = settings.model_copy(update={"concurrency": share, "max_problems": settings.problems})
    actors = []
    for n in nodes:
        for _ in range(per_node):
            actor = remote_cls.options(
                name=f"coderefl-node-{os.getpid()}-{len(actors)}",
                num_cpus=1,
                max_concurrency=max(1, settings.problems),
                max_restarts=ACTOR_RESTARTS,
                max_task_retries=TASK_RETRIES,
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=True),
            ).remote(node_settings)
            actors.append(NodeActor(actor=actor, node_id=n["NodeID"]))
    return WorkerPool(actors)


class RayScheduler(Scheduler):
    """The coordinator: the local pipeline's queue, workers and store, with
    :meth:`execute` sending each item to a node."""

    measure_apart = False  # a node measures inside process(): the item holds its node throughout

    def __init__(self, *, ray: Any, pool: WorkerPool, store: RunStore, model_name: str, strategy_name: str,
                 max_problems: int, stats: RunStats | None = None) -> None:
        super().__init__(strategy=None, scorer=None, model=None, sandbox=None, store=store,  # type: ignore[arg-type]
                         model_name=model_name, max_problems=max_problems, stats=stats)
        self.ray = ray
        self.pool = pool
        self.strategy_name = strategy_name
        self._gauges: dict[int, dict[str, int]] = {}
        self.lost_actors = 0
        #: host:pid of every node process that answered (a restarted actor is a new one)
        self.workers: set[str] = set()
        self.resent_items = 0

    async def execute(
        self, item: WorkItem, permit: SolvingPermit
    ) -> tuple[RunRecord, Trajectory | None, dict[str, Any]]:
        """Send the item to the least busy node; ``permit`` is held until the answer is in."""
        from ray.exceptions import RayActorError

        tried: set[int] = set()
        for _ in range(ITEM_ATTEMPTS):
            node = self.pool.pick(tried)
            if node is None:
                break
            tried.add(id(node))
            node.in_flight += 1
            try:
                answer: NodeAnswer = await node.actor.process.remote(item)
            except RayActorError:
                # the actor is gone and Ray's own restarts and retries are used up
                if node.alive:
                    node.alive = False
                    self.lost_actors += 1
                self.resent_items += 1
                continue
            finally:
                node.in_flight -= 1
            self._note(node, answer.gauges)
            self.workers.add(answer.worker)
            if answer.fatal is not None:
                cls, message = answer.fatal
                raise cls(message)
            assert answer.result is not None
            return answer.result
        raise SandboxUnavailable(f"no Ray node could run {item.task_id} (sample {item.sample}): every worker is gone")

    def _note(self, node: NodeActor, gauges: dict[str, int]) -> None:
        """Fold a node's gauges into the run's stats: in-flight figures are
        the sum of each node's latest report, peaks the sum of node peaks."""
        st = self.stats
        self._gauges[id(node)] = gauges
        st.sandbox_runs += gauges.get("sandbox_runs", 0)
        st.model_in_flight = sum(g.get("model_in_flight", 0) for g in self._gauges.values())
        st.sandbox_in_flight = sum(g.get("sandbox_in_flight", 0) for g in self._gauges.values())
        st.model_peak = max(st.model_peak, sum(g.get("model_peak", 0) for g in self._gauges.values()))
        st.sandbox_peak = max(st.sandbox_peak, sum(g.get("sandbox_peak", 0) for g in self._gauges.values()))

    def commit(self, item: WorkItem, record: RunRecord, trajectory: Trajectory | None, extra: dict[str, Any]) -> None:
        if not self.store.is_done(item.task_id, item.sample):
            self.stats.model_calls += record.usage.calls
            self.stats.usage.add(record.usage)
        super().commit(item, record, trajectory, extra)

    async def close(self) -> None:
        """Close every node's sandbox pool (removes its containers), then the actors."""
        closes = [s.actor.close.remote() for s in self.pool.actors if s.alive]
        if closes:
            await asyncio.wait([asyncio.ensure_future(c) for c in closes], timeout=60)
        for s in self.pool.actors:
            try:
                self.ray.kill(s.actor, no_restart=True)
            except Exception:
                pass
