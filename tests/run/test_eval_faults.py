"""``coderefl eval`` against an endpoint that answers nothing, and run
folders that hold what they should not: the real CLI and server. What is
tested is the run folder, not isolation, so the programs run in the local
sandbox backend (the same runner, without Docker)."""

from __future__ import annotations

import json

import pytest

from coderefl.records import RunRecord
from tests.openai_server import ScriptedServer
from tests.run.test_eval_cli import HANDLER, cli, lines
from tests.run.test_eval_cli import eval_args as docker_eval_args


def eval_args(server, out, limit):
    return [*docker_eval_args(server, out, limit=limit), "--sandbox", "local"]


def test_an_endpoint_that_answers_nothing_fails_the_run_and_is_redone_on_resume(tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    with ScriptedServer(handler=lambda body: "") as empty:
        res = cli(eval_args(empty, out, limit=2), cache, cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert "2 model answers were empty (100% of fresh answers)" in res.stderr
    assert "redone on resume" in res.stderr and "Traceback" not in res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["empty_answers"]["count"] == 2 and summary["empty_answers"]["warning"] is True

    with ScriptedServer(handler=HANDLER) as healthy:  # another port: nothing of the empty server is reused
        res = cli(eval_args(healthy, out, limit=2), cache, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert len(healthy.requests) == 2  # both records redone, no empty answer replayed from the cache
    assert "2 lines of results.jsonl set aside" in res.stderr and "was empty (redone)" in res.stderr
    records = lines(out / "results.jsonl")
    assert {r["task_id"]: r["hidden_passed"] for r in records} == {"HumanEval/0": True, "HumanEval/1": False}
    assert json.loads((out / "summary.json").read_text())["pass@1"] == pytest.approx(0.5)


def test_results_of_another_strategy_without_config_are_refused_in_one_line(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    foreign = RunRecord(task_id="HumanEval/0", strategy="reflexion", model="scripted-model", hidden_passed=True)
    (out / "results.jsonl").write_text(foreign.model_dump_json() + "\n")
    with ScriptedServer(handler=HANDLER) as server:
        res = cli(eval_args(server, out, limit=2), tmp_path / "c.sqlite", cwd=tmp_path)
        assert not server.requests
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1:] == [
        f"coderefl: error: {out} holds results of another run (a record of HumanEval/0 is strategy 'reflexion', "
        "model 'scripted-model'; this run is 'simple', 'scripted-model'); use another --out, or --force to set the "
        "old results aside"
    ]


def test_a_corrupt_line_is_set_aside_and_counted(tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    with ScriptedServer(handler=HANDLER) as server:
        cli(eval_args(server, out, limit=2), cache, cwd=tmp_path, check=True)
        results = out / "results.jsonl"
        first, second = results.read_text().splitlines()
        results.write_text(f"{first}\n{{garbage\n{second}\n")
        res = cli(eval_args(server, out, limit=2), cache, cwd=tmp_path, check=True)
    assert "1 lines of results.jsonl set aside" in res.stderr and "line 2 (not JSON)" in res.stderr
    assert [json.loads(x)["task_id"] for x in results.read_text().splitlines()] == [
        json.loads(first)["task_id"], json.loads(second)["task_id"]]
    assert json.loads((out / "summary.json").read_text())["rejected_lines"] == [{"line": 2, "reason": "not JSON"}]
    assert "results lines set aside" in res.stdout


def test_a_problem_set_whose_hidden_tests_do_not_compile_is_refused(tmp_path):
    row = {"task_id": "t/add", "prompt": 'def add(a, b):\n    """Sum."""\n', "entry_point": "add",
           "tests": "def test_x(:\n    assert add(1, 1) == 2\n"}
    (tmp_path / "set.jsonl").write_text(json.dumps(row) + "\n")
    with ScriptedServer(handler=HANDLER) as server:
        args = [a if a != "humaneval" else str(tmp_path / "set.jsonl") for a in eval_args(server, tmp_path / "run", limit=1)]
        res = cli(args, tmp_path / "c.sqlite", cwd=tmp_path)
        assert not server.requests
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "the hidden tests of t/add do not compile (invalid syntax line 1)" in res.stderr.splitlines()[-1]
    assert not (tmp_path / "run" / "results.jsonl").exists()
