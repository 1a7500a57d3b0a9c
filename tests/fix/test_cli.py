"""``coderefl fix`` through the real CLI process, in throwaway git repositories."""

from __future__ import annotations

import json
import socket

import pytest

from tests.fix.helpers import ADD_GOOD, BUGGY_MODULE, SIZE_GOOD, buggy_repo, git, imported, run_fix
from tests.openai_server import rules

FIXED_MODULE = BUGGY_MODULE.replace("return a - b", "return a + b").replace("len(self.items) + 1", "len(self.items)")


@pytest.fixture
def fixing_server(openai_server):
    openai_server.handler = rules(("function `add`", ADD_GOOD), ("method `size`", SIZE_GOOD))
    return openai_server


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.docker
def test_fix_staged_files_then_offline_rerun(fixing_server, tmp_path, docker_ready):
    root = buggy_repo(tmp_path / "r")
    res = run_fix(root, "-q", server=fixing_server)  # no arguments: the staged files
    assert res.returncode == 1, res.stderr
    assert res.stdout.startswith("Fixing pkg/calc.py\n--- a/pkg/calc.py\n+++ b/pkg/calc.py\n")
    assert "-    return a - b\n+    return a + b\n" in res.stdout
    assert (root / "pkg/calc.py").read_text() == FIXED_MODULE
    assert "Traceback" not in res.stderr
    # all tests pass now: exit 0 with no model configured at all (offline)
    git(root, "add", "-A")
    again = run_fix(root, "pkg/calc.py")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "" and "tests pass" in again.stderr


@pytest.mark.docker
def test_json_and_dry_run(fixing_server, tmp_path, docker_ready):
    root = buggy_repo(tmp_path / "r")
    res = run_fix(root, "pkg/calc.py", "--dry-run", "--json", "-q", server=fixing_server)
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    assert doc["status"] == "fixed" and doc["changed"][0]["written"] is False
    assert [t["task_id"] for t in doc["trajectories"]] == ["pkg/calc.py::add", "pkg/calc.py::Stack.size"]
    assert all(t["stop_reason"] == "passed" for t in doc["trajectories"])
    assert "Would fix pkg/calc.py" in res.stderr
    assert (root / "pkg/calc.py").read_text() == BUGGY_MODULE


@pytest.mark.docker
def test_unreachable_model_is_one_line_and_changes_nothing(tmp_path, docker_ready):
    root = buggy_repo(tmp_path / "r")
    env = {
        "OPENAI_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1",
        "OPENAI_API_KEY": "k",
        "CODEREFL_MODEL": "m",
        "CODEREFL_MAX_RETRIES": "0",
    }
    res = run_fix(root, "pkg/calc.py", "-q", env_extra=env)
    assert res.returncode == 1
    assert (root / "pkg/calc.py").read_text() == BUGGY_MODULE
    lines = [ln for ln in res.stderr.splitlines() if "cannot reach model server" in ln]
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert res.stdout == ""


@pytest.mark.docker
def test_no_model_configured_under_pre_commit(tmp_path, docker_ready):
    root = buggy_repo(tmp_path / "r")
    res = run_fix(root, "pkg/calc.py", env_extra={"PRE_COMMIT": "1"})
    assert res.returncode == 1
    assert "no model available" in res.stderr and "Traceback" not in res.stderr
    assert (root / "pkg/calc.py").read_text() == BUGGY_MODULE


def test_bad_input_is_one_line_exit_2(tmp_path):
    root = buggy_repo(tmp_path / "r")
    res = run_fix(root, str(tmp_path / "elsewhere.py"))
    assert res.returncode == 2 and res.stderr.startswith("coderefl: error:") and len(res.stderr.splitlines()) == 1
    res = run_fix(root, "--max-iters", "0", "pkg/calc.py")
    assert res.returncode == 2 and "max_iters" in res.stderr and "Traceback" not in res.stderr


def test_nothing_staged_is_exit_0(tmp_path):
    root = buggy_repo(tmp_path / "r", tests="")
    git(root, "reset", "-q")
    res = run_fix(root)
    assert res.returncode == 0 and "no Python files" in res.stderr


NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}  # the docker SDK cannot connect
#: the staged code's own tests in the sandbox too (as before the host check), with Docker down
SANDBOX_CHECK_NO_DOCKER = {**NO_DOCKER, "CODEREFL_FIX_CHECK_IN": "sandbox"}


def test_docker_down_passes_with_one_visible_warning(tmp_path):
    root = buggy_repo(tmp_path / "r")
    res = run_fix(root, "pkg/calc.py", env_extra={**SANDBOX_CHECK_NO_DOCKER, "PRE_COMMIT": "1"}, modules=True)
    assert res.returncode == 0, res.stderr
    warning = [ln for ln in res.stderr.splitlines() if "tests not run" in ln]
    assert len(warning) == 1 and "CODEREFL_FIX_IF_NO_SANDBOX=fail" in warning[0], res.stderr
    assert "scripts/" not in res.stderr and "Traceback" not in res.stderr
    assert "1 file: 1 covered" in res.stderr
    assert "openai" not in imported(res)  # no model client when nothing ran
    assert (root / "pkg/calc.py").read_text() == BUGGY_MODULE


def test_docker_down_can_be_made_to_block(tmp_path):
    root = buggy_repo(tmp_path / "r")
    res = run_fix(root, "pkg/calc.py", env_extra={**SANDBOX_CHECK_NO_DOCKER, "CODEREFL_FIX_IF_NO_SANDBOX": "fail"})
    assert res.returncode == 2 and "the tests cannot run" in res.stderr and "Traceback" not in res.stderr
    (root / "coderefl.toml").write_text('[fix]\nif_no_sandbox = "fail"\n')
    res = run_fix(root, "pkg/calc.py", env_extra=SANDBOX_CHECK_NO_DOCKER)
    assert res.returncode == 2 and "the tests cannot run" in res.stderr
    res = run_fix(root, "pkg/calc.py", "--if-no-sandbox", "pass", env_extra=SANDBOX_CHECK_NO_DOCKER)  # a flag beats the file
    assert res.returncode == 0 and "tests not run" in res.stderr
    (root / "coderefl.toml").write_text('[fix]\nif_no_sandbox = "sometimes"\n')
    res = run_fix(root, "pkg/calc.py", env_extra=SANDBOX_CHECK_NO_DOCKER)
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1 and "if_no_sandbox" in res.stderr


def test_uncovered_files_need_no_docker_and_say_so(tmp_path):
    root = buggy_repo(tmp_path / "r")
    (root / "pkg/lonely.py").write_text("def f():\n    return 1\n")
    res = run_fix(root, "pkg/lonely.py", env_extra=NO_DOCKER, modules=True)
    assert res.returncode == 0, res.stderr
    assert "coderefl fix: 1 file, no test covers it: pkg/lonely.py" in res.stderr
    assert "tests not run" not in res.stderr  # Docker was never asked
    assert imported(res) == []  # neither the docker SDK nor the model client


def test_a_syntax_error_names_the_staged_file_and_line(tmp_path):
    root = buggy_repo(tmp_path / "r", module=BUGGY_MODULE.replace("def mean(xs):", "def mean(xs)"))
    res = run_fix(root, "pkg/calc.py", env_extra=NO_DOCKER, modules=True)
    assert res.returncode == 1, res.stderr
    assert "coderefl fix: pkg/calc.py:9: SyntaxError: expected ':'" in res.stderr
    assert "SKIP=coderefl-fix git commit" in res.stderr
    assert "openai" not in imported(res) and "docker" not in imported(res)


@pytest.mark.docker
def test_a_clean_commit_imports_no_model_client(tmp_path, docker_ready):
    root = buggy_repo(tmp_path / "r", module=FIXED_MODULE)
    # the check in the sandbox (the host check imports neither: tests/fix/test_check.py)
    res = run_fix(root, "pkg/calc.py", modules=True, env_extra={"CODEREFL_FIX_CHECK_IN": "sandbox"})
    assert res.returncode == 0, res.stderr
    assert "coderefl fix: 1 file: 1 covered; ran 3 tests in 1 test file" in res.stderr
    assert imported(res) == ["docker"]


@pytest.mark.docker
def test_failure_output_a_developer_can_act_on(openai_server, tmp_path, docker_ready):
    openai_server.handler = rules(("function `add`", ADD_GOOD), fallback="```python\ndef size(self):\n    return 0\n```")
    root = buggy_repo(tmp_path / "r")
    res = run_fix(root, "pkg/calc.py", "--max-iters", "1", "--no-reflection", server=openai_server,
                  env_extra={"PRE_COMMIT": "1"})
    assert res.returncode == 1 and res.stdout == "", res.stderr
    err = res.stderr
    assert "coderefl fix: pkg/calc.py: not applied: other affected tests still fail\n--- a/pkg/calc.py" in err
    assert "still failing: tests/test_calc.py::test_stack: assert 2 == 1" in err
    assert "could not repair pkg/calc.py::Stack.size (max_iters): tests/test_calc.py::test_stack: assert" in err
    assert "to commit anyway, skip this hook once: SKIP=coderefl-fix git commit ..." in err
    assert (root / "pkg/calc.py").read_text() == BUGGY_MODULE


@pytest.mark.docker
def test_a_reply_cached_from_another_endpoint_is_never_applied(fixing_server, tmp_path, docker_ready):
    """Issue 18/19: with the response cache on and the model server down, no
    reply remembered from another server is applied."""
    root = buggy_repo(tmp_path / "r")
    cache = {"CODEREFL_NO_CACHE": "0", "CODEREFL_CACHE_PATH": str(tmp_path / "cache.sqlite")}
    first = run_fix(root, "pkg/calc.py", "--dry-run", server=fixing_server, env_extra=cache)
    assert first.returncode == 1 and "Would fix pkg/calc.py" in first.stdout, first.stderr
    down = {**cache, "OPENAI_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1", "OPENAI_API_KEY": "k",
            "CODEREFL_MODEL": "scripted-model"}
    res = run_fix(root, "pkg/calc.py", env_extra=down)
    assert res.returncode == 1 and res.stdout == "", res.stderr
    assert "cannot reach" in res.stderr and (root / "pkg/calc.py").read_text() == BUGGY_MODULE


@pytest.mark.docker
def test_a_rerun_asks_the_model_again_rather_than_replaying(openai_server, tmp_path, docker_ready):
    """With the response cache on, the second run must not replay the first
    run's failed reply: the fixer asks afresh (issue 18, point 3)."""
    answers = iter(["```python\ndef add(a, b):\n    return a * b\n```"])  # wrong once, then right

    def handler(body):
        return next(answers, ADD_GOOD)

    openai_server.handler = handler
    tests = "from pkg.calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    root = buggy_repo(tmp_path / "r", tests=tests)
    cache = {"CODEREFL_NO_CACHE": "0", "CODEREFL_CACHE_PATH": str(tmp_path / "cache.sqlite")}
    args = ("pkg/calc.py", "--max-iters", "1", "--no-reflection")
    first = run_fix(root, *args, server=openai_server, env_extra=cache)
    assert first.returncode == 1 and "still failing: tests/test_calc.py::test_add" in first.stderr
    second = run_fix(root, *args, server=openai_server, env_extra=cache)
    assert second.returncode == 1 and second.stdout.startswith("Fixing pkg/calc.py"), second.stderr
    assert len(openai_server.requests) == 2
