"""Recall from long-term memory does not depend on which problem finished
first: with :meth:`LessonMemory.in_order`, problem i recalls only the lessons
of problems before it in the run's order, once those have finished."""

from __future__ import annotations

import asyncio

from coderefl.learn import LessonMemory
from coderefl.records import Problem, Trajectory

PROBLEMS = [
    Problem(task_id=f"p/{i}", prompt=f'def f{i}(xs):\n    """Return the sum of the list xs of numbers."""\n', entry_point=f"f{i}")
    for i in range(4)
]


class FakeStrategy:
    """Solves a problem like the framework runs an agent with memory
    (Strategy.solve): inside the memory's turn, recall at the start, store a
    lesson at the end; ``delays`` decides how long each problem takes."""

    name = "fake"

    def __init__(self, delays: dict[str, float]) -> None:
        self.delays = delays
        self.memory: LessonMemory | None = None
        self.recalled: dict[str, list[str]] = {}
        self.finished: list[str] = []

    async def solve(self, problem: Problem, user_tests=None, sample: int = 0) -> Trajectory:
        assert self.memory is not None
        async with self.memory.turn(problem):
            return await self.attempt(problem)

    async def attempt(self, problem: Problem) -> Trajectory:
        assert self.memory is not None
        self.recalled[problem.task_id] = self.memory.lessons_for(problem, k=5)
        await asyncio.sleep(self.delays[problem.task_id])
        self.memory.add(problem.prompt, f"lesson of {problem.task_id}", task_id=problem.task_id)
        self.finished.append(problem.task_id)
        return Trajectory(task_id=problem.task_id, strategy=self.name)


async def _run(strategy: FakeStrategy, problems: list[Problem], concurrency: int) -> None:
    """Start items in order, ``concurrency`` at a time (as the scheduler's workers do)."""
    queue = list(problems)

    async def worker() -> None:
        while queue:
            await strategy.solve(queue.pop(0))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _recall(tmp_path, name: str, delays: dict[str, float], *, ordered: bool = True, concurrency: int = 4,
            problems: list[Problem] = PROBLEMS, order: list[Problem] = PROBLEMS) -> FakeStrategy:
    strategy = FakeStrategy(delays)
    with LessonMemory(tmp_path / f"{name}.sqlite") as mem:
        if ordered:
            strategy.memory = mem.in_order([p.task_id for p in order])
        else:
            strategy.memory = mem
        asyncio.run(_run(strategy, problems, concurrency))
    return strategy


SLOW_FIRST = {"p/0": 0.3, "p/1": 0.0, "p/2": 0.1, "p/3": 0.0}
FAST_FIRST = {"p/0": 0.0, "p/1": 0.2, "p/2": 0.0, "p/3": 0.1}


def test_two_finishing_orders_recall_the_same_lessons(tmp_path):
    a = _recall(tmp_path, "a", SLOW_FIRST)
    b = _recall(tmp_path, "b", FAST_FIRST)
    assert a.recalled == b.recalled
    assert a.recalled["p/0"] == [] and sorted(a.recalled["p/3"]) == ["lesson of p/0", "lesson of p/1", "lesson of p/2"]
    assert sorted(a.recalled["p/2"]) == ["lesson of p/0", "lesson of p/1"]


def test_without_the_order_recall_depends_on_timing(tmp_path):
    # the failure the ordered recall removes: the same run, two speeds, other prompts
    a = _recall(tmp_path, "a", SLOW_FIRST, ordered=False, concurrency=2)
    b = _recall(tmp_path, "b", FAST_FIRST, ordered=False, concurrency=2)
    assert a.recalled != b.recalled


def test_one_at_a_time_gives_the_same_lessons_as_concurrent(tmp_path):
    serial = _recall(tmp_path, "s", FAST_FIRST, concurrency=1)
    wide = _recall(tmp_path, "w", SLOW_FIRST, concurrency=4)
    assert serial.recalled == wide.recalled and serial.finished == ["p/0", "p/1", "p/2", "p/3"]


def test_a_resumed_run_recalls_what_an_uninterrupted_one_does(tmp_path):
    whole = _recall(tmp_path, "whole", SLOW_FIRST)
    # first session: p/0 and p/1, then a new process resumes with p/2 and p/3 (same store, same order)
    first = FakeStrategy(SLOW_FIRST)
    with LessonMemory(tmp_path / "resumed.sqlite") as mem:
        first.memory = mem.in_order([p.task_id for p in PROBLEMS])
        asyncio.run(_run(first, PROBLEMS[:2], 2))
    second = _recall(tmp_path, "resumed", FAST_FIRST, problems=PROBLEMS[2:])
    assert {**first.recalled, **second.recalled} == whole.recalled


def test_a_later_problem_never_feeds_an_earlier_one(tmp_path):
    # p/3 is stored first (it ran in an earlier session); p/1 must not see it, p/2... must
    with LessonMemory(tmp_path / "m.sqlite") as mem:
        mem.add(PROBLEMS[3].prompt, "lesson of p/3", task_id="p/3")
        mem.add("def other(xs):\n    '''Return the sum of xs.'''\n", "lesson of an earlier run", task_id="other/9")
        strategy = FakeStrategy({p.task_id: 0.0 for p in PROBLEMS})
        strategy.memory = mem.in_order([p.task_id for p in PROBLEMS])
        asyncio.run(_run(strategy, PROBLEMS[1:3], 2))
    assert strategy.recalled["p/1"] == ["lesson of an earlier run"]  # outside the run: recalled; p/3: not
    assert sorted(strategy.recalled["p/2"]) == ["lesson of an earlier run", "lesson of p/1"]


def test_a_crashing_agent_does_not_block_the_next(tmp_path):
    class Crashing(FakeStrategy):
        async def attempt(self, problem):
            if problem.task_id == "p/0":
                await asyncio.sleep(0.05)
                raise RuntimeError("boom")
            return await super().attempt(problem)

    strategy = Crashing({p.task_id: 0.0 for p in PROBLEMS})

    async def run() -> list:
        with LessonMemory(tmp_path / "m.sqlite") as mem:
            strategy.memory = mem.in_order([p.task_id for p in PROBLEMS])
            return await asyncio.wait_for(
                asyncio.gather(*(strategy.solve(p) for p in PROBLEMS[:2]), return_exceptions=True), 5)

    results = asyncio.run(run())
    assert isinstance(results[0], RuntimeError) and isinstance(results[1], Trajectory)
    assert strategy.recalled["p/1"] == []
