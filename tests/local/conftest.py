"""Fixtures for the embedded local model (llama.cpp server + the packaged GGUFs:
the SmolLM2 chat model and the Gemma 3 base model).

Skipped with the reason when ``coderefl[local]`` is not installed; under CI
(``CI=true``) that is a failure instead, as for Docker in ``tests/conftest.py``,
so a broken install can never pass as "skipped".
"""

from __future__ import annotations

import os

import pytest


def _local_problem() -> str | None:
    from coderefl.errors import ModelError
    from coderefl.model.local_server import chat_model_path, default_model_path, require_llama_server

    try:
        require_llama_server()
        default_model_path()
        chat_model_path()
    except ModelError as err:
        return str(err)
    return None


@pytest.fixture(scope="session")
def local_ready() -> None:
    problem = _local_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI needs the local model: {problem}")
    pytest.skip(problem)


@pytest.fixture(scope="module")
def local_server(local_ready):
    """One started server with the packaged base model, shared by a test module."""
    from coderefl.model.local_server import LocalServer

    with LocalServer("gemma3-270m", n_ctx=2048, seed=1234) as server:
        yield server


@pytest.fixture(scope="module")
def chat_server(local_ready):
    """One started server with the packaged chat model (the --local default), shared by a test module."""
    from coderefl.model.local_server import LocalServer

    with LocalServer(n_ctx=2048, seed=1234) as server:
        yield server
