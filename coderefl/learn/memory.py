"""Long-term memory (AGILE): a persistent SQLite store of lessons.

Why SQLite: one file the user names with ``--memory PATH``, safe against a
kill mid-write (each ``add`` is one transaction), shared by several runs
(WAL mode, a busy timeout), and readable with any SQLite tool. Why the
index is rebuilt in memory: BM25 over a few thousand short problem texts
takes milliseconds, and rebuilding whenever the table grew (also by
another process) keeps the index and the file from ever disagreeing.

A lesson is keyed by the problem text it was learnt on; retrieval ranks
stored problems by BM25 similarity to the new problem's text and returns
their lessons.

Recall in an evaluation does not depend on which problems finished first
(:meth:`LessonMemory.in_order`, :meth:`LessonMemory.turn`): problem *i* of the benchmark's fixed order
recalls only lessons learnt on problems *before* it in that order (and on
problems outside the run), and its agent starts only once the problems
before it that are being solved have finished. So every problem sees the
same lessons whatever the concurrency, the machine's speed or a resume
(a resumed run's earlier problems are in the store already), and its
prompts hit the response cache. Why this and not a memory frozen at run
start: frozen, a run would never use what it learns, and learning online in
a fixed problem order is what ``--compare-memory`` measures (AGILE's
setting). The cost: with ``--memory`` the agents solve one problem after
another (each waits for the ones before it; hidden scoring still overlaps),
which is what a sequential online learner is. What may be stored is decided in
:mod:`coderefl.learn.lessons` (the agent's own signals only).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel

from coderefl.errors import BadInput
from coderefl.learn.bm25 import BM25
from coderefl.learn.lessons import lessons_from_trajectory
from coderefl.records import Problem, Trajectory

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lessons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL DEFAULT '',
    problem TEXT NOT NULL,
    lesson TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    UNIQUE (problem, lesson)
);
"""


class Lesson(BaseModel):
    """One stored lesson; ``score`` is the retrieval score (0 when listed)."""

    id: int
    task_id: str
    problem: str
    lesson: str
    source: str = ""
    created: float = 0.0
    score: float = 0.0


class LessonMemory:
    """A lesson store in one SQLite file (created on first use).

    Usage::

        with LessonMemory("lessons.sqlite") as mem:
            hits = mem.search(problem.prompt, k=3, exclude_task_ids=[problem.task_id])
            messages = with_lessons(prompts.generate(problem), [h.lesson for h in hits])
            ...
            mem.learn(problem, trajectory, source="reflexion")

    Raises :class:`~coderefl.errors.BadInput` when the path cannot be
    opened or is not a lesson store.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        try:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 30000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise BadInput(f"{self.path}: lesson store schema {row[0]} is newer than this coderefl ({SCHEMA_VERSION})")
        except sqlite3.DatabaseError as err:
            raise BadInput(f"--memory {self.path}: not a usable lesson store ({err})") from None
        except OSError as err:
            raise BadInput(f"--memory {self.path}: cannot open ({err})") from None
        self._lock = threading.Lock()
        self._rows: list[Lesson] = []
        self._index: BM25 | None = None
        self._index_key: tuple[int, int] | None = None
        #: ordered recall (:meth:`in_order`): each task's place in the run, and the agents solving now
        self._order: dict[str, int] = {}
        self._solving: Counter[str] = Counter()
        self._changed: asyncio.Event | None = None

    # -- lifecycle -----------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None  # type: ignore[assignment]

    def __enter__(self) -> "LessonMemory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------
    def add(self, problem: str, lesson: str, *, task_id: str = "", source: str = "") -> bool:
        """Store one lesson; False when the same (problem, lesson) is already there."""
        lesson, problem = lesson.strip(), problem.strip()
        if not lesson or not problem:
            return False
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO lessons (task_id, problem, lesson, source, created) VALUES (?, ?, ?, ?, ?)",
                (task_id, problem, lesson, source, time.time()),
            )
            return cur.rowcount == 1

    def learn(self, problem: Problem, trajectory: Trajectory, *, source: str = "", max_lessons: int = 1) -> list[str]:
        """Store the lessons :func:`lessons_from_trajectory` picks from
        ``trajectory`` (the agent's own signals only), keyed by
        ``problem.prompt``; return the ones that were new."""
        if not isinstance(trajectory, Trajectory):
            raise TypeError("LessonMemory.learn takes a Trajectory (never a RunRecord: hidden outcomes are not lessons)")
        new = []
        for text in lessons_from_trajectory(trajectory, max_lessons=max_lessons):
            if self.add(problem.prompt, text, task_id=problem.task_id, source=source or trajectory.strategy):
                new.append(text)
        return new

    # -- reading -------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM lessons").fetchone()[0])

    def all(self) -> list[Lesson]:
        """Every lesson, oldest first."""
        with self._lock:
            return self._load()

    def _load(self) -> list[Lesson]:
        rows = self._db.execute(
            "SELECT id, task_id, problem, lesson, source, created FROM lessons ORDER BY id"
        ).fetchall()
        return [Lesson(id=r[0], task_id=r[1], problem=r[2], lesson=r[3], source=r[4], created=r[5]) for r in rows]

    def _refresh(self) -> None:
        key = self._db.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM lessons").fetchone()
        key = (int(key[0]), int(key[1]))
        if key != self._index_key:
            self._rows = self._load()
            self._index = BM25(r.problem for r in self._rows)
            self._index_key = key

    def search(
        self,
        problem_text: str,
        k: int = 3,
        *,
        exclude_task_ids: Iterable[str] = (),
        min_score: float = 0.0,
    ) -> list[Lesson]:
        """The lessons of the ``k`` stored problems most similar to
        ``problem_text`` (BM25), best first, distinct lesson texts only.

        ``exclude_task_ids`` leaves out lessons learnt on those tasks (pass
        the current task id in an evaluation, so sample 2 of a problem does
        not read what sample 1 learnt about the very same problem)."""
        if k <= 0:
            return []
        skip = set(exclude_task_ids)
        with self._lock:
            self._refresh()
            rows, index = self._rows, self._index
        assert index is not None
        excluded = [i for i, r in enumerate(rows) if r.task_id in skip]
        out: list[Lesson] = []
        seen: set[str] = set()
        for hit in index.top(problem_text, k=len(rows), min_score=min_score, exclude=excluded):
            row = rows[hit.index]
            if row.lesson in seen:
                continue
            seen.add(row.lesson)
            out.append(row.model_copy(update={"score": hit.score}))
            if len(out) >= k:
                break
        return out

    def lessons_for(self, problem: Problem, k: int = 3, *, exclude_same_task: bool = True) -> list[str]:
        """Shortcut for a strategy: the lesson texts to put into ``problem``'s prompt.
        With an order (:meth:`in_order`), only lessons of problems before it in that order
        (or outside it)."""
        exclude: list[str] = [problem.task_id] if exclude_same_task else []
        place = self._order.get(problem.task_id)
        if place is not None:
            exclude += [t for t, i in self._order.items() if i > place]
        return [h.lesson for h in self.search(problem.prompt, k, exclude_task_ids=exclude)]

    # -- ordered recall (an evaluation) -----------------------------------------
    def in_order(self, task_ids: Sequence[str]) -> "LessonMemory":
        """Recall in the fixed order ``task_ids``: problem *i* recalls only
        lessons of problems before it (or outside the run), and its
        :meth:`turn` waits until the problems before it that are being solved
        have finished (their lessons are stored by then). Items must start in
        order (the scheduler's queue does); a problem that already finished in
        an earlier session is not waited for: its lessons are in the store."""
        self._order = {t: i for i, t in enumerate(dict.fromkeys(task_ids))}
        return self

    @contextlib.asynccontextmanager
    async def turn(self, problem: Problem) -> AsyncIterator[None]:
        """The span of one agent's attempt at ``problem`` (the framework holds
        it around the episode, recall to learning): it starts once the problems
        before it in the order have finished."""
        task_id = problem.task_id
        self._solving[task_id] += 1  # before the first await: a later item that starts sees it
        try:
            await self._turn(task_id)
            yield
        finally:
            self._solving[task_id] -= 1
            if self._changed is not None:
                self._changed.set()  # wake the waiters; each re-checks

    def _blocked(self, place: int) -> bool:
        return any(n > 0 and self._order.get(t, place) < place for t, n in self._solving.items())

    async def _turn(self, task_id: str) -> None:
        place = self._order.get(task_id)
        if place is None:
            return
        while self._blocked(place):
            if self._changed is None or self._changed.is_set():
                self._changed = asyncio.Event()
            await self._changed.wait()
