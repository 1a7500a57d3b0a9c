"""``coderefl sandbox`` through a real subprocess: JSON contract, exit codes,
one-line errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS = {"status", "tests", "stdout", "stderr", "truncated", "duration_s", "exit_code", "isolation"}


def cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "coderefl.cli.main", *args], capture_output=True, text=True,
                          cwd=ROOT, env=full_env, timeout=timeout)


@pytest.fixture
def files(tmp_path):
    sol = tmp_path / "sol.py"
    sol.write_text("def add(a, b):\n    return a + b\n")
    good = tmp_path / "good.py"
    good.write_text("assert add(1, 2) == 3\n")
    bad = tmp_path / "bad.py"
    bad.write_text("assert add(2, 2) == 5\n")
    return sol, good, bad


def _one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.docker
def test_run_json_contract_and_exit_codes(docker_ready, files):
    sol, good, bad = files
    ok = cli("sandbox", "run", str(sol), "--tests", str(good), "--json")
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert set(data) == KEYS and data["status"] == "passed" and data["isolation"] == "in-process"
    judged = cli("sandbox", "run", str(sol), "--tests", str(good), "--json", "--isolation", "judge")
    assert json.loads(judged.stdout)["isolation"] == "judge" and json.loads(judged.stdout)["status"] == "passed"
    no = cli("sandbox", "run", str(sol), "--tests", str(bad), "--json", "--timeout", "5", "--memory", "256")
    assert no.returncode == 1
    data = json.loads(no.stdout)
    assert data["status"] == "failed"
    assert data["tests"][0]["message"] == "add(2, 2) returned 4, expected 5"


@pytest.mark.docker
def test_run_human_output_and_timeout(docker_ready, tmp_path, files):
    sol, good, _ = files
    ok = cli("sandbox", "run", str(sol), "--tests", str(good))
    assert ok.returncode == 0 and "passed" in ok.stdout
    loop = tmp_path / "loop.py"
    loop.write_text("while True:\n    pass\n")
    t = cli("sandbox", "run", str(loop), "--timeout", "1", "--json")
    assert t.returncode == 1 and json.loads(t.stdout)["status"] == "timeout"


def test_run_local_backend(files):
    sol, good, bad = files
    assert cli("sandbox", "run", str(sol), "--tests", str(good), "--backend", "local", "--json").returncode == 0
    r = cli("sandbox", "run", str(sol), "--tests", str(bad), "--backend", "local")
    assert r.returncode == 1 and "UNSAFE" in r.stderr


def test_missing_and_unreadable_files(files, tmp_path):
    sol, _, _ = files
    _one_line_error(cli("sandbox", "run", str(tmp_path / "nope.py")), "solution file not found")
    _one_line_error(cli("sandbox", "run", str(sol), "--tests", str(tmp_path / "nope.py")), "tests file not found")
    binary = tmp_path / "bin.py"
    binary.write_bytes(b"\xff\xfe\x00bad")
    _one_line_error(cli("sandbox", "run", str(binary)), "cannot read solution file")


def test_bad_limit_is_one_line(files):
    sol, _, _ = files
    _one_line_error(cli("sandbox", "run", str(sol), "--timeout", "-1"), "bad limit timeout_s")


def test_no_daemon_is_one_line(files):
    sol, good, _ = files
    r = cli("sandbox", "run", str(sol), "--tests", str(good), env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    _one_line_error(r, "no Docker engine answers")
    r = cli("sandbox", "doctor", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert r.returncode == 1 and "docker daemon" in r.stderr + r.stdout


@pytest.mark.docker
def test_image_missing_is_one_line(docker_ready, files):
    sol, good, _ = files
    r = cli("sandbox", "run", str(sol), "--tests", str(good), env={"CODEREFL_SANDBOX_IMAGE": "coderefl-sandbox:does-not-exist"})
    _one_line_error(r, "coderefl sandbox build --offline")


@pytest.mark.docker
def test_build_is_idempotent_and_fast(docker_ready):
    r = cli("sandbox", "build", "--offline", timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("up to date: coderefl-sandbox:")


@pytest.mark.docker
@pytest.mark.slow
def test_doctor_all_green(docker_ready):
    r = cli("sandbox", "doctor", timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FAIL" not in r.stdout and "timeout kills" in r.stdout


@pytest.mark.docker
def test_prune_runs(docker_ready):
    r = cli("sandbox", "prune")
    assert r.returncode == 0 and r.stdout.startswith("removed ")


def test_control_sequences_and_markup_from_a_program_never_reach_the_terminal(tmp_path):
    """A message, a test name and the output of a program are shown, not obeyed."""
    sol = tmp_path / "evil.py"
    sol.write_text(
        "import sys\nprint('\\x1b[2J\\x1b]0;owned\\x07[bold red]out[/]')\n"
        "def f(x):\n    raise ValueError('\\x1b[31m\\x1b[1A[link=http://x]click[/link]\\r\\x9b')\n")
    tests = tmp_path / "t.py"
    tests.write_text("assert f(1) == '\\x1b[5m[blink]x[/blink]'\n")
    r = cli("sandbox", "run", str(sol), "--tests", str(tests), "--backend", "local", env={"COLUMNS": "300"})
    assert r.returncode == 1
    for raw in ("\x1b", "\x07", "\r", "\x9b"):
        assert raw not in r.stdout
    assert "\\x1b[31m" in r.stdout and "[link=http://x]click[/link]" in r.stdout
    assert "\\x1b[2J" in r.stdout and "[bold red]out[/]" in r.stdout


def test_terminal_safe_escapes_every_control_character():
    from coderefl.cli.render import terminal_safe

    text = "".join(map(chr, range(0, 0xA0))) + "ok é ✓"
    safe = terminal_safe(text)
    assert all(c in "\n\t" or not (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0) for c in safe)
    assert safe.endswith("ok é ✓") and "\\x1b" in safe and "\n" in safe and "\t" in safe


def test_one_environment_variable_chooses_the_backend_everywhere(files):
    """CODEREFL_SANDBOX picks the backend of sandbox run as of solve, eval and problems check."""
    sol, good, _ = files
    r = cli("sandbox", "run", str(sol), "--tests", str(good), "--json", env={"CODEREFL_SANDBOX": "local"})
    assert r.returncode == 0 and "UNSAFE" not in r.stdout
    bad = cli("sandbox", "run", str(sol), env={"CODEREFL_SANDBOX": "nope"})
    assert bad.returncode == 2 and "unknown sandbox backend 'nope'" in bad.stderr
    for command in (["solve", "f", "--entry", "f"], ["eval", "--benchmark", "humaneval"], ["problems", "check", "humaneval"]):
        wrong = cli(*command, env={"CODEREFL_SANDBOX": "nope"})
        assert wrong.returncode == 2 and "unknown sandbox backend 'nope'" in wrong.stderr, (command, wrong.stderr)
