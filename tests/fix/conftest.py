"""Fixtures for the fixer's tests: one warm Docker sandbox per module and
a real model client against the scripted server."""

from __future__ import annotations

import asyncio

import pytest

from coderefl.config import resolve_model_config
from coderefl.model.client import build_model


@pytest.fixture(scope="module")
def fix_sandbox(docker_ready):
    from coderefl.execution import create_sandbox

    sb = create_sandbox("docker", pool_size=1)
    asyncio.run(sb.start())
    try:
        yield sb
    finally:
        asyncio.run(sb.close())


@pytest.fixture
def model_factory(openai_server, tmp_path):
    """Builds the client lazily, as the CLI does; counts how often it was built."""
    built: list[object] = []

    def make():
        cfg = resolve_model_config(
            settings={}, env={}, model="scripted-model", base_url=openai_server.base_url, api_key="k",
            cache=False, cache_path=tmp_path / "cache.sqlite",
        )
        model = build_model(cfg)
        built.append(model)
        return model

    make.built = built  # type: ignore[attr-defined]
    return make


def user_messages(server) -> list[str]:
    out = []
    for body in server.requests:
        msgs = [m for m in body.get("messages", []) if m["role"] == "user"]
        if msgs:
            out.append(msgs[-1]["content"])
    return out
