"""simple, retry, self-refine and critic, each driven down its own path."""

from __future__ import annotations

import pytest

from coderefl.records import Problem
from tests.openai_server import Reply, rules

from .conftest import BUGGY, CRITIQUE, GOOD, REVISE, TESTS, TOOL, user_messages

pytestmark = pytest.mark.docker


def test_simple_makes_one_call_and_reports_internal_verdict(openai_server, run_strategy):
    openai_server.handler = rules(fallback=BUGGY)
    traj = run_strategy("simple")
    assert [s.kind for s in traj.steps] == ["generate", "execute"]
    assert traj.stop_reason == "single_shot"
    assert traj.internal_passed is False  # the docstring example add(2, 3) == 5 fails
    assert len(openai_server.requests) == 1


def test_retry_resamples_at_rising_temperature_without_feedback(openai_server, run_strategy):
    replies = iter([BUGGY, BUGGY, GOOD])

    def handler(body):
        last = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
        if TESTS in last:
            return "```python\nassert add(1, 2) == 3\n```"
        return next(replies)

    openai_server.handler = handler
    traj = run_strategy("retry", max_iters=5, temperature=0.0, retry_temperature_step=0.3)
    assert traj.stop_reason == "passed" and traj.iterations == 3
    temps = [b["temperature"] for b in openai_server.requests if TESTS not in user_messages_of(b)]
    assert temps == pytest.approx([0.0, 0.3, 0.6])
    # no feedback: every generation request is the same first-attempt prompt
    gens = [user_messages_of(b) for b in openai_server.requests if TESTS not in user_messages_of(b)]
    assert len(set(gens)) == 1


def user_messages_of(body) -> str:
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


def test_self_refine_stops_on_lgtm_without_running_feedback(openai_server, run_strategy):
    openai_server.handler = rules(
        (CRITIQUE, "LGTM"),
        (REVISE, GOOD),
        fallback=GOOD,
    )
    traj = run_strategy("self-refine")
    assert traj.stop_reason == "passed"
    assert [s.kind for s in traj.steps] == ["generate", "critique", "execute"]
    assert traj.internal_passed is True


def test_self_refine_revises_on_critique(openai_server, run_strategy):
    critiques = iter(["It subtracts instead of adding.", "LGTM"])
    openai_server.handler = lambda body: (
        next(critiques) if CRITIQUE in user_messages_of(body) else GOOD if REVISE in user_messages_of(body) else BUGGY
    )
    traj = run_strategy("self-refine", max_iters=4)
    assert traj.stop_reason == "passed"
    assert "a + b" in traj.final_code
    assert any("It subtracts instead of adding." in m for m in user_messages(openai_server))


def test_critic_feeds_the_interpreter_output_back(openai_server, run_strategy):
    openai_server.handler = rules((TOOL, GOOD), fallback=BUGGY)
    traj = run_strategy("critic")
    assert traj.stop_reason == "passed" and traj.iterations == 2
    tool_prompt = [m for m in user_messages(openai_server) if TOOL in m][0]
    assert "add(2, 3) == 5" in tool_prompt  # the prompt's own example, with the actual value
    assert not any(TESTS in m for m in user_messages(openai_server))  # no generated tests


def test_critic_reports_a_crash_at_import(openai_server, run_strategy):
    crash = "```python\nimport nonexistent_module_xyz\n\ndef add(a, b):\n    return nonexistent_module_xyz.add(a, b)\n```"
    openai_server.handler = rules((TOOL, GOOD), fallback=crash)
    traj = run_strategy("critic")
    assert traj.stop_reason == "passed"
    tool_prompt = [m for m in user_messages(openai_server) if TOOL in m][0]
    assert "nonexistent_module_xyz" in tool_prompt


HUMANEVAL_STYLE = Problem(
    task_id="demo/inc",
    prompt='def incr_list(l: list):\n    """Return list with elements incremented by 1.\n    >>> incr_list([1, 2, 3])\n    [2, 3, 4]\n    """\n',
    entry_point="incr_list",
)


def test_simple_in_completion_mode_sends_the_prompt_prefix(openai_server, run_strategy):
    openai_server.handler = lambda body: Reply(texts=["    return [x + 1 for x in l]\n\ndef junk():\n    pass\n"])
    traj = run_strategy("simple", problem=HUMANEVAL_STYLE, api="completions")
    body = openai_server.requests[-1]
    assert body["_path"].endswith("/completions") and "messages" not in body
    assert body["prompt"] == HUMANEVAL_STYLE.prompt
    assert "\ndef " in body["stop"]
    assert traj.internal_passed is True
    assert "junk" not in traj.final_code


def test_retry_in_completion_mode_uses_examples_only(openai_server, run_strategy):
    answers = iter(["    return l\n", "    return [x + 1 for x in l]\n"])
    openai_server.handler = lambda body: next(answers)
    traj = run_strategy("retry", problem=HUMANEVAL_STYLE, api="completions")
    assert traj.stop_reason == "passed" and traj.iterations == 2
    assert traj.internal_tests == ["assert incr_list([1, 2, 3]) == [2, 3, 4]"]
