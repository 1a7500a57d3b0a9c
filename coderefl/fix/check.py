"""The check of the user's own staged code: light, and first.

Everything a clean commit needs, and nothing more: find the covering tests
(static import analysis plus the traced reach of earlier runs), report a
staged file that does not compile, skip what already passed on this exact
content, and run the tests on the host (:mod:`coderefl.fix.hostrun`). No
pydantic, no click, no Docker, no model client is imported here: the
pre-commit hook's fast entry (:mod:`coderefl.fix.hook`) calls this and
exits when it passes; only a failing check goes on to the fixer, which
starts the sandbox for the repairs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from coderefl.fix.discover import Coverage, ImportGraph, conftests_of, covering_tests, is_test_file, repo_files
from coderefl.fix.hostrun import HostRun, host_can_run, run_host
from coderefl.fix.passcache import PassCache, pass_key
from coderefl.fix.paths import cache_dir  # noqa: F401 - where the fixer's callers find it
from coderefl.fix.reach import ReachMap

#: test files with no (or an out-of-date) reach entry run at most per hook run, so that the first run in a
#: large repository does not run the whole suite at once; the map fills over the next commits
MAP_PER_RUN = 20

CheckStatus = Literal["no_tests", "syntax", "cached", "passed", "failed", "no_host"]


@dataclass
class Check:
    """What the check found; ``tests`` are the covering test files."""

    status: CheckStatus
    cov: Coverage
    tests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    run: HostRun | None = None
    summary: str = ""
    why_no_host: str = ""
    #: the pass-cache key of the files as they are now, for a checker (None: no cache)
    key_for: Callable[[str], str] | None = field(default=None, repr=False)
    markers: PassCache | None = field(default=None, repr=False)

    def passed_before(self, checker: str) -> bool:
        return self.markers is not None and self.key_for is not None and self.markers.passed(self.key_for(checker))

    def remember(self, checker: str) -> None:
        """Mark the files as they are now as passing (under ``checker``)."""
        if self.markers is not None and self.key_for is not None:
            self.markers.remember(self.key_for(checker))

    @property
    def failing(self):
        """The failing tests that count (those of the covering test files)."""
        if self.run is None:
            return []
        return [n for n in self.run.nodes if n.bad and counts(n.nodeid, self.tests)]


#: checks the hook's fast entry made and handed on to the full command (one process)
_HANDED: dict[tuple[str, tuple[str, ...]], Check] = {}


def hand_over(root: Path, staged: list[str], check: Check) -> None:
    """Leave a failing check for :func:`take_over` in the full command, so the
    tests are not run twice in one process."""
    _HANDED[(str(root), tuple(staged))] = check


def take_over(root: Path, staged: list[str]) -> Check | None:
    return _HANDED.pop((str(root), tuple(staged)), None)


def counts(nodeid: str, tests: list[str]) -> bool:
    """A result counts when its test file covers a staged file, or when it
    is about the whole run (``<pytest>``)."""
    return nodeid.startswith("<") or nodeid.split("::", 1)[0] in tests


def host_checker() -> str:
    return f"host {sys.executable} {sys.version}"


def add_reached(cov: Coverage, reach: ReachMap) -> None:
    """Extend each staged source's covering tests with those whose traced
    reach contains it."""
    for src in cov.sources:
        found = [t for t in reach.tests_reaching(src) if t not in cov.tests_for.get(src, [])]
        cov.tests_for[src] = [*cov.tests_for.get(src, []), *found]


def precheck(
    root: Path,
    staged: list[str],
    *,
    passes: Path | None,
    reach: Path | None,
    timeout_s: float,
    host: bool = True,
    log: Callable[[str], None] = lambda _m: None,
) -> Check:
    """Coverage, syntax, the pass cache, then the tests on the host.

    ``passes`` and ``reach`` are the folders of the pass markers and of the
    reach maps (None: nothing remembered, static coverage only).
    ``host=False`` (or a host that cannot run pytest) stops before running
    anything, with status ``no_host``: the fixer then runs the tests in the
    sandbox."""
    files = repo_files(root)
    existing = set(files)
    cov = covering_tests(root, staged, files)
    why_no_host = host_can_run() if host else "the check runs in the sandbox (check_in = \"sandbox\")"
    reach_map = ReachMap.load(reach, root) if why_no_host is None else ReachMap(None)
    add_reached(cov, reach_map)
    tests = cov.all_tests()
    unmapped = [t for t in reach_map.unmapped(root, [f for f in files if is_test_file(f)], existing) if t not in tests]
    unmapped = unmapped[:MAP_PER_RUN]
    if not tests and not unmapped:
        return Check("no_tests", cov, summary=coverage_summary(cov))
    checked = [*cov.staged_tests, *cov.conftests, *(s for s in cov.sources if cov.tests_for.get(s) or unmapped)]
    broken = syntax_problems(root, checked)
    if broken:
        return Check("syntax", cov, tests, problems=broken, summary=coverage_summary(cov))
    markers = PassCache(passes) if passes is not None else None
    graph = ImportGraph(root, files)

    def key_for(checker: str) -> str:
        return pass_key(root, files, _read_as_code(cov, cov.all_tests(), reach_map, graph, existing), cov.all_tests(), checker)

    if why_no_host is not None:
        return Check("no_host", cov, tests, summary=coverage_summary(cov), why_no_host=why_no_host,
                     key_for=key_for, markers=markers)
    if not unmapped and markers is not None and markers.passed(key_for(host_checker())):
        return Check("cached", cov, tests, summary=coverage_summary(cov, cached=True))
    targets = [*tests, *unmapped]
    log(f"running {len(targets)} test file(s): {', '.join(targets)}")
    trace = bool(unmapped) or reach_map.needs_trace(root, tests, existing)
    run = _run(root, targets, timeout_s, trace=trace, good=lambda r: _passes(r, cov))
    if trace:
        reach_map.record(root, run.reached, existing)
        reach_map.save()
        add_reached(cov, reach_map)
    tests = cov.all_tests()
    if not tests:
        return Check("no_tests", cov, summary=coverage_summary(cov))
    nodes = [n for n in run.nodes if counts(n.nodeid, tests)]
    if run.status in ("timeout", "error") or any(n.bad for n in nodes):
        log(f"{sum(n.bad for n in nodes)} of {len(nodes)} tests fail")
        return Check("failed", cov, tests, run=run, summary=coverage_summary(cov, len(nodes)), key_for=key_for,
                     markers=markers)
    log(f"{len(nodes)} tests pass")
    if markers is not None:
        markers.remember(key_for(host_checker()))
    return Check("passed", cov, tests, run=run, summary=coverage_summary(cov, len(nodes)))


def _passes(run: HostRun, cov: Coverage) -> bool:
    """A run passes when every test of a test file covering a staged file
    passes (with the reach the run itself recorded)."""
    if run.status in ("timeout", "error"):
        return False
    tests = set(cov.all_tests())
    for src in cov.sources:
        tests |= {t for t, files in run.reached.items() if src in files}
    return not any(n.bad and counts(n.nodeid, list(tests)) for n in run.nodes)


def _run(root: Path, targets: list[str], timeout_s: float, trace: bool, good: Callable[[HostRun], bool]) -> HostRun:
    """The lean run (no auto-loaded plugins) and, unless it is a pass with
    no sign of a missing plugin, the full run that decides."""
    import time

    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):  # the user runs without auto-loading anyway
        return run_host(root, targets, timeout_s, lean=False, trace=trace)
    t0 = time.monotonic()
    lean = run_host(root, targets, timeout_s, lean=True, trace=trace)
    if good(lean) and not lean.plugin_warnings:
        return lean
    full = run_host(root, targets, max(1.0, timeout_s - (time.monotonic() - t0)), lean=False, trace=trace)
    full.reached = {**lean.reached, **full.reached}
    return full


def _read_as_code(cov: Coverage, tests: list[str], reach: ReachMap, graph: ImportGraph, existing: set[str]) -> set[str]:
    """The files the covering tests read as code: hashed by content in the pass key."""
    out = {*cov.sources, *cov.staged_tests, *cov.conftests, *tests}
    for t in tests:
        out |= graph.reach(t)
        out |= set(conftests_of(t, existing))
        out |= set(reach.files_of(t))
    return {f for f in out if f in existing}


def coverage_summary(cov: Coverage, nodes: int | None = None, cached: bool = False) -> str:
    """``3 files: 2 covered by 5 tests in 2 test files, 1 not covered (c.py)``."""
    files = len(cov.sources) + len(cov.staged_tests) + len(cov.conftests)
    covered = [s for s in cov.sources if cov.tests_for.get(s)]
    bare = [s for s in cov.sources if not cov.tests_for.get(s)] + [c for c, ts in cov.conftests.items() if not ts]
    n_files = len(cov.all_tests())
    head = f"{files} file{'s' * (files != 1)}"
    if not n_files:
        return f"{head}, no test covers {'it' if files == 1 else 'them'}: {', '.join(bare)}"
    tests = f"{nodes} test{'s' * (nodes != 1)} in " if nodes is not None else ""
    parts = []
    if cov.staged_tests:
        parts.append(f"{len(cov.staged_tests)} test file{'s' * (len(cov.staged_tests) != 1)}")
    if cov.conftests:
        parts.append(f"{len(cov.conftests)} conftest.py")
    if covered:
        parts.append(f"{len(covered)} covered")
    if bare:
        parts.append(f"{len(bare)} not covered ({', '.join(bare)})")
    ran = f"{tests}{n_files} test file{'s' * (n_files != 1)}"
    return f"{head}: {', '.join(parts)}; " + (f"{ran} passed before on this exact content, not re-run" if cached else f"ran {ran}")


def assertion_line(message: str, limit: int = 200) -> str:
    """pytest's explanation of a failure on one line: the first ``E`` line
    and the first of its ``where`` details, ``assert -1 == 5 (where -1 =
    add(2, 3))``; else the report's last line."""
    errors = [ln[1:].strip() for ln in message.splitlines() if ln.startswith("E ") and ln[1:].strip()]
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    if not errors:
        text = lines[-1] if lines else ""
    else:
        where = next((e.lstrip("+ ").strip() for e in errors[1:] if e.startswith("+")), "")
        text = errors[0] + (f" ({where})" if where else "")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def syntax_problems(root: Path, files: list[str]) -> list[str]:
    """``file:line: SyntaxError: ...`` for each file that does not compile."""
    out = []
    for rel in files:
        try:
            compile((root / rel).read_bytes(), rel, "exec", dont_inherit=True)
        except SyntaxError as err:
            out.append(f"{rel}:{err.lineno or 1}: SyntaxError: {err.msg}")
        except (OSError, ValueError):
            continue
    return out
