"""``coderefl sandbox doctor``: prove each hardening measure is in force by
running probe programs in a real pooled container, not by reading config."""

from __future__ import annotations

import time
from dataclasses import dataclass

from coderefl.errors import CodereflError
from coderefl.records import Limits


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


def _probes(limits: Limits) -> list[tuple[str, str, str, str]]:
    """(name, program, tests, expected verdict). Each probe's tests pass only
    when the measure holds (or, for the attacks, must not pass)."""
    mem = limits.memory_mb * 1024 * 1024
    return [
        ("network: only loopback",
         "import os, socket\n"
         "def nets():\n    return sorted(os.listdir('/sys/class/net'))\n"
         "def can_connect():\n"
         "    try:\n        socket.create_connection(('1.1.1.1', 53), timeout=1).close()\n        return True\n"
         "    except OSError:\n        return False\n",
         "assert nets() == ['lo']\nassert can_connect() is False\n", "passed"),
        ("memory limit, no swap",
         "def limit():\n"
         "    for p in ('/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/memory.max'):\n"
         "        try:\n            return int(open(p).read())\n        except (OSError, ValueError):\n            pass\n"
         "def swap():\n"
         "    try:\n        return int(open('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes').read())\n"
         "    except OSError:\n        return None\n",
         f"assert limit() == {mem}\nassert swap() in (None, {mem})\n", "passed"),
        ("memory bomb is stopped",
         f"blob = bytearray({mem * 2})\nblob[::4096] = b'x' * len(blob[::4096])\n", "assert True\n", "not passed"),
        ("pids limit",
         "import threading, time\n"
         "def spawn():\n    n = 0\n    try:\n"
         "        for _ in range(10000):\n"
         "            threading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n            n += 1\n"
         "    except RuntimeError:\n        pass\n    return n\n",
         f"assert spawn() < {limits.pids}\n", "passed"),
        ("read-only root filesystem",
         "def can_write(p):\n    try:\n        open(p, 'w').write('x')\n        return True\n"
         "    except OSError:\n        return False\n",
         "assert not can_write('/usr/lib/owned')\nassert not can_write('/etc/owned')\nassert not can_write('/owned')\n"
         "assert can_write('/tmp/ok')\n", "passed"),
        ("non-root uid",
         "import os\n", "assert os.getuid() != 0\nassert os.geteuid() != 0\nassert os.getgid() != 0\n", "passed"),
        ("capabilities dropped, no-new-privileges",
         "def status():\n    return dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\n",
         "s = status()\nassert int(s['CapEff'], 16) == 0\nassert int(s['CapBnd'], 16) == 0\n"
         "assert int(s['CapPrm'], 16) == 0\nassert s['NoNewPrivs'].strip() == '1'\n", "passed"),
        ("no host environment or paths",
         "import os\n",
         "assert set(os.environ) <= {'PATH', 'HOME', 'LANG', 'TMPDIR', 'PYTHONDONTWRITEBYTECODE'}\n"
         "assert not os.path.exists('/work/main') and not os.path.exists('/root/.pyenv')\n", "passed"),
        ("runner (PID 1) is not readable",
         "def peek():\n    try:\n        open('/proc/1/mem', 'rb').read(1)\n        return True\n"
         "    except OSError:\n        return False\n",
         "assert peek() is False\n", "passed"),
    ]


def run_checks(limits: Limits | None = None) -> list[Check]:
    """Every check, in order; stops early only when nothing can run."""
    from coderefl.execution.docker_pool import DockerPoolSandbox
    from coderefl.execution.image import docker_client, ensure_image

    limits = limits or Limits()
    checks: list[Check] = []
    try:
        client = docker_client()
        checks.append(Check("docker daemon", True, f"Docker {client.version().get('Version', '?')}"))
    except CodereflError as err:
        return [Check("docker daemon", False, str(err))]
    try:
        tag = ensure_image(client)
        checks.append(Check("sandbox image", True, tag))
    except CodereflError as err:
        return checks + [Check("sandbox image", False, str(err))]
    pool = DockerPoolSandbox(limits=limits, pool_size=1)
    try:
        try:
            pool.start_sync()
            r = pool.run_sync("def f(x):\n    return x + 1\n", "assert f(1) == 2\n")
            checks.append(Check("trivial run passes", r.passed, f"{r.status} in {r.duration_s:.3f}s"))
        except CodereflError as err:
            return checks + [Check("pool start", False, str(err))]
        for name, program, tests, want in _probes(limits):
            r = pool.run_sync(program, tests)
            ok = r.passed if want == "passed" else not r.passed
            bad = "; ".join(f"{t.name}: {t.message}" for t in r.failing)[:200]
            checks.append(Check(name, ok, f"verdict {r.status}" + (f" ({bad})" if bad and not ok else "")))
        t0 = time.monotonic()
        r = pool.run_sync("import signal, os\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                          "if os.fork() == 0:\n    os.setsid()\nwhile True: pass\n",
                          "assert True\n", Limits(**{**limits.model_dump(), "timeout_s": 1.0}))
        took = time.monotonic() - t0
        checks.append(Check("timeout kills (SIGTERM ignored)", r.status == "timeout" and took < 2.5,
                            f"{r.status} after {took:.2f}s (limit 1s)"))
        r = pool.run_sync("def f(x):\n    return x + 1\n", "assert f(1) == 2\n")
        checks.append(Check("healthy after the attacks", r.passed, r.status))
    finally:
        pool.close_sync()
    return checks
