"""One attempt at one problem: step recording, budgets and the best candidate.

The framework (:meth:`coderefl.strategies.base.Strategy.solve`, or the
fixer) creates an :class:`Episode` and hands it to the strategy. It is the
only place that calls the model and the sandbox on the strategy's behalf,
so every call is recorded as a step, counted against the budget, and
visible in the trajectory. Steps are created complete by its methods
(:meth:`Episode.generate`, :meth:`~Episode.reflect`,
:meth:`~Episode.write_tests`, :meth:`~Episode.execute_mapped`,
:meth:`~Episode.decide`, or :meth:`~Episode.ask` with an ``annotate``
callback); nothing edits a recorded step. A budget hit raises
:class:`~coderefl.errors.BudgetExceeded` *before* the call that would
exceed it; :meth:`Episode.finish` then closes the trajectory with the best
candidate so far.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from coderefl.code.extract import Extraction, completion_to_module, extract_code
from coderefl.errors import BudgetExceeded
from coderefl.execution.base import Sandbox
from coderefl.execution.jobs import TRACE_PRAGMA
from coderefl.model.base import ChatModel
from coderefl.records import (
    ChatMessage,
    Completion,
    ExecutionResult,
    Limits,
    Problem,
    Step,
    StepKind,
    StopReason,
    Trajectory,
    Usage,
    messages_hash,
)
from coderefl.strategies.config import AgentConfig
from coderefl.strategies.examples import visible_examples
from coderefl.strategies.prompts import with_lessons
from coderefl.strategies.services import Expert, LessonStore, StepObserver
from coderefl.strategies.testset import OutcomeMap, TestSet, build_tests_file

#: stop sequences for base models completing a function body
COMPLETION_STOPS = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\nassert "]
#: identical requests per episode that get distinct cache entries
MAX_REPEATS = 1000
#: a test's own time limit, as a share of the job's (judge mode, when Limits.test_timeout_s is unset)
PER_TEST_SHARE = 0.25


@dataclass
class Candidate:
    code: str
    passed: int
    total: int
    iteration: int
    #: test -> passed (True), failed (False), unknown (None): what it was scored on
    results: dict[str, bool | None] = field(default_factory=dict)
    #: the tests of ``results`` that are the user's or the problem's examples
    strong: frozenset[str] = frozenset()

    @property
    def all_passed(self) -> bool:
        return self.total > 0 and self.passed == self.total

    @property
    def score(self) -> float:
        return self.passed / self.total if self.total else 0.0


@dataclass
class StepNotes:
    """What a step records besides the model call itself: filled in by an
    :meth:`Episode.ask` ``annotate`` callback before the step is created."""

    code: str | None = None
    note: str | None = None
    tests: list[str] | None = None
    reflection: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    #: usage beyond the model call's (an advisor's cost), added to the step and the episode
    extra_usage: Usage | None = None


@dataclass
class Generation:
    """A recorded generation step: the programs its choices hold."""

    texts: list[str]
    #: the runnable programs among the choices, in order (identical ones kept: they are votes)
    codes: list[str]
    #: the first choice's program ("" when it holds none)
    code: str
    #: why the first choice holds no usable program (None when it does)
    note: str | None


#: turns one reply into (program or "", note): the strategies' default is :meth:`Episode.program_of`
Extractor = Callable[[str], "tuple[str, str | None]"]


class Episode:
    """One strategy's attempt at one problem: what it may use (model, sandbox,
    config, memory, advisor), what it is judged on (:attr:`tests`), and the
    trajectory its methods record. Made by the framework
    (:meth:`~coderefl.strategies.base.Strategy.episode`), never by a strategy."""

    def __init__(
        self,
        problem: Problem,
        *,
        model: ChatModel,
        sandbox: Sandbox,
        config: AgentConfig | None = None,
        strategy: str = "",
        sample: int = 0,
        user_tests: Sequence[str] = (),
        observer: StepObserver | None = None,
        memory: LessonStore | None = None,
        advisor: Expert | None = None,
    ) -> None:
        self.problem = problem
        self.model = model
        self.sandbox = sandbox
        self.config = config or AgentConfig()
        self.observer = observer
        self.memory = memory
        self.advisor = advisor
        self.sample = sample
        #: the visible examples of the problem (a strong tier: they can be wrong)
        self.examples: list[str] = visible_examples(problem)
        #: the tests the episode is judged on, with their tiers; strategies that write tests replace it
        self.tests = TestSet(user=list(user_tests), examples=list(self.examples))
        #: the round the strategy is in (set by :meth:`rounds`); the trajectory's ``iterations``
        self.iteration = 0
        self.stop_reason: StopReason | None = None
        self.trajectory = Trajectory(task_id=problem.task_id, strategy=strategy)
        self.lessons: list[str] = []
        self._t0 = time.monotonic()
        self.best: Candidate | None = None
        self.last_code = ""
        self._asked: dict[str, int] = {}
        if self.memory is not None and self.config.lessons > 0:
            self.lessons = self.memory.lessons_for(problem, self.config.lessons)
            if self.lessons:
                self.decide(f"recalled {len(self.lessons)} lessons from memory", lessons=self.lessons)

    @property
    def chat(self) -> bool:
        """True when the model takes instructions (chat API), False for completion-only models."""
        return getattr(self.model, "api", "chat") == "chat"

    def rounds(self, count: int, start: int = 1) -> Iterator[int]:
        """Rounds ``start .. count``, each recorded as the episode's current iteration."""
        for iteration in range(start, count + 1):
            self.iteration = iteration
            yield iteration

    def stop(self, reason: StopReason) -> None:
        """Record why the episode ends (the strategy returns after this)."""
        self.stop_reason = reason

    def _cache_index(self, key: str) -> int:
        """The response-cache sample index of a request.

        An identical request made again within one episode (the same
        reflection prompt twice, say) is a fresh draw, not a replay, so each
        repeat gets its own index; a re-run or resumed run repeats the same
        sequence and so hits the cache exactly."""
        occurrence = self._asked.get(key, 0)
        self._asked[key] = occurrence + 1
        return self.sample * MAX_REPEATS + occurrence

    # -- budget -----------------------------------------------------------
    @property
    def usage(self) -> Usage:
        return self.trajectory.usage

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def check_budget(self) -> None:
        c = self.config
        if c.max_calls is not None and self.usage.calls >= c.max_calls:
            raise BudgetExceeded("budget_calls", f"{self.usage.calls} model calls used of {c.max_calls}")
        if c.max_tokens is not None and self.usage.total_tokens >= c.max_tokens:
            raise BudgetExceeded("budget_tokens", f"{self.usage.total_tokens} tokens used of {c.max_tokens}")
        if c.max_wall_s is not None and self.elapsed() >= c.max_wall_s:
            raise BudgetExceeded("budget_time", f"{self.elapsed():.1f}s used of {c.max_wall_s}s")

    # -- steps ------------------------------------------------------------
    def _step(self, kind: StepKind, iteration: int, **fields) -> Step:
        """Append a complete step and show it to the observer at once (steps
        are never edited after this, so what is shown is what is kept)."""
        step = Step(index=len(self.trajectory.steps), kind=kind, iteration=iteration, **fields)
        self.trajectory.steps.append(step)
        if self.observer is not None:
            self.observer(step)
        return step

    async def ask(
        self,
        messages: Sequence[ChatMessage],
        *,
        kind: StepKind,
        phase: str,
        iteration: int = 0,
        n: int = 1,
        temperature: float | None = None,
        annotate: Callable[[Completion], StepNotes | Awaitable[StepNotes]] | None = None,
    ) -> Completion:
        """One chat call, recorded as a step of ``kind``. Generation prompts
        carry the lessons recalled from long-term memory. ``annotate`` reads
        the reply and returns what else the step records (its code, tests,
        reflection, a note, data), so the step is created complete."""
        self.check_budget()
        if kind == "generate" and self.lessons:
            messages = with_lessons(messages, self.lessons)
        t = time.monotonic()
        temp = self.config.temperature if temperature is None else temperature
        sha = messages_hash(list(messages))
        completion = await self.model.chat(
            list(messages), phase=phase, n=n, temperature=temp, sample_index=self._cache_index(f"{sha}/{n}/{temp}")
        )
        duration = time.monotonic() - t
        self.usage.add(completion.usage)
        notes = StepNotes()
        if annotate is not None:
            made = annotate(completion)
            notes = await made if inspect.isawaitable(made) else made
        usage = completion.usage
        if notes.extra_usage is not None:
            usage = usage.model_copy(deep=True)
            usage.add(notes.extra_usage)
            self.usage.add(notes.extra_usage.model_copy(deep=True))
        keep_full = self.config.keep_messages == "full"
        data: dict[str, Any] = {"n": n, "temperature": temp, "texts": completion.texts[1:]} if n > 1 else {"temperature": temp}
        self._step(
            kind,
            iteration,
            messages=list(messages) if keep_full else None,
            messages_sha=sha,
            response=completion.text,
            usage=usage,
            duration_s=duration,
            code=notes.code,
            note=notes.note,
            tests=list(notes.tests or []),
            reflection=notes.reflection,
            data={**data, **notes.data},
        )
        return completion

    def program_of(self, text: str) -> tuple[str, str | None]:
        """The runnable program of one reply and, when there is none or it is
        flawed, why (the strategies' extractor)."""
        extraction = extract_code(text, self.problem.entry_point, prompt=self.problem.prompt)
        return extraction.code, _extraction_note(extraction)

    async def generate(
        self,
        messages: Sequence[ChatMessage],
        *,
        iteration: int,
        n: int = 1,
        temperature: float | None = None,
        extract: Extractor | None = None,
    ) -> Generation:
        """Ask for ``n`` programs; one ``generate`` step holds the first
        choice's code and note, the other choices' code in ``data["codes"]``."""
        read = extract or self.program_of
        found: list[tuple[str, str | None]] = []

        def annotate(reply: Completion) -> StepNotes:
            found.extend(read(text) for text in (reply.texts or [""]))
            code, note = found[0]
            data = {"codes": [c for c, _ in found[1:]]} if len(found) > 1 else {}
            return StepNotes(code=code, note=note, data=data)

        completion = await self.ask(messages, kind="generate", phase="generate", iteration=iteration, n=n,
                                    temperature=temperature, annotate=annotate)
        first, note = found[0]
        if first:
            self.last_code = first
        return Generation(texts=list(completion.texts), codes=[c for c, _ in found if c], code=first, note=note)

    async def reflect(self, messages: Sequence[ChatMessage], *, iteration: int, kind: StepKind = "reflect") -> str:
        """A verbal reflection (or critique), recorded on its step; "" when the reply is empty."""
        text: list[str] = []

        def annotate(reply: Completion) -> StepNotes:
            text.append(reply.text.strip())
            return StepNotes(reflection=text[0]) if kind == "reflect" else StepNotes()

        await self.ask(messages, kind=kind, phase=kind, iteration=iteration, annotate=annotate)
        return text[0]

    async def write_tests(
        self, messages: Sequence[ChatMessage], *, phase: str, parse: Callable[[str], list[str]]
    ) -> list[str]:
        """Ask the model for tests; ``parse`` turns its reply into the tests the step records."""
        tests: list[str] = []

        def annotate(reply: Completion) -> StepNotes:
            tests.extend(parse(reply.text))
            return StepNotes(tests=list(tests))

        await self.ask(messages, kind="generate_tests", phase=phase, annotate=annotate)
        return tests

    async def complete_code(self, *, iteration: int, temperature: float | None = None) -> Extraction:
        """Completion mode (base models): continue the prompt, keep the function."""
        self.check_budget()
        t = time.monotonic()
        temp = self.config.temperature if temperature is None else temperature
        completion = await self.model.complete(
            self.problem.prompt,
            phase="generate",
            temperature=temp,
            stop=COMPLETION_STOPS,
            sample_index=self._cache_index(f"complete/{temp}"),
        )
        self.usage.add(completion.usage)
        text = completion.text
        module = completion_to_module(self.problem.prompt, text)
        extraction = extract_code(module, self.problem.entry_point, prompt=self.problem.prompt)
        self._step(
            "generate",
            iteration,
            response=text,
            code=extraction.code,
            usage=completion.usage,
            duration_s=time.monotonic() - t,
            note=_extraction_note(extraction),
            data={"temperature": temp, "api": "completions"},
        )
        return extraction

    async def execute(self, code: str, tests: Sequence[str], **kw: Any) -> ExecutionResult:
        """Run ``code`` against ``tests`` in the sandbox, recorded as a step,
        and keep the best candidate by tests passed (the keywords of
        :meth:`execute_mapped`)."""
        return (await self.execute_mapped(code, tests, **kw)).result  # type: ignore[return-value]

    async def execute_mapped(
        self,
        code: str,
        tests: Sequence[str],
        *,
        iteration: int,
        note: str | None = None,
        tiers: Sequence[str] | None = None,
    ) -> OutcomeMap:
        """:meth:`execute`, returning the outcomes mapped to ``tests`` by
        identity. ``tiers`` (parallel to ``tests``) go in the step's data. An
        outcome that maps to no test, or a test with no outcome, is recorded
        as an error (a decision step with ``data["error"]``), never dropped
        silently."""
        self.check_budget()
        t = time.monotonic()
        judge = self.config.isolation == "judge"
        pragmas = [TRACE_PRAGMA] if judge and self.config.feedback == "trace" else []
        tests_file = build_tests_file(tests, judge=judge, pragmas=pragmas) if tests else None
        result = await self.sandbox.run(code, tests_file.source if tests_file else None, self._limits())
        data = {"tiers": list(tiers)} if tiers is not None else {}
        self._step("execute", iteration, code=code, tests=list(tests), execution=result,
                   duration_s=time.monotonic() - t, note=note, data=data)
        omap = (tests_file or build_tests_file([])).map(result)
        if omap.mismatch:
            self._step("decision", iteration, note=f"error: outcomes do not line up with the tests: {omap.mismatch}",
                       data={"error": "outcome_mismatch", "unowned": omap.unowned, "missing": omap.missing})
        verdicts = omap.verdicts() if tests else []
        passed = sum(1 for v in verdicts if v is True)
        if not tests:
            passed = 0
        strong = frozenset(t for t, tier in zip(tests, tiers or ()) if tier in ("user", "example"))
        self.consider(Candidate(code=code, passed=passed, total=len(tests), iteration=iteration,
                                results=dict(zip(tests, verdicts)), strong=strong))
        return omap

    def _limits(self) -> Limits:
        """The sandbox limits of a run. In judge mode each test gets its own
        time limit (a quarter of the job's unless set), so one test that loops
        is a timeout and the tests after it still run and count."""
        limits = self.config.limits
        if self.config.isolation == "judge" and limits.test_timeout_s is None:
            limits = limits.model_copy(update={"test_timeout_s": limits.timeout_s * PER_TEST_SHARE})
        return limits

    def consider(self, candidate: Candidate) -> None:
        """Keep the better candidate, comparing like with like: on the tests
        both were scored on, first by the user's tests and examples passed,
        then by all tests passed; the same code rescored replaces itself; on a
        tie, the earlier one stays."""
        if not candidate.code:
            return
        best = self.best
        if best is None or candidate.code == best.code or _better(candidate, best):
            self.best = candidate

    def decide(self, note: str, *, iteration: int = 0, **data) -> None:
        """Record a decision the strategy took (a dropped test, a chosen candidate)."""
        self._step("decision", iteration, note=note, data=data)

    def record_execution(
        self,
        code: str,
        tests: Sequence[str],
        result: ExecutionResult,
        *,
        iteration: int,
        duration_s: float,
        candidate: Candidate | None = None,
        note: str | None = None,
    ) -> None:
        """Record a run the caller made itself (the fixer's pytest runs) as an
        ``execute`` step, and weigh ``candidate`` for the best so far."""
        self._step("execute", iteration, code=code, tests=list(tests), execution=result, duration_s=duration_s,
                   note=note)
        if candidate is not None:
            self.consider(candidate)

    def default_stop_reason(self) -> StopReason:
        """Why an episode ends when its strategy did not say: no program ever, or the rounds ran out."""
        return "no_code" if self.best is None and not self.last_code else "max_iters"

    def finish(
        self, stop_reason: StopReason | None = None, *, iterations: int | None = None,
        tests: Sequence[str] | None = None,
    ) -> Trajectory:
        """Close the trajectory: the best candidate's code and verdict, the
        stop reason (given, else :meth:`stop`'s, else the default), the
        rounds and tests (given, else the episode's), and a lesson for memory."""
        traj = self.trajectory
        best = self.best
        tests = self.tests.all() if tests is None else list(tests)
        traj.final_code = best.code if best else self.last_code
        if best is None:
            traj.internal_passed = None if not tests else False
        else:
            traj.internal_passed = best.all_passed if best.total else None
        traj.internal_tests = list(tests)
        traj.stop_reason = stop_reason or self.stop_reason or self.default_stop_reason()
        traj.iterations = self.iteration if iterations is None else iterations
        traj.duration_s = self.elapsed()
        if self.memory is not None:
            learned = self.memory.learn(self.problem, traj, source=traj.strategy)
            if learned:
                self.decide(f"stored {len(learned)} lesson(s) in memory", lessons=learned)
        return traj


def _better(new: Candidate, old: Candidate) -> bool:
    common = [t for t in new.results if t in old.results]
    if common:
        strong = new.strong | old.strong

        def key(c: Candidate) -> tuple[int, int]:
            passed = [t for t in common if c.results[t] is True]
            return sum(1 for t in passed if t in strong), len(passed)

        if key(new) != key(old):
            return key(new) > key(old)
        return new.all_passed and not old.all_passed
    return new.score > old.score


def _extraction_note(extraction: Extraction) -> str | None:
    if extraction.syntax_error:
        return f"syntax error: {extraction.syntax_error}"
    if not extraction.code:
        return "no code found in the response"
    if not extraction.entry_point_found:
        return "entry point not found in the response"
    return None
