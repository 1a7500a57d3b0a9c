"""Fixtures for the learning tests: real trajectories from real strategies.

The strategies run against the scripted OpenAI-compatible server (real
HTTP through the real client) and the local runner backend (the same
in-sandbox runner as Docker, without isolation: the code is our own
scripted code, and it keeps these tests fast and Docker-free). The Docker
variants are marked ``docker``.
"""

from __future__ import annotations

import asyncio

import pytest

from coderefl.config import resolve_model_config
from coderefl.execution import create_sandbox
from coderefl.model.client import build_model
from coderefl.records import BenchmarkTask, HiddenTests, Problem
from coderefl.strategies.base import AgentConfig, create_strategy

# needles identifying the prompts of coderefl.strategies.prompts
TESTS = "Instead write"
REFLECT = "explain why the implementation is wrong"
REGEN = "I ran your implementation"

GOOD = "```python\ndef add(a, b):\n    return a + b\n```"
BUGGY = "```python\ndef add(a, b):\n    return a - b\n```"
REFLECTION = "The function subtracts b instead of adding it; the return line must use a + b."
ADD_TESTS = "```python\nassert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(-1, 1) == 0\n```"

#: hidden asserts of the ADD task: distinctive, so a leak is easy to see
HIDDEN_ADD = "def test_hidden():\n    assert add(1234567, 7654321) == 8888888\n    assert add(-99999, 11111) == -88888\n"

ADD = Problem(
    task_id="demo/add",
    prompt='def add(a, b):\n    """Return the sum of a and b.\n    >>> add(2, 3)\n    5\n    """\n',
    entry_point="add",
)
ADD_TASK = BenchmarkTask(
    problem=ADD,
    hidden=HiddenTests(test_code=HIDDEN_ADD, canonical_solution="def add(a, b):\n    return a + b\n"),
)
#: no examples anywhere: with generated tests off it has no internal test at all
BARE = Problem(task_id="demo/bare", prompt='def add(a, b):\n    """Add two numbers."""\n', entry_point="add")


@pytest.fixture
def local_sandbox():
    return create_sandbox("local")


class Solver:
    """solve(strategy, problem, handler, **agent_config) -> Trajectory, for real."""

    def __init__(self, server, sandbox, cache_dir) -> None:
        self.server, self.sandbox, self.cache_dir = server, sandbox, cache_dir
        self.models = []

    def __call__(self, name: str, problem: Problem, handler, **config):
        self.server.handler = handler
        cfg = resolve_model_config(
            settings={}, env={}, model="scripted-model", base_url=self.server.base_url,
            api_key="test-key", cache_path=self.cache_dir / f"cache-{len(self.models)}.sqlite",
        )
        model = build_model(cfg)
        self.models.append(model)
        strategy = create_strategy(name, model, self.sandbox, AgentConfig(**config))
        return asyncio.run(strategy.solve(problem))

    def close(self) -> None:
        for m in self.models:
            asyncio.run(m.close())


@pytest.fixture
def solve(openai_server, tmp_path, local_sandbox):
    solver = Solver(openai_server, local_sandbox, tmp_path)
    yield solver
    solver.close()
