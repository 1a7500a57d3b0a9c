"""Attacks on the Docker sandbox. Each must come back not-passed, leave the
host alone, and the next normal execution must pass."""

from __future__ import annotations

import os
import time

import pytest

from coderefl.records import Limits
from tests.execution.conftest import CANARY, assert_healthy

pytestmark = pytest.mark.docker

FAST = Limits(timeout_s=2)

ATTACKS = {
    "fork_bomb": (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        "assert True\n", FAST),
    "thread_bomb": (
        "import threading, time\nwhile True:\n    try:\n"
        "        threading.Thread(target=time.sleep, args=(100,)).start()\n"
        "    except RuntimeError:\n        pass\n",
        "assert True\n", FAST),
    "memory_bomb": (
        "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))\n", "assert True\n", Limits(timeout_s=10)),
    "infinite_loop": ("def f(x):\n    while True:\n        pass\n", "assert f(1) == 2\n", FAST),
    "sigterm_ignored_setsid": (
        "import os, signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "for _ in range(3):\n    if os.fork() == 0:\n        os.setsid()\n        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "        while True:\n            pass\n"
        "while True:\n    pass\n",
        "assert True\n", FAST),
    "output_flood": ("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n    sys.stderr.write('y' * 65536)\n",
                     "assert True\n", FAST),
    "disk_fill": (
        "import os\n"
        "def fill(d):\n    n = 0\n    try:\n        with open(os.path.join(d, 'big'), 'wb') as fh:\n"
        "            while True:\n                fh.write(b'0' * (1 << 20))\n                n += 1 << 20\n"
        "    except OSError:\n        pass\n    return n\n",
        "assert fill('/work') + fill('/tmp') + fill('/dev/shm') > 1 << 30\n", Limits(timeout_s=10)),
    "network": (
        "import socket\n"
        "def reach():\n    s = socket.create_connection(('1.1.1.1', 53), timeout=2)\n    return True\n"
        "def resolve():\n    return socket.gethostbyname('pypi.org')\n",
        "assert reach()\nassert resolve()\n", Limits(timeout_s=5)),
    "host_env_and_paths": (
        "import os\n",
        f"assert os.environ.get({CANARY!r}) == 'host-secret'\n"
        "assert os.path.exists('/work/main/pyproject.toml') or os.path.exists('/root')\n"
        "assert os.path.exists('/var/run/docker.sock')\n", FAST),
    "root_write": (
        "def w(p):\n    open(p, 'w').write('owned')\n    return True\n",
        "assert w('/etc/passwd')\nassert w('/usr/bin/python3')\nassert w('/opt/coderefl/runner.py')\n", FAST),
    "uid_root": ("import os\n", "assert os.getuid() == 0\n", FAST),
    "setuid_escalation": (
        "import os\n",
        "os.setuid(0)\nassert os.getuid() == 0\n", FAST),
    "sys_exit_at_import": ("import sys\nsys.exit(0)\n", "assert f(1) == 2\n", FAST),
    "os_exit_in_test": ("import os\ndef f(x):\n    os._exit(0)\n", "assert f(1) == 2\n", FAST),
    "sys_exit_in_test": ("import sys\ndef f(x):\n    sys.exit(0)\n", "assert f(1) == 2\n", FAST),
    "atexit_hook": (
        "import atexit, os, sys\n"
        "atexit.register(lambda: (print('1 passed'), os._exit(0)))\n"
        "def f(x):\n    sys.exit(0)\n",
        "assert f(1) == 2\n", FAST),
    "fake_success_output": (
        "import json, os\n"
        "print(json.dumps({'status': 'passed', 'tests': []}))\nprint('===== 1 passed in 0.01s =====')\n"
        "for fd in range(3, 64):\n"
        "    try:\n        os.write(fd, b'R 0 import 0 passed 0\\nR 0 test 0 passed 0\\nR 0 done 0 passed 0\\n')\n"
        "    except OSError:\n        pass\n"
        "os._exit(0)\n",
        "assert f(1) == 2\n", FAST),
    "forged_report_then_exit": (
        "import os\n"
        "def f(x):\n"
        "    os.write(3, b'R 00 test 0 passed 0\\nR 00 done 0 passed 0\\n')\n"
        "    os._exit(0)\n",
        "assert f(1) == 2\n", FAST),
    "kill_the_runner": (
        "import os, signal\n"
        "for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGSTOP, signal.SIGHUP):\n"
        "    for pid in (1, os.getppid(), -1):\n"
        "        try:\n            os.kill(pid, sig)\n        except OSError:\n            pass\n"
        "def f(x):\n    return x\n",
        "assert f(1) == 2\n", FAST),
    "read_runner_memory": (
        "def peek():\n    return open('/proc/1/mem', 'rb').read(1) or open('/proc/1/fd/1', 'wb')\n",
        "assert peek()\n", FAST),
    "replace_builtins": (
        "import builtins, os, json\n"
        "builtins.AssertionError = type('Nope', (Exception,), {})\n"
        "builtins.repr = lambda o: 'passed'\nbuiltins.isinstance = lambda *a: True\n"
        "builtins.bool = lambda *a: True\n"
        "os.write = lambda fd, data: len(data)\nos._exit = lambda code: None\njson.dumps = lambda *a, **k: '{}'\n"
        "def f(x):\n    return x\n",
        "assert f(1) == 2\n", FAST),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_contained(pool, name):
    program, tests, limits = ATTACKS[name]
    host_pids = len([p for p in os.listdir("/proc") if p.isdigit()])
    t0 = time.monotonic()
    r = pool.run_sync(program, tests, limits)
    took = time.monotonic() - t0
    assert r.status != "passed", (name, r)
    assert took < limits.timeout_s + 3.0, f"{name} took {took:.1f}s for a {limits.timeout_s}s limit"
    if r.status == "timeout":
        assert took >= limits.timeout_s - 0.1
    assert len(r.stdout) <= limits.output_bytes and len(r.stderr) <= limits.output_bytes
    # the host: no process explosion, nothing written where the attack aimed
    assert len([p for p in os.listdir("/proc") if p.isdigit()]) < host_pids + 50
    assert not os.path.exists("/owned")
    assert_healthy(pool)


def test_timeout_is_reported_within_a_second(pool):
    t0 = time.monotonic()
    r = pool.run_sync("while True:\n    pass\n", "assert True\n", Limits(timeout_s=1.5))
    took = time.monotonic() - t0
    assert r.status == "timeout"
    assert 1.4 <= took <= 2.5
    assert any(t.status == "timeout" for t in r.tests)


def test_output_flood_is_capped_and_flagged(pool):
    r = pool.run_sync("print('x' * 1_000_000)\ndef f(x):\n    return x + 1\n", "assert f(1) == 2\n")
    assert r.status == "passed"  # a big output is not a failure by itself
    assert r.truncated is True
    assert len(r.stdout) == 64 * 1024
    small = Limits(output_bytes=2048)
    r = pool.run_sync("print('y' * 10_000)\n", None, small)
    assert r.truncated and len(r.stdout) == 2048


def test_memory_bomb_reports_the_kill(pool):
    r = pool.run_sync("x = bytearray(2 * 1024 * 1024 * 1024)\nx[::4096] = b'1' * len(x[::4096])\n", "assert True\n")
    assert r.status == "error"
    assert "MemoryError" in str(r.tests) or "SIGKILL" in str(r.tests) or "died" in str(r.tests)
    assert_healthy(pool)


def test_no_state_leaks_between_executions(docker_ready):
    """One container (pool_size=1), so the second run lands where the first
    one left its traces."""
    from coderefl.execution.docker_pool import DockerPoolSandbox

    sb = DockerPoolSandbox(pool_size=1)
    sb.start_sync()
    try:
        plant = (
            "import os, subprocess, sys\n"
            "open('/tmp/leak', 'w').write('x')\nopen('/work/leak', 'w').write('x')\nopen('left.txt', 'w').write('x')\n"
            "open('/dev/shm/leak', 'w').write('x')\n"
            "os.environ['LEAKED'] = '1'\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
            "import builtins\nbuiltins.LEAKED = 1\n"
            "def cid():\n    return open('/proc/self/cgroup').read()\n"
        )
        first = sb.run_sync(plant, "assert cid()\n")
        assert first.status == "passed"
        probe = (
            "import os, builtins\n"
            "def cid():\n    return open('/proc/self/cgroup').read()\n"
            "def others():\n    me = os.getpid()\n"  # the runner's zygote (pid 1's fork) is the one other process
            "    runner = open('/proc/1/cmdline', 'rb').read()\n"
            "    return [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, me)\n"
            "            and open(f'/proc/{p}/cmdline', 'rb').read() != runner]\n"
        )
        second = sb.run_sync(
            probe,
            "assert not os.path.exists('/tmp/leak')\nassert os.listdir('/work') == [os.path.basename(os.getcwd())]\n"
            "assert not os.path.exists('left.txt')\nassert os.listdir('/dev/shm') == []\n"
            "assert 'LEAKED' not in os.environ\nassert others() == []\nassert not hasattr(builtins, 'LEAKED')\n",
        )
        assert second.status == "passed", second
    finally:
        sb.close_sync()
