"""Shared fixtures: the scripted OpenAI-compatible server and the Docker sandbox.

Docker tests need a running engine and the sandbox image (``.ci/run`` sets
both up). Outside CI they are skipped with the reason when the engine is
missing; under CI (``CI=true``) a missing engine is an error, so a broken
set-up can never pass as "skipped".
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

#: A run started in the background (`bash .ci/run &`) inherits an ignored Ctrl-C, and so would every process
#: the tests start; the tests that send one (a server stopped by Ctrl-C, the hook's Ctrl-C) need it back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _docker_problem() -> str | None:
    """None when the Docker engine answers and the image exists, else why not."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as err:  # engine missing or not running
        return f"no Docker engine: {err}"
    try:
        from coderefl.execution.image import image_tag

        client.images.get(image_tag())
    except Exception as err:
        return f"sandbox image missing (run `coderefl sandbox build --offline`): {err}"
    return None


@pytest.fixture(scope="session")
def docker_ready() -> None:
    problem = _docker_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI needs Docker: {problem}")
    pytest.skip(problem)


@pytest.fixture
def docker_sandbox(docker_ready):
    """A started Docker pool sandbox, closed (and its containers removed) after the test."""
    from coderefl.execution import create_sandbox

    sb = create_sandbox("docker", pool_size=2)
    asyncio.run(sb.start())
    try:
        yield sb
    finally:
        asyncio.run(sb.close())


@pytest.fixture
def openai_server():
    """A scripted, deterministic OpenAI-compatible HTTP server on 127.0.0.1."""
    from tests.openai_server import ScriptedServer

    with ScriptedServer() as server:
        yield server
