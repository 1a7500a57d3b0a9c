"""Run the repository's own pytest tests in the sandbox.

The repository is *copied* into the sandbox's work dir through the
sandbox's ``files`` argument (a snapshot of the work tree, with the
candidate repairs laid over it); nothing of the host is mounted, so the
code under test can neither read nor write the user's checkout.

Inside, the runner's tests file is one ``test_pytest`` function (written
here) that starts ``python3 -m pytest`` on the covering test files in a
subprocess, with a small plugin that records every test's outcome, its
failure text and the traceback frames inside the repository as JSON. The
runner's own verdict (that function passed: pytest exited 0) and the
per-test report must agree before a run counts as passed.

Why a subprocess and not ``pytest.main`` in the harness: a fresh
interpreter gets the repository's own ``conftest.py``, rootdir and
``sys.path`` exactly as ``pytest`` on the user's machine would.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from coderefl.errors import BadInput
from coderefl.execution.base import Sandbox
from coderefl.fix.discover import repo_files
from coderefl.fix.pytest_report import PLUGIN, NodeResult, judge, nodes_of, per_test_timeout
from coderefl.fix.splice import digest
from coderefl.records import ExecutionResult, Limits, TestOutcome

#: files larger than this are not copied into the sandbox
MAX_FILE_BYTES = 2 * 1024 * 1024
#: the whole snapshot must stay below this
MAX_SNAPSHOT_BYTES = 96 * 1024 * 1024
REPO_DIR = "repo"
PLUGIN_DIR = "_coderefl"

HARNESS = r'''
import json
import os
import subprocess
import sys

TARGETS = %(targets)r
MARK = %(mark)r
TIMEOUT = %(timeout)r
TEST_TIMEOUT = %(test_timeout)r


def test_pytest():
    here = os.getcwd()
    repo = os.path.join(here, %(repo)r)
    report = os.path.join(here, %(plugins)r, "report.json")
    paths = [os.path.join(here, %(plugins)r), repo]
    if os.path.isdir(os.path.join(repo, "src")):
        paths.append(os.path.join(repo, "src"))
    env = dict(os.environ)
    env.update(PYTHONPATH=os.pathsep.join(paths), CODEREFL_FIX_REPORT=report, PYTHONDONTWRITEBYTECODE="1",
               COLUMNS="100", PYTHONHASHSEED="0", CODEREFL_FIX_TEST_TIMEOUT=str(TEST_TIMEOUT))
    cmd = [sys.executable, "-m", "pytest", "-p", "coderefl_fix_report", "-p", "no:cacheprovider", "-q",
           "--color=no", "-o", "addopts=", "--rootdir", repo, *TARGETS]
    try:
        proc = subprocess.run(cmd, cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=TIMEOUT)
        out, code = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as err:
        out, code = err.output or b"", None
    try:
        with open(report) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        data = None
    text = out.decode("utf-8", "replace")
    print(MARK + json.dumps({"exit": code, "report": data, "output": text[-6000:]}), flush=True)
    assert code in (0, 5), "pytest exited with %%s" %% code
'''


@dataclass
class TestRun:
    """A pytest run's outcome: the verdict and each test's result."""

    __test__ = False

    status: str  # passed, failed, timeout, error
    nodes: list[NodeResult]
    output: str
    execution: ExecutionResult

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def failing(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.bad]

    def failing_ids(self) -> set[str]:
        return {n.nodeid for n in self.failing}

    def feedback(self, limit: int = 6000) -> str:
        """The failing tests as a model should read them."""
        if self.passed:
            return f"All {len(self.nodes)} tests passed."
        bad = self.failing
        lines = [f"pytest: {len(bad)} of {len(self.nodes)} tests failed." if self.nodes else "pytest did not run the tests."]
        if self.status == "timeout":
            lines.append("The test run hit its time limit: an infinite loop or a very slow function?")
        for n in bad:
            lines.append(f"FAILED {n.nodeid}\n{n.message.strip()}")
        if not bad:
            lines.append(self.output.strip()[-2000:] or self.execution.stderr.strip()[-2000:])
        text = "\n\n".join(lines)
        return text if len(text) <= limit else text[:limit] + "\n... (output truncated)"


class Snapshot:
    """The work tree's files as bytes, read once at the start.

    The sandbox gets these (with repairs laid over them); the digests let
    the writer refuse to overwrite a file the user edited meanwhile."""

    def __init__(self, root: Path, files: dict[str, bytes]) -> None:
        self.root = root
        self.files = files

    @classmethod
    def read(cls, root: Path, must_have: list[str] = ()) -> "Snapshot":
        files: dict[str, bytes] = {}
        total = 0
        for rel in dict.fromkeys([*repo_files(root), *must_have]):
            path = root / rel
            try:
                if path.is_symlink() or path.stat().st_size > MAX_FILE_BYTES:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            total += len(data)
            files[rel] = data
        if total > MAX_SNAPSHOT_BYTES:
            raise BadInput(
                f"the repository's files add up to {total // (1024 * 1024)} MB; coderefl fix copies at most "
                f"{MAX_SNAPSHOT_BYTES // (1024 * 1024)} MB into the sandbox"
            )
        return cls(root, files)

    def sha(self, rel: str) -> str:
        return digest(self.files[rel])

    def size(self) -> int:
        return sum(len(v) for v in self.files.values())

    def job_files(self, overrides: dict[str, bytes]) -> dict[str, str | bytes]:
        out: dict[str, str | bytes] = {}
        for rel, data in {**self.files, **overrides}.items():
            try:
                out[f"{REPO_DIR}/{rel}"] = data.decode("utf-8")
            except UnicodeDecodeError:
                out[f"{REPO_DIR}/{rel}"] = data
        out[f"{PLUGIN_DIR}/coderefl_fix_report.py"] = PLUGIN
        return out


def run_limits(base: Limits, snapshot_bytes: int) -> Limits:
    """Limits for a pytest run: room for the repository copy in the tmpfs,
    and output room for the JSON report."""
    tmpfs = max(base.tmpfs_mb, 64 + 3 * snapshot_bytes // (1024 * 1024))
    return base.model_copy(update={"tmpfs_mb": tmpfs, "output_bytes": max(base.output_bytes, 1024 * 1024)})


async def run_pytest(
    sandbox: Sandbox,
    snapshot: Snapshot,
    targets: list[str],
    limits: Limits,
    overrides: dict[str, bytes] | None = None,
) -> TestRun:
    """Run pytest on ``targets`` (test files or node ids) in the sandbox."""
    mark = f"CODEREFL-FIX-{secrets.token_hex(8)} "
    inner_timeout = max(1.0, limits.timeout_s - 3.0)
    tests = HARNESS % {
        "targets": list(targets),
        "mark": mark,
        "timeout": inner_timeout,
        "test_timeout": per_test_timeout(inner_timeout),
        "repo": REPO_DIR,
        "plugins": PLUGIN_DIR,
    }
    lim = run_limits(limits, snapshot.size())
    result = await sandbox.run("", tests, lim, files=snapshot.job_files(overrides or {}))
    return interpret(result, mark)


def interpret(result: ExecutionResult, mark: str) -> TestRun:
    """Combine the runner's verdict with the plugin's report."""
    payload = None
    for line in result.stdout.splitlines():
        if line.startswith(mark):
            try:
                payload = json.loads(line[len(mark) :])
            except ValueError:
                payload = None
    if payload is None:
        status = "timeout" if result.status == "timeout" else "error"
        why = "; ".join(t.message for t in result.failing if t.message) or result.stderr.strip()[-1000:]
        node = NodeResult("<pytest>", "timeout" if status == "timeout" else "error", why or "pytest did not report")
        return TestRun(status, [node], result.stderr, _execution(result, status, [node], ""))
    report = payload.get("report") or {}
    output = payload.get("output") or ""
    nodes = nodes_of(report)
    code = payload.get("exit")
    if payload.get("report") is None and code is not None:
        # pytest ended without its session report (os._exit in the code under test?)
        nodes.append(NodeResult("<pytest>", "error", f"pytest exited with {code} without finishing:\n{output[-2000:]}"))
        return TestRun("error", nodes, output, _execution(result, "error", nodes, output))
    status = judge(code, nodes, output, runner_ok=result.status == "passed")
    return TestRun(status, nodes, output, _execution(result, status, nodes, output))


def _execution(result: ExecutionResult, status: str, nodes: list[NodeResult], output: str) -> ExecutionResult:
    """The run as an ExecutionResult (one outcome per pytest test) for the trajectory."""
    return ExecutionResult(
        status=status,  # type: ignore[arg-type]
        tests=[TestOutcome(name=n.nodeid, status=n.status, message=n.message) for n in nodes],  # type: ignore[arg-type]
        stdout=output,
        stderr=result.stderr,
        truncated=result.truncated,
        duration_s=result.duration_s,
        exit_code=result.exit_code,
    )
