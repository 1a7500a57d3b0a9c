"""A module-wide warm pool for the Docker tests (starting one per test would
cost a second each); tests that need their own pool build it."""

from __future__ import annotations

import asyncio
import os

import pytest

CANARY = "CODEREFL_HOST_CANARY"


@pytest.fixture(scope="module")
def pool(docker_ready):
    from coderefl.execution.docker_pool import DockerPoolSandbox

    os.environ[CANARY] = "host-secret"  # must never reach a container
    sb = DockerPoolSandbox(pool_size=2)
    asyncio.run(sb.start())
    try:
        yield sb
    finally:
        asyncio.run(sb.close())
        os.environ.pop(CANARY, None)


GOOD = "def f(x):\n    return x + 1\n"
GOOD_TESTS = "assert f(1) == 2\nassert f(41) == 42\n"


def assert_healthy(sb) -> None:
    """The next normal execution after an attack must pass."""
    r = sb.run_sync(GOOD, GOOD_TESTS)
    assert r.status == "passed", r
