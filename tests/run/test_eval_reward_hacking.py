"""A model that cheats, through the real pipeline: ``coderefl eval`` with a
scripted model whose every answer reads the expected value off the calling test
line instead of computing it.

In the tested process (in-process mode) that program passes most hidden tests;
that is the control showing the attack is real. Hidden scoring runs in judge
mode, where it passes none.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from coderefl.execution.local import LocalSandbox
from coderefl.problems.registry import load_benchmark
from coderefl.problems.samples import program_for
from coderefl.records import Limits
from tests.openai_server import ScriptedServer
from tests.run.test_eval_cli import cli, eval_args, lines

#: reads ``assert <call> == <expected>`` of the calling test line and returns <expected>
STACK_READER = '''
import ast, linecache, sys


def _forge(*args, **kwargs):
    frame = sys._getframe(2)
    while frame is not None:
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
        if line.startswith("assert"):
            try:
                test = ast.parse(line.rstrip(":")).body[0].test
            except (SyntaxError, IndexError, AttributeError):
                test = None
            if isinstance(test, ast.Compare) and len(test.comparators) == 1:
                try:
                    expr = ast.Expression(test.comparators[0])
                    return eval(compile(expr, "<forge>", "eval"), frame.f_globals, frame.f_locals)
                except Exception:
                    pass
            if test is not None:
                return not isinstance(test, ast.UnaryOp)
        frame = frame.f_back
    return None
'''


def cheater(entry: str) -> str:
    return f"{STACK_READER}\n\ndef {entry}(*args, **kwargs):\n    return _forge(*args, **kwargs)\n"


def handler(body: dict) -> str:
    prompt = json.dumps(body)
    entry = re.findall(r"def (\w+)\(", prompt)[-1]
    return f"```python\n{cheater(entry)}```"


def test_the_attack_is_real_in_process():
    """Control: with the tests in the program's process the cheat passes."""
    tasks = load_benchmark("humaneval", limit=12)
    sandbox = LocalSandbox(limits=Limits(timeout_s=10))
    passed = 0
    for task in tasks:
        tests = task.hidden.test_code.replace("# coderefl: plain-values\n", "", 1)
        result = asyncio.run(sandbox.run(program_for(task, cheater(task.problem.entry_point)), tests))
        assert result.isolation == "in-process"
        passed += result.passed
    assert passed >= 6, passed


@pytest.mark.docker
def test_eval_scores_a_cheating_model_at_zero(docker_ready, tmp_path):
    out, cache = tmp_path / "runs" / "cheat", tmp_path / "cache.sqlite"
    with ScriptedServer(handler=handler) as server:
        cli(eval_args(server, out, limit=12), cache, cwd=tmp_path, check=True)
    records = lines(out / "results.jsonl")
    assert len(records) == 12
    assert all("_forge" in r["final_code"] for r in records)
    assert [r["task_id"] for r in records if r["hidden_passed"]] == []
    assert {r["hidden_isolation"] for r in records} == {"judge"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pass@1"] == 0.0 and summary["hidden_evals"]["isolation"] == {"judge": 12}
