"""The pytest plugin that records a run, and the records it makes.

One plugin serves both places the fixer runs pytest: in the sandbox (the
checks of model-written repairs, :mod:`coderefl.fix.testrun`) and on the
host (the check of the user's own staged code, :mod:`coderefl.fix.hostrun`).
It records every test's outcome, its failure text and the traceback frames
inside the repository as JSON, stops a test that runs past its share of
the time with an exception raised inside the running code, and, when asked
(``CODEREFL_FIX_TRACE=1``), which of the repository's files each test file
executed: during its collection, its tests, and the set-up of every fixture
its tests use (so a fixture in a ``conftest.py`` counts for the test files
that use it). It also notes the warnings that say a third-party plugin the
configuration expects was not loaded (an unknown mark or ini option).

Light on purpose: the pre-commit hook imports this before anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: failure text kept per test (head and tail of pytest's report)
MESSAGE_HEAD, MESSAGE_TAIL = 800, 3200

PLUGIN = r'''
"""coderefl fix: record pytest outcomes as JSON."""
import json
import os
import signal
import sys
import threading

import pytest

_ROOT = os.path.realpath(os.getcwd())
_RESULTS = {}
_FRAMES = {}
_BAD = ("failed", "error")
_TRACE = os.environ.get("CODEREFL_FIX_TRACE") == "1" and sys.gettrace() is None
_NOBODY = set()
_OWNERS = {}  # ("file", test file) or ("fixture", name) -> code filenames called while it ran
_CURRENT = [_NOBODY]
_FIXTURES = {}  # test file -> fixture names its tests use
_PLUGIN_WARNINGS = []


def _rel(path):
    p = os.path.realpath(str(path))
    if p.startswith(_ROOT + os.sep):
        return os.path.relpath(p, _ROOT).replace(os.sep, "/")
    return None


def _trim(text, head=%(head)d, tail=%(tail)d):
    text = text or ""
    if len(text) <= head + tail:
        return text
    return text[:head] + "\n... (%%d characters cut) ...\n" %% (len(text) - head - tail) + text[-tail:]


def _record(nodeid, status, message):
    prev = _RESULTS.get(nodeid)
    if prev is None or (status in _BAD and prev["status"] not in _BAD):
        _RESULTS[nodeid] = {"nodeid": nodeid, "status": status, "message": _trim(message)}


def _tracer(frame, event, arg):
    if event == "call":
        _CURRENT[-1].add(frame.f_code.co_filename)
    return None


class _Owner:
    def __init__(self, key):
        self.files = _OWNERS.setdefault(key, set()) if _TRACE else _NOBODY

    def __enter__(self):
        _CURRENT.append(self.files)

    def __exit__(self, *exc):
        _CURRENT.pop()


def pytest_sessionstart(session):
    if _TRACE:
        threading.settrace(_tracer)
        sys.settrace(_tracer)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    key = ("file", collector.nodeid) if isinstance(collector, pytest.Module) else None
    if key is None:
        yield
        return
    with _Owner(key):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    test_file = item.nodeid.split("::", 1)[0]
    _FIXTURES.setdefault(test_file, set()).update(getattr(item, "fixturenames", ()))
    with _Owner(("file", test_file)):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    with _Owner(("fixture", fixturedef.argname)):
        yield


def pytest_warning_recorded(warning_message, when, nodeid, location):
    name = type(warning_message.message).__name__
    if name in ("PytestUnknownMarkWarning", "PytestConfigWarning"):
        _PLUGIN_WARNINGS.append("%%s: %%s" %% (name, warning_message.message))


class TestTimeout(Exception):
    """A test ran past its share of the time: raised inside the running
    code, so the traceback shows where it was looping."""


def _alarm(signum, frame):
    raise TestTimeout("the test was still running after %%ss: an infinite loop or a very slow function?"
                      %% os.environ.get("CODEREFL_FIX_TEST_TIMEOUT"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    limit = float(os.environ.get("CODEREFL_FIX_TEST_TIMEOUT") or 0)
    old = signal.signal(signal.SIGALRM, _alarm) if limit > 0 else None
    if limit > 0:
        signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        if limit > 0:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def pytest_runtest_makereport(item, call):
    if call.excinfo is None:
        return None
    try:
        frames = _FRAMES.setdefault(item.nodeid, [])
        for entry in call.excinfo.traceback:
            rel = _rel(entry.path)
            if rel is not None:
                frames.append([rel, entry.lineno + 1, entry.name])
    except Exception:
        pass
    return None


def pytest_runtest_logreport(report):
    if report.when == "call":
        if report.passed:
            status = "passed"
        elif report.skipped:
            status = "skipped"
        else:
            status = "failed"
    elif report.failed:
        status = "error"
    elif report.when == "setup" and report.skipped:
        status = "skipped"
    else:
        return
    _record(report.nodeid, status, report.longreprtext if status in _BAD else "")


def pytest_collectreport(report):
    if report.failed:
        _record(report.nodeid or "<collection>", "error", report.longreprtext)


def _reached():
    """Test file -> the repository files its collection, tests and fixtures called into."""
    rel = {}
    out = {}
    for (kind, name), files in list(_OWNERS.items()):
        if kind != "file":
            continue
        names = set(files)
        for fixture in _FIXTURES.get(name, ()):
            names |= _OWNERS.get(("fixture", fixture), set())
        found = set()
        for f in names:
            if f not in rel:
                r = _rel(f) if f.endswith(".py") else None
                rel[f] = r if r is not None and "site-packages" not in r else None
            if rel[f] is not None:
                found.add(rel[f])
        out[name] = sorted(found)
    return out


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if _TRACE:
        sys.settrace(None)
        threading.settrace(None)
    tests = []
    for nodeid, res in _RESULTS.items():
        res = dict(res)
        res["frames"] = _FRAMES.get(nodeid, [])[-40:]
        tests.append(res)
    doc = {"exitstatus": int(exitstatus), "tests": tests, "plugin_warnings": _PLUGIN_WARNINGS[:5]}
    if _TRACE:
        doc["reached"] = _reached()
    with open(os.environ["CODEREFL_FIX_REPORT"], "w") as fh:
        json.dump(doc, fh)
    if os.environ.get("CODEREFL_FIX_EXIT_EARLY") == "1":  # the host's child: the report is all that counts
        os._exit(int(exitstatus))
''' % {"head": MESSAGE_HEAD, "tail": MESSAGE_TAIL}


@dataclass
class NodeResult:
    """One pytest test (or collection error) as the plugin recorded it."""

    nodeid: str
    status: str  # passed, failed, error, skipped, timeout
    message: str = ""
    frames: list[tuple[str, int, str]] = field(default_factory=list)  # (relpath, line, function)

    @property
    def bad(self) -> bool:
        return self.status in ("failed", "error", "timeout")

    @property
    def file(self) -> str:
        return self.nodeid.split("::", 1)[0]

    @property
    def name_path(self) -> list[str]:
        """``tests/t.py::TestA::test_b[1-2]`` -> ``["TestA", "test_b"]``."""
        parts = self.nodeid.split("::")[1:]
        if parts:
            parts[-1] = parts[-1].split("[", 1)[0]
        return parts


def nodes_of(report: dict) -> list[NodeResult]:
    """The plugin's JSON report as NodeResults."""
    return [
        NodeResult(
            nodeid=str(t.get("nodeid", "")),
            status=str(t.get("status", "error")),
            message=str(t.get("message", "")),
            frames=[(str(f[0]), int(f[1]), str(f[2])) for f in t.get("frames", []) if len(f) == 3],
        )
        for t in report.get("tests", [])
    ]


def per_test_timeout(run_timeout: float) -> float:
    """One test's share of a run's time: a looping test is stopped with a
    traceback (which names the looping function) while the run goes on."""
    return round(max(1.0, min(30.0, run_timeout / 3)), 2)


def judge(code: int | None, nodes: list[NodeResult], output: str, runner_ok: bool = True) -> str:
    """A run's status from pytest's exit code (None: stopped at its time
    limit) and the recorded tests; adds a ``<pytest>`` node saying why when
    no test explains a bad exit. Passed needs both: exit 0 (or 5, nothing
    collected) and no failing test."""
    if code is None:
        nodes.append(NodeResult("<pytest>", "timeout", "the test run was still going at its time limit"))
        return "timeout"
    if runner_ok and code in (0, 5) and not any(n.bad for n in nodes):
        return "passed"
    if any(n.bad for n in nodes):
        return "failed"
    nodes.append(NodeResult("<pytest>", "error", f"pytest exited with {code}:\n{output[-2000:]}"))
    return "error"
