"""The unsafe local backend: same runner and verdict rules, rlimits only."""

from __future__ import annotations

import asyncio
import os
import time

from coderefl.execution import create_sandbox
from coderefl.records import Limits


def test_local_is_registered_and_marked_unsafe():
    sb = create_sandbox("local", pool_size=1)
    assert sb.isolated is False
    assert create_sandbox("docker", pool_size=1).isolated is True


def test_local_pass_fail_and_exit_tricks():
    sb = create_sandbox("local")
    good = "def f(x):\n    return x + 1\n"
    assert asyncio.run(sb.run(good, "assert f(1) == 2\n")).status == "passed"
    assert asyncio.run(sb.run(good, "assert f(1) == 3\n")).status == "failed"
    for trick in ("import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n",
                  "import os\ndef f(x):\n    os._exit(0)\n", "print('status: passed')\ndef f(x):\n    return 0\n"):
        r = asyncio.run(sb.run(trick, "assert f(1) == 2\n"))
        assert r.status != "passed", trick


def test_local_timeout_kills_setsid_children(tmp_path):
    marker = tmp_path / "alive"
    sb = create_sandbox("local")
    program = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    while True:\n"
        f"        open({str(marker)!r}, 'w').write(str(time.time()))\n"
        "        time.sleep(0.05)\n"
        "while True:\n    pass\n"
    )
    t0 = time.monotonic()
    r = sb.run_sync(program, "assert True\n", Limits(timeout_s=1))
    assert r.status == "timeout"
    assert time.monotonic() - t0 < 3
    time.sleep(0.3)
    before = marker.stat().st_mtime
    time.sleep(0.4)
    assert marker.stat().st_mtime == before, "the setsid child survived the timeout"


def test_local_memory_rlimit():
    r = create_sandbox("local").run_sync("x = bytearray(400 * 1024 * 1024)\n", "assert True\n", Limits(memory_mb=128))
    assert r.status == "error" and "MemoryError" in r.tests[0].message


def test_local_env_is_scrubbed(monkeypatch):
    monkeypatch.setenv("CODEREFL_CANARY_SECRET", "s3cret")
    r = create_sandbox("local").run_sync("import os\n", "assert 'CODEREFL_CANARY_SECRET' not in os.environ\n")
    assert r.status == "passed"
    assert os.environ["CODEREFL_CANARY_SECRET"] == "s3cret"
