"""The fixer: staged files -> covering tests -> repairs -> checked write-back.

1. Find the test files covering the staged files (``discover``); none:
   stop (no sandbox, no model). A staged file that does not compile is
   reported with its file and line, and nothing runs. Then start the
   sandbox (Docker down: stop with a warning, or fail if configured) and
   run the tests on a copy of the repository (``testrun``). If they pass,
   stop: no model is needed (nor imported), so this works offline.
2. For each failing test, locate the function under test (``locate``):
   the deepest traceback frame inside a staged file, else the staged
   functions the test calls (directly or through its file's helpers).
3. Repair one function at a time with the reflection loop (``repair``);
   an accepted repair is kept in memory and later runs include it.
4. Write back only if the whole affected test set passes with every
   accepted repair, the file's AST outside the repaired bodies is the
   original's (``splice.only_bodies_changed``), atomically, and never over
   a file edited meanwhile.

Nothing here prints: progress goes to the ``log`` callback and the result
is a :class:`FixReport` the CLI renders.
"""

from __future__ import annotations

import ast
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from coderefl.errors import ImageMissing, ModelError, SandboxError
from coderefl.execution.base import Sandbox
from coderefl.fix.discover import Coverage, conftests_of
from coderefl.fix.check import Check, assertion_line, coverage_summary, host_checker, precheck
from coderefl.fix.splice import (
    ChangedOnDisk, FuncKey, keyed_functions, only_bodies_changed, unified_diff, write_if_unchanged,
)
from coderefl.fix.testrun import NodeResult, Snapshot, TestRun, run_limits, run_pytest
from coderefl.model.base import ChatModel
from coderefl.records import Limits, Step, Trajectory
from coderefl.strategies.base import AgentConfig

if TYPE_CHECKING:
    from coderefl.fix.repair import Target


class FixConfig(BaseModel):
    """The fixer's knobs; the CLI fills them from flags and CODEREFL_FIX_* env."""

    max_iters: int = Field(3, ge=1, description="repair rounds per function")
    max_wall_s: float = Field(300.0, gt=0, description="time budget for the whole run")
    reflection: bool = True
    memory_size: int = Field(1, ge=0)
    max_calls: int | None = Field(None, ge=1, description="model calls per function")
    temperature: float = Field(0.0, ge=0)
    limits: Limits = Field(default_factory=lambda: Limits(timeout_s=120.0, memory_mb=1024, pids=128))
    dry_run: bool = False
    if_no_sandbox: Literal["pass", "fail"] = Field(
        "pass", description="when the sandbox cannot start: pass with a warning, or fail (exit 2)"
    )
    pass_cache: Path | None = Field(None, description="where to remember content that passed (None: nowhere)")
    reach_cache: Path | None = Field(None, description="where to keep what each test file reached (None: static coverage only)")
    check_in: Literal["host", "sandbox"] = Field(
        "host", description="where the staged code's own tests run: on the host (like any pytest hook) or in the sandbox"
    )


FixStatus = Literal["passed", "no_tests", "fixed", "failed", "unchecked", "no_sandbox"]
#: the exit code of each status (pre-commit's fixer convention: 1 stops the commit)
EXIT_CODES: dict[str, int] = {"passed": 0, "no_tests": 0, "unchecked": 0, "fixed": 1, "failed": 1, "no_sandbox": 2}


@dataclass
class FileChange:
    file: str
    diff: str
    written: bool = False
    note: str = ""


@dataclass
class FixReport:
    status: FixStatus
    changes: list[FileChange] = field(default_factory=list)
    trajectories: list[Trajectory] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line each, for the user
    failing: list[str] = field(default_factory=list)  # tests still failing at the end
    tests_run: list[str] = field(default_factory=list)
    why: dict[str, str] = field(default_factory=dict)  # failing test -> its assertion, one line
    coverage: str = ""  # "3 files, 2 covered by 5 tests, 1 not covered: ..."

    @property
    def exit_code(self) -> int:
        """pre-commit's fixer convention: 1 when a file changed or tests
        still fail (the commit must stop), 0 when everything passed or could
        not be checked (with a warning), 2 when told to fail without a sandbox."""
        return EXIT_CODES[self.status]

    def to_json(self) -> dict:
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "tests": self.tests_run,
            "changed": [{"file": c.file, "written": c.written, "note": c.note, "diff": c.diff} for c in self.changes],
            "problems": self.problems,
            "failing": self.failing,
            "why": self.why,
            "coverage": self.coverage,
            "trajectories": [t.model_dump(mode="json") for t in self.trajectories],
        }


def locate_candidates(node: NodeResult, cov: Coverage, files: dict[str, bytes]) -> tuple[list[str], str]:
    """Functions (``file::qualname``, ``file::qualname#k`` for the k-th
    further definition of that name, as a property's setter) that may be
    the function under test, best first, and how the first was found
    ("traceback", "call", "none").

    First the deepest traceback frame inside a staged source file (where it
    went wrong), then the staged functions the test calls, in call order."""
    from coderefl.fix.locate import calls_of_test, enclosing, functions

    sources = {s for s in cov.sources if _is_utf8(files.get(s))}  # only UTF-8 files are spliced
    out: list[str] = []
    evidence = "none"
    for rel, line in reversed(failure_lines(node)):
        if rel in sources and rel in files:
            spans = functions(files[rel])
            span = enclosing(spans, line)
            if span is not None:
                out.append(_key(rel, spans, span))
                evidence = "traceback"
                break
    data = files.get(node.file)
    conftests = [files[c] for c in conftests_of(node.file, set(files))]
    called = calls_of_test(data, node.name_path, conftests) if data is not None and node.name_path else []
    order = {n: i for i, n in enumerate(called)}
    by_call: list[tuple[int, str]] = []
    for rel in cov.sources_of(node.file) or cov.sources:
        if rel not in sources:
            continue
        spans = functions(files[rel])
        for s in spans:
            # `f(...)`, `obj.m(...)` name f and m; `Cls(...)` points at Cls.__init__
            owner = s.qualname.rpartition(".")[0].rpartition(".")[2]
            hit = order.get(s.name, order.get(owner) if s.name == "__init__" else None)
            if hit is not None:
                by_call.append((hit, _key(rel, spans, s)))
    named = _failure_names(node.message)
    for _, key in sorted(by_call, key=lambda p: (key_name(p[1]) not in named, p[0])):
        if key not in out:
            out.append(key)
    if evidence == "none" and out:
        evidence = "call"
    return out, evidence


#: a traceback entry in pytest's text (``pkg/calc.py:4: in <module>``), as in a collection error's report
_TRACEBACK_LINE = re.compile(r"^([^\s:][^:\n]*\.py):(\d+): ", re.M)


def failure_lines(node: NodeResult) -> list[tuple[str, int]]:
    """Where a failure went through, outermost first: the recorded traceback
    frames, else (a collection error has none) the ``file:line:`` entries of
    pytest's report."""
    if node.frames:
        return [(rel, line) for rel, line, _ in node.frames]
    return [(m.group(1), int(m.group(2))) for m in _TRACEBACK_LINE.finditer(node.message)]


def decorator_blamed(rel: str, key: FuncKey, data: bytes, tests: list[NodeResult]) -> bool:
    """Whether a failing test's traceback passes through a decorator line of
    the function ``key`` of ``rel``: then the failure is in its decorators,
    and a repair may change them."""
    try:
        node = keyed_functions(ast.parse(data.decode("utf-8"))).get(key)
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return False
    if node is None or not node.decorator_list:
        return False
    lines = range(min(d.lineno for d in node.decorator_list), node.lineno)
    return any(f == rel and line in lines for t in tests for f, line in failure_lines(t))


def _is_utf8(data: bytes | None) -> bool:
    if data is None:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _unlocated_reason(node: NodeResult, snapshot: Snapshot) -> str:
    """One line on why a failing test points at no repairable function."""
    if "::" in node.nodeid:
        return f"{node.nodeid}: no function of the staged files found for this failing test"
    return f"{node.nodeid}: could not be collected: {_error_summary(node, snapshot)}"


def _error_summary(node: NodeResult, snapshot: Snapshot) -> str:
    """pytest's last ``E`` line (or last line), and a hint when the tests
    import a package that is neither in the repository nor in the sandbox."""
    errors = [ln[1:].strip() for ln in node.message.splitlines() if ln.startswith("E ")]
    lines = node.message.strip().splitlines()
    why = errors[-1] if errors else (lines[-1] if lines else node.status)
    missing = re.search(r"No module named '([\w.]+)'", node.message)
    if missing:
        top = missing.group(1).split(".")[0]
        if not any(f == f"{top}.py" or f.startswith((f"{top}/", f"src/{top}/")) for f in snapshot.files):
            why += " (the sandbox image lacks this package)"
    return why


def _key(rel: str, spans: list, span) -> str:
    """``file::qualname``, with ``#k`` when ``span`` is the k-th further
    definition of its qualified name in the file."""
    k = [s.qualname for s in spans[: spans.index(span)]].count(span.qualname)
    return f"{rel}::{span.qualname}" + (f"#{k}" if k else "")


def split_key(key: str) -> tuple[str, str, int]:
    """``file::Cls.meth#1`` -> (file, Cls.meth, 1)."""
    rel, _, qual = key.partition("::")
    qual, _, k = qual.partition("#")
    return rel, qual, int(k or 0)


def key_name(key: str) -> str:
    """``file::Cls.meth`` -> ``meth``."""
    return split_key(key)[1].rpartition(".")[2]


def _failure_names(message: str) -> set[str]:
    """Identifiers on pytest's failing lines (``>`` source lines and ``E``
    explanation lines): a called function named there is the likelier culprit."""
    names: set[str] = set()
    for line in message.splitlines():
        if line.startswith((">", "E ")):
            names.update(re.findall(r"[A-Za-z_]\w*", line))
    return names


def _sandbox_checker() -> str:
    from coderefl.execution.image import image_tag

    return f"sandbox {image_tag()}"


def _sandbox_reason(err: SandboxError) -> str:
    """Why the sandbox cannot start, without set-up advice meant for
    coderefl's own checkout (a missing image keeps its build command)."""
    if isinstance(err, ImageMissing):
        return str(err)
    return str(err).split(";")[0].strip()


class Fixer:
    """``sandbox`` is a started sandbox, or a function of the run's limits
    making one, which is then started only when there are tests to run (and
    closed by ``close``)."""

    def __init__(
        self,
        root: Path,
        sandbox: Sandbox | Callable[[Limits], Sandbox],
        model_factory: Callable[[], ChatModel],
        config: FixConfig | None = None,
        log: Callable[[str], None] | None = None,
        observer: Callable[[Step], None] | None = None,
    ) -> None:
        self.root = root
        self._sandbox_factory = None if isinstance(sandbox, Sandbox) else sandbox
        self.sandbox: Sandbox | None = sandbox if isinstance(sandbox, Sandbox) else None
        self.model_factory = model_factory
        self.config = config or FixConfig()
        self.log = log or (lambda _msg: None)
        self.observer = observer
        self.model: ChatModel | None = None
        self._own_sandbox: Sandbox | None = None
        #: per file, the repaired functions whose decorators the repair could change (the failure was in them)
        self._decorators: defaultdict[str, list[FuncKey]] = defaultdict(list)

    def _remaining(self, t0: float) -> float:
        return self.config.max_wall_s - (time.monotonic() - t0)

    async def _start_sandbox(self, snapshot: Snapshot) -> Sandbox:
        if self.sandbox is None:
            assert self._sandbox_factory is not None
            # the pool's containers are made for the limits of the pytest runs, so the first run
            # gets the warm container rather than starting a second one
            sandbox = self._sandbox_factory(run_limits(self.config.limits, snapshot.size()))
            self._own_sandbox = sandbox
            await sandbox.start()
            self.sandbox = sandbox
        return self.sandbox

    async def run(self, staged: list[str], check: Check | None = None) -> FixReport:
        """Check the staged files (``check``: done already, by the hook's
        fast entry) and repair what fails."""
        t0 = time.monotonic()
        cfg = self.config
        if check is None:
            check = precheck(self.root, staged, passes=cfg.pass_cache, reach=cfg.reach_cache,
                             timeout_s=cfg.limits.timeout_s, host=cfg.check_in == "host", log=self.log)
        cov, tests = check.cov, check.tests
        if check.status == "no_tests":
            return FixReport("no_tests", coverage=check.summary)
        if check.status == "syntax":
            return FixReport("failed", problems=check.problems, coverage=check.summary)
        if check.status in ("cached", "passed"):
            return FixReport("passed", tests_run=tests, coverage=check.summary)
        snapshot = Snapshot.read(self.root, must_have=[*cov.sources, *tests])
        if check.status == "no_host":
            early, baseline = await self._check_in_sandbox(check, snapshot)
        else:
            early, baseline = await self._baseline_for_repairs(check, snapshot)
        if early is not None:
            return early
        assert baseline is not None
        report = FixReport("failed", tests_run=tests, coverage=check.summary if check.run else coverage_summary(
            cov, len(baseline.nodes)))
        if baseline.status == "timeout" or not baseline.nodes or all(n.nodeid.startswith("<") for n in baseline.failing):
            report.problems.extend(f"the tests could not run: {_error_summary(n, snapshot)}" for n in baseline.failing)
            report.failing = sorted(baseline.failing_ids())
            return report
        overrides, current, repaired = await self._repair_all(cov, snapshot, tests, baseline, report, t0)
        report.failing = sorted(current.failing_ids())
        report.why = {n.nodeid: assertion_line(n.message) for n in current.failing if not n.nodeid.startswith("<")}
        if not overrides:
            report.problems.append("tests still fail; nothing was changed")
            return report
        for rel, new in overrides.items():
            report.changes.append(FileChange(rel, unified_diff(rel, snapshot.files[rel], new)))
        if not current.passed:
            for c in report.changes:
                c.note = "not applied: other affected tests still fail"
            return report
        self._write_back(report, snapshot, overrides, repaired)
        if report.status == "fixed" and all(c.written for c in report.changes):
            # what the re-commit will hold: the whole affected test set passed on it (in the sandbox, where the
            # host's failures were reproduced first), so the usual second commit runs nothing
            check.remember(host_checker() if check.run is not None else _sandbox_checker())
        return report

    async def _check_in_sandbox(self, check: Check, snapshot: Snapshot) -> tuple[FixReport | None, TestRun | None]:
        """The check itself in the sandbox (``check_in = "sandbox"``, or no
        pytest on the host): a report when it ends here, else the failing run."""
        cfg, cov, tests = self.config, check.cov, check.tests
        if check.passed_before(_sandbox_checker()):
            return FixReport("passed", tests_run=tests, coverage=coverage_summary(cov, cached=True)), None
        try:
            sandbox = await self._start_sandbox(snapshot)
        except SandboxError as err:
            why = _sandbox_reason(err)
            if cfg.if_no_sandbox == "fail":
                return FixReport("no_sandbox", problems=[f"the tests cannot run: {why}"], coverage=check.summary), None
            return FixReport("unchecked", coverage=check.summary, problems=[
                f"tests not run, commit not checked: {why} (to block commits instead, set if_no_sandbox = \"fail\" "
                "under [fix] in coderefl.toml, or CODEREFL_FIX_IF_NO_SANDBOX=fail)"
            ]), None
        self.log(f"running {len(tests)} test file(s) in the sandbox: {', '.join(tests)}")
        baseline = await run_pytest(sandbox, snapshot, tests, cfg.limits)
        if baseline.passed:
            check.remember(_sandbox_checker())
            self.log(f"{len(baseline.nodes)} tests pass")
            return FixReport("passed", tests_run=tests, coverage=coverage_summary(cov, len(baseline.nodes))), None
        self.log(f"{len(baseline.failing)} of {len(baseline.nodes)} tests fail")
        return None, baseline

    async def _baseline_for_repairs(self, check: Check, snapshot: Snapshot) -> tuple[FixReport | None, TestRun | None]:
        """The tests failed on the host: run them again in the sandbox, where
        every repair is verified, so that the repairs are judged against the
        same environment. A report when no repair can be tried."""
        failing = check.failing
        report = FixReport("failed", tests_run=check.tests, coverage=check.summary,
                           failing=sorted(n.nodeid for n in failing),
                           why={n.nodeid: assertion_line(n.message) for n in failing if not n.nodeid.startswith("<")})
        if all(n.nodeid.startswith("<") for n in failing) or check.run.status == "timeout":
            report.problems.extend(f"the tests could not run: {_error_summary(n, snapshot)}" for n in failing)
            return report, None
        try:
            sandbox = await self._start_sandbox(snapshot)
        except SandboxError as err:
            report.problems.append(f"not repaired: a repair is checked in the sandbox, which cannot start: "
                                   f"{_sandbox_reason(err)}")
            return report, None
        self.log(f"running {len(check.tests)} test file(s) in the sandbox, to check repairs against")
        baseline = await run_pytest(sandbox, snapshot, check.tests, self.config.limits)
        if baseline.passed:
            report.problems.append(
                f"not repaired: {len(failing)} test(s) fail on this machine but pass in the sandbox "
                "(a difference of installed packages or environment, not a bug in the code?)"
            )
            return report, None
        return None, baseline

    def _write_back(
        self, report: FixReport, snapshot: Snapshot, overrides: dict[str, bytes], repaired: dict[str, list[FuncKey]]
    ) -> None:
        """Check every changed file's AST outside the repaired bodies, then
        write them all (or, if one check fails, none)."""
        whys = {c.file: only_bodies_changed(snapshot.files[c.file], overrides[c.file], repaired[c.file],
                                            decorators=self._decorators[c.file])
                for c in report.changes}
        if any(whys.values()):  # never expected: every splice was checked the same way
            for c in report.changes:
                c.note = f"not applied: {whys[c.file] or 'another repaired file failed its check'}"
            return
        report.status = "fixed"
        for c in report.changes:
            if self.config.dry_run:
                c.note = "dry run: not written"
                continue
            try:
                write_if_unchanged(self.root / c.file, snapshot.sha(c.file), overrides[c.file])
                c.written = True
            except ChangedOnDisk as err:
                c.note = f"not applied: {err}"

    async def _repair_all(
        self, cov: Coverage, snapshot: Snapshot, tests: list[str], baseline: TestRun, report: FixReport, t0: float
    ) -> tuple[dict[str, bytes], TestRun, dict[str, list[FuncKey]]]:
        """Repair one function at a time until no failing test points at an
        untried function; returns the accepted repairs, the last run and
        the functions repaired in each file."""
        from coderefl.fix.repair import Repairer, Target  # the agent's machinery: only when a test fails

        cfg = self.config
        overrides: dict[str, bytes] = {}
        repaired: dict[str, list[FuncKey]] = {}
        current = baseline
        tried: set[str] = set()
        unlocated: set[str] = set()
        repairer: Repairer | None = None
        while True:
            files = {**snapshot.files, **overrides}
            plan: dict[str, Target] = {}
            for node in current.failing:
                cands, evidence = locate_candidates(node, cov, files)
                todo = [c for c in cands if c not in tried]
                if not cands:
                    unlocated.add(node.nodeid)
                    continue
                if not todo:
                    continue
                key = todo[0]
                rel, qual, k = split_key(key)
                how = evidence if key == cands[0] else "call"
                plan.setdefault(key, Target(rel, qual, evidence=how, occurrence=k)).tests.append(node)
            if not plan:
                break
            if self._remaining(t0) <= 0:
                report.problems.append(f"time budget of {cfg.max_wall_s:g}s used up")
                break
            key, target = next(iter(plan.items()))
            tried.add(key)
            if repairer is None:
                try:
                    self.model = self.model_factory()
                except ModelError as err:
                    report.problems.append(f"no model available ({err}); the failing tests were not repaired")
                    break
                assert self.sandbox is not None
                repairer = Repairer(self.model, self.sandbox, snapshot, tests, self._agent_config(t0), self.observer)
            repairer.config = self._agent_config(t0)
            self.log(f"repairing {target.file}::{target.qualname} ({len(target.tests)} failing test(s), found by {target.evidence})")
            blamed = decorator_blamed(target.file, (target.qualname, target.occurrence), files[target.file], target.tests)
            target.decorators = blamed
            result = await repairer.repair(target, current, overrides)
            report.trajectories.append(result.trajectory)
            if result.model_error is not None:
                report.problems.append(f"no model available ({result.model_error}); the failing tests were not repaired")
                break
            if result.new_source is not None and result.run is not None and result.key is not None:
                overrides[target.file] = result.new_source
                repaired.setdefault(target.file, []).append(result.key)
                if blamed:
                    self._decorators[target.file].append(result.key)
                current = result.run
                self.log(f"repaired {target.file}::{target.qualname}")
            else:
                why = "; ".join(f"{n.nodeid}: {assertion_line(n.message)}" for n in target.tests[:2])
                self.log(f"could not repair {target.file}::{target.qualname} ({result.trajectory.stop_reason}): {why}")
                if result.trajectory.stop_reason == "budget_time":
                    report.problems.append(f"time budget of {cfg.max_wall_s:g}s used up")
                    break
        by_id = {n.nodeid: n for n in current.nodes}
        for nodeid in sorted(unlocated & current.failing_ids()):
            report.problems.append(_unlocated_reason(by_id[nodeid], snapshot))
        return overrides, current, repaired

    def _agent_config(self, t0: float) -> AgentConfig:
        cfg = self.config
        return AgentConfig(
            max_iters=cfg.max_iters,
            reflection=cfg.reflection,
            memory_size=cfg.memory_size,
            temperature=cfg.temperature,
            max_calls=cfg.max_calls,
            max_wall_s=max(0.001, self._remaining(t0)),
            generated_tests=False,
            num_tests=0,
            limits=cfg.limits,
        )

    async def close(self) -> None:
        try:
            if self._own_sandbox is not None:
                await self._own_sandbox.close()
        finally:
            if self.model is not None:
                await self.model.close()


__all__ = ["Fixer", "FixConfig", "FixReport", "FileChange", "assertion_line", "coverage_summary", "locate_candidates"]
