"""The hidden-test firewall, from the agent's side.

Structurally: nothing in the agent layer can reach hidden tests (no import
of the problem layer, no use of the hidden-side types). Behaviourally: a
real reflexion run over HumanEval problems sends the model no hidden test.
"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

import coderefl.strategies
from coderefl.problems.firewall import hidden_fragments
from coderefl.problems.registry import load_benchmark
from coderefl.strategies.base import AgentConfig, create_strategy
from tests.problems.helpers import mbpp_test_file
from tests.openai_server import rules

from .conftest import REFLECT, TESTS

STRATEGY_DIR = Path(coderefl.strategies.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("module", sorted(STRATEGY_DIR.glob("*.py")), ids=lambda p: p.name)
def test_agent_layer_cannot_import_hidden_tests(module):
    imported = _imports(module)
    assert not any(n.startswith("coderefl.problems") or n.startswith("coderefl.run") for n in imported)
    assert not any(n.endswith((".HiddenTests", ".BenchmarkTask")) for n in imported)


@pytest.mark.docker
def test_no_prompt_contains_a_hidden_test(openai_server, make_model, docker_sandbox):
    tasks = load_benchmark("humaneval", limit=4) + load_benchmark("mbpp", problems_file=mbpp_test_file(), limit=3)
    openai_server.handler = rules(
        (TESTS, "```python\nassert True\n```"),
        (REFLECT, "The code is wrong."),
        fallback="```python\ndef nothing():\n    return None\n```",
    )
    model = make_model()

    async def run_all():
        for task in tasks:
            strategy = create_strategy("reflexion", model, docker_sandbox, AgentConfig(max_iters=2))
            await strategy.solve(task.problem)

    asyncio.run(run_all())
    sent = "\n".join(str(m.get("content", "")) for body in openai_server.requests for m in body.get("messages", []))
    assert len(openai_server.requests) >= 3 * len(tasks)
    checked = 0
    for task in tasks:
        assert task.problem.prompt.strip()[:40] in sent  # the prompt did go out
        for fragment in hidden_fragments(task):
            checked += 1
            assert fragment not in sent, f"hidden test of {task.problem.task_id} reached the model: {fragment}"
    assert checked > 10
