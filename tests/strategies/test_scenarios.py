"""Issue 15's scenarios: one per failure of the agent's judgment, each
asserting the decision the agent must make. Real HTTP to the scripted
server, real Docker sandbox."""

from __future__ import annotations

import pytest

from coderefl.records import Limits, Problem
from coderefl.strategies.prompts import EXAMPLE_QUESTION
from tests.openai_server import rules

from .conftest import (
    BUGGY,
    CRITIQUE,
    GOOD,
    REFLECT,
    REGEN,
    REVISE,
    TESTS,
    TOOL,
    user_messages,
)

pytestmark = pytest.mark.docker

OTHER_GOOD = "```python\ndef add(a, b):\n    return sum([a, b])\n```"
# two distinct programs that are right except that they loop forever on a == 7
LOOPS_A = "```python\ndef add(a, b):\n    while a == 7:\n        pass\n    return a + b\n```"
LOOPS_B = "```python\ndef add(a, b):\n    while a == 7:\n        a = 7\n    return b + a\n```"
PROPS = "property-based tests"


def notes(traj, kind="decision") -> list[str]:
    return [s.note or "" for s in traj.steps if s.kind == kind]


def executions(traj):
    return [s for s in traj.steps if s.kind == "execute"]


def body_user_text(body) -> str:
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


# 1. tests that never ran are not evidence ----------------------------------


def test_tests_skipped_after_a_shared_timeout_are_kept_not_dropped(openai_server, run_strategy):
    # in-process mode has no per-test limit: after the loop, every later test is "skipped"
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(7, 1) == 8\nassert add(1, 1) == 2\nassert add(4, 4) == 8\n```"),
        (REFLECT, "It loops forever when a is 7."),
        (REGEN, [GOOD, GOOD]),
        fallback=[LOOPS_A, LOOPS_B],
    )
    traj = run_strategy("reflexion", candidates=2, max_iters=2, limits=Limits(timeout_s=2), isolation="in-process")
    first = executions(traj)[0].execution
    assert first.status == "timeout"
    assert [o.status for o in first.tests][-2:] == ["skipped", "skipped"]
    # both candidates "agree" on the skipped tests, but a test that never ran is unknown
    assert not any("dropped" in n for n in notes(traj)), notes(traj)
    assert {"assert add(1, 1) == 2", "assert add(4, 4) == 8", "assert add(7, 1) == 8"} <= set(traj.internal_tests)
    assert traj.stop_reason == "passed"
    regen = [m for m in user_messages(openai_server) if REGEN in m][0]
    assert "Timed out: assert add(7, 1) == 8" in regen and "Not run: assert add(1, 1) == 2" in regen


def test_each_test_has_its_own_time_limit_so_one_loop_does_not_hide_the_rest(openai_server, run_strategy):
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(7, 1) == 8\nassert add(1, 1) == 2\nassert add(4, 4) == 8\n```"),
        (REFLECT, "It loops forever when a is 7."),
        fallback=LOOPS_A,
    )
    traj = run_strategy("reflexion", max_iters=1, limits=Limits(timeout_s=4))  # judge mode: 1 s per test
    first = executions(traj)[0].execution
    assert [o.status for o in first.tests] == ["passed", "timeout", "passed", "passed"]
    assert traj.stop_reason == "max_iters" and traj.internal_passed is False


# 2. outcomes map to tests by identity ---------------------------------------

NO_DOCTEST = Problem(task_id="demo/add2", prompt='def add(a, b):\n    """Return the sum of a and b."""\n', entry_point="add")
USER_TEST = "def test_user_sum():\n    assert add(2, 2) == 4\n"
PROPERTY_BLOCK = (
    "```python\nfrom hypothesis import given, strategies as st\n\n"
    "@given(st.integers())\ndef test_zero(x):\n    assert add(x, 0) == x\n\n"
    "@given(st.integers(), st.integers())\ndef test_commutes(x, y):\n    assert add(x, y) == add(y, x)\n```"
)


def test_extra_outcomes_of_properties_and_user_functions_do_not_wipe_the_test_set(openai_server, run_strategy):
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(1, 2) == 3\nassert add(1, 1) == 3\n```"),
        (PROPS, PROPERTY_BLOCK),
        fallback=[GOOD, OTHER_GOOD],
    )
    traj = run_strategy("reflexion", problem=NO_DOCTEST, user_tests=[USER_TEST], candidates=2, property_tests=True)
    run = executions(traj)[0]
    assert len(run.execution.tests) == 5 and len(run.tests) == 4  # more outcomes than tests
    assert run.data["tiers"] == ["user", "generated", "generated", "property"]
    dropped = [s.data.get("test") for s in traj.steps if s.kind == "decision" and "dropped" in (s.note or "")]
    assert dropped == ["assert add(1, 1) == 3"]  # only the wrong assert
    assert traj.stop_reason == "passed" and traj.internal_passed is True
    assert USER_TEST in traj.internal_tests and "assert add(1, 2) == 3" in traj.internal_tests
    assert any("test_commutes" in t for t in traj.internal_tests)


def test_a_test_with_no_outcome_is_an_error_step_not_a_silent_drop(openai_server, run_strategy):
    # the runner keeps the last of two same-named test functions: the first gets no outcome
    twice = ["def test_a():\n    assert add(1, 1) == 2\n", "def test_a():\n    assert add(2, 2) == 4\n"]
    openai_server.handler = rules(fallback=GOOD)
    traj = run_strategy("simple", user_tests=twice)
    errors = [s for s in traj.steps if s.kind == "decision" and s.data.get("error") == "outcome_mismatch"]
    assert len(errors) == 1
    assert errors[0].data["missing"] == [twice[0]]
    assert "got no outcome" in errors[0].note
    assert traj.internal_passed is False  # a test that did not run is no pass


# 3. sampling that works ------------------------------------------------------


def test_candidates_are_sampled_and_identical_programs_count_as_votes(openai_server, run_strategy):
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(1, 2) == 3\n```"),
        fallback=[BUGGY, GOOD, GOOD],
    )
    traj = run_strategy("reflexion", candidates=3, temperature=0.0)
    gen = [b for b in openai_server.requests if TESTS not in body_user_text(b)][0]
    assert gen["temperature"] == pytest.approx(0.8) and gen["n"] == 3
    assert len(executions(traj)) == 2  # each distinct program runs once
    choice = next(s for s in traj.steps if s.kind == "decision" and "chose candidate" in (s.note or ""))
    assert "2 distinct program" in choice.note
    assert choice.data["groups"][0]["members"] == [1, 2]  # the two identical programs vote together
    assert traj.stop_reason == "passed" and "a + b" in traj.final_code


def test_a_repeated_failed_program_is_resampled_hotter_not_run_again(openai_server, run_strategy):
    def handler(body):
        text = body_user_text(body)
        if TESTS in text:
            return "```python\nassert add(1, 2) == 3\n```"
        if REFLECT in text:
            return "It subtracts."
        return BUGGY if body["temperature"] == 0 else GOOD

    openai_server.handler = handler
    traj = run_strategy("reflexion", temperature=0.0, max_iters=3)
    assert traj.stop_reason == "passed"
    runs = executions(traj)
    assert [("a - b" in s.code) for s in runs] == [True, False]  # the buggy program ran once
    assert any("repeats the program that failed in round 1" in n for n in notes(traj))
    temps = [b["temperature"] for b in openai_server.requests if TESTS not in body_user_text(b)
             and REFLECT not in body_user_text(b)]
    assert temps == pytest.approx([0.0, 0.0, 0.4])


def test_samples_at_temperature_zero_are_warned_about():
    from coderefl.strategies.base import (
        AgentConfig,
        generation_temperature,
        sampling_warning,
    )

    assert generation_temperature(AgentConfig(samples=5)) == pytest.approx(0.8)
    assert generation_temperature(AgentConfig(samples=1, temperature=0.3)) == pytest.approx(0.3)
    warning = sampling_warning(AgentConfig(samples=5, sample_temperature=0.0))
    assert warning and "--samples 5" in warning and "identical" in warning
    assert sampling_warning(AgentConfig(samples=5)) is None


# 4. a wrong example is not absolute -----------------------------------------

MEDIAN = Problem(
    task_id="demo/median",
    prompt=(
        'def median(l: list):\n    """Return median of elements in the list l.\n'
        "    >>> median([3, 1, 2, 4, 5])\n    3\n    >>> median([-10, 4, 6, 1000, 10, 20])\n    15.0\n    \"\"\"\n"
    ),
    entry_point="median",
)
MEDIAN_A = "```python\ndef median(l):\n    s = sorted(l)\n    n = len(s)\n    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2\n```"
MEDIAN_B = (
    "```python\nimport statistics\n\ndef median(l):\n    return statistics.median(l)\n```"
)
MEDIAN_TESTS = "```python\nassert median([-10, 4, 6, 1000, 10, 20]) == 8.0\nassert median([1, 2]) == 1.5\n```"
# the reflection on the disputed example: the sorted list's middle pair is 6 and 10
WRONG_EXAMPLE = "Sorted: -10, 4, 6, 10, 20, 1000; the middle pair is 6 and 10, so the median is 8.0.\nEXAMPLE WRONG"


def test_a_wrong_example_is_demoted_when_distinct_candidates_agree_on_another_value(openai_server, run_strategy):
    openai_server.handler = rules((TESTS, MEDIAN_TESTS), (EXAMPLE_QUESTION, WRONG_EXAMPLE), fallback=[MEDIAN_A, MEDIAN_B])
    traj = run_strategy("reflexion", problem=MEDIAN, candidates=2)
    held = [n for n in notes(traj) if "median([-10, 4, 6, 1000, 10, 20]) == 8.0" in n]
    assert held and "held back" in held[0]  # the example wins at first
    first = executions(traj)[0]
    assert "assert median([-10, 4, 6, 1000, 10, 20]) == 8.0" not in first.tests
    assert first.data["tiers"] == ["example", "example", "generated"]
    demoted = [s for s in traj.steps if s.kind == "decision" and s.data.get("demoted")]
    assert len(demoted) == 1 and demoted[0].data["test"] == "assert median([-10, 4, 6, 1000, 10, 20]) == 15.0"
    assert "8.0" in demoted[0].note and "the reflection says the example contradicts the description" in demoted[0].note
    assert demoted[0].note.endswith("; restored 1 held-back test(s)") and len(demoted[0].data["released"]) == 1
    question = [m for m in user_messages(openai_server) if EXAMPLE_QUESTION in m]
    assert len(question) == 1 and "assert median([-10, 4, 6, 1000, 10, 20]) == 15.0" in question[0]
    # the released generated test runs, and the agent stops with the right program
    assert "assert median([-10, 4, 6, 1000, 10, 20]) == 8.0" in executions(traj)[-1].tests
    assert traj.stop_reason == "passed" and traj.iterations == 1
    assert "assert median([-10, 4, 6, 1000, 10, 20]) == 15.0" not in traj.internal_tests


# right on both examples (the wrong one included) but crashes on an even list of two
MEDIAN_UPPER = "```python\ndef median(l):\n    s = sorted(l)\n    n = len(s)\n    return s[n // 2] if n % 2 else (s[n // 2] + s[n // 2 + 1]) / 2\n```"


def test_after_demoting_an_example_the_candidate_is_chosen_again(openai_server, run_strategy):
    openai_server.handler = rules((TESTS, MEDIAN_TESTS), (EXAMPLE_QUESTION, WRONG_EXAMPLE),
                                  fallback=[MEDIAN_UPPER, MEDIAN_A, MEDIAN_B])
    traj = run_strategy("reflexion", problem=MEDIAN, candidates=3)
    first_choice = next(n for n in notes(traj) if n.startswith("chose candidate"))
    assert first_choice.startswith("chose candidate 1 of 3")  # the only one that fits both examples
    assert any(n.startswith("demoted the example") for n in notes(traj))
    assert any(n.startswith("chose candidate 2 of 3 again") for n in notes(traj))
    assert traj.stop_reason == "passed" and "s[n // 2 - 1]" in traj.final_code


@pytest.mark.parametrize("reflection,answer", [(True, "The example follows the description.\nEXAMPLE RIGHT"),
                                               (True, "Hard to say. EXAMPLE WRONG?\nEXAMPLE RIGHT"),
                                               (False, WRONG_EXAMPLE)])
def test_agreeing_candidates_alone_do_not_demote_an_example(openai_server, run_strategy, reflection, answer):
    """The second voice is missing (the reflection upholds the example, or
    reflections are off): the example stays, and the decision says why."""
    openai_server.handler = rules((TESTS, MEDIAN_TESTS), (EXAMPLE_QUESTION, answer), fallback=[MEDIAN_A, MEDIAN_B])
    traj = run_strategy("reflexion", problem=MEDIAN, candidates=2, max_iters=2, reflection=reflection)
    assert not [s for s in traj.steps if s.kind == "decision" and s.data.get("demoted")]
    kept = [s for s in traj.steps if s.kind == "decision" and s.data.get("demoted") is False]
    assert kept and kept[0].note.startswith("kept the example `assert median([-10, 4, 6, 1000, 10, 20]) == 15.0`")
    assert "assert median([-10, 4, 6, 1000, 10, 20]) == 15.0" in traj.internal_tests
    asked = [m for m in user_messages(openai_server) if EXAMPLE_QUESTION in m]
    assert len(asked) == (1 if reflection else 0)  # asked once, not again in the next round
    assert traj.stop_reason == "max_iters"


def test_one_candidate_is_no_evidence_against_an_example(openai_server, run_strategy):
    openai_server.handler = rules((TESTS, MEDIAN_TESTS), (REFLECT, "The example looks wrong."), fallback=MEDIAN_A)
    traj = run_strategy("reflexion", problem=MEDIAN, max_iters=2)
    assert not [s for s in traj.steps if s.kind == "decision" and s.data.get("demoted")]
    assert "assert median([-10, 4, 6, 1000, 10, 20]) == 15.0" in traj.internal_tests
    assert traj.stop_reason == "max_iters"
    reflect = [m for m in user_messages(openai_server) if REFLECT in m][0]
    assert "[example from the problem (usually right, but can be wrong)]" in reflect
    assert "the problem's own examples are almost always right" in reflect


# 5. examples from every docstring style ---------------------------------------

FLY = Problem(
    task_id="demo/fly",
    prompt=(
        'def will_it_fly(q, w):\n    """True when q is a palindrome and sum(q) <= w.\n    Example:\n'
        "    will_it_fly([1, 2], 5) ➞ False\n    will_it_fly([3, 2, 3], 9) ➞ True\n    \"\"\"\n"
    ),
    entry_point="will_it_fly",
)
FLY_BAD = "```python\ndef will_it_fly(q, w):\n    return sum(q) <= w\n```"
FLY_GOOD = "```python\ndef will_it_fly(q, w):\n    return q == q[::-1] and sum(q) <= w\n```"


def test_critic_runs_arrow_style_examples_and_feeds_back_what_they_show(openai_server, run_strategy):
    openai_server.handler = rules((TOOL, FLY_GOOD), fallback=FLY_BAD)
    traj = run_strategy("critic", problem=FLY)
    assert executions(traj)[0].tests == ["assert will_it_fly([1, 2], 5) == False", "assert will_it_fly([3, 2, 3], 9) == True"]
    tool_prompt = [m for m in user_messages(openai_server) if TOOL in m][0]
    assert "Failed: assert will_it_fly([1, 2], 5) == False" in tool_prompt and "returned True" in tool_prompt
    assert traj.stop_reason == "passed" and traj.iterations == 2


# 6. Self-Refine stops after reasoning that ends in LGTM -----------------------


@pytest.mark.parametrize("ending", ["LGTM", "**LGTM**", "Verdict: LGTM."])
def test_self_refine_accepts_a_reasoned_critique_that_ends_with_lgtm(openai_server, run_strategy, ending):
    reasoning = f"Step 1: it adds a and b.\nStep 2: negative numbers work too.\n\n{ending}"
    openai_server.handler = rules((CRITIQUE, reasoning), (REVISE, BUGGY), fallback=GOOD)
    traj = run_strategy("self-refine")
    assert (traj.stop_reason, [s.kind for s in traj.steps]) == ("passed", ["generate", "critique", "execute"])
    assert not any(REVISE in m for m in user_messages(openai_server))  # correct code is not revised


def test_a_critique_that_says_not_lgtm_is_no_approval():
    from coderefl.strategies.prompts import is_lgtm

    assert not is_lgtm("This is not LGTM: the loop stops early.")
    assert not is_lgtm("Problems:\n- LGTM would be wrong, it fails on []")


# 7. the smaller ones ---------------------------------------------------------


def test_memory_size_zero_pays_for_no_reflection(openai_server, run_strategy):
    openai_server.handler = rules((TESTS, "```python\nassert add(1, 2) == 3\n```"), (REGEN, GOOD), fallback=BUGGY)
    traj = run_strategy("reflexion", memory_size=0)
    assert traj.stop_reason == "passed"
    assert not [s for s in traj.steps if s.kind == "reflect"]
    assert not any(REFLECT in m for m in user_messages(openai_server))
    regen = [m for m in user_messages(openai_server) if REGEN in m][0]
    assert "add(1, 2) returned -1" in regen  # the raw feedback still goes back


def test_a_timed_out_test_is_a_failure_after_filtering(openai_server, run_strategy):
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(1, 1) == 3\nassert add(7, 1) == 8\n```"),
        (REFLECT, "It loops on 7."),
        fallback=[LOOPS_A, LOOPS_B],
    )
    traj = run_strategy("reflexion", candidates=2, max_iters=1, limits=Limits(timeout_s=2))
    dropped = [s.data.get("test") for s in traj.steps if s.kind == "decision" and "dropped" in (s.note or "")]
    assert dropped == ["assert add(1, 1) == 3"]  # ran, and both agree it returns 2
    assert "assert add(7, 1) == 8" in traj.internal_tests  # timed out: unknown, kept
    assert traj.stop_reason == "max_iters" and traj.internal_passed is False


def test_the_explanation_step_of_self_debugging_is_an_option_of_the_reflection(openai_server, run_strategy):
    openai_server.handler = rules(
        (TESTS, "```python\nassert add(1, 2) == 3\n```"), (REFLECT, "Line 2 subtracts."), (REGEN, GOOD), fallback=BUGGY
    )
    traj = run_strategy("reflexion", explain=True)
    assert traj.stop_reason == "passed"
    reflect = [m for m in user_messages(openai_server) if REFLECT in m][0]
    assert "line by line" in reflect and "input of the first failing test" in reflect


@pytest.mark.parametrize("flags, temperature, warned", [([], 0.8, False), (["--sample-temperature", "0"], 0.0, True)])
def test_eval_with_several_samples_samples_them(tmp_path, flags, temperature, warned):
    import json

    from tests.openai_server import ScriptedServer
    from tests.run.test_eval_cli import cli

    problems = tmp_path / "set.jsonl"
    problems.write_text(json.dumps({
        "task_id": "demo/add", "prompt": ADD_PROMPT, "entry_point": "add",
        "tests": ["assert add(100, 1) == 101"], "canonical_solution": "def add(a, b):\n    return a + b\n",
    }) + "\n")
    with ScriptedServer(rules(fallback=GOOD)) as server:
        proc = cli(["eval", "--benchmark", str(problems), "--strategy", "simple", "--model", "scripted-model",
                    "--base-url", server.base_url, "--api-key", "k", "--samples", "2", "--out", str(tmp_path / "run"),
                    "-q", *flags], tmp_path / "cache.sqlite", cwd=tmp_path, check=True)
        temps = [b["temperature"] for b in server.requests]
    assert temps == pytest.approx([temperature, temperature])
    assert ("--samples 2 at temperature 0 draws identical programs" in proc.stderr) is warned
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["agent"]["samples"] == 2 and config["agent"]["sample_temperature"] == temperature


ADD_PROMPT = 'def add(a, b):\n    """Return the sum of a and b.\n    >>> add(2, 3)\n    5\n    """\n'


def test_retry_does_not_rerun_a_sample_that_repeats_a_failed_program(openai_server, run_strategy):
    replies = iter([BUGGY, BUGGY, GOOD])
    openai_server.handler = lambda body: "```python\nassert add(1, 2) == 3\n```" if TESTS in body_user_text(body) else next(replies)
    traj = run_strategy("retry", max_iters=3)
    assert traj.stop_reason == "passed" and traj.iterations == 3
    assert [("a - b" in s.code) for s in executions(traj)] == [True, False]
    assert any("repeats the program that failed in round 1" in n for n in notes(traj))
