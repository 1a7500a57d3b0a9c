"""consult(): the whole ask-an-expert exchange inside a real episode (real
client over HTTP to the scripted server, the oracle on the local runner)."""

from __future__ import annotations

import asyncio
import io

from coderefl.config import resolve_model_config
from coderefl.learn import HumanAdvisor, OracleAdvisor, advice_requests, consult
from coderefl.strategies.asking import UNSURE_NEEDLE
from coderefl.model.client import build_model
from coderefl.strategies.base import AgentConfig, create_strategy
from tests.openai_server import rules

from .conftest import ADD, ADD_TASK


def episode(server, sandbox, tmp_path, **config):
    cfg = resolve_model_config(settings={}, env={}, model="scripted-model", base_url=server.base_url,
                               api_key="k", cache_path=tmp_path / "c.sqlite")
    strategy = create_strategy("reflexion", build_model(cfg), sandbox, AgentConfig(**config))
    return strategy.episode(ADD, sample=0)


def test_consult_asks_the_model_then_the_oracle_and_counts_the_cost(openai_server, local_sandbox, tmp_path):
    openai_server.handler = rules((UNSURE_NEEDLE, "I am unsure about `(-3, 5)`."))
    ep = episode(openai_server, local_sandbox, tmp_path)
    adv = OracleAdvisor(local_sandbox, [ADD_TASK], max_requests=1, cost_tokens=300)
    advice = asyncio.run(consult(ep, adv, "def add(a, b):\n    return a - b\n", "assert add(1, 2) == 3 failed", iteration=2))
    assert advice.text == "assert add(-3, 5) == 2"
    step = ep.trajectory.steps[-1]
    assert step.kind == "advice" and step.iteration == 2
    assert step.data["question"] == "(-3, 5)" and step.data["advice_requested"] is True
    assert step.data["advice"]["text"] == "assert add(-3, 5) == 2" and step.note == "advice: assert add(-3, 5) == 2"
    assert ep.usage.by_phase["advisor"].prompt_tokens == 300 and ep.usage.calls == 1
    assert ep.usage.prompt_tokens >= 300
    assert advice_requests(ep.trajectory) == 1
    # the cap is used up: no further model call at all
    assert asyncio.run(consult(ep, adv, "def add(a, b):\n    return a - b\n")) is None
    assert len(openai_server.requests) == 1


def test_consult_without_a_question_costs_no_request(openai_server, local_sandbox, tmp_path):
    openai_server.handler = rules((UNSURE_NEEDLE, "NONE"))
    ep = episode(openai_server, local_sandbox, tmp_path)
    adv = OracleAdvisor(local_sandbox, [ADD_TASK], cost_tokens=300)
    assert asyncio.run(consult(ep, adv, "def add(a, b):\n    return a + b\n")) is None
    assert adv.requests[("demo/add", 0)] == 0 and "advisor" not in ep.usage.by_phase
    assert ep.trajectory.steps[-1].data["advice_requested"] is False and advice_requests(ep.trajectory) == 0
    assert asyncio.run(consult(ep, None, "x")) is None and len(openai_server.requests) == 1


def test_consult_with_a_human_takes_a_free_answer(openai_server, local_sandbox, tmp_path):
    openai_server.handler = rules((UNSURE_NEEDLE, "no idea"))
    ep = episode(openai_server, local_sandbox, tmp_path)
    adv = HumanAdvisor(inp=io.StringIO("negative numbers are allowed\n"), err=io.StringIO(), interactive=True)
    advice = asyncio.run(consult(ep, adv, "def add(a, b):\n    return a + b\n"))
    assert advice.kind == "hint" and advice.text == "negative numbers are allowed"
    assert advice_requests(ep.trajectory) == 1
