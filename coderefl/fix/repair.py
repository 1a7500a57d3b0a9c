"""Repair one function with the reflection loop, checked by the real tests.

generate a fixed version of just that function -> splice its body into
the file -> rerun the affected tests in the sandbox -> on failure, a
verbal reflection on the failing output (pytest's assertion with the
values) -> retry, up to ``max_iters`` rounds. A reply that repeats an
earlier attempt (or the original) is not run again: the same request is
resampled at a higher temperature, up to ``MAX_RESAMPLES`` times.

The loop runs on :class:`~coderefl.strategies.episode.Episode`, like the
strategies, so every model call and every sandbox run is a step of a
:class:`~coderefl.records.Trajectory`, counted against the budgets.

A candidate is *accepted* when the tests it was asked to fix pass, no
test that passed before fails now, and no test disappeared. Whether the
whole affected test set passes is decided by the caller
(:mod:`coderefl.fix.fixer`), after every repair.
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass, field
from typing import Callable

from coderefl.code.blocks import python_blocks
from coderefl.errors import BudgetExceeded, ModelError
from coderefl.execution.base import Sandbox
from coderefl.fix import prompts
from coderefl.fix.context import function_context
from coderefl.fix.locate import find_def, find_function, functions, parse_bytes
from coderefl.fix.splice import FuncKey, SpliceError, body_fingerprint, key_of, reply_header_note, splice
from coderefl.fix.testrun import NodeResult, Snapshot, TestRun, run_pytest
from coderefl.model.base import ChatModel
from coderefl.records import Limits, Problem, Step, Trajectory
from coderefl.strategies.base import AgentConfig, Strategy
from coderefl.strategies.episode import Candidate, Episode

STRATEGY_NAME = "fix-reflexion"
MAX_TEST_SOURCES = 4
MAX_TEST_CHARS = 2000
#: resamples of a request whose reply repeats an earlier attempt
MAX_RESAMPLES = 2
#: temperature added per resample, and the ceiling
RESAMPLE_STEP, RESAMPLE_MAX = 0.4, 1.2


@dataclass
class Target:
    """A function to repair and the failing tests that point at it."""

    file: str
    qualname: str
    tests: list[NodeResult] = field(default_factory=list)
    evidence: str = "call"  # "traceback" or "call": how the function was located
    occurrence: int = 0  # which definition of ``qualname`` in the file (a property's setter is 1)

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


class FixAgent(Strategy):
    """The fixer as the :class:`Strategy` an :class:`Episode` belongs to
    (model, sandbox, config, observer, memory). Not registered: the
    :class:`Repairer` drives its episodes, one per function."""

    name = STRATEGY_NAME
    needs_chat = True

    async def solve(self, problem: Problem, user_tests: list[str] | None = None, sample: int = 0) -> Trajectory:
        raise NotImplementedError("coderefl fix repairs functions through Repairer.repair")


class FixEpisode(Episode):
    """An episode whose executions are pytest runs of a repository copy."""

    async def run_tests(
        self, snapshot: Snapshot, targets: list[str], overrides: dict[str, bytes], code: str, limits: Limits, *, iteration: int
    ) -> TestRun:
        self.check_budget()
        t = time.monotonic()
        run = await run_pytest(self.sandbox, snapshot, targets, limits, overrides)
        self._step("execute", iteration, code=code, tests=list(targets), execution=run.execution,
                   duration_s=time.monotonic() - t)
        good = sum(1 for n in run.nodes if n.status == "passed")
        self.consider(Candidate(code=code, passed=good, total=max(1, len(run.nodes)), iteration=iteration))
        return run


def accepts(run: TestRun, baseline: TestRun, target: Target) -> bool:
    """The target's tests pass, nothing that passed fails, nothing vanished."""
    if run.status not in ("passed", "failed"):
        return False
    by_id = {n.nodeid: n for n in run.nodes}
    if any(by_id.get(t.nodeid) is None or by_id[t.nodeid].bad for t in target.tests):
        return False
    before = {n.nodeid for n in baseline.nodes if not n.nodeid.startswith("<")}
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


class Repairer:
    """Runs the reflection loop for one target at a time."""

    def __init__(
        self,
        model: ChatModel,
        sandbox: Sandbox,
        snapshot: Snapshot,
        test_targets: list[str],
        config: AgentConfig,
        observer: Callable[[Step], None] | None = None,
    ) -> None:
        self.agent = FixAgent(model, sandbox, config)
        self.agent.observer = observer
        self.snapshot = snapshot
        self.test_targets = test_targets
        self.config = config

    async def repair(self, target: Target, baseline: TestRun, overrides: dict[str, bytes]) -> RepairResult:
        """Try to repair ``target``; ``overrides`` are the repairs accepted so
        far (file -> bytes), which every run here includes."""
        cfg = self.config
        data = overrides.get(target.file, self.snapshot.files[target.file])
        spans = [s for s in functions(data) if s.qualname == target.qualname]
        span = spans[target.occurrence] if target.occurrence < len(spans) else None
        problem = Problem(task_id=f"{target.file}::{target.qualname}", prompt="", entry_point=target.name)
        ep = FixEpisode(self.agent, problem)
        try:
            key = key_of(ast.parse(data.decode("utf-8")), span) if span is not None else None
        except (SyntaxError, ValueError, SpliceError):
            key = None
        if span is None or key is None:
            ep.decide(f"{target.qualname} is no longer in {target.file}, or the file does not parse")
            return RepairResult(target, ep.finish("error", iterations=0), None, None)
        original = span.source(data)
        ep.problem = problem.model_copy(update={"prompt": original})
        tests = failing_test_sources(self.snapshot, overrides, target.tests)
        feedback = focused_feedback(baseline, baseline, target)
        first = prompts.repair(target.qualname, target.file, original, function_context(data, key), tests, feedback)
        seen = {body_fingerprint(original): "the original"}
        memory: list[str] = []
        attempt = original
        iteration = 0
        try:
            request = first
            reply = await ep.ask(request, kind="generate", phase="generate", iteration=1)
            for iteration in range(1, cfg.max_iters + 1):
                func, reply = await self._fresh(ep, request, reply, target.name, seen, iteration)
                step = ep.trajectory.steps[-1]
                step.code = func
                if func is None:
                    step.note = step.note or f"no complete definition of {target.name} in the reply"
                    feedback = f"Your reply contained no complete definition of `{target.name}` in a ```python block."
                elif body_fingerprint(func) in seen:  # still a repeat after resampling: not worth a run
                    feedback = f"Your reply is the same code as {seen[body_fingerprint(func)]}, which fails.\n\n{feedback}"
                else:
                    attempt = func
                    seen[body_fingerprint(func)] = f"attempt {iteration}"
                    step.note = reply_header_note(original, func)
                    try:
                        new = splice(data, span, func)
                    except SpliceError as err:
                        step.note = str(err)
                        feedback = f"Your function could not be put into the file: {err}"
                    else:
                        run = await ep.run_tests(
                            self.snapshot, self.test_targets, {**overrides, target.file: new}, func, cfg.limits,
                            iteration=iteration,
                        )
                        if accepts(run, baseline, target):
                            traj = ep.finish("passed", iterations=iteration, tests=[t.nodeid for t in target.tests])
                            traj.final_code = func
                            traj.internal_passed = True
                            return RepairResult(target, traj, new, run, key=key)
                        feedback = focused_feedback(run, baseline, target)
                if iteration == cfg.max_iters:
                    break
                if cfg.reflection:
                    reflection = await ep.ask(
                        prompts.reflect(target.qualname, target.file, attempt, tests, feedback),
                        kind="reflect", phase="reflect", iteration=iteration,
                    )
                    text = (reflection.texts[0] if reflection.texts else "").strip()
                    ep.trajectory.steps[-1].reflection = text
                    if text and cfg.memory_size > 0:
                        memory = [*memory, text][-cfg.memory_size :]
                request = prompts.retry(first, attempt, feedback, memory)
                reply = await ep.ask(request, kind="generate", phase="generate", iteration=iteration + 1)
        except ModelError as err:
            ep.decide(f"model error: {err}", iteration=iteration)
            traj = ep.finish("error", iterations=iteration, tests=[t.nodeid for t in target.tests])
            traj.internal_passed = False
            return RepairResult(target, traj, None, None, model_error=str(err))
        except BudgetExceeded as hit:
            traj = ep.finish(hit.which, iterations=iteration, tests=[t.nodeid for t in target.tests])  # type: ignore[arg-type]
            traj.internal_passed = False
            return RepairResult(target, traj, None, None)
        traj = ep.finish("max_iters", iterations=iteration, tests=[t.nodeid for t in target.tests])
        traj.internal_passed = False
        return RepairResult(target, traj, None, None)

    async def _fresh(self, ep: FixEpisode, request, reply, name: str, seen: dict, iteration: int):
        """The reply's function, resampling ``request`` at a rising
        temperature while the reply repeats an earlier attempt. Returns the
        function (None when the reply has none) and the reply it came from."""
        func = _reply_function(reply.texts[0] if reply.texts else "", name)
        temp = self.config.temperature
        for _ in range(MAX_RESAMPLES):
            earlier = seen.get(body_fingerprint(func)) if func is not None else None
            if earlier is None:
                break
            temp = min(RESAMPLE_MAX, temp + RESAMPLE_STEP)
            ep.trajectory.steps[-1].code = func
            ep.trajectory.steps[-1].note = f"the reply repeats {earlier}"
            ep.decide(f"the reply repeats {earlier}; resampling at temperature {temp:g}", iteration=iteration)
            reply = await ep.ask(request, kind="generate", phase="generate", iteration=iteration, temperature=temp)
            func = _reply_function(reply.texts[0] if reply.texts else "", name)
        return func, reply
