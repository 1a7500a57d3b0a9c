"""``coderefl solve`` and ``coderefl show`` through the real CLI process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.openai_server import rules
from tests.strategies.conftest import BUGGY, GOOD, REFLECT, REGEN, TESTS


def run_cli(args, server=None, stdin=None, cwd=None, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_"))}
    if server is not None:
        env.update(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="k", CODEREFL_MODEL="scripted-model")
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "coderefl.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def reflexion_script(openai_server):
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(1, 2) == 3\n```"),
        (REFLECT, "It subtracts; it must add."),
        (REGEN, GOOD),
        fallback=BUGGY,
    )
    return openai_server


@pytest.mark.docker
def test_solve_stub_from_stdin_prints_code_and_exits_0(reflexion_script, tmp_path, docker_ready):
    stub = 'def add(a, b):\n    """Return a + b.\n    >>> add(2, 3)\n    5\n    """\n'
    res = run_cli(["solve", "-", "--no-cache"], reflexion_script, stdin=stub, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "def add(a, b):" in res.stdout and "a + b" in res.stdout
    assert "reflect" in res.stderr and "It subtracts" in res.stderr  # progress on stderr
    assert "Traceback" not in res.stderr


@pytest.mark.docker
def test_solve_prose_with_user_tests_json_and_out(reflexion_script, tmp_path, docker_ready):
    tests = tmp_path / "test_add.py"
    tests.write_text("assert add(5, 5) == 10\n")
    out = tmp_path / "sol" / "add.py"
    res = run_cli(
        ["solve", "Add two numbers.", "--tests", str(tests), "--out", str(out), "--json", "--no-cache", "-q"],
        reflexion_script,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    traj = json.loads(res.stdout)
    assert traj["internal_passed"] is True
    assert "assert add(5, 5) == 10" in traj["internal_tests"]
    assert "a + b" in out.read_text()
    assert res.stderr == ""


@pytest.mark.docker
def test_solve_exits_1_when_the_final_candidate_fails(openai_server, tmp_path, docker_ready):
    openai_server.handler = rules(fallback=BUGGY)
    res = run_cli(["solve", "def add(a, b):\n    '''Sum.'''\n", "--strategy", "simple", "--tests", str(_write(tmp_path)), "--no-cache", "-q"], openai_server, cwd=tmp_path)
    assert res.returncode == 1
    assert "a - b" in res.stdout


def _write(tmp_path):
    p = tmp_path / "t.py"
    p.write_text("assert add(1, 1) == 2\n")
    return p


@pytest.mark.parametrize(
    "args, needle",
    [
        (["solve", "Add two numbers."], "--entry"),
        (["solve", "x", "--file", "nope.md"], "give the problem once"),
        (["solve", "--file", "missing.md", "--entry", "f"], "not found"),
        (["solve", "f", "--entry", "f", "--tests", "missing.py"], "not found"),
        (["solve", "f", "--entry", "not a name"], "function name"),
        (["solve", "f", "--entry", "f", "--strategy", "nope", "--sandbox", "local"], "unknown strategy"),
        (["solve", "f", "--entry", "f", "--max-iters", "0"], "max_iters"),
    ],
)
def test_solve_bad_input_is_one_line_exit_2(args, needle, openai_server, tmp_path):
    res = run_cli(args, openai_server, cwd=tmp_path, stdin="")
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert needle in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_solve_without_a_model_says_how_to_configure_one(tmp_path):
    res = run_cli(["solve", "def f():\n    '''One.'''\n"], cwd=tmp_path)
    assert res.returncode != 0
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert "--model" in res.stderr or "CODEREFL_MODEL" in res.stderr


@pytest.mark.docker
def test_show_renders_a_trajectory(reflexion_script, tmp_path, docker_ready):
    res = run_cli(["solve", "Add two numbers.", "--entry", "add", "--json", "--no-cache", "-q"], reflexion_script, cwd=tmp_path)
    path = tmp_path / "traj.json"
    path.write_text(res.stdout)
    shown = run_cli(["show", str(path)], cwd=tmp_path, env_extra={"COLUMNS": "120"})
    assert shown.returncode == 0, shown.stderr
    for needle in ("reflexion", "generate_tests", "It subtracts; it must add.", "final code", "a + b"):
        assert needle in shown.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    res = run_cli(["show", str(bad)], cwd=tmp_path)
    assert res.returncode == 2 and "not a coderefl trajectory" in res.stderr


@pytest.mark.docker
def test_solve_ask_without_a_terminal_never_waits_for_an_answer(openai_server, tmp_path, docker_ready):
    from coderefl.strategies.asking import UNSURE_NEEDLE

    openai_server.handler = rules(
        (TESTS, "```python\nassert add(2, 2) == 5\n```"),
        (UNSURE_NEEDLE, "(7, 8)"),
        (REFLECT, "Unsure."),
        fallback=BUGGY,
    )
    res = run_cli(
        ["solve", "def add(a, b):\n    '''Sum.'''\n", "--ask", "--max-iters", "2", "--no-cache", "--json", "-q"],
        openai_server,
        cwd=tmp_path,
        stdin="",
    )
    assert res.returncode == 1, res.stderr
    traj = json.loads(res.stdout)
    # no terminal: the human advisor cannot be asked, so no question is even put to the model
    assert not any(s["kind"] == "advice" and s["data"].get("advice_requested") for s in traj["steps"])
    assert not any(UNSURE_NEEDLE in m for b in openai_server.requests for m in [str(b)])
