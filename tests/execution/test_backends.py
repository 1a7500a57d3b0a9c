"""The sandbox interface: one registry of backends (built-in and from installed
packages), the shared sync wrapper, and the in-memory sandbox for agent tests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from coderefl.errors import BadInput
from coderefl.execution import Sandbox, available_backends, create_sandbox, run_blocking
from coderefl.execution.memory import InMemorySandbox, verdict
from coderefl.records import Limits

ROOT = Path(__file__).resolve().parents[2]


def make_plugin(where: Path) -> Path:
    """An installed package (a module and its dist-info) that adds a backend through the entry point only."""
    (where / "echo_backend.py").write_text(textwrap.dedent('''
        from coderefl.execution.base import Sandbox
        from coderefl.records import ExecutionResult, TestOutcome

        class EchoSandbox(Sandbox):
            """Passes a program whose source says PASS; a plug-in of one file."""
            description = "a test plug-in"

            async def run(self, program, tests=None, limits=None, files=None):
                ok = "PASS" in program
                return ExecutionResult(status="passed" if ok else "failed",
                                       tests=[TestOutcome(name="echo", status="passed" if ok else "failed")])
    '''))
    info = where / "echo_backend-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-backend\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[coderefl.sandboxes]\necho = echo_backend:EchoSandbox\n")
    return where


def test_the_built_in_backends_are_registered():
    backends = available_backends()
    assert {"docker", "local"} <= set(backends)
    assert all(issubclass(cls, Sandbox) for cls in backends.values())
    assert "in-memory" not in backends  # the agent tests' fake is never offered to users
    with pytest.raises(BadInput, match="choose from .*docker.*local"):
        create_sandbox("nope")


def test_a_backend_from_an_installed_package_needs_no_edit_here(tmp_path):
    plugin = make_plugin(tmp_path)
    env = {**os.environ, "PYTHONPATH": f"{plugin}{os.pathsep}{ROOT}"}
    listed = subprocess.run(
        [sys.executable, "-c", "from coderefl.execution import available_backends; print(sorted(available_backends()))"],
        capture_output=True, text=True, env=env, timeout=60)
    assert "'echo'" in listed.stdout, listed.stderr
    sol = tmp_path / "sol.py"
    sol.write_text("# PASS\n")
    tests = tmp_path / "t.py"
    tests.write_text("assert True\n")
    run = subprocess.run([sys.executable, "-m", "coderefl.cli.main", "sandbox", "run", str(sol), "--tests", str(tests),
                          "--backend", "echo", "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["tests"] == [{"name": "echo", "status": "passed", "message": ""}]


def test_run_sync_works_with_and_without_a_running_loop():
    sb = InMemorySandbox(lambda program, tests: verdict([("t", "passed")]))
    assert sb.run_sync("x = 1\n", "assert True\n").passed  # no loop here

    async def inside() -> bool:
        return sb.run_sync("x = 2\n", "assert True\n").passed  # a loop runs on this thread

    assert asyncio.run(inside())
    assert [c.program for c in sb.calls] == ["x = 1\n", "x = 2\n"]
    with pytest.raises(ZeroDivisionError):
        run_blocking(_boom())


async def _boom():
    return 1 / 0


def test_the_in_memory_sandbox_scripts_verdicts_in_microseconds():
    def script(program: str, tests: str | None):
        return verdict({"a": "passed", "b": "failed" if "bug" in program else "passed"}, {"b": "f(1) returned 2, expected 3"})

    sb = InMemorySandbox(script, limits=Limits(timeout_s=1))
    t0 = time.perf_counter()
    bad = asyncio.run(sb.run("bug = 1\n", "assert f(1) == 3\n"))
    good = asyncio.run(sb.run("ok = 1\n", "assert f(1) == 3\n"))
    assert time.perf_counter() - t0 < 0.5
    assert bad.status == "failed" and bad.failing[0].message == "f(1) returned 2, expected 3"
    assert good.status == "passed" and sb.calls[0].limits.timeout_s == 1
    assert verdict([("x", "timeout")]).status == "timeout"


def test_a_benchmark_from_an_installed_package_needs_no_edit_here(tmp_path):
    """A package adds a benchmark through the ``coderefl.benchmarks`` entry point;
    ``problems list`` and ``problems check`` (with the echo backend above) take it."""
    plugin = make_plugin(tmp_path)
    (plugin / "tiny_bench.py").write_text(textwrap.dedent('''
        from coderefl.records import BenchmarkTask, HiddenTests, Problem

        def load(problems_file=None):
            return [BenchmarkTask(problem=Problem(task_id="tiny/1", prompt="def one():\\n    \\"\\"\\"1\\"\\"\\"\\n",
                                                  entry_point="one"),
                                  hidden=HiddenTests(test_code="assert one() == 1\\n", canonical_solution="# PASS\\n"))]
    '''))
    info = plugin / "tiny_bench-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-bench\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[coderefl.benchmarks]\ntiny = tiny_bench:load\n")
    env = {**os.environ, "PYTHONPATH": f"{plugin}{os.pathsep}{ROOT}"}
    listed = subprocess.run([sys.executable, "-m", "coderefl.cli.main", "problems", "list", "tiny"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert listed.returncode == 0 and "tiny/1" in listed.stdout, listed.stderr
    checked = subprocess.run([sys.executable, "-m", "coderefl.cli.main", "problems", "check", "tiny", "--sandbox", "echo"],
                             capture_output=True, text=True, env=env, timeout=60)
    assert checked.returncode == 0 and "passed 1/1" in checked.stdout, checked.stderr
