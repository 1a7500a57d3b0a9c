"""Repair one function with the Reflexion loop, checked by the real tests.

generate a fixed version of just that function -> splice its body into
the file -> rerun the affected tests in the sandbox -> on failure, a
verbal reflection on the failing output (pytest's assertion with the
values) -> retry, up to ``max_iters`` rounds. A reply that repeats an
earlier attempt (or the original) is not run again: the same request is
resampled at a higher temperature.

That is the strategies' own loop (:func:`coderefl.strategies.loop.reflexion_loop`)
on an :class:`~coderefl.strategies.episode.Episode`: :class:`FunctionRepair`
says what a request, a program and a verdict are for one function of a
repository, so every model call and every sandbox run is a step of a
:class:`~coderefl.records.Trajectory`, counted against the budgets.

A candidate is *accepted* when the tests it was asked to fix pass, no
test that passed before fails now, and no test disappeared. Whether the
whole affected test set passes is decided by the caller
(:mod:`coderefl.fix.fixer`), after every repair.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from coderefl.code.blocks import python_blocks
from coderefl.errors import BudgetExceeded, ModelError
from coderefl.execution.base import Sandbox
from coderefl.fix import prompts
from coderefl.fix.context import function_context
from coderefl.fix.locate import FunctionSpan, find_def, find_function, functions, parse_bytes
from coderefl.fix.splice import FuncKey, SpliceError, body_fingerprint, key_of, reply_header_note, splice
from coderefl.fix.testrun import NodeResult, Snapshot, TestRun, run_pytest
from coderefl.model.base import ChatModel
from coderefl.records import ChatMessage, Problem, Trajectory
from coderefl.strategies.config import AgentConfig
from coderefl.strategies.episode import Candidate, Episode, Extractor, Generation
from coderefl.strategies.loop import LoopState, Verdict, reflexion_loop
from coderefl.strategies.services import StepObserver

STRATEGY_NAME = "fix-reflexion"
MAX_TEST_SOURCES = 4
MAX_TEST_CHARS = 2000


@dataclass
class Target:
    """A function to repair and the failing tests that point at it."""

    file: str
    qualname: str
    tests: list[NodeResult] = field(default_factory=list)
    evidence: str = "call"  # "traceback" or "call": how the function was located
    occurrence: int = 0  # which definition of ``qualname`` in the file (a property's setter is 1)
    #: a failing traceback goes through its decorators: the repair may change them too
    decorators: bool = False

    @property
    def name(self) -> str:
        return self.qualname.rpartition(".")[2]


@dataclass
class RepairResult:
    target: Target
    trajectory: Trajectory
    new_source: bytes | None  # the whole file with the accepted repair, or None
    run: TestRun | None  # the run that accepted it
    model_error: str | None = None  # the model could not be used: stop repairing
    key: FuncKey | None = None  # which definition of the file was repaired


def accepts(run: TestRun, baseline: TestRun, target: Target) -> bool:
    """The target's tests pass, nothing that passed fails, nothing vanished.
    A collection error of a test file (a node with no ``::``) is fixed when
    that file's tests now run and none fails: its own node is gone then."""
    if run.status not in ("passed", "failed"):
        return False
    by_id = {n.nodeid: n for n in run.nodes}
    collected = {t.nodeid for t in target.tests if "::" not in t.nodeid and t.nodeid not in by_id}
    for t in target.tests:
        if t.nodeid in collected:
            now = [n for n in run.nodes if n.nodeid.startswith(t.nodeid + "::")]
            if not now or any(n.bad for n in now):
                return False
        elif by_id.get(t.nodeid) is None or by_id[t.nodeid].bad:
            return False
    before = {n.nodeid for n in baseline.nodes if not n.nodeid.startswith("<")} - collected
    if not before <= set(by_id):
        return False
    return run.failing_ids() <= baseline.failing_ids()


def focused_feedback(run: TestRun, baseline: TestRun, target: Target) -> str:
    """pytest's report on the tests that matter for this target: its own
    failing tests and any test the attempt newly broke."""
    own = {t.nodeid for t in target.tests}
    broke = run.failing_ids() - baseline.failing_ids()
    nodes = [n for n in run.nodes if n.bad and (n.nodeid in own or n.nodeid in broke or n.nodeid.startswith("<"))]
    if not nodes:
        missing = own - {n.nodeid for n in run.nodes}
        if missing:
            return "These tests did not run at all: " + ", ".join(sorted(missing))
        return run.feedback()
    lines = [f"{len(nodes)} test(s) still fail" + (" (some passed before your change)" if broke else "") + "."]
    for n in nodes:
        tag = "NOW FAILS (passed before)" if n.nodeid in broke else "FAILED"
        lines.append(f"{tag} {n.nodeid}\n{n.message.strip()}")
    text = "\n\n".join(lines)
    return text if len(text) <= 6000 else text[:6000] + "\n... (output truncated)"


def _reply_function(text: str, name: str) -> str | None:
    """The definition of ``name`` in a reply: the last code block holding one."""
    for block in reversed(python_blocks(text or "")):
        found = find_function(block.code, name)
        if found:
            return found
    return find_function(text or "", name)


def failing_test_sources(snapshot: Snapshot, overrides: dict[str, bytes], nodes: list[NodeResult]) -> list[str]:
    """The source of the failing test functions (the model's specification)."""
    out: list[str] = []
    for n in nodes[:MAX_TEST_SOURCES]:
        data = overrides.get(n.file, snapshot.files.get(n.file))
        if data is None or not n.name_path:
            continue
        node = find_def(parse_bytes(data).root_node, n.name_path)
        if node is None:
            continue
        src = data[data.rfind(b"\n", 0, node.start_byte) + 1 : node.end_byte].decode("utf-8", "replace")
        src = src if len(src) <= MAX_TEST_CHARS else src[:MAX_TEST_CHARS] + "\n    # ... (test truncated)"
        if src not in out:
            out.append(src)
    return out


class FunctionRepair:
    """One function of a repository for the Reflexion loop: a program is a
    new definition of the function, spliced into the file and judged by the
    repository's tests in the sandbox (:func:`accepts`)."""

    def __init__(self, repairer: "Repairer", target: Target, data: bytes, span: FunctionSpan, key: FuncKey,
                 baseline: TestRun, overrides: dict[str, bytes]) -> None:
        self.repairer, self.target, self.data, self.span, self.baseline = repairer, target, data, span, baseline
        self.overrides = overrides
        self.original = span.source(data)
        self.tests = failing_test_sources(repairer.snapshot, overrides, target.tests)
        self.first = prompts.repair(target.qualname, target.file, self.original, function_context(data, key),
                                    self.tests, focused_feedback(baseline, baseline, target))
        self.known = {self.key(self.original): "the original"}
        self.attempt = self.original
        #: the accepted repair: the whole file and the run that accepted it
        self.accepted: tuple[bytes, TestRun] | None = None
        self.extract: Extractor | None = self._extract

    def _extract(self, text: str) -> tuple[str, str | None]:
        func = _reply_function(text, self.target.name)
        if func is None:
            return "", f"no complete definition of {self.target.name} in the reply"
        return func, reply_header_note(self.original, func)

    def first_request(self) -> Sequence[ChatMessage]:
        return self.first

    def next_request(self, code: str, feedback: str, memory: Sequence[str]) -> Sequence[ChatMessage]:
        return prompts.retry(self.first, code or self.attempt, feedback, memory)

    def reflect_request(self, code: str, feedback: str) -> Sequence[ChatMessage]:
        return prompts.reflect(self.target.qualname, self.target.file, code, self.tests, feedback)

    def key(self, code: str) -> str:
        return body_fingerprint(code, decorators=self.target.decorators) or code

    async def evaluate(self, ep: Episode, codes: list[str], iteration: int) -> Verdict:
        func = self.attempt = codes[0]
        try:
            new = splice(self.data, self.span, func, decorators=self.target.decorators)
        except SpliceError as err:
            ep.decide(f"not run: {err}", iteration=iteration)
            return Verdict(passed=False, code=func, feedback=f"Your function could not be put into the file: {err}")
        repairer = self.repairer
        ep.check_budget()
        t = time.monotonic()
        run = await run_pytest(repairer.sandbox, repairer.snapshot, repairer.test_targets, repairer.config.limits,
                               {**self.overrides, self.target.file: new})
        good = sum(1 for n in run.nodes if n.status == "passed")
        ep.record_execution(func, repairer.test_targets, run.execution, iteration=iteration,
                            duration_s=time.monotonic() - t,
                            candidate=Candidate(code=func, passed=good, total=max(1, len(run.nodes)), iteration=iteration))
        if accepts(run, self.baseline, self.target):
            self.accepted = (new, run)
            return Verdict(passed=True, code=func)
        return Verdict(passed=False, code=func, feedback=focused_feedback(run, self.baseline, self.target))

    def no_program(self, generation: Generation, ep: Episode) -> tuple[str, str]:
        return self.attempt, (f"Your reply contained no complete definition of `{self.target.name}` "
                              "in a ```python block.")

    def still_repeats(self, label: str, feedback: str) -> str:
        return f"Your reply is the same code as {label}, which fails.\n\n{feedback}"

    def judged_as(self, iteration: int) -> str:
        return f"attempt {iteration}"

    def version(self) -> Hashable:
        return 0  # the repository's tests do not change during a repair


class Repairer:
    """Runs the reflection loop for one target at a time."""

    def __init__(
        self,
        model: ChatModel,
        sandbox: Sandbox,
        snapshot: Snapshot,
        test_targets: list[str],
        config: AgentConfig,
        observer: StepObserver | None = None,
    ) -> None:
        self.model = model
        self.sandbox = sandbox
        self.observer = observer
        self.snapshot = snapshot
        self.test_targets = test_targets
        self.config = config

    def _episode(self, problem: Problem) -> Episode:
        return Episode(problem, model=self.model, sandbox=self.sandbox, config=self.config, strategy=STRATEGY_NAME,
                       observer=self.observer)

    async def repair(self, target: Target, baseline: TestRun, overrides: dict[str, bytes]) -> RepairResult:
        """Try to repair ``target``; ``overrides`` are the repairs accepted so
        far (file -> bytes), which every run here includes."""
        data = overrides.get(target.file, self.snapshot.files[target.file])
        spans = [s for s in functions(data) if s.qualname == target.qualname]
        span = spans[target.occurrence] if target.occurrence < len(spans) else None
        problem = Problem(task_id=f"{target.file}::{target.qualname}", prompt="", entry_point=target.name)
        try:
            key = key_of(ast.parse(data.decode("utf-8")), span) if span is not None else None
        except (SyntaxError, ValueError, SpliceError):
            key = None
        if span is None or key is None:
            ep = self._episode(problem)
            ep.decide(f"{target.qualname} is no longer in {target.file}, or the file does not parse")
            return RepairResult(target, ep.finish("error", iterations=0), None, None)
        task = FunctionRepair(self, target, data, span, key, baseline, overrides)
        ep = self._episode(problem.model_copy(update={"prompt": task.original}))
        nodeids = [t.nodeid for t in target.tests]
        start = LoopState(code=task.original, feedback=focused_feedback(baseline, baseline, target))
        try:
            await reflexion_loop(ep, task, state=start)
        except ModelError as err:
            ep.decide(f"model error: {err}", iteration=ep.iteration)
            traj = ep.finish("error", tests=nodeids)
            traj.internal_passed = False
            return RepairResult(target, traj, None, None, model_error=str(err))
        except BudgetExceeded as hit:
            ep.stop(hit.which)
        if task.accepted is None:
            traj = ep.finish(ep.stop_reason or "max_iters", tests=nodeids)
            traj.internal_passed = False
            return RepairResult(target, traj, None, None)
        new, run = task.accepted
        traj = ep.finish("passed", tests=nodeids)
        traj.final_code = task.attempt  # accepted on the target's tests, whatever else the repository fails
        traj.internal_passed = True
        return RepairResult(target, traj, new, run, key=key)
