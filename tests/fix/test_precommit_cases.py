"""Issue 18's cases through real ``pre-commit`` and ``git commit``.

The hook is this checkout's ``coderefl fix`` as a ``repo: local`` hook
(``language: system``, ``verbose: true`` like the published hook), so
pre-commit runs it exactly as it runs the published one but builds no
virtualenv (test_precommit.py covers that path, slowly).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.fix.helpers import ADD_GOOD, BUGGY_MODULE, SIZE_GOOD, buggy_repo, cli_env, git
from tests.openai_server import rules

pytestmark = pytest.mark.docker

CONFIG = f"""repos:
- repo: local
  hooks:
  - id: coderefl-fix
    name: coderefl fix
    entry: {sys.executable} -m coderefl fix
    language: system
    types: [python]
    require_serial: true
    verbose: true
"""
FIXED_MODULE = BUGGY_MODULE.replace("return a - b", "return a + b").replace("len(self.items) + 1", "len(self.items)")


def hooked_repo(path, server=None, **repo_args):
    root = buggy_repo(path, **repo_args)
    (root / ".pre-commit-config.yaml").write_text(CONFIG)
    git(root, "add", "-A")
    env = cli_env(server, PRE_COMMIT_HOME=str(path.parent / "pre-commit-home"))
    installed = subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=root, env=env,
                               capture_output=True, text=True, timeout=120)
    assert installed.returncode == 0, installed.stderr
    return root, env


def commit(root, env, message="work", **extra):
    res = git_env(root, {**env, **extra}, "commit", "-m", message)
    return res.returncode, res.stdout + res.stderr


def git_env(root, env, *args):
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "commit.gpgsign=false", *args],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )


DECORATED = """import functools


class Calc:
\t@staticmethod
\tdef double(x):
\t\treturn x + x + 1


@functools.lru_cache(maxsize=None)
def fib(n):
    return fib(n - 1) + fib(n - 2)
"""
DECORATED_TESTS = "from pkg.calc import Calc, fib\n\n\ndef test_double():\n    assert Calc.double(3) == 6\n\n\ndef test_fib():\n    assert fib(10) == 55\n"


def test_a_repair_keeps_decorators_and_tabs(openai_server, tmp_path, docker_ready):
    openai_server.handler = rules(
        ("method `double`", "```python\ndef double(x):\n    return 2 * x\n```"),
        ("function `fib`", "```python\ndef fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n```"),
    )
    root, env = hooked_repo(tmp_path / "r", openai_server, module=DECORATED, tests=DECORATED_TESTS)
    code, out = commit(root, env)
    assert code == 1 and "files were modified by this hook" in out and "Fixing pkg/calc.py" in out, out
    fixed = (root / "pkg/calc.py").read_text()
    assert "\t@staticmethod\n\tdef double(x):\n\t\treturn 2 * x\n" in fixed
    assert "@functools.lru_cache(maxsize=None)\ndef fib(n):\n    if n < 2:" in fixed
    git(root, "add", "-A")
    openai_server.requests.clear()
    code, out = commit(root, env)
    assert code == 0, out
    assert "coderefl fix: 3 files: 1 test file, 2 covered; ran 2 tests in 1 test file" in out
    assert not openai_server.requests


def test_docker_down_passes_with_a_visible_warning(tmp_path, docker_ready):
    root, env = hooked_repo(tmp_path / "r")
    # the staged code's own tests in the sandbox too, as before the host check
    code, out = commit(root, env, DOCKER_HOST="unix:///nonexistent/docker.sock", CODEREFL_FIX_CHECK_IN="sandbox")
    assert code == 0, out
    assert "Passed" in out and "coderefl fix: tests not run, commit not checked: no Docker engine answers" in out
    assert git(root, "show", "HEAD:pkg/calc.py").stdout == BUGGY_MODULE


def test_an_uncovered_file_says_so(tmp_path, docker_ready):
    root, env = hooked_repo(tmp_path / "r", module=FIXED_MODULE)
    assert commit(root, env)[0] == 0
    (root / "pkg/lonely.py").write_text("def f():\n    return 1\n")
    git(root, "add", "pkg/lonely.py")
    code, out = commit(root, env)
    assert code == 0 and "coderefl fix: 1 file, no test covers it: pkg/lonely.py" in out, out


def test_a_bug_reached_through_a_conftest_fixture_is_caught(openai_server, tmp_path, docker_ready):
    openai_server.handler = rules(("function `add`", ADD_GOOD))
    root, env = hooked_repo(tmp_path / "r", openai_server, tests="def test_total(total):\n    assert total == 5\n")
    (root / "tests/conftest.py").write_text(
        "import pytest\nfrom pkg.calc import add\n\n\n@pytest.fixture\ndef total():\n    return add(2, 3)\n"
    )
    git(root, "add", "-A")
    code, out = commit(root, env)
    assert code == 1 and "Fixing pkg/calc.py" in out, out
    assert "return a + b" in (root / "pkg/calc.py").read_text()


def test_an_unfixable_failure_names_its_assertion_and_the_skip(tmp_path, docker_ready):
    root, env = hooked_repo(tmp_path / "r")  # no model configured
    code, out = commit(root, env)
    assert code == 1, out
    assert "still failing: tests/test_calc.py::test_add: assert -1 == 5 (where -1 = add(2, 3))" in out
    assert "SKIP=coderefl-fix git commit" in out
    code, out = commit(root, env, SKIP="coderefl-fix")
    assert code == 0 and "Skipped" in out, out


def test_a_syntax_error_names_the_staged_file(tmp_path, docker_ready):
    root, env = hooked_repo(tmp_path / "r", module=BUGGY_MODULE.replace("def mean(xs):", "def mean(xs)"))
    code, out = commit(root, env)
    assert code == 1 and "coderefl fix: pkg/calc.py:9: SyntaxError: expected ':'" in out, out


def test_a_repair_not_written_is_labelled(openai_server, tmp_path, docker_ready):
    root, env = hooked_repo(tmp_path / "r", openai_server)
    target = root / "pkg/calc.py"

    def handler(body):
        if "function `add`" in str(body["messages"]):
            target.write_text(target.read_text() + "# typed during the run\n")  # the user saves meanwhile
            return ADD_GOOD
        return SIZE_GOOD

    openai_server.handler = handler
    code, out = commit(root, env)
    assert code == 1, out
    assert "coderefl fix: pkg/calc.py: not applied: " in out and "changed while coderefl was running" in out


def test_the_recommit_of_a_repair_is_not_run_again(openai_server, tmp_path, docker_ready):
    openai_server.handler = rules(("function `add`", ADD_GOOD), ("method `size`", SIZE_GOOD))
    root, env = hooked_repo(tmp_path / "r", openai_server)
    env = {**env, "CODEREFL_NO_CACHE": "0", "CODEREFL_CACHE_PATH": str(tmp_path / "cache" / "responses.sqlite")}
    code, out = commit(root, env)
    assert code == 1 and "Fixing pkg/calc.py" in out, out
    git(root, "add", "-u")
    code, out = commit(root, env, DOCKER_HOST="unix:///nonexistent/docker.sock")  # proof: no sandbox needed
    assert code == 0, out
    assert "1 test file passed before on this exact content, not re-run" in out and "tests not run" not in out
    assert git(root, "show", "HEAD:pkg/calc.py").stdout == FIXED_MODULE


FAST_CONFIG = CONFIG.replace(f"entry: {sys.executable} -m coderefl fix", f"entry: {sys.executable} -m coderefl.fix")


def test_the_fast_entry_checks_a_clean_commit_on_the_host_with_docker_down(tmp_path, docker_ready):
    root, env = hooked_repo(tmp_path / "r", module=FIXED_MODULE)
    (root / ".pre-commit-config.yaml").write_text(FAST_CONFIG)
    git(root, "add", "-A")
    code, out = commit(root, env, DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert code == 0, out
    assert "Passed" in out and "coderefl fix: 3 tests pass" in out and "tests not run" not in out
    (root / "pkg/calc.py").write_text(BUGGY_MODULE)  # and a bug is blocked, Docker or not
    git(root, "add", "-A")
    code, out = commit(root, env, DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert code == 1 and "Failed" in out, out
    assert "still failing: tests/test_calc.py::test_add: assert -1 == 5 (where -1 = add(2, 3))" in out
    assert "a repair is checked in the sandbox, which cannot start" in out
    assert git(root, "show", "HEAD:pkg/calc.py").stdout == FIXED_MODULE


def test_a_bug_reached_only_through_a_dynamic_fixture_is_repaired_through_the_fast_entry(openai_server, tmp_path,
                                                                                         docker_ready):
    openai_server.handler = rules(("function `add`", ADD_GOOD))
    root, env = hooked_repo(tmp_path / "r", openai_server, module=FIXED_MODULE,
                            tests="def test_total(calc):\n    assert calc.add(2, 3) == 5\n")
    (root / ".pre-commit-config.yaml").write_text(FAST_CONFIG)
    (root / "tests/conftest.py").write_text(
        'import importlib\n\nimport pytest\n\n\n@pytest.fixture\ndef calc():\n'
        '    return importlib.import_module("pkg." + "calc")\n'
    )
    git(root, "add", "-A")
    assert git(root, "commit", "-q", "--no-verify", "-m", "tests").returncode == 0
    (root / "pkg/calc.py").write_text(BUGGY_MODULE)  # only the module is staged: no test imports it
    git(root, "add", "pkg/calc.py")
    env = {**env, "CODEREFL_NO_CACHE": "0", "CODEREFL_CACHE_PATH": str(tmp_path / "cache" / "responses.sqlite")}
    code, out = commit(root, env)
    assert code == 1 and "Fixing pkg/calc.py" in out, out
    assert "return a + b" in (root / "pkg/calc.py").read_text()
    git(root, "add", "-u")
    code, out = commit(root, env)
    assert code == 0 and "passed before on this exact content" in out, out
