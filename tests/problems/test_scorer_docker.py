"""The hidden-test scorer and canonical checks, in the real Docker sandbox."""

from __future__ import annotations

import asyncio
import json

import pytest

from coderefl.problems import Scorer, find_task, load_benchmark, score_generated_tests
from coderefl.problems.check import check_canonical
from coderefl.records import RunRecord
from tests.problems.helpers import EXAMPLES, cli, mbpp_test_file

pytestmark = pytest.mark.docker


def run(coro):
    return asyncio.run(coro)


def test_humaneval_all_164_canonical_solutions_pass(docker_sandbox):
    tasks = load_benchmark("humaneval")
    report = run(check_canonical(docker_sandbox, tasks, concurrency=2))
    assert report.failures == []
    assert (report.passed, report.checked) == (164, 164)


def test_example_set_canonical_solutions_pass(docker_sandbox):
    report = run(check_canonical(docker_sandbox, load_benchmark(str(EXAMPLES)), concurrency=2))
    assert report.failures == [] and report.passed == report.checked == 10


def test_mbpp_canonical_solutions_pass_but_the_known_slow_one(docker_sandbox):
    """Every MBPP canonical solution passes, except that mbpp/123's naive O(n^2)
    reference may hit the time limit (docs/problems.md); it must not fail otherwise."""
    tasks = load_benchmark("mbpp", problems_file=mbpp_test_file())
    report = run(check_canonical(docker_sandbox, tasks, concurrency=2))
    assert [(f.task_id, f.status) for f in report.failures if f.task_id != "mbpp/123"] == []
    assert all(f.status == "timeout" for f in report.failures)
    assert report.passed + len(report.failures) == len(tasks)


def test_scorer_judges_and_counts(docker_sandbox):
    tasks = load_benchmark("humaneval", limit=3)
    scorer = Scorer(docker_sandbox)
    good = run(scorer.score(tasks[0], tasks[0].hidden.canonical_solution))
    assert good.passed and [t.name for t in good.tests if t.status == "passed"]
    # a plausible but wrong solution: the hidden tests catch it
    wrong = "def has_close_elements(numbers, threshold):\n    return False\n"
    bad = run(scorer.score(tasks[0], wrong))
    assert not bad.passed and bad.status == "failed"
    # the bare prompt (stub returning None) fails too
    assert not run(scorer.score(tasks[1], "")).passed
    assert scorer.evaluations == {"HumanEval/0": 2, "HumanEval/1": 1}


def test_score_record_fills_verdict_completion_and_count(docker_sandbox):
    task = load_benchmark("humaneval", limit=1)[0]
    scorer = Scorer(docker_sandbox)
    rec = RunRecord(
        task_id=task.problem.task_id, sample=3, strategy="s", model="m", final_code=task.hidden.canonical_solution
    )
    out = run(scorer.score_record(task, rec, generated_tests=["assert has_close_elements([1.0, 1.05], 0.1)"]))
    assert out.hidden_passed and out.hidden_status == "passed"
    assert out.hidden_evals == 1 and out.canonical_vs_generated is True
    assert out.completion.startswith("\n") and "def has_close_elements" in out.completion
    assert rec.hidden_evals == 0  # the input record is not mutated


def test_score_generated_tests(docker_sandbox):
    tasks = load_benchmark(str(EXAMPLES))
    task = find_task(tasks, "ex/roman")
    ok = ["assert to_roman(3) == 'III'", "def test_big():\n    assert to_roman(2024) == 'MMXXIV'\n"]
    assert run(score_generated_tests(docker_sandbox, task, ok)) is True
    wrong = ok + ["assert to_roman(4) == 'IIII'"]  # a wrong expectation
    assert run(score_generated_tests(docker_sandbox, task, wrong)) is False
    assert run(score_generated_tests(docker_sandbox, task, [])) is None
    nocanon = task.model_copy(update={"hidden": task.hidden.model_copy(update={"canonical_solution": None})})
    assert run(score_generated_tests(docker_sandbox, nocanon, ok)) is None


def test_cli_check_prints_passed_and_failures(docker_ready, tmp_path):
    out = cli("problems", "check", "humaneval", "--limit", "5")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "passed 5/5"
    # a set whose canonical solution is wrong: reported by id with a reason, exit 1
    row = {
        "task_id": "t/bad",
        "prompt": 'def f(x):\n    """Double."""\n',
        "entry_point": "f",
        "tests": ["assert f(2) == 4"],
        "canonical_solution": "def f(x):\n    return x + 1\n",
    }
    good = dict(row, task_id="t/good", canonical_solution="def f(x):\n    return 2 * x\n")
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps(good) + "\n")
    out = cli("problems", "check", str(path))
    assert out.returncode == 1
    assert out.stdout.splitlines()[0] == "passed 1/2"
    assert out.stdout.splitlines()[1].startswith("FAIL t/bad [failed] ")
    assert "returned 3" in out.stdout  # the runner's reason, passed through
    assert "FAIL t/good" not in out.stdout
    assert "Traceback" not in out.stderr
