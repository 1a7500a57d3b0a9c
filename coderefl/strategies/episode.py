"""One attempt at one problem: step recording, budgets and the best candidate.

Every strategy drives an :class:`Episode`. It is the only place that calls
the model and the sandbox on the strategy's behalf, so every call is
recorded as a step, counted against the budget, and visible in the
trajectory. A budget hit raises :class:`~coderefl.errors.BudgetExceeded`
*before* the call that would exceed it; :meth:`Episode.finish` then closes
the trajectory with the best candidate so far.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from coderefl.code.extract import Extraction, completion_to_module, extract_code
from coderefl.errors import BudgetExceeded
from coderefl.learn.lessons import with_lessons
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
from coderefl.strategies.base import AgentConfig, Strategy
from coderefl.strategies.testset import OutcomeMap, build_tests_file

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


class Episode:
    def __init__(self, strategy: Strategy, problem: Problem, sample: int = 0) -> None:
        self.problem = problem
        self.model: ChatModel = strategy.model
        self.sandbox: Sandbox = strategy.sandbox
        self.config: AgentConfig = strategy.config
        self.observer = strategy.observer
        self.memory = strategy.memory
        self.advisor = strategy.advisor
        self.sample = sample
        self.trajectory = Trajectory(task_id=problem.task_id, strategy=strategy.name)
        self.lessons: list[str] = []
        self._t0 = time.monotonic()
        self.best: Candidate | None = None
        self.last_code = ""
        self._asked: dict[str, int] = {}
        self._shown = 0
        if self.memory is not None and self.config.lessons > 0:
            self.lessons = self.memory.lessons_for(problem, self.config.lessons)
            if self.lessons:
                self.decide(f"recalled {len(self.lessons)} lessons from memory", lessons=self.lessons)

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
        step = Step(index=len(self.trajectory.steps), kind=kind, iteration=iteration, **fields)
        self._notify()
        self.trajectory.steps.append(step)
        return step

    def _notify(self) -> None:
        """Show the observer the last step, once it is complete: a step's
        tests, code and reflection are filled in after it is recorded, so
        it is shown when the next one starts, or at the finish."""
        steps = self.trajectory.steps
        if self.observer is not None and steps and self._shown < len(steps):
            self._shown = len(steps)
            self.observer(steps[-1])

    async def ask(
        self,
        messages: Sequence[ChatMessage],
        *,
        kind: StepKind,
        phase: str,
        iteration: int = 0,
        n: int = 1,
        temperature: float | None = None,
    ) -> Completion:
        """One chat call, recorded as a step of ``kind``. Generation prompts
        carry the lessons recalled from long-term memory."""
        self.check_budget()
        if kind == "generate" and self.lessons:
            messages = with_lessons(messages, self.lessons)
        t = time.monotonic()
        temp = self.config.temperature if temperature is None else temperature
        sha = messages_hash(list(messages))
        completion = await self.model.chat(
            list(messages), phase=phase, n=n, temperature=temp, sample_index=self._cache_index(f"{sha}/{n}/{temp}")
        )
        self.usage.add(completion.usage)
        keep_full = self.config.keep_messages == "full"
        self._step(
            kind,
            iteration,
            messages=list(messages) if keep_full else None,
            messages_sha=sha,
            response=completion.texts[0] if completion.texts else "",
            usage=completion.usage,
            duration_s=time.monotonic() - t,
            data={"n": n, "temperature": temp, "texts": completion.texts[1:]} if n > 1 else {"temperature": temp},
        )
        return completion

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
        text = completion.texts[0] if completion.texts else ""
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

    def extract(self, text: str, iteration: int) -> Extraction:
        """Extract runnable code from a response; attach it to the last step."""
        extraction = extract_code(text, self.problem.entry_point, prompt=self.problem.prompt)
        step = self.trajectory.steps[-1]
        step.code = extraction.code
        step.note = _extraction_note(extraction)
        if extraction.code:
            self.last_code = extraction.code
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

    def finish(self, stop_reason: StopReason, *, iterations: int, tests: Sequence[str] = ()) -> Trajectory:
        self._notify()
        traj = self.trajectory
        best = self.best
        traj.final_code = best.code if best else self.last_code
        if best is None:
            traj.internal_passed = None if not tests else False
        else:
            traj.internal_passed = best.all_passed if best.total else None
        traj.internal_tests = list(tests)
        traj.stop_reason = stop_reason
        traj.iterations = iterations
        traj.duration_s = self.elapsed()
        if self.memory is not None:
            learned = self.memory.learn(self.problem, traj, source=traj.strategy)
            if learned:
                self.decide(f"stored {len(learned)} lesson(s) in memory", lessons=learned)
                self._notify()
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
