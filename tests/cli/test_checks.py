"""Bad paths and values are one line and exit 2, before any work: the real
CLI in a subprocess, with a scripted server that must see no request."""

from __future__ import annotations

import pytest

from coderefl.records import RunRecord
from tests.cli.test_solve import run_cli
from tests.openai_server import ScriptedServer

STUB = 'def add(a, b):\n    """Return a + b."""\n'


def one_error_line(res) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coderefl: error: "), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, text",
    [
        (["eval", "--benchmark", "humaneval", "--bogus"], "eval: No such option '--bogus'. Did you mean '--out'? (see 'coderefl eval --help')"),
        (["eval"], "Missing option '--benchmark'"),
        (["solve", "--max-iters", "x"], "'x' is not a valid integer"),
        (["problems", "check", "humaneval", "--timeout", "-1"], "problems check: Invalid value for '--timeout': -1.0 is not in the range x>0"),
        (["problems", "check", "humaneval", "--limit", "0"], "--limit"),
        (["eval", "--benchmark", "humaneval", "--problems-file", "nope.jsonl"], "File 'nope.jsonl' does not exist"),
    ],
)
def test_usage_errors_are_one_line(tmp_path, args, text):
    assert text in one_error_line(run_cli(args, cwd=tmp_path))


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv
    assert not srv.requests, "the work started before the bad input was found"


@pytest.fixture
def place(tmp_path):
    (tmp_path / "stub.py").write_text(STUB)
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("x")
    return tmp_path


@pytest.mark.parametrize(
    "args, text",
    [
        (["solve", "--file", "stub.py", "--entry", "addd"], "--entry addd: the stub defines no function 'addd' (it defines add)"),
        (["solve", "--file", "stub.py", "--out", "a-folder"], "--out a-folder: is a folder; give a file path"),
        (["solve", "--file", "stub.py", "--out", "a-file/x.py"], "a-file is a file, not a folder"),
        (["solve", "--file", "stub.py", "--out", "/proc/x.py"], "--out /proc/x.py: cannot write in /proc"),
        (["eval", "--benchmark", "humaneval", "--out", "a-file"], "Directory 'a-file' is a file"),
        (["eval", "--benchmark", "humaneval", "--out", "/proc/run"], "--out /proc/run: cannot write in /proc"),
        (["eval", "--benchmark", "missing/set.jsonl"], "--benchmark missing/set.jsonl: problem set file not found"),
        (["eval", "--benchmark", "a-folder"], "--benchmark a-folder: is a folder"),
    ],
)
def test_paths_are_checked_before_any_model_call(server, place, args, text):
    assert text in one_error_line(run_cli([*args, "--no-cache"], server, cwd=place))


@pytest.mark.parametrize(
    "prices, text",
    [
        ('"m" = 3', "'m' must be [prompt, completion] USD per 1M tokens (two numbers >= 0), got 3"),
        ('"m" = [1, -2]', "got [1, -2]"),
        ('"m" = ["a", "b"]', "got ['a', 'b']"),
    ],
)
def test_a_malformed_price_table_is_one_line(server, place, prices, text):
    (place / "coderefl.toml").write_text(f"[model.prices]\n{prices}\n")
    line = one_error_line(run_cli(["solve", "--file", "stub.py", "--no-cache"], server, cwd=place))
    assert "coderefl.toml: [model.prices]" in line and text in line


def test_a_price_table_that_is_not_a_table_is_one_line(server, place):
    (place / "coderefl.toml").write_text('[model]\nprices = "cheap"\n')
    assert "[model.prices] must be a table" in one_error_line(run_cli(["solve", "--file", "stub.py"], server, cwd=place))


@pytest.mark.parametrize(
    "methods, text",
    [
        ("nope,reflexion", "--methods: unknown strategy 'nope' (strategies in the runs: reflexion)"),
        ("simple", "--methods: no record of 'simple' in the runs (strategies there: reflexion)"),
    ],
)
def test_export_with_methods_that_keep_nothing_says_which_are_there(tmp_path, methods, text):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_text(RunRecord(task_id="T/1", strategy="reflexion", model="m").model_dump_json() + "\n")
    assert text in one_error_line(run_cli(["export", str(run), "--methods", methods], cwd=tmp_path))


def test_a_misspelt_model_setting_is_one_line_not_ignored(server, place):
    (place / "coderefl.toml").write_text("[model]\ntemprature = 0.5\n")
    line = one_error_line(run_cli(["solve", "--file", "stub.py"], server, cwd=place))
    assert "coderefl.toml: [model] has no setting 'temprature' (settings: model, base_url" in line
