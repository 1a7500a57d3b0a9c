"""The warm pool: cross-event-loop use, heavy concurrency, limits per
container, recycling, labels and cleanup."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from coderefl.execution.hardening import LABEL, LABEL_OWNER_PID
from coderefl.records import Limits
from tests.execution.conftest import GOOD, GOOD_TESTS

pytestmark = pytest.mark.docker

CGROUP = "def cid():\n    return open('/proc/self/cgroup').read()\n"


def _ours(client) -> list:
    return client.containers.list(all=True, filters={"label": [f"{LABEL}=1", f"{LABEL_OWNER_PID}={os.getpid()}"]},
                                  ignore_removed=True)


def test_started_in_one_loop_used_in_another(docker_sandbox):
    # the conftest fixture started it with asyncio.run(); this is a new loop
    async def many():
        return await asyncio.gather(*[docker_sandbox.run(GOOD, GOOD_TESTS) for _ in range(64)])

    results = asyncio.run(many())
    assert [r.status for r in results] == ["passed"] * 64
    # and once more in yet another loop, with a mix of verdicts
    async def mixed():
        return await asyncio.gather(docker_sandbox.run(GOOD, "assert f(1) == 3\n"), docker_sandbox.run(GOOD, GOOD_TESTS))

    bad, good = asyncio.run(mixed())
    assert (bad.status, good.status) == ("failed", "passed")


def test_limits_differing_from_the_pool_get_their_own_container(pool):
    probe = "def mem():\n    return int(open('/sys/fs/cgroup/memory/memory.limit_in_bytes').read())\n" \
            "def pids():\n    return open('/sys/fs/cgroup/pids/pids.max').read().strip()\n"
    r = pool.run_sync(probe, f"assert mem() == {512 * 1024 * 1024}\nassert pids() == '64'\n")
    assert r.status == "passed", r
    small = Limits(memory_mb=128, pids=32)
    r = pool.run_sync(probe, f"assert mem() == {128 * 1024 * 1024}\nassert pids() == '32'\n", small)
    assert r.status == "passed", r
    # a per-job limit (timeout) reuses the pool's containers
    r = pool.run_sync(GOOD, GOOD_TESTS, Limits(timeout_s=3))
    assert r.status == "passed"


def test_container_recycled_after_timeout_and_after_max_uses(docker_ready):
    from coderefl.execution.docker_pool import DockerPoolSandbox

    sb = DockerPoolSandbox(pool_size=1, max_uses=3)
    sb.start_sync()
    try:
        ids = [sb.run_sync(CGROUP, "assert cid()\n").status for _ in range(1)]
        assert ids == ["passed"]

        def which() -> str:
            r = sb.run_sync(CGROUP + "print(cid())\n", "assert cid()\n")
            assert r.status == "passed"
            return r.stdout

        a = which()
        assert which() == a  # uses 2 and 3: same container
        b = which()  # the previous container hit max_uses=3 and was replaced
        assert b != a
        sb.run_sync("while True:\n    pass\n", "assert True\n", Limits(timeout_s=0.5))
        assert which() != b  # a timeout recycles
    finally:
        sb.close_sync()


def test_close_removes_every_container(docker_ready):
    import docker

    from coderefl.execution.docker_pool import DockerPoolSandbox

    client = docker.from_env()
    sb = DockerPoolSandbox(pool_size=2)
    sb.start_sync()
    sb.run_sync(GOOD, GOOD_TESTS, Limits(memory_mb=256))  # a second sub-pool
    ids = {c.id for p in sb._pools.values() for c in p.live}
    assert len(ids) >= 3
    labels = client.containers.get(next(iter(ids))).labels
    assert labels[LABEL] == "1" and labels[LABEL_OWNER_PID] == str(os.getpid())
    sb.close_sync()
    left = {c.id for c in _ours(client)} & ids
    assert left == set()
    sb.close_sync()  # idempotent


@pytest.mark.parametrize("how", ["sigterm", "sigint", "exit"])
def test_process_exit_and_signals_remove_containers(docker_ready, how):
    import docker

    client = docker.from_env()
    script = (
        "import os, signal, sys, time\n"
        "from coderefl.execution.docker_pool import DockerPoolSandbox\n"
        "from coderefl.cli.signals import sigterm_as_interrupt\n"
        "sigterm_as_interrupt()\n"
        "sb = DockerPoolSandbox(pool_size=2)\nsb.start_sync()\n"
        "print(os.getpid(), flush=True)\n"
        "if sys.argv[1] == 'exit':\n    sys.exit(0)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, how], stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    pid = int(proc.stdout.readline())
    filt = {"label": [f"{LABEL}=1", f"{LABEL_OWNER_PID}={pid}"]}
    assert len(client.containers.list(all=True, filters=filt, ignore_removed=True)) == 2
    if how == "sigterm":
        proc.terminate()
    elif how == "sigint":
        proc.send_signal(2)
    proc.wait(timeout=30)
    assert client.containers.list(all=True, filters=filt, ignore_removed=True) == []


def test_prune_removes_orphans_only(docker_ready):
    import docker

    from coderefl.execution.hardening import container_kwargs
    from coderefl.execution.image import image_tag
    from coderefl.execution.maintenance import prune

    client = docker.from_env()
    kw = container_kwargs(image_tag(), Limits())
    kw["labels"] = {**kw["labels"], LABEL_OWNER_PID: "999999999"}  # an owner that cannot exist
    orphan = client.containers.create(**kw)
    mine = client.containers.create(**container_kwargs(image_tag(), Limits()))
    try:
        prune()  # (a concurrent pool start may prune the orphan first: check the outcome, not the count)
        ids = {c.id for c in client.containers.list(all=True, filters={"label": f"{LABEL}=1"}, ignore_removed=True)}
        assert orphan.id not in ids and mine.id in ids
    finally:
        for c in (orphan, mine):
            try:
                c.remove(force=True)
            except Exception:
                pass


def test_files_are_placed_in_the_work_dir(pool):
    r = pool.run_sync(
        "import json\ndata = json.load(open('data/in.json'))\nblob = open('b.bin', 'rb').read()\n",
        "assert data == {'a': 1}\nassert blob == bytes(range(256))\n",
        files={"data/in.json": '{"a": 1}', "b.bin": bytes(range(256))},
    )
    assert r.status == "passed", r


def test_warm_latency_is_small(pool):
    pool.run_sync(GOOD, GOOD_TESTS)
    times = []
    for _ in range(10):
        t0 = time.monotonic()
        assert pool.run_sync(GOOD, GOOD_TESTS).passed
        times.append(time.monotonic() - t0)
    times.sort()
    assert times[len(times) // 2] < 0.25  # generous: CI machines are shared


def test_odd_limits_do_not_pile_up_sub_pools(docker_ready):
    from coderefl.execution.docker_pool import DockerPoolSandbox

    sb = DockerPoolSandbox(pool_size=1, max_subpools=2)
    sb.start_sync()
    try:
        for mb in (200, 210, 220):
            assert sb.run_sync(GOOD, GOOD_TESTS, Limits(memory_mb=mb)).passed
        assert len(sb._pools) == 2
        live = sum(len(p.live) for p in sb._pools.values())
        assert live <= 2
        assert sb.run_sync(GOOD, GOOD_TESTS).passed  # the pool's own sub-pool survived
    finally:
        sb.close_sync()


def test_pytest_and_hypothesis_work_in_the_image(pool):
    tests = (
        "import pytest\nfrom hypothesis import given, strategies as st\n"
        "@given(st.integers(), st.integers())\n"
        "def test_commutes(a, b):\n    assert f(a) + b == f(b) + a\n"
        "@given(st.integers())\n"
        "def test_wrong(a):\n    assert f(a) == a\n"
        "def test_raises():\n    with pytest.raises(TypeError):\n        f(None)\n"
    )
    r = pool.run_sync(GOOD, tests, Limits(timeout_s=30))
    by = {t.name: t for t in r.tests}
    assert by["test_commutes"].status == "passed", r
    assert by["test_raises"].status == "passed", r
    assert by["test_wrong"].status == "failed" and "Falsifying example" in by["test_wrong"].message
    assert r.status == "failed"
