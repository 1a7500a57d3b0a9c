"""``coderefl fix`` through the real CLI process, in throwaway git repositories."""

from __future__ import annotations

import json
import socket

import pytest

from tests.fix.helpers import ADD_GOOD, BUGGY_MODULE, SIZE_GOOD, buggy_repo, git, run_fix
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
