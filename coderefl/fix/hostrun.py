"""Run the user's own tests on the host, the way a pytest hook would.

The code checked here is the user's staged code, not model output, so it
needs no sandbox: like any pytest pre-commit hook, it runs on the machine
that is about to commit it. The sandbox is started only when a repair
written by the model has to be verified (:mod:`coderefl.fix.fixer`).

How, and why so: pytest runs in a *forked* child of the hook's process
(pytest is imported once, before the fork, so no second interpreter
starts), with the repository as working directory and rootdir, the
repository root (and ``src/``) first on ``sys.path`` as ``python -m
pytest`` in the sandbox has them, ``-p no:cacheprovider`` and ``-o
addopts=`` as in the sandbox. The child's output goes to a file, its
verdict to a JSON report (:mod:`coderefl.fix.pytest_report`), and the
parent's modules, ``sys.path`` and working directory stay untouched: the
user's modules never enter the process that may later build a model client.
A child that dies without writing its report (``os._exit`` in a test) is an
error, never a pass; a child past its time limit is killed with its process
group.

Plugins: the first run starts pytest without auto-loading the installed
third-party plugins (``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``; plugins named in
``-p``, ``pytest_plugins`` or a conftest still load), because importing
them can cost more than the tests (hypothesis' plugin alone is ~0.8 s).
It also runs without pytest's terminal reporter (the plugin's report is
all that is read), which halves pytest's own time on a small suite.
That run is trusted only when it passes and no warning says an expected
plugin was missing (an unknown mark or ini option); anything else (a
failure, an error, a missing fixture a plugin would provide, async tests
without their plugin, which fail) is decided by a second run with every
plugin loaded, as the user's own ``pytest`` would
(:func:`coderefl.fix.check.precheck`). Collection errors do not stop the
run (``--continue-on-collection-errors``): a broken test file that does not
cover the staged files must not hide the verdict of those that do.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import select
import signal
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

from coderefl.fix.pytest_report import PLUGIN, NodeResult, judge, nodes_of, per_test_timeout

#: what the child writes when pytest itself could not be run
CHILD_CRASH = 70
#: built-in plugins the lean run leaves out: they serve command-line options only (--pastebin, --sw,
#: --setup-only, --setup-plan, --pdb), which the run never passes
LEAN_WITHOUT = ("pastebin", "stepwise", "setuponly", "setupplan", "debugging")


@dataclass
class HostRun:
    """A host pytest run: the verdict, each test, and (traced) what each
    test file reached."""

    status: str  # passed, failed, timeout, error
    nodes: list[NodeResult]
    output: str = ""
    reached: dict[str, list[str]] = field(default_factory=dict)  # test file -> repository files it called into
    plugin_warnings: list[str] = field(default_factory=list)
    lean: bool = False  # third-party plugins were not auto-loaded
    duration_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def host_can_run() -> str | None:
    """None when this interpreter can run the tests on the host, else why not."""
    if not hasattr(os, "fork"):
        return "this platform cannot fork"
    if importlib.util.find_spec("pytest") is None:
        return f"pytest is not installed in {sys.executable}"
    return None


def run_host(root: Path, targets: list[str], timeout_s: float, *, lean: bool, trace: bool) -> HostRun:
    """pytest on ``targets`` (test files or node ids) in a forked child."""
    import pytest  # before the fork: the child inherits it, already imported

    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="coderefl-fix-") as tmp:
        report, out = Path(tmp, "report.json"), Path(tmp, "output.txt")
        gc.freeze()  # the child's collections skip the parent's objects: no copy-on-write of the whole heap
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child (measured through its report)
            _child(pytest, root, targets, timeout_s, lean, trace, report, out)
        gc.unfreeze()
        code = _wait(pid, timeout_s)
        output = _tail(out)
        try:
            doc = json.loads(report.read_text())
        except (OSError, ValueError):
            doc = None
    took = time.monotonic() - t0
    if doc is None:
        if code is None:
            nodes = [NodeResult("<pytest>", "timeout", "the test run was still going at its time limit")]
            return HostRun("timeout", nodes, output, lean=lean, duration_s=took)
        why = f"pytest exited with {code} without finishing:\n{output[-2000:]}"
        return HostRun("error", [NodeResult("<pytest>", "error", why)], output, lean=lean, duration_s=took)
    nodes = nodes_of(doc)
    status = judge(code, nodes, output)
    return HostRun(status, nodes, output, reached=doc.get("reached") or {},
                   plugin_warnings=list(doc.get("plugin_warnings") or []), lean=lean, duration_s=took)


def _child(pytest, root: Path, targets, timeout_s, lean, trace, report: Path, out: Path) -> None:  # pragma: no cover
    code = CHILD_CRASH
    try:
        os.setpgid(0, 0)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.chdir(root)
        paths = [str(root)] + ([str(root / "src")] if (root / "src").is_dir() else [])
        sys.path[:0] = paths
        os.environ["PYTHONPATH"] = os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        os.environ.update(CODEREFL_FIX_REPORT=str(report), CODEREFL_FIX_TRACE="1" if trace else "0",
                          CODEREFL_FIX_TEST_TIMEOUT=str(per_test_timeout(timeout_s)), CODEREFL_FIX_EXIT_EARLY="1")
        if lean:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        plugin = types.ModuleType("coderefl_fix_report")
        # named as a file outside the repository, so that its frames are never taken for the user's code
        exec(compile(PLUGIN, str(report.parent / "coderefl_fix_report.py"), "exec"), plugin.__dict__)
        # the lean run also goes without the terminal reporter (half its time): its report is the plugin's
        # and without the built-in plugins that only serve options it never passes (none has an ini setting)
        shown = ["-p", "no:terminal", *(f"-pno:{p}" for p in LEAN_WITHOUT)] if lean else ["-q", "--color=no"]
        code = int(pytest.main(["-p", "no:cacheprovider", *shown, "-o", "addopts=", "--continue-on-collection-errors",
                                "--rootdir", str(root), *targets], plugins=[plugin]))
    except BaseException as err:  # noqa: BLE001 - the child must always end here
        try:
            os.write(2, f"coderefl fix: pytest could not run: {type(err).__name__}: {err}\n".encode())
        except OSError:
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _wait(pid: int, timeout_s: float) -> int | None:
    """The child's exit code, or None when it was killed at the time limit."""
    deadline = time.monotonic() + timeout_s
    fd = None
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pass
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                _kill_group(pid)  # what the tests left running
                return os.waitstatus_to_exitcode(status)
            left = deadline - time.monotonic()
            if left <= 0:
                _kill_group(pid)
                os.waitpid(pid, 0)
                return None
            if fd is not None:
                select.select([fd], [], [], left)
            else:
                time.sleep(min(0.01, left))
    except BaseException:  # Ctrl-C: the tests stop with the hook, not after it
        _kill_group(pid)
        os.waitpid(pid, 0)
        raise
    finally:
        if fd is not None:
            os.close(fd)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")
