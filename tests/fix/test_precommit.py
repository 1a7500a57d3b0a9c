"""The pre-commit hook for real: a throwaway repository, a .pre-commit-config.yaml
pointing at a snapshot of this checkout, ``pre-commit install``, ``git commit``.

pre-commit builds a fresh virtualenv and pip-installs coderefl into it
(about 70 s with a warm pip cache), hence ``slow``. The faster end-to-end
tests run ``coderefl fix`` directly (test_cli.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.fix.helpers import ADD_GOOD, BUGGY_MODULE, MAIN, SIZE_GOOD, buggy_repo, cli_env, git
from tests.openai_server import rules

FIXED_MODULE = BUGGY_MODULE.replace("return a - b", "return a + b").replace("len(self.items) + 1", "len(self.items)")
_IGNORE = shutil.ignore_patterns(".git", "*.egg-info", "__pycache__", ".pytest_cache", "build", "dist", "*.gguf", ".venv")


def snapshot_of_checkout(dest):
    """This checkout, uncommitted and untracked files included, as a
    one-commit repository pre-commit can clone."""
    shutil.copytree(MAIN, dest, ignore=_IGNORE)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    done = git(dest, "commit", "-q", "-m", "snapshot")
    assert done.returncode == 0, done.stderr
    return git(dest, "rev-parse", "HEAD").stdout.strip()


@pytest.mark.slow
@pytest.mark.docker
def test_commit_through_the_hook_repairs_the_function(openai_server, tmp_path, docker_ready):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    openai_server.handler = rules(("function `add`", ADD_GOOD), ("method `size`", SIZE_GOOD))
    rev = snapshot_of_checkout(tmp_path / "coderefl")
    root = buggy_repo(tmp_path / "user")
    (root / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {tmp_path / 'coderefl'}\n  rev: {rev}\n  hooks:\n  - id: coderefl-fix\n"
    )
    git(root, "add", "-A")
    env = cli_env(
        openai_server,
        PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
    )
    env.pop("PYTHONPATH")  # the hook must run from its own virtualenv

    def run(*args, timeout=600):
        return subprocess.run(list(args), cwd=root, env=env, capture_output=True, text=True, timeout=timeout)

    installed = run(sys.executable, "-m", "pre_commit", "install")
    assert installed.returncode == 0, installed.stderr

    first = run("git", "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-m", "buggy")
    out = first.stdout + first.stderr
    assert first.returncode != 0, out  # the hook changed a file: the commit stops
    assert "files were modified by this hook" in out and "Fixing pkg/calc.py" in out, out
    assert (root / "pkg/calc.py").read_text() == FIXED_MODULE

    git(root, "add", "-A")
    openai_server.requests.clear()
    second = run("git", "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-m", "fixed")
    assert second.returncode == 0, second.stdout + second.stderr
    assert not openai_server.requests  # passing tests need no model
    assert git(root, "show", "HEAD:pkg/calc.py").stdout == FIXED_MODULE
    # the published hook is verbose: a passing run's summary shows, and so does Docker being down
    assert "coderefl fix: 3 tests pass" in second.stdout + second.stderr

    (root / "pkg/calc.py").write_text(FIXED_MODULE + "\n\ndef more():\n    return 1\n")
    git(root, "add", "-A")
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    third = run("git", "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-m", "docker down")
    out = third.stdout + third.stderr
    assert third.returncode == 0, out
    assert "coderefl fix: tests not run, commit not checked: no Docker engine answers" in out, out
