"""Ctrl-C and SIGTERM stop ``coderefl eval``, ``solve`` and ``sandbox run``
in under 2 s whatever the exec timeout, a second Ctrl-C forces, and no
sandbox container outlives the command: the real CLI, server, Docker and
runner."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import pytest

from tests.openai_server import ScriptedServer
from tests.run.test_eval_cli import ROOT, cli, eval_args

#: a pre-built image named in the environment is used as is (see docker_ready)
IMAGE = {k: v for k, v in os.environ.items() if k == "CODEREFL_SANDBOX_IMAGE"}
SPIN = "```python\ndef has_close_elements(numbers, threshold):\n    while True:\n        pass\n```"


def containers_of(pid: int) -> list:
    from coderefl.execution.hardening import LABEL_OWNER_PID
    from coderefl.execution.maintenance import sandbox_containers

    return [c for c in sandbox_containers() if (c.labels or {}).get(LABEL_OWNER_PID) == str(pid)]


def popen(args: Sequence[str], cwd, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def interrupt(proc: subprocess.Popen, ready: Callable[[], bool], signals: Sequence[int] = (signal.SIGINT,),
              settle_s: float = 2.0) -> tuple[float, list]:
    """Wait until ``ready()``, let the run settle into its wait, send
    ``signals`` (back to back), and return how long the process took to
    end after the first, and the containers it left (removed here)."""
    try:
        deadline = time.monotonic() + 90
        while not ready():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.1)
        time.sleep(settle_s)
        t0 = time.monotonic()
        for sig in signals:
            proc.send_signal(sig)
            time.sleep(0.01)
        proc.wait(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    left = containers_of(proc.pid)
    for c in left:
        c.remove(force=True)
    return took, left


def sandbox_busy(proc: subprocess.Popen) -> Callable[[], bool]:
    """Ready once a progress line shows a run in flight (reading stderr)."""
    return lambda: bool(re.search(r"sandbox in flight [1-9]", proc.stderr.readline()))


@pytest.mark.docker
@pytest.mark.parametrize("signals", [[signal.SIGINT], [signal.SIGTERM], [signal.SIGINT, signal.SIGINT]],
                         ids=["ctrl-c", "sigterm", "ctrl-c-twice"])
def test_eval_stops_in_under_2s_with_a_40s_exec_timeout(docker_ready, tmp_path, signals):
    out = tmp_path / "run"
    with ScriptedServer(handler=lambda body: SPIN) as server:
        args = eval_args(server, out, "--exec-timeout", "40", "--no-cache", limit=4)
        proc = cli(args, tmp_path / "c.sqlite", cwd=tmp_path, popen=True, env_extra=IMAGE)
        took, left = interrupt(proc, sandbox_busy(proc), signals, settle_s=1.0)
    stderr = proc.stderr.read()
    # a second signal that lands after the clean-up, while Python shuts down, ends it by SIGINT
    assert proc.returncode in ((130,) if len(signals) == 1 else (130, -signal.SIGINT)), stderr
    assert took < 2.0, f"took {took:.1f}s to stop"
    assert not left, "a sandbox container outlived the command"
    assert "Traceback" not in stderr
    if len(signals) == 1:
        assert "run stopped; what is done is kept" in stderr
        assert json.loads((out / "summary.json").read_text())["complete"] is False


@pytest.mark.docker
def test_solve_stops_in_under_2s_while_a_run_waits_on_its_container(docker_ready, tmp_path):
    """solve's runs wait in the pool's executor threads, which the
    interpreter joins at exit: a recv() left blocked would hold the exit
    until the exec timeout (it did: 41 s)."""
    spin = "```python\ndef spin(n):\n    while True:\n        pass\n```"
    tests = tmp_path / "test_spin.py"
    tests.write_text("assert spin(1) == 1\n")
    with ScriptedServer(handler=lambda body: spin) as server:
        proc = popen(["-m", "coderefl.cli.main", "solve", "Loop forever.", "--entry", "spin", "--strategy", "simple",
                      "--exec-timeout", "40", "--tests", str(tests)], tmp_path,
                     OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="k", CODEREFL_MODEL="scripted-model",
                     CODEREFL_CACHE_PATH=str(tmp_path / "c.sqlite"))
        took, left = interrupt(proc, lambda: bool(server.requests and containers_of(proc.pid)), settle_s=3.0)
    assert proc.returncode == 130 and not left, proc.stderr.read()
    assert took < 2.0, f"took {took:.1f}s to stop"


@pytest.mark.docker
def test_sandbox_run_leaves_no_container_behind(docker_ready, tmp_path):
    prog = tmp_path / "spin.py"
    prog.write_text("while True:\n    pass\n")
    proc = popen(["-m", "coderefl.cli.main", "sandbox", "run", str(prog), "--timeout", "40"], tmp_path)
    took, left = interrupt(proc, lambda: bool(containers_of(proc.pid)))
    assert proc.returncode == 130 and took < 2.0 and not left, (took, left, proc.stderr.read())


FORCED = """
import threading, time
from coderefl.cli.signals import sigterm_as_interrupt
from coderefl.execution import create_sandbox

sigterm_as_interrupt()
sb = create_sandbox("docker", pool_size=1)
sb.start_sync()
threading.Thread(target=sb.run_sync, args=("while True:\\n    pass\\n",), daemon=True).start()
try:
    print("ready", flush=True)
    time.sleep(60)
finally:
    time.sleep(60)  # a clean-up that hangs: only a second signal gets out of it
"""


@pytest.mark.docker
def test_a_second_interrupt_forces_out_of_a_hung_clean_up_and_removes_the_containers(docker_ready, tmp_path):
    proc = popen(["-c", FORCED], tmp_path)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()

    def first_signal_sent() -> bool:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None, proc.stderr.read()  # the first one only started the (hung) clean-up
        return True

    took, left = interrupt(proc, first_signal_sent, settle_s=0.0)
    assert proc.returncode == 130 and "stopping now (second interrupt)" in proc.stderr.read()
    assert took < 8.0 and not left  # FORCE_WAIT_S at most, plus start-up of the signal path
