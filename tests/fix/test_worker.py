"""The hook's warm worker (coderefl.fix.worker): a run that finds one is
served by a fork of it with the caller's streams, folder, environment and
arguments, and gets the verdict and the output a run of its own would have
had; a stale worker, a foreign folder or CI mean no worker, never a
different verdict."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coderefl.errors import BadInput
from coderefl.fix import worker
from tests.fix.helpers import BUGGY_MODULE, make_repo

#: the hook's entry, then one line saying whether this process (not a worker) imported pytest
CLIENT = """
import sys
from coderefl.fix.__main__ import main
try:
    main()
finally:
    print("CLIENT-RAN-PYTEST", "pytest" in sys.modules, flush=True)
"""
GOOD = BUGGY_MODULE.replace("return a - b", "return a + b").replace("len(self.items) + 1", "len(self.items)")
TESTS = '''import os

from pkg.calc import add


def test_add():
    assert add(2, 3) == 5


def test_environment_is_the_callers():
    assert os.environ.get("FOO") == "ok"
'''


@pytest.fixture
def repo(tmp_path):
    root = make_repo(tmp_path / "repo", {"pkg/__init__.py": "", "pkg/calc.py": GOOD, "tests/test_calc.py": TESTS})
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_", "PRE_COMMIT"))}
    env.pop("CI", None)
    env.update(CODEREFL_CACHE_PATH=str(cache / "responses.sqlite"), CODEREFL_FIX_WORKER="60", FOO="ok",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]),
               OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_API_KEY="k", CODEREFL_MODEL="m")
    yield root, cache, env
    for pid in workers(cache):
        os.kill(pid, signal.SIGKILL)


def workers(cache: Path) -> list[int]:
    """The worker processes started for ``cache``."""
    out = []
    for entry in Path("/proc").iterdir():
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"coderefl.fix.worker" in cmd and f"CODEREFL_CACHE_PATH={cache}/responses.sqlite".encode() in env:
            out.append(int(entry.name))
    return out


def run(root: Path, env: dict, *args: str, **extra: str) -> tuple[int, str, bool]:
    """The hook's entry on ``args``: exit code, stderr, and whether this
    process ran pytest itself."""
    res = subprocess.run([sys.executable, "-c", CLIENT, *args], cwd=root, env={**env, **extra},
                         capture_output=True, text=True, timeout=300)
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith("CLIENT-RAN-PYTEST"), res.stdout + res.stderr
    return res.returncode, res.stderr, last.endswith("True")


def socket_of(root: Path, env: dict, timeout: float = 60.0) -> Path:
    """The worker's socket, once it listens."""
    where = subprocess.run([sys.executable, "-c", "from coderefl.fix import worker; print(worker.place([])[0])"],
                           cwd=root, env=env, capture_output=True, text=True, timeout=60).stdout.strip()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Path(where).exists():
            return Path(where)
        time.sleep(0.1)
    raise AssertionError(f"no worker started at {where}")


def socket_of_or_none(root: Path, env: dict) -> bool:
    try:
        socket_of(root, env, timeout=0.5)
    except AssertionError:
        return False
    return True


def lines(err: str) -> list[str]:
    """The fixer's messages, with the sandbox's per-run folder names masked."""
    return [re.sub(r"job-[\w-]+", "job-X", ln) for ln in err.splitlines() if ln.startswith("coderefl fix:")]


def test_a_warm_worker_gives_the_verdict_and_output_the_caller_would_have_had(repo):
    root, cache, env = repo
    code, err, ran_here = run(root, env, "pkg/calc.py")
    assert code == 0 and ran_here, err  # no worker yet: checked here, one left behind
    socket_of(root, env)
    (root / "pkg/calc.py").write_text(GOOD + "\nVERSION = 2\n")  # new content: nothing passed on it before
    code, served_err, ran_here = run(root, env, "pkg/calc.py")
    assert code == 0 and not ran_here, served_err
    assert lines(served_err) == lines(err) and "2 tests pass" in served_err  # the worker wrote to our stderr
    # the environment is the caller's, not the one the worker started with
    (root / "pkg/calc.py").write_text(GOOD + "\nVERSION = 3\n")
    code, bad_env, ran_here = run(root, env, "pkg/calc.py", FOO="other")
    assert code == 1 and not ran_here
    assert "still failing: tests/test_calc.py::test_environment_is_the_callers" in bad_env
    # a failing test goes on to the full command in the worker: the same verdict and messages as without one
    (root / "pkg/calc.py").write_text(BUGGY_MODULE)
    code, served, ran_here = run(root, env, "pkg/calc.py")
    assert not ran_here
    alone = run(root, env, "pkg/calc.py", CODEREFL_FIX_WORKER="0")
    assert alone[2] and code == alone[0] == 1
    assert lines(served) == lines(alone[1]), (served, alone[1])
    assert "still failing: tests/test_calc.py::test_add: assert -1 == 5 (where -1 = add(2, 3))" in served


def test_a_stale_worker_leaves_and_the_caller_checks_itself(repo):
    root, cache, env = repo
    run(root, env, "pkg/calc.py")
    socket_of(root, env)
    first = set(workers(cache))
    (root / "NEW.txt").write_text("x")  # a folder on the worker's sys.path changed: a fresh interpreter could differ
    (root / "pkg/calc.py").write_text(GOOD + "\nVERSION = 2\n")
    code, err, ran_here = run(root, env, "pkg/calc.py")
    assert code == 0 and ran_here and "2 tests pass" in err
    deadline = time.monotonic() + 60
    sock = socket_of(root, env)
    while time.monotonic() < deadline:  # and a fresh worker replaced it
        if sock.exists() and set(workers(cache)) - first:  # a new process (an inode number can be reused)
            break
        time.sleep(0.1)
    else:
        raise AssertionError("no fresh worker")
    (root / "pkg/calc.py").write_text(GOOD + "\nVERSION = 3\n")
    code, err, ran_here = run(root, env, "pkg/calc.py")
    assert code == 0 and not ran_here


def test_a_caller_with_another_interpreter_is_not_served_even_at_the_right_path(repo, capfd):
    root, cache, env = repo
    run(root, env, "pkg/calc.py")
    sock = socket_of(root, env)  # this process's sys.path and environment differ from the hook's
    assert worker.request(sock, ["pkg/calc.py"]) is None
    assert capfd.readouterr().err == ""  # nothing ran on its behalf
    (root / "pkg/calc.py").write_text(GOOD + "\nVERSION = 2\n")
    code, err, ran_here = run(root, env, "pkg/calc.py")  # and the worker still serves its own
    assert code == 0 and not ran_here and "2 tests pass" in err


def test_an_idle_worker_leaves(repo):
    root, cache, env = repo
    run(root, env, "pkg/calc.py", CODEREFL_FIX_WORKER="1")
    sock = socket_of(root, env)
    deadline = time.monotonic() + 30
    while (sock.exists() or workers(cache)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sock.exists() and not workers(cache)


@pytest.mark.parametrize("extra, args", [({"CI": "true"}, ()), ({"CODEREFL_FIX_WORKER": "0"}, ()),
                                         ({"CODEREFL_NO_CACHE": "1"}, ()), ({}, ("--no-cache",))])
def test_no_worker_under_ci_when_turned_off_or_without_a_cache(repo, extra, args):
    root, cache, env = repo
    code, err, ran_here = run(root, env, *args, "pkg/calc.py", **extra)
    assert code == 0 and ran_here, err
    time.sleep(1.0)
    assert not workers(cache) and not socket_of_or_none(root, env)


def test_a_bad_setting_is_one_line_from_the_hook_entry(repo):
    root, cache, env = repo
    code, err, _ = run(root, env, "pkg/calc.py", CODEREFL_FIX_WORKER="soon")
    assert code == 2 and err.strip().splitlines() == [
        "coderefl: error: environment variable CODEREFL_FIX_WORKER='soon': not a number of seconds (0: no worker)"]


def test_a_folder_others_can_enter_is_never_used(tmp_path):
    shared = tmp_path / "fix-worker"
    shared.mkdir()
    shared.chmod(0o777)
    assert worker.request(shared / "x.sock", []) is None
    assert worker._private_dir(tmp_path / "new" / "fix-worker")
    assert (tmp_path / "new" / "fix-worker").stat().st_mode & 0o777 == 0o700


def test_the_identity_names_what_a_fresh_interpreter_depends_on(monkeypatch):
    base = worker.identity()
    monkeypatch.setattr(sys, "path", [*sys.path, "/elsewhere"])
    assert worker.identity() != base
    monkeypatch.undo()
    monkeypatch.setenv("PYTHONHASHSEED", "7")
    assert worker.identity() != base
    monkeypatch.undo()
    monkeypatch.setenv("SOMETHING_ELSE", "1")  # the caller's environment goes with each request
    assert worker.identity() == base


def test_idle_seconds(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("CODEREFL_FIX_WORKER", raising=False)
    assert worker.idle_seconds() == worker.IDLE_S
    for raw, want in (("5", 5.0), ("0", 0.0), (" 2.5 ", 2.5)):
        monkeypatch.setenv("CODEREFL_FIX_WORKER", raw)
        assert worker.idle_seconds() == want
    for raw in ("-1", "soon", "nan", "inf"):
        monkeypatch.setenv("CODEREFL_FIX_WORKER", raw)
        with pytest.raises(BadInput, match="CODEREFL_FIX_WORKER"):
            worker.idle_seconds()
    monkeypatch.setenv("CODEREFL_FIX_WORKER", "5")
    for ci, want in (("true", 0.0), ("1", 0.0), ("false", 5.0), ("", 5.0)):
        monkeypatch.setenv("CI", ci)
        assert worker.idle_seconds() == want


INTERRUPT = """
import os, signal, sys, threading, time
from pathlib import Path
from coderefl.fix.hostrun import run_host

root = Path(sys.argv[1])


def ctrl_c():
    while not (root / "pid").exists():
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGINT)


threading.Thread(target=ctrl_c, daemon=True).start()
try:
    run_host(root, ["tests/test_slow.py"], 120, lean=True, trace=False)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
"""


def test_a_ctrl_c_stops_the_running_tests_with_the_hook(tmp_path):
    root = make_repo(tmp_path / "repo", {"tests/test_slow.py": (
        "import os, time\n\ndef test_slow():\n    open('pid', 'w').write(str(os.getpid()))\n    time.sleep(120)\n")})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    res = subprocess.run([sys.executable, "-c", INTERRUPT, str(root)], cwd=root, env=env, capture_output=True,
                         text=True, timeout=100)
    assert "INTERRUPTED" in res.stdout, res.stdout + res.stderr
    with pytest.raises(ProcessLookupError):  # the forked pytest is gone, not left sleeping
        os.kill(int((root / "pid").read_text()), 0)


def test_attack_a_test_that_kills_the_run_serving_it_never_passes_the_commit(repo):
    """A test written to pass by killing whoever would report its failure:
    the worker's served copy dies without an answer, the hook checks by
    itself, and the commit is blocked whatever the test kills there."""
    root, cache, env = repo
    run(root, env, "pkg/calc.py")
    socket_of(root, env)
    (root / "tests/test_calc.py").write_text(
        "import os, signal\n\n\ndef test_add():\n    os.kill(os.getppid(), signal.SIGKILL)\n    assert False\n")
    res = subprocess.run([sys.executable, "-c", CLIENT, "pkg/calc.py"], cwd=root, env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode != 0, res.stdout + res.stderr
    assert "CLIENT-RAN-PYTEST False" not in res.stdout  # no served answer was taken for a verdict
