"""Adding a strategy, a sandbox backend and a benchmark is one file each, with
no edit to coderefl: a throwaway package declares all three under the entry
point groups, and ``solve`` and ``eval`` run them (real CLI, real HTTP to the
scripted model server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.openai_server import ScriptedServer

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
import re

from coderefl.execution.base import Sandbox
from coderefl.records import BenchmarkTask, ChatMessage, ExecutionResult, HiddenTests, Problem, TestOutcome, Trajectory
from coderefl.strategies.base import Strategy


class AskOnce(Strategy):
    """Asks the model once and runs what it wrote against the problem's examples."""

    async def solve(self, problem, user_tests=None, sample=0):
        reply = await self.model.chat([ChatMessage(role="user", content=problem.prompt)], phase="generate",
                                      sample_index=sample)
        code = re.search(r"```python\\n(.*?)```", reply.texts[0], re.S).group(1)
        result = await self.sandbox.run(code, "\\n".join(problem.visible_tests) or None, self.config.limits)
        return Trajectory(task_id=problem.task_id, strategy=self.name, final_code=code, internal_passed=result.passed,
                          internal_tests=list(problem.visible_tests), stop_reason="single_shot", iterations=1,
                          usage=reply.usage)


class EchoSandbox(Sandbox):
    """Passes a program whose source says PASS."""

    async def run(self, program, tests=None, limits=None, files=None):
        ok = "PASS" in program
        return ExecutionResult(status="passed" if ok else "failed",
                               tests=[TestOutcome(name="echo", status="passed" if ok else "failed")])


def tiny(problems_file=None):
    return [BenchmarkTask(problem=Problem(task_id=f"tiny/{i}", prompt=f"def one():\\n    \\"\\"\\"{i}\\"\\"\\"\\n",
                                          entry_point="one", visible_tests=["assert one() == 1"]),
                          hidden=HiddenTests(test_code="assert one() == 1\\n", canonical_solution="# PASS\\n"))
            for i in range(3)]
'''


def install(where: Path) -> dict[str, str]:
    (where / "throwaway.py").write_text(textwrap.dedent(PLUGIN))
    info = where / "throwaway-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: throwaway\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[coderefl.strategies]\nask-once = throwaway:AskOnce\n"
        "[coderefl.sandboxes]\necho = throwaway:EchoSandbox\n"
        "[coderefl.benchmarks]\ntiny = throwaway:tiny\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_"))}
    return {**env, "PYTHONPATH": f"{where}{os.pathsep}{ROOT}", "CODEREFL_CACHE_PATH": str(where / "cache.sqlite")}


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coderefl.cli.main", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_a_strategy_backend_and_benchmark_from_a_package_run_through_solve_and_eval(tmp_path):
    env = install(tmp_path)
    with ScriptedServer() as server:
        server.handler = lambda body: "```python\ndef one():\n    return 1  # PASS\n```"
        model = ["--model", "scripted-model", "--base-url", server.base_url, "--api-key", "k"]
        helped = cli(["solve", "--help"], env, tmp_path)
        assert "ask-once" in helped.stdout and "echo" in helped.stdout
        solved = cli(["solve", "Return 1.", "--entry", "one", "--strategy", "ask-once", "--sandbox", "echo", "--json",
                      *model], env, tmp_path)
        assert solved.returncode == 0, solved.stderr
        traj = json.loads(solved.stdout)
        assert traj["strategy"] == "ask-once" and "return 1" in traj["final_code"]
        out = tmp_path / "run"
        ran = cli(["eval", "--benchmark", "tiny", "--strategy", "ask-once", "--sandbox", "echo", "--out", str(out),
                   *model], env, tmp_path)
        assert ran.returncode == 0, ran.stderr
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["task_id"] for r in records) == ["tiny/0", "tiny/1", "tiny/2"]
    assert all(r["strategy"] == "ask-once" and r["hidden_passed"] for r in records)
    unknown = cli(["solve", "x", "--strategy", "nope"], env, tmp_path)
    assert unknown.returncode == 2 and "ask-once" in unknown.stderr


def test_the_readme_tables_list_what_the_registries_hold():
    """The README names every registered strategy in its table, and every built-in backend and benchmark."""
    from coderefl.execution import available_backends
    from coderefl.problems.registry import benchmarks
    from coderefl.strategies.base import strategy_names

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Strategies"):]
    table = section[section.index("| name | what it does |"):]
    table = table[: table.index("\n\n")]  # the first table of the section
    rows = {line.split("|")[1].strip().strip("`") for line in table.splitlines() if line.startswith("| `")}
    from coderefl.strategies.base import strategies

    shipped = {n for n, cls in strategies().items() if cls.__module__.startswith("coderefl.")}  # not tests' own
    assert rows == shipped and shipped <= set(strategy_names())
    for name, obj in [*available_backends().items(), *((n, b.load) for n, b in benchmarks().items())]:
        if obj.__module__.startswith("coderefl."):
            assert f"`{name}`" in readme or f" {name} " in readme, name
