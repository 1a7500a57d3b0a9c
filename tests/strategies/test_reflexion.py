"""Reflexion, end to end: real HTTP to the scripted server, real Docker."""

from __future__ import annotations

import pytest

from coderefl.errors import BadInput
from tests.openai_server import rules

from .conftest import BUGGY, GOOD, REFLECT, REGEN, TESTS, user_messages

pytestmark = pytest.mark.docker

REFLECTION = "The function subtracts b instead of adding it; the return line must use a + b."


def test_buggy_first_attempt_is_fixed_after_reflection(openai_server, run_strategy):
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(-1, 1) == 0\n```"),
        (REFLECT, REFLECTION),
        (REGEN, GOOD),
        fallback=BUGGY,
    )
    traj = run_strategy("reflexion")
    assert traj.stop_reason == "passed"
    assert traj.internal_passed is True
    assert traj.iterations == 2
    assert "a + b" in traj.final_code
    kinds = [s.kind for s in traj.steps]
    assert kinds == ["generate_tests", "generate", "execute", "reflect", "generate", "execute"]
    first_run = traj.steps[2].execution
    assert first_run.status == "failed"
    # the feedback names the actual value the buggy code returned
    regen_prompt = user_messages(openai_server)[-1]
    assert "add(1, 2) == 3" in regen_prompt and "-1" in regen_prompt
    assert REFLECTION in regen_prompt
    assert traj.steps[3].reflection == REFLECTION
    assert traj.usage.calls == 4 and traj.usage.prompt_tokens > 0


def test_wrong_generated_test_contradicting_an_example_is_dropped(openai_server, run_strategy):
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(2, 3) == 6\nassert add(1, 1) == 2\n```"),
        fallback=GOOD,
    )
    traj = run_strategy("reflexion")
    assert traj.stop_reason == "passed"
    assert traj.iterations == 1
    decisions = [s.note for s in traj.steps if s.kind == "decision"]
    assert any("add(2, 3) == 6" in d and "contradicts" in d for d in decisions)
    assert "assert add(2, 3) == 6" not in traj.internal_tests
    assert "assert add(1, 1) == 2" in traj.internal_tests


def test_agreement_drops_a_test_every_candidate_fails(openai_server, run_strategy):
    other_good = "```python\ndef add(a, b):\n    return sum([a, b])\n```"
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(1, 1) == 3\nassert add(4, 4) == 8\n```"),
        fallback=[GOOD, other_good],
    )
    traj = run_strategy("reflexion", candidates=2)
    assert traj.stop_reason == "passed", [s.note for s in traj.steps]
    notes = " | ".join(s.note or "" for s in traj.steps if s.kind == "decision")
    assert "add(1, 1) == 3" in notes and "every candidate fails" in notes
    assert "chose candidate" in notes
    # no reflection was spent on the wrong test
    assert not [s for s in traj.steps if s.kind == "reflect"]


def test_budget_exhausted_ends_with_best_candidate(openai_server, run_strategy):
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(1, 2) == 3\nassert add(0, 0) == 0\n```"),
        (REFLECT, "Still wrong."),
        fallback=BUGGY,
    )
    traj = run_strategy("reflexion", max_calls=3, max_iters=10)
    assert traj.stop_reason == "budget_calls"
    assert traj.usage.calls == 3
    assert traj.internal_passed is False
    assert "a - b" in traj.final_code  # the best (only) candidate, not nothing


def test_model_that_never_writes_code(openai_server, run_strategy):
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(1, 2) == 3\n```"),
        fallback="I am sorry, I cannot help with that request.",
    )
    traj = run_strategy("reflexion", max_iters=3)
    assert traj.stop_reason == "no_code"
    assert traj.final_code == ""
    assert traj.internal_passed is False
    notes = [s.note for s in traj.steps if s.kind == "generate"]
    assert len(notes) == 3 and all(n and "no code" in n for n in notes)


def test_garbage_output_is_a_failed_attempt_not_a_crash(openai_server, run_strategy):
    openai_server.handler = rules(
        (TESTS, "assert add(1, 2) == 3"),
        (REGEN, GOOD),
        fallback="```python\ndef add(a, b:\n    return a +\n```",
    )
    traj = run_strategy("reflexion", max_iters=3)
    assert traj.stop_reason == "passed"
    first_gen = next(s for s in traj.steps if s.kind == "generate")
    assert first_gen.note and "syntax" in first_gen.note.lower()


def test_no_reflection_ablation_feeds_raw_feedback(openai_server, run_strategy):
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(1, 2) == 3\n```"),
        (REGEN, GOOD),
        fallback=BUGGY,
    )
    traj = run_strategy("reflexion", reflection=False)
    assert traj.stop_reason == "passed"
    assert not [s for s in traj.steps if s.kind == "reflect"]
    assert not any(REFLECT in m for m in user_messages(openai_server))


def test_no_generated_tests_ablation_uses_examples_only(openai_server, run_strategy):
    openai_server.handler = rules((REGEN, GOOD), fallback=BUGGY)
    traj = run_strategy("reflexion", generated_tests=False)
    assert not any(TESTS in m for m in user_messages(openai_server))
    assert traj.internal_tests == ["assert add(2, 3) == 5"]
    assert traj.stop_reason == "passed" and traj.iterations == 2


def test_memory_keeps_the_last_m_reflections(openai_server, run_strategy):
    counter = {"n": 0}

    def handler(body):
        last = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
        if TESTS in last:
            return "```python\nassert add(1, 2) == 3\n```"
        if REFLECT in last:
            counter["n"] += 1
            return f"reflection number {counter['n']}"
        return BUGGY

    openai_server.handler = handler
    traj = run_strategy("reflexion", max_iters=4, memory_size=2)
    assert traj.stop_reason == "max_iters" and traj.iterations == 4
    last_regen = [m for m in user_messages(openai_server) if REGEN in m][-1]
    assert "reflection number 3" in last_regen and "reflection number 2" in last_regen
    assert "reflection number 1" not in last_regen


def test_user_tests_are_authoritative_and_never_dropped(openai_server, run_strategy):
    # the user's test disagrees with the docstring example; it still runs and decides
    openai_server.handler = rules((TESTS, "```python\nassert add(1, 1) == 2\n```"), fallback=GOOD)
    traj = run_strategy("reflexion", user_tests=["assert add(10, 10) == 21"], max_iters=2)
    assert "assert add(10, 10) == 21" in traj.internal_tests
    assert traj.internal_passed is False


def test_reflexion_refuses_a_completion_only_model(make_model, docker_sandbox):
    from coderefl.strategies.base import create_strategy

    with pytest.raises(BadInput, match="completions"):
        create_strategy("reflexion", make_model("completions"), docker_sandbox)


def test_observer_sees_every_step_once_and_complete(openai_server, make_model, docker_sandbox):
    import asyncio

    from coderefl.strategies.base import AgentConfig, create_strategy

    from .conftest import ADD

    openai_server.handler = rules(
        (TESTS, "```python\nassert add(1, 2) == 3\n```"),
        (REFLECT, REFLECTION),
        (REGEN, GOOD),
        fallback=BUGGY,
    )
    strategy = create_strategy("reflexion", make_model(), docker_sandbox, AgentConfig())
    seen = []
    strategy.observer = lambda step: seen.append((step.index, step.kind, list(step.tests), step.reflection))
    traj = asyncio.run(strategy.solve(ADD))
    assert [s[0] for s in seen] == list(range(len(traj.steps)))
    assert seen[0][2] == ["assert add(1, 2) == 3"]  # tests filled in before it was shown
    assert [s[3] for s in seen if s[1] == "reflect"] == [REFLECTION]


def test_property_tests_run_and_catch_a_bug_the_asserts_miss(openai_server, run_strategy):
    from .conftest import PROPS

    prop = (
        "```python\nfrom hypothesis import given, strategies as st\n\n"
        "@given(st.integers(-50, 50), st.integers(-50, 50))\n"
        "def test_commutes(a, b):\n    assert add(a, b) == add(b, a)\n```"
    )
    # passes the example add(2, 3) == 5 and the generated assert, but is not commutative
    sneaky = "```python\ndef add(a, b):\n    return a + b if a <= b else a + b + 1\n```"
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(1, 2) == 3\n```"),
        (PROPS, prop),
        (REFLECT, "It adds 1 when a > b."),
        (REGEN, GOOD),
        fallback=sneaky,
    )
    traj = run_strategy("reflexion", property_tests=True)
    assert traj.stop_reason == "passed" and traj.iterations == 2
    first = [s for s in traj.steps if s.kind == "execute"][0].execution
    failing = [t.name for t in first.failing]
    assert any("commutes" in name for name in failing), first.tests
    assert any("@given" in t for t in traj.internal_tests)


def test_wall_time_budget_ends_cleanly(openai_server, run_strategy):
    from tests.openai_server import Reply

    openai_server.handler = rules(
        (TESTS, "```python\nassert add(1, 2) == 3\n```"),
        fallback=Reply(texts=[BUGGY], delay_s=0.6),
    )
    traj = run_strategy("reflexion", max_wall_s=1.0, max_iters=10, reflection=False)
    assert traj.stop_reason == "budget_time"
    assert traj.final_code and "a - b" in traj.final_code
    assert traj.duration_s < 5


def test_token_budget(openai_server, run_strategy):
    openai_server.handler = rules((TESTS, "```python\nassert add(1, 2) == 3\n```"), fallback=BUGGY)
    traj = run_strategy("reflexion", max_tokens=150, max_iters=10)
    assert traj.stop_reason == "budget_tokens"
    assert traj.usage.total_tokens >= 150


@pytest.mark.parametrize("feedback", ["trace", "plain"])
def test_trace_feedback_shows_the_model_what_the_failing_call_did(openai_server, run_strategy, feedback):
    """--feedback trace (LDB-style): the reflection prompt carries the failing
    call's steps with its variables; plain feedback (the ablation) does not."""
    buggy_loop = "```python\ndef add(a, b):\n    total = a\n    for _ in range(b - 1):\n        total += 1\n    return total\n```"
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(1, 2) == 3\n```"),
        (REFLECT, REFLECTION),
        (REGEN, GOOD),
        fallback=buggy_loop,
    )
    traj = run_strategy("reflexion", feedback=feedback)
    assert traj.stop_reason == "passed"
    reflect_prompt = next(m for m in user_messages(openai_server) if REFLECT in m)
    assert "add(1, 2) returned 2, expected 3" in reflect_prompt
    traced = "What add did, line by line" in reflect_prompt and "add returns 2" in reflect_prompt
    assert traced == (feedback == "trace")
    if feedback == "trace":
        assert "total += 1   [_=0]" in reflect_prompt  # the loop ran once: one element early
