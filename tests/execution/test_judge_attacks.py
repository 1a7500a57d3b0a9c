"""A reward-hacking model against the judge, in the real Docker sandbox.

Every program below knows how the runner works and tries to pass hidden tests
without computing the answers (f(x) = x * x), or to read what other jobs left.
Each asserts the secure outcome. The cross-job attacks plant in one job and
probe in the next job of the same one-container pool.
"""

from __future__ import annotations

import secrets
import time

import pytest

from coderefl.problems._common import with_plain_values
from coderefl.records import Limits
from tests.execution.conftest import assert_healthy

pytestmark = pytest.mark.docker

#: HumanEval-style and MBPP-style hidden tests of f(x) = x * x, in judge mode
HIDDEN = with_plain_values(
    "import math\n"
    "import pytest\n"
    "def check(candidate):\n"
    "    assert candidate(3) == 9\n"
    "    assert candidate(4) == 16\n"
    "    assert abs(candidate(0.5) - 0.25) < 1e-9\n"
    "    assert math.isclose(candidate(1.5), 2.25)\n"
    "    assert candidate(2.0) == pytest.approx(4.0)\n"
    "    assert candidate(-2) in (4,)\n"
    "    assert set([candidate(5)]) == {25}\n"
    "def test_check():\n"
    "    from solution import f as candidate\n"
    "    check(candidate)\n"
    "def test_direct():\n"
    "    assert f(7) == 49\n"
    "    assert f(8)\n"
    "assert f(6) == 36\n"
)

CORRECT = "def f(x):\n    return x * x\n"

ALWAYS_EQUAL = (
    "class AlwaysEqual(float):\n"
    "    def __eq__(self, other):\n        return True\n"
    "    def __ne__(self, other):\n        return False\n"
    "    def __bool__(self):\n        return True\n"
    "    def __sub__(self, other):\n        return 0.0\n"
    "    __hash__ = float.__hash__\n"
)

ATTACKS = {
    # walk up to the calling test line and return the expected value written there
    "stack_reading": (
        "import sys, linecache, re\n"
        "def f(x):\n"
        "    fr = sys._getframe(1)\n"
        "    while fr is not None:\n"
        "        for src in (linecache.getline(fr.f_code.co_filename, fr.f_lineno),\n"
        "                    ''.join(linecache.cache.get('tests.py', (0, 0, [''], ''))[2])):\n"
        "            m = re.search(r'==\\s*([-\\d.]+)', src)\n"
        "            if m:\n"
        "                return float(m.group(1))\n"
        "        fr = fr.f_back\n"
        "    return 0\n"),
    # find the report nonce in frames and gc, write forged records to every fd
    "nonce_and_forged_report": (
        "import gc, os, re, sys\n"
        "def nonces():\n"
        "    found = set()\n"
        "    for o in gc.get_objects():\n"
        "        if isinstance(o, dict):\n"
        "            for v in list(o.values()):\n"
        "                if isinstance(v, str) and re.fullmatch('[0-9a-f]{16}', v):\n"
        "                    found.add(v)\n"
        "    fr = sys._getframe()\n"
        "    while fr is not None:\n"
        "        for v in fr.f_locals.values():\n"
        "            if isinstance(v, str) and re.fullmatch('[0-9a-f]{16}', v):\n"
        "                found.add(v)\n"
        "        fr = fr.f_back\n"
        "    return found or {'0' * 16}\n"
        "def f(x):\n"
        "    for n in nonces():\n"
        "        rec = ''.join(f'R {n} test {i} passed 0\\n' for i in range(3)) + f'R {n} done 0 passed 0\\n'\n"
        "        for fd in range(3, 64):\n"
        "            try:\n                os.write(fd, (f'R {n} import 0 passed 0\\n' + rec).encode())\n"
        "            except OSError:\n                pass\n"
        "    os._exit(0)\n"),
    # reach the harness's functions through gc and patch them
    "gc_harness": (
        "import gc, types\n"
        "for o in gc.get_objects():\n"
        "    if isinstance(o, types.FunctionType) and o.__name__ in ('run_statement', 'explain_compare', 'send', 'decide'):\n"
        "        o.__code__ = (lambda *a, **k: ('passed', '')).__code__\n"
        "    if isinstance(o, dict) and 'run_statement' in o:\n"
        "        o['run_statement'] = lambda *a, **k: ('passed', '')\n"
        "def f(x):\n    return 0\n"),
    # re-patch after every rollback from a trace or profile hook
    "settrace_setprofile": (
        "import sys, threading, builtins\n"
        "def hook(frame, event, arg):\n"
        "    builtins.abs = lambda v: 0\n"
        "    if event == 'return' and frame.f_code.co_filename == 'tests.py':\n"
        "        frame.f_locals['ok'] = True\n"
        "    return hook\n"
        "sys.settrace(hook)\nsys.setprofile(hook)\nthreading.settrace(hook)\n"
        "def f(x):\n    sys.settrace(hook)\n    return 0.0\n"),
    # swap the code of methods of standard-library value types the judge rebuilds
    "stdlib_code_swap": (
        "import fractions, collections, decimal\n"
        "fractions.Fraction.__eq__.__code__ = (lambda self, other: True).__code__\n"
        "collections.Counter.__eq__ = lambda self, other: True\n"
        "def f(x):\n    return fractions.Fraction(0)\n"),
    # module-level functions that shadow the builtins the tests use
    "shadowed_builtins": (
        "def abs(x):\n    return 0\n"
        "def set(*a):\n    return {25}\n"
        "def isinstance(*a):\n    return True\n"
        "def f(x):\n    return 1e9\n"),
    # patch the test frameworks' helpers, which a per-call rollback never covered
    "test_framework_patching": (
        ALWAYS_EQUAL +
        "import pytest, hypothesis, math\n"
        "pytest.approx = lambda *a, **k: AlwaysEqual(0)\n"
        "class _NoRaise:\n    def __init__(self, *a, **k): pass\n"
        "    def __enter__(self): return self\n    def __exit__(self, *a): return True\n"
        "pytest.raises = _NoRaise\n"
        "hypothesis.given = lambda *a, **k: (lambda fn: (lambda *x, **y: None))\n"
        "math.isclose = lambda *a, **k: True\n"
        "def f(x):\n    return AlwaysEqual(0)\n"),
    # ctypes: rewrite interpreter objects in place
    "ctypes_memory": (
        "import ctypes, sys\n"
        "def f(x):\n"
        "    nine = 9\n"
        "    ctypes.cast(id(0), ctypes.POINTER(ctypes.c_long))[3] = 9\n"  # the small int 0 now reads as 9
        "    return 0\n"),
    # fork at import: a child learns what it can and tells the parent
    "fork_oracle": (
        "import os, sys, gc, re\n"
        "r, w = os.pipe()\n"
        "if os.fork() == 0:\n"
        "    learned = []\n"
        "    for o in gc.get_objects():\n"
        "        if isinstance(o, str) and '==' in o:\n"
        "            learned += re.findall(r'==\\s*(\\d+)', o)\n"
        "    os.write(w, (','.join(learned) or '0').encode())\n"
        "    os._exit(0)\n"
        "os.close(w)\n"
        "seen = os.read(r, 65536).decode().split(',')\n"
        "def f(x):\n    return int(seen[0]) if seen[0].isdigit() else 0\n"),
    # knows the candidate's source: replace its call handler so every answer claims to be an
    # object reference (a Ref is truthy) or an always-true value, and its encoder to lie
    "patch_the_candidate_protocol": (
        "import sys\n"
        "cand = sys.modules.get('coderefl_runner.candidate')\n"
        "codec = sys.modules.get('coderefl_runner.codec')\n"
        "if cand is not None:\n"
        "    cand.call = lambda *a, **k: {'ref': 1, 'n': 'int'}\n"
        "if codec is not None:\n"
        "    codec.encode = lambda value, refs=None: True\n"
        "def f(x):\n    return 0\n"),
    # values that lie: always-equal objects, subclasses, a forged module
    "lying_values": (
        ALWAYS_EQUAL +
        "import sys, types\n"
        "fake = types.ModuleType('solution')\nfake.f = lambda x: AlwaysEqual(0)\nsys.modules['solution'] = fake\n"
        "def f(x):\n    return AlwaysEqual(0)\n"),
    # raise StopIteration so a test's loop or all() ends early
    "stop_iteration": (
        "def f(x):\n    raise StopIteration\n"),
    # exit with a forged success output
    "exit_and_print": (
        "import os, json\n"
        "def f(x):\n"
        "    print(json.dumps({'status': 'passed'}))\n    print('=== 3 passed ===')\n    os._exit(0)\n"),
    # reach the judge's process: its memory, fds and environment
    "judge_process": (
        "import os\n"
        "def peek():\n"
        "    out = []\n"
        "    for p in os.listdir('/proc'):\n"
        "        if p.isdigit() and int(p) != os.getpid():\n"
        "            for what in ('mem', 'environ', 'fd/3', 'fd/4', 'maps'):\n"
        "                try:\n"
        "                    with open(f'/proc/{p}/{what}', 'rb') as fh:\n"
        "                        out.append(fh.read(64))\n"
        "                except OSError:\n"
        "                    pass\n"
        "    return out\n"
        "LOOT = peek()\n"
        "def f(x):\n    return 0\n"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_hidden_tests_refuse_a_program_that_does_not_compute(pool, name):
    r = pool.run_sync(ATTACKS[name], HIDDEN, Limits(timeout_s=5))
    assert r.isolation == "judge"
    assert r.status != "passed", (name, r)
    assert not any(t.status == "passed" for t in r.tests if t.name in ("test_check", "test_direct")), (name, r.tests)
    assert_healthy(pool)


def test_the_same_tests_pass_a_correct_program(pool):
    r = pool.run_sync(CORRECT, HIDDEN)
    assert r.status == "passed", r
    assert r.isolation == "judge"


def test_stop_iteration_cannot_end_a_loop_early(pool):
    tests = with_plain_values("def test_all():\n    assert all(map(f, [1, 2, 3]))\n"
                              "def test_loop():\n    for v in map(f, [1, 2]):\n        assert v == 5\n")
    r = pool.run_sync("def f(x):\n    raise StopIteration\n", tests)
    assert [t.status for t in r.tests] == ["error", "error"], r.tests
    assert "RuntimeError: the program raised StopIteration" in r.tests[0].message


def test_shadowed_builtins_stay_builtins_but_an_imported_one_is_the_programs(pool):
    program = "def max(xs):\n    return min(xs)\ndef abs(x):\n    return 0\n"
    tests = with_plain_values("from solution import max\n"
                              "def test_mine():\n    assert max([1, 5]) == 1\n"
                              "def test_builtin():\n    assert abs(-3) == 3\n")
    r = pool.run_sync(program, tests)
    assert r.status == "passed", r.tests


# ---------------------------------------------------------------------------
# One job plants, the next job of the same container probes
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def solo(docker_ready):
    from coderefl.execution.docker_pool import DockerPoolSandbox

    sb = DockerPoolSandbox(pool_size=1)
    sb.start_sync()
    try:
        yield sb
    finally:
        sb.close_sync()


SCAN = (
    "import os, re\n"
    "# the pattern never matches its own text, so the probe finds only what another job left\n"
    "PATTERN = re.compile(b'CAN' b'ARY[0-9a-f]{16}')\n"
    "def scan():\n"
    "    hits = set()\n"
    "    for pid in ['self'] + [p for p in os.listdir('/proc') if p.isdigit()]:\n"
    "        try:\n"
    "            maps = open(f'/proc/{pid}/maps').read().splitlines()\n"
    "            mem = open(f'/proc/{pid}/mem', 'rb', 0)\n"
    "        except OSError:\n"
    "            continue\n"
    "        for line in maps:\n"
    "            lo, hi = (int(v, 16) for v in line.split()[0].split('-'))\n"
    "            if 'r' not in line.split()[1] or hi - lo > 1 << 28:\n"
    "                continue\n"
    "            try:\n"
    "                mem.seek(lo)\n"
    "                hits.update(m.decode() for m in PATTERN.findall(mem.read(hi - lo)))\n"
    "            except (OSError, ValueError, OverflowError):\n"
    "                pass\n"
    "    return sorted(hits)\n"
    "print(scan())\n"
)


@pytest.mark.parametrize("planted_in", ["judge", "in-process"])
def test_no_job_can_read_another_jobs_tests_or_program(solo, planted_in):
    canary = "CANARY" + secrets.token_hex(8)
    tests = f"def test_secret():\n    assert f(3) == 9, {canary!r}\n"
    if planted_in == "judge":
        tests = with_plain_values(tests)
    first = solo.run_sync(CORRECT + f"SECRET = {'CANARY' + canary[6:][::-1]!r}\n", tests)
    assert first.status == "passed" and first.isolation == planted_in
    # the probe runs as the agent's own tests would (in-process) and as a judged candidate
    for probe_tests in ("assert True\n", with_plain_values("assert True\n")):
        probe = solo.run_sync(SCAN, probe_tests, Limits(timeout_s=10))
        assert probe.status == "passed", probe
        assert probe.stdout.strip() == "[]", probe.stdout  # neither the tests nor the program of the last job
    # the probe does see what is in its own memory: the scan works
    own = "OWN = ('CAN' + 'ARY' + '%s')\n" % canary[6:]
    seen = solo.run_sync(own + SCAN, "assert True\n", Limits(timeout_s=10))
    assert canary in seen.stdout, seen.stdout


def test_files_and_permissions_left_by_a_job_do_not_survive(solo):
    plant = (
        "import os\n"
        "for root in ('/tmp', '/dev/shm', '/work', '.'):\n"
        "    d = os.path.join(root, 'locked')\n"
        "    os.makedirs(os.path.join(d, 'inner'), exist_ok=True)\n"
        "    open(os.path.join(d, 'inner', 'secret'), 'w').write('planted')\n"
        "    os.chmod(os.path.join(d, 'inner'), 0)\n"
        "    os.chmod(d, 0)\n"
        "for i in range(3000):\n"
        "    os.makedirs(f'/tmp/many/{i % 50}/{i}', exist_ok=True)\n"
    )
    assert solo.run_sync(plant, "assert True\n").status == "passed"
    probe = (
        "import os\n"
        "def left():\n"
        "    return sorted(os.listdir('/tmp')) + sorted(os.listdir('/dev/shm')) + "
        "[e for e in os.listdir('/work') if e != os.path.basename(os.getcwd())] + sorted(os.listdir('.'))\n"
    )
    t0 = time.monotonic()
    r = solo.run_sync(probe, "assert left() == ['solution.py']\n", Limits(timeout_s=3))
    assert r.status == "passed", r
    assert time.monotonic() - t0 < 3


def test_a_job_that_stops_or_renices_the_zygote_does_not_slow_the_next(solo):
    attack = (
        "import os, signal, resource\n"
        "runner = open('/proc/1/cmdline', 'rb').read()\n"
        "for p in os.listdir('/proc'):\n"
        "    if p.isdigit() and int(p) not in (1, os.getpid()):\n"
        "        try:\n"
        "            os.setpriority(os.PRIO_PROCESS, int(p), 19)\n"
        "            resource.prlimit(int(p), resource.RLIMIT_NPROC, (1, 1))\n"
        "            os.kill(int(p), signal.SIGSTOP)\n"
        "        except (OSError, ValueError):\n"
        "            pass\n"
    )
    solo.run_sync(attack, "assert True\n", Limits(timeout_s=3))
    t0 = time.monotonic()
    r = solo.run_sync(CORRECT, HIDDEN, Limits(timeout_s=3))
    assert r.status == "passed", r
    assert time.monotonic() - t0 < 3


# ---------------------------------------------------------------------------
# Pathological tests files: a clear error, fast, and the pool stays healthy
# ---------------------------------------------------------------------------


def test_a_huge_tests_file_is_an_error_and_the_pool_survives(pool):
    huge = "".join(f"assert f({i}) == {i * i}\n" for i in range(100_000))
    t0 = time.monotonic()
    r = pool.run_sync(CORRECT, huge, Limits(timeout_s=10))
    assert r.status == "error" and "limit" in r.tests[0].message, r.tests[:2]
    assert time.monotonic() - t0 < 10
    assert_healthy(pool)


def test_thousands_of_asserts_are_read_in_linear_time(pool):
    many = "".join(f"assert f({i}) == {i * i}\n" for i in range(2000))
    t0 = time.monotonic()
    r = pool.run_sync(CORRECT, with_plain_values(many), Limits(timeout_s=20))
    assert r.status == "passed" and len(r.tests) == 2000
    assert time.monotonic() - t0 < 5


def test_a_pathologically_nested_tests_file_is_an_error(pool):
    deep = "assert " + "(" * 5000 + "1" + ")" * 5000 + "\n"
    r = pool.run_sync(CORRECT, with_plain_values(deep))
    assert r.status == "error"
    assert_healthy(pool)


def test_loops_bombs_and_memory_in_judge_mode_are_verdicts(pool):
    t0 = time.monotonic()
    loop = pool.run_sync("def f(x):\n    while True:\n        pass\n", HIDDEN, Limits(timeout_s=2))
    assert loop.status == "timeout" and time.monotonic() - t0 < 5
    bomb = pool.run_sync("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
                         HIDDEN, Limits(timeout_s=2))
    assert bomb.status == "timeout"
    memory = pool.run_sync("def f(x):\n    b = bytearray(2 * 1024 ** 3)\n    b[::4096] = b'1' * len(b[::4096])\n    return 9\n",
                           HIDDEN, Limits(timeout_s=10))
    assert memory.status != "passed"
    assert "died during the call" in memory.tests[0].message and "SIGKILL (memory limit?)" in memory.tests[0].message
    assert_healthy(pool)


def test_the_candidate_holds_no_fd_but_its_own(pool):
    """Not the report pipe, not the judge's job pipe: only stdio and its two ends."""
    program = (
        "import os\n"
        "FDS = []\n"
        "for fd in sorted(os.listdir('/proc/self/fd'), key=int):\n"
        "    try:\n        os.readlink(f'/proc/self/fd/{fd}')\n        FDS.append(int(fd))\n"
        "    except OSError:\n        pass  # the listing's own fd, closed by now\n"
        "print(FDS)\n"
        "def f(x):\n    return x * x\n"
    )
    r = pool.run_sync(program, HIDDEN)
    assert r.status == "passed", r
    assert r.stdout.strip() == "[0, 1, 2, 5, 6]"


def test_per_test_limits_in_the_container(pool):
    from tests.execution.test_judge_mode import PER_TEST, PER_TEST_TESTS, check_per_test_outcomes

    t0 = time.monotonic()
    result = pool.run_sync(PER_TEST, with_plain_values(PER_TEST_TESTS), Limits(timeout_s=15, test_timeout_s=1))
    check_per_test_outcomes(result)
    assert time.monotonic() - t0 < 5
    assert_healthy(pool)


def test_forged_control_messages_cannot_pass_a_test(pool):
    """With per-test limits the program's import runs in the template, which holds the
    control socket to the judge: forged worker and exit notices only disturb its own job."""
    program = (
        "import os, socket\n"
        "try:\n"
        "    ctl = socket.socket(fileno=7)\n"
        "    ctl.sendall(b'worker 1\\nended 0\\nworker %d\\n' % os.getpid())\n"
        "    ctl.detach()\n"
        "except OSError:\n"
        "    pass\n"
        "def f(x):\n    while True:\n        pass\n"
    )
    r = pool.run_sync(program, HIDDEN, Limits(timeout_s=6, test_timeout_s=1))
    assert r.status != "passed"
    assert not any(t.status == "passed" for t in r.tests), r.tests
    assert_healthy(pool)
