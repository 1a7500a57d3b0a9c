"""Throwaway git repositories with a buggy module and its pytest tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MAIN = Path(__file__).resolve().parents[2]

BUGGY_MODULE = '''"""Small helpers."""
import math  # used below


def add(a, b):
    return a - b


def mean(xs):
    return sum(xs) / len(xs)


class Stack:
    def __init__(self):
        self.items = []

    def push(self, x):
        self.items.append(x)

    def size(self):
        return len(self.items) + 1
'''

TESTS = '''from pkg.calc import add, mean, Stack


def test_add():
    assert add(2, 3) == 5


def test_mean():
    assert mean([1, 2, 3]) == 2


def test_stack():
    s = Stack()
    s.push(1)
    assert s.size() == 1
'''

ADD_GOOD = "```python\ndef add(a, b):\n    return a + b\n```"
SIZE_GOOD = "Fixed:\n```python\ndef size(self):\n    return len(self.items)\n```"


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "commit.gpgsign=false", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )


def make_repo(path: Path, files: dict[str, str], stage: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    for rel, text in files.items():
        p = path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    if stage:
        git(path, "add", "-A")
    return path


def buggy_repo(path: Path, module: str = BUGGY_MODULE, tests: str = TESTS) -> Path:
    return make_repo(path, {"pkg/__init__.py": "", "pkg/calc.py": module, "tests/test_calc.py": tests})


def cli_env(server=None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_", "PRE_COMMIT"))}
    if os.environ.get("CODEREFL_SANDBOX_IMAGE"):  # the image the test run was told to use
        env["CODEREFL_SANDBOX_IMAGE"] = os.environ["CODEREFL_SANDBOX_IMAGE"]
    if server is not None:
        env.update(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="k", CODEREFL_MODEL="scripted-model")
    env["CODEREFL_NO_CACHE"] = "1"
    env["CODEREFL_FIX_WORKER"] = "0"  # no warm worker left behind by a test (tests/fix/test_worker.py starts them)
    env["PYTHONPATH"] = str(MAIN)
    env.update(extra)
    return env


#: runs `coderefl fix ARGS`, then prints which heavy modules the run imported
WITH_MODULES = """
import sys
from coderefl.cli.main import main
try:
    main(["fix", *sys.argv[1:]])
except SystemExit as e:
    code = e.code
print("MODULES", *sorted(m for m in ("openai", "docker", "coderefl.model.client") if m in sys.modules))
sys.exit(code)
"""


def run_fix(cwd: Path, *args: str, server=None, env_extra: dict[str, str] | None = None, timeout: float = 300,
            modules: bool = False):
    """`coderefl fix ARGS` in a subprocess; with ``modules``, stdout's last
    line is ``MODULES ...``: the heavy modules that run imported."""
    head = ["-c", WITH_MODULES] if modules else ["-m", "coderefl.cli.main", "fix"]
    return subprocess.run(
        [sys.executable, *head, *args],
        cwd=cwd, env=cli_env(server, **(env_extra or {})), capture_output=True, text=True, timeout=timeout,
    )


def imported(res) -> list[str]:
    """The heavy modules a ``run_fix(..., modules=True)`` run imported."""
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith("MODULES"), res.stdout
    return last.split()[1:]
