"""`coderefl eval --advisor` and `--memory`: the learning parts (AGILE) in a
real run, with the scripted server and the Docker sandbox."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.openai_server import ScriptedServer, rules
from tests.run.test_eval_cli import cli
from tests.strategies.conftest import BUGGY, GOOD, REFLECT, REGEN, TESTS

pytestmark = pytest.mark.docker

PROBLEMS = [
    {
        "task_id": "learn/add",
        "prompt": 'def add(a, b):\n    """Return the sum of a and b.\n    >>> add(2, 3)\n    5\n    """\n',
        "entry_point": "add",
        "tests": ["assert add(100, 1) == 101", "assert add(-4, 4) == 0"],
        "canonical_solution": "def add(a, b):\n    return a + b\n",
    },
    {
        "task_id": "learn/add_three",
        "prompt": 'def add_three(a, b, c):\n    """Return the sum of a, b and c.\n    >>> add_three(1, 2, 3)\n    6\n    """\n',
        "entry_point": "add_three",
        "tests": ["assert add_three(100, 1, 1) == 102"],
        "canonical_solution": "def add_three(a, b, c):\n    return a + b + c\n",
    },
]


def _problem_file(tmp_path: Path) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS))
    return path


def _run(server, tmp_path, *extra):
    return cli(
        ["eval", "--benchmark", str(_problem_file(tmp_path)), "--strategy", "reflexion", "--model", "scripted-model",
         "--base-url", server.base_url, "--api-key", "k", "--concurrency", "1", "--max-problems", "1", "--out", str(tmp_path / "run"), "-q",
         *extra],
        tmp_path / "cache.sqlite",
        cwd=tmp_path,
        check=True,
    )


def test_advisor_is_asked_counted_and_reported(tmp_path):
    from coderefl.strategies.asking import UNSURE_NEEDLE

    handler = rules(
        (TESTS, "```python\nassert add(1, 1) == 0\nassert add_three(1, 1, 1) == 0\n```"),  # wrong own tests
        (UNSURE_NEEDLE, "(7, 8)"),
        (REFLECT, "Maybe it should subtract."),
        (REGEN, GOOD),
        ("add_three", "```python\ndef add_three(a, b, c):\n    return a + b + c\n```"),
        fallback=BUGGY,
    )
    with ScriptedServer(handler) as server:
        _run(server, tmp_path, "--advisor", "--max-iters", "2")
        prompts = "\n".join(m["content"] for b in server.requests for m in b.get("messages", []))
    records = {r["task_id"]: r for r in map(json.loads, (tmp_path / "run" / "results.jsonl").read_text().splitlines())}
    assert records["learn/add"]["advice_requests"] == 1 and records["learn/add"]["hidden_passed"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["advice"]["advised"] >= 1 and summary["advice"]["advice_rate"] > 0
    assert "not comparable to published figures" in summary["comparability"]
    assert "add(7, 8) == 15" in prompts
    assert "add(100, 1)" not in prompts and "add_three(100, 1, 1)" not in prompts  # hidden tests never leak
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["learn"]["advisor"] is True


LESSON = "Use + for a sum; the subtraction was the bug."


def _lesson_script():
    """add: a buggy first attempt fixed after the reflection LESSON; add_three: right at once."""
    return rules(
        (TESTS, "```python\nassert add(1, 2) == 3\n```"),
        (REFLECT, LESSON),
        (REGEN, GOOD),
        ("add_three", "```python\ndef add_three(a, b, c):\n    return a + b + c\n```"),
        fallback=BUGGY,
    )


def test_memory_carries_a_lesson_to_the_next_problem(tmp_path):
    handler = _lesson_script()
    lesson = LESSON
    memory = tmp_path / "memory.sqlite"
    with ScriptedServer(handler) as server:
        _run(server, tmp_path, "--memory", str(memory))
        later = [b for b in server.requests if "add_three" in json.dumps(b)]
    assert any(lesson in m["content"] for b in later for m in b.get("messages", []))
    rows = sqlite3.connect(memory).execute("select count(*) from lessons").fetchone()[0]
    assert rows >= 1
    # a resume with another memory setting is another experiment: refused
    with ScriptedServer(handler) as server:
        proc = cli(
            ["eval", "--benchmark", str(_problem_file(tmp_path)), "--strategy", "reflexion", "--model", "scripted-model",
             "--base-url", server.base_url, "--api-key", "k", "--out", str(tmp_path / "run"), "-q"],
            tmp_path / "cache.sqlite",
            cwd=tmp_path,
        )
    assert proc.returncode == 2 and "learn" in proc.stderr


def test_compare_memory_runs_both_arms_in_one_command(tmp_path):
    handler = _lesson_script()
    lesson = LESSON
    with ScriptedServer(handler) as server:
        proc = _run(server, tmp_path, "--memory", str(tmp_path / "memory.sqlite"), "--compare-memory")
        with_lesson = [b for b in server.requests if lesson in json.dumps(b) and "add_three" in json.dumps(b)]
    run = tmp_path / "run"
    for arm in ("without-memory", "with-memory"):
        assert len((run / arm / "results.jsonl").read_text().splitlines()) == 2
    assert json.loads((run / "without-memory" / "config.json").read_text())["learn"]["memory"] is None
    assert json.loads((run / "with-memory" / "config.json").read_text())["learn"]["memory"]
    assert with_lesson, "the with-memory arm recalled the lesson for the second problem"
    report = json.loads((run / "report.json").read_text())
    assert [r["run"] for r in report["runs"]] == ["without-memory", "with-memory"]
    assert "memory comparison" in proc.stdout
