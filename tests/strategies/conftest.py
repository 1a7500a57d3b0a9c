"""Fixtures for agent tests: a real client against the scripted server, and
the real Docker sandbox. Each test scripts the model so one path happens."""

from __future__ import annotations

import asyncio

import pytest

from coderefl.config import resolve_model_config
from coderefl.model.client import build_model
from coderefl.records import Problem
from coderefl.strategies.base import AgentConfig, create_strategy

ADD = Problem(
    task_id="demo/add",
    prompt='def add(a, b):\n    """Return the sum of a and b.\n    >>> add(2, 3)\n    5\n    """\n',
    entry_point="add",
)

GOOD = "```python\ndef add(a, b):\n    return a + b\n```"
BUGGY = "```python\ndef add(a, b):\n    return a - b\n```"
# needles: the phrase that identifies each prompt of coderefl.strategies.prompts
TESTS = "Instead write"
PROPS = "property-based tests"
REFLECT = "explain why the implementation is wrong"
REGEN = "I ran your implementation"
CRITIQUE = "Review this implementation"
REVISE = "A review of this implementation found"
TOOL = "I ran this code in a Python interpreter"


@pytest.fixture
def make_model(openai_server, tmp_path):
    models = []

    def make(api: str = "chat", **flags):
        cfg = resolve_model_config(
            settings={},
            env={},
            model="scripted-model",
            base_url=openai_server.base_url,
            api_key="test-key",
            api=api,
            cache_path=tmp_path / "cache.sqlite",
            **flags,
        )
        model = build_model(cfg)
        models.append(model)
        return model

    yield make


@pytest.fixture
def run_strategy(make_model, docker_sandbox):
    def run(name: str, problem: Problem = ADD, user_tests=None, api: str = "chat", **config):
        strategy = create_strategy(name, make_model(api), docker_sandbox, AgentConfig(**config))
        return asyncio.run(strategy.solve(problem, user_tests=user_tests))

    return run


def user_messages(server) -> list[str]:
    """The last user message of every chat request, in order."""
    out = []
    for body in server.requests:
        msgs = [m for m in body.get("messages", []) if m["role"] == "user"]
        if msgs:
            out.append(msgs[-1]["content"])
    return out
