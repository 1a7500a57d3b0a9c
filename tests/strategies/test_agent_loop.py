"""The agent-loop API, on the in-memory sandbox (no Docker): the framework
creates the episode, steps are complete when recorded, a budget hit is
handled once, the Reflexion loop decides what to run, and memory is any
object with the LessonStore methods. The model is the real client talking
to the scripted HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest

from coderefl.execution.memory import InMemorySandbox, per_assert
from coderefl.records import ChatMessage, Problem, Step, Trajectory
from coderefl.strategies import base
from coderefl.strategies.base import AgentConfig, Strategy, create_strategy, register_strategy
from coderefl.strategies.episode import Episode
from coderefl.strategies.services import LessonStore
from tests.openai_server import rules

from .conftest import ADD, BUGGY, GOOD, REFLECT, REGEN, TESTS

OWN_TESTS = "```python\nassert add(1, 2) == 3\nassert add(0, 0) == 0\n```"
REFLECTION = "The code subtracts b instead of adding it."


def adds_correctly(program: str):
    """The sandbox's script: a program with `a - b` fails every assert."""
    def fails(line: str) -> str | None:
        return "add(...) returned the difference" if "a - b" in program else None
    return fails


@pytest.fixture
def sandbox():
    return InMemorySandbox(lambda program, tests: per_assert(tests, adds_correctly(program)))


def solve(make_model, sandbox, name="reflexion", problem: Problem = ADD, observer=None, memory=None, **config):
    strategy = create_strategy(name, make_model(), sandbox, AgentConfig(**config))
    strategy.observer = observer
    strategy.memory = memory
    return asyncio.run(strategy.solve(problem))


def kinds(traj: Trajectory) -> list[str]:
    return [s.kind for s in traj.steps]


def test_reflexion_runs_on_the_in_memory_sandbox(openai_server, make_model, sandbox):
    openai_server.handler = rules((TESTS, OWN_TESTS), (REFLECT, REFLECTION), (REGEN, GOOD), fallback=BUGGY)
    seen: list[Step] = []
    traj = solve(make_model, sandbox, observer=lambda step: seen.append(step.model_copy(deep=True)))
    assert traj.stop_reason == "passed" and traj.internal_passed is True and "a + b" in traj.final_code
    assert kinds(traj) == ["generate_tests", "generate", "execute", "reflect", "generate", "execute"]
    # every step was complete when the observer saw it: nothing is edited afterwards
    assert [s.model_dump() for s in seen] == [s.model_dump() for s in traj.steps]
    assert seen[0].tests == ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]
    assert "a - b" in seen[1].code and seen[3].reflection == REFLECTION
    assert [("a - b" in c.program) for c in sandbox.calls] == [True, False]
    assert traj.iterations == 2


def test_a_repeated_program_is_resampled_then_not_run_again(openai_server, make_model, sandbox):
    openai_server.handler = rules((TESTS, OWN_TESTS), (REFLECT, REFLECTION), fallback=BUGGY)
    traj = solve(make_model, sandbox, max_iters=2)
    notes = [s.note for s in traj.steps if s.kind == "decision"]
    assert notes == ["the reply repeats the program that failed in round 1; resampling at temperature 0.4",
                     "the reply repeats the program that failed in round 1; resampling at temperature 0.8",
                     "the reply still repeats the program that failed in round 1; not run again"]
    assert len(sandbox.calls) == 1  # paid for once
    temps = [s.data["temperature"] for s in traj.steps if s.kind == "generate"]
    assert temps == [0.0, 0.0, 0.4, 0.8]
    assert traj.stop_reason == "max_iters" and traj.internal_passed is False


def test_no_reflection_call_when_no_reflection_is_kept(openai_server, make_model, sandbox):
    openai_server.handler = rules((TESTS, OWN_TESTS), (REFLECT, REFLECTION), (REGEN, GOOD), fallback=BUGGY)
    traj = solve(make_model, sandbox, memory_size=0)
    assert "reflect" not in kinds(traj) and traj.stop_reason == "passed"
    assert not any(REFLECT in str(r["messages"]) for r in openai_server.requests)


def test_a_budget_hit_ends_the_episode_in_the_framework_with_the_best_so_far(openai_server, make_model, sandbox):
    openai_server.handler = rules((TESTS, OWN_TESTS), (REFLECT, REFLECTION), (REGEN, GOOD), fallback=BUGGY)
    traj = solve(make_model, sandbox, max_calls=3)  # tests, code, reflection: the regeneration is over budget
    assert traj.stop_reason == "budget_calls" and traj.usage.calls == 3
    assert "a - b" in traj.final_code and traj.internal_passed is False
    assert traj.iterations == 1 and kinds(traj)[-1] == "reflect"


class ListMemory:
    """Long-term memory that is not coderefl.learn's: the interface is enough."""

    def __init__(self) -> None:
        self.learned: list[tuple[str, str]] = []

    def lessons_for(self, problem: Problem, k: int = 3) -> list[str]:
        return ["Check the operator before anything else."][:k]

    def learn(self, problem: Problem, trajectory: Trajectory, *, source: str = "") -> list[str]:
        self.learned.append((problem.task_id, trajectory.stop_reason))
        return ["lesson"]

    def turn(self, problem: Problem):
        self.learned.append((problem.task_id, "turn"))
        return contextlib.nullcontext()


def test_memory_is_any_lesson_store(openai_server, make_model, sandbox):
    openai_server.handler = rules((TESTS, OWN_TESTS), fallback=GOOD)
    memory = ListMemory()
    assert isinstance(memory, LessonStore)
    traj = solve(make_model, sandbox, memory=memory)
    assert traj.steps[0].note == "recalled 1 lessons from memory"
    generate = next(r for r in openai_server.requests if TESTS not in str(r["messages"]))
    assert "Check the operator before anything else." in str(generate["messages"])
    assert memory.learned == [("demo/add", "turn"), ("demo/add", "passed")] and traj.steps[-1].note == "stored 1 lesson(s) in memory"


def test_a_new_strategy_is_one_class_with_attempt(openai_server, make_model, sandbox):
    """Written against the episode only: no budget handling, no trajectory bookkeeping."""

    @register_strategy("test-two-shots")
    class TwoShots(Strategy):
        async def attempt(self, ep: Episode) -> None:
            for iteration in ep.rounds(2):
                request = [ChatMessage(role="user", content=f"{ep.problem.prompt}\nattempt {iteration}")]
                reply = await ep.generate(request, iteration=iteration)
                omap = await ep.execute_mapped(reply.code, ep.tests.all(), iteration=iteration,
                                               tiers=ep.tests.tiers(ep.tests.all()))
                if all(v is True for v in omap.verdicts()):
                    ep.stop("passed")
                    return

    try:
        openai_server.handler = rules(("attempt 2", GOOD), fallback=BUGGY)
        traj = solve(make_model, sandbox, name="test-two-shots")
        assert traj.strategy == "test-two-shots" and traj.stop_reason == "passed" and traj.iterations == 2
        assert traj.internal_tests == ["assert add(2, 3) == 5"] and "a + b" in traj.final_code
        assert kinds(traj) == ["generate", "execute", "generate", "execute"]
        # out of budget after one call: the framework ends it, the strategy never sees BudgetExceeded
        short = solve(make_model, sandbox, name="test-two-shots", max_calls=1)
        assert short.stop_reason == "budget_calls" and short.iterations == 1 and "a - b" in short.final_code
    finally:
        base._STRATEGIES.pop("test-two-shots", None)


class Countdown:
    """A Repairable that is not a benchmark problem: the 'program' is a
    number in a reply, and it passes when it is 42. What the loop sends
    back (feedback, reflections) is visible in the requests it builds."""

    def __init__(self) -> None:
        self.known = {"0": "the original"}
        self.extract = self._number
        self.requests: list[tuple[str, str, list[str]]] = []
        self.tests = ["first"]

    def _number(self, text: str) -> tuple[str, str | None]:
        digits = "".join(ch for ch in text if ch.isdigit())
        return (digits, None) if digits else ("", "no number in the reply")

    def first_request(self):
        return [ChatMessage(role="user", content="pick a number")]

    def next_request(self, code, feedback, memory):
        self.requests.append((code, feedback, list(memory)))
        return [ChatMessage(role="user", content=f"again after {code}: {feedback} {' '.join(memory)}")]

    def reflect_request(self, code, feedback):
        return [ChatMessage(role="user", content=f"why is {code} wrong?")]

    def key(self, code: str) -> str:
        return code.lstrip("0") or "0"

    async def evaluate(self, ep, codes, iteration):
        from coderefl.strategies.loop import Verdict

        ep.decide(f"judged {codes}", iteration=iteration)
        if "7" in codes:
            self.tests = ["first", "second"]  # the tests change: earlier failures may pass now
        return Verdict(passed="42" in codes, code=codes[0], feedback=f"{codes[0]} is not 42")

    def no_program(self, generation, ep):
        return "", f"no number: {generation.note}"

    def still_repeats(self, label, feedback):
        return f"again {label}; {feedback}"

    def judged_as(self, iteration):
        return f"round {iteration}"

    def version(self):
        return tuple(self.tests)


def test_the_loop_drives_any_repairable(openai_server, make_model):
    """The one Reflexion loop, on a task that is neither a benchmark problem
    nor a repository: a repeat resampled and then not run, a change of tests
    that lets an earlier program run again, a reply with no program, the
    reflections kept, rounds counted, one choice per call."""
    from coderefl.strategies.loop import reflexion_loop

    replies = iter(["I pick 5", "05", "005", "0005", "7", "05", "words only", "42"])
    openai_server.handler = lambda body: "it is too small" if "why is" in str(body["messages"]) else next(replies)
    strategy = create_strategy("simple", make_model(), InMemorySandbox(lambda p, t: per_assert(t, lambda _: None)),
                               AgentConfig(max_iters=6, memory_size=2))
    ep = strategy.episode(ADD)
    task = Countdown()
    state = asyncio.run(reflexion_loop(ep, task))
    assert ep.stop_reason == "passed" and ep.iteration == 6
    assert [s.note for s in ep.trajectory.steps if s.kind == "decision"] == [
        "judged ['5']",
        "the reply repeats round 1; resampling at temperature 0.4",
        "the reply repeats round 1; resampling at temperature 0.8",
        "the reply still repeats round 1; not run again",
        "judged ['7']",
        "judged ['05']",  # 7 changed the tests: 5 may pass now, so it runs again
        "judged ['42']",
    ]
    t = "it is too small"
    assert task.requests == [
        ("5", "5 is not 42", [t]),
        ("5", "again round 1; 5 is not 42", [t, t]),  # the repeat's feedback, about the last program run
        ("7", "7 is not 42", [t, t]),
        ("05", "05 is not 42", [t, t]),
        ("", "no number: no number in the reply", [t, t]),  # nothing to reflect on: no reflection call
    ]
    assert [s.kind for s in ep.trajectory.steps].count("reflect") == 4
    assert [s.iteration for s in ep.trajectory.steps if s.kind == "generate"] == [1, 2, 2, 2, 3, 4, 5, 6]
    generations = [b for b in openai_server.requests if "why is" not in str(b["messages"])]
    assert [b.get("temperature") for b in generations] == [0, 0, 0.4, 0.8, 0, 0, 0, 0]
    assert all(b.get("n", 1) == 1 for b in openai_server.requests)
    assert state.feedback == "no number: no number in the reply" and state.memory == [t, t]


def test_resampling_stops_rising_at_the_ceiling(openai_server, make_model):
    from coderefl.strategies.loop import MAX_TEMPERATURE, reflexion_loop

    openai_server.handler = lambda body: "it is too small" if "why is" in str(body["messages"]) else "5"
    strategy = create_strategy("simple", make_model(), InMemorySandbox(lambda p, t: per_assert(t, lambda _: None)),
                               AgentConfig(max_iters=2, resample_step=1.5, max_resamples=2))
    ep = strategy.episode(ADD)
    state = asyncio.run(reflexion_loop(ep, Countdown()))
    generations = [b for b in openai_server.requests if "why is" not in str(b["messages"])]
    assert [b.get("temperature") for b in generations] == [0, 0, 1.5, MAX_TEMPERATURE] and MAX_TEMPERATURE == 2.0
    assert ep.stop_reason is None and ep.iteration == 2
    assert (state.code, state.feedback) == ("5", "again round 1; 5 is not 42")  # where the rounds ran out


def test_a_program_is_known_by_its_syntax_tree():
    from coderefl.strategies.loop import program_key

    assert program_key("def f(x):\n    return x  # same\n") == program_key("def f(x):\n\n    return (x)\n")
    assert program_key("def f(x):\n    return x\n") != program_key("def f(x):\n    return -x\n")
    assert program_key("  def broken(:\n") == "def broken(:"  # not Python: the text itself


def test_the_program_that_changed_the_tests_still_counts_as_tried(openai_server, make_model):
    """A round whose run changes the tests starts a new record of failed
    programs, and that round's own program is its first entry."""
    from coderefl.strategies.loop import reflexion_loop

    openai_server.handler = lambda body: "it is too small" if "why is" in str(body["messages"]) else "7"
    strategy = create_strategy("simple", make_model(), InMemorySandbox(lambda p, t: per_assert(t, lambda _: None)),
                               AgentConfig(max_iters=2, max_resamples=0))
    ep = strategy.episode(ADD)
    asyncio.run(reflexion_loop(ep, Countdown()))
    assert [s.note for s in ep.trajectory.steps if s.kind == "decision"] == [
        "judged ['7']", "the reply still repeats round 1; not run again"]


def test_attack_a_model_cannot_demote_the_users_test(openai_server, make_model):
    """A model rewarded for passing writes two distinct programs that agree
    on a wrong value and answers every question about the example with
    EXAMPLE WRONG. Against the problem's example that demotes it (the
    control: the attack is real); when the user gave the same assert as a
    test, nothing demotes it and the agent never claims a pass."""
    from coderefl.strategies.prompts import EXAMPLE_QUESTION

    wrong = ["```python\ndef add(a, b):\n    return a * b + 1\n```", "```python\ndef add(a, b):\n    return 1 + b * a\n```"]
    own = "```python\nassert add(2, 2) == 5\nassert add(1, 1) == 2\n```"
    openai_server.handler = rules((TESTS, own), (EXAMPLE_QUESTION, "The example is a typo.\nEXAMPLE WRONG"),
                                  (REFLECT, REFLECTION), fallback=wrong)

    def script(program, tests):
        def fails(line):
            a, b, want = (int(x) for x in re.findall(r"-?\d+", line))
            got = a * b + 1
            return None if got == want else f"add({a}, {b}) returned {got}, expected {want}"
        return per_assert(tests, fails)

    def run(user_tests):
        strategy = create_strategy("reflexion", make_model(), InMemorySandbox(script),
                                   AgentConfig(candidates=2, max_iters=2))
        return asyncio.run(strategy.solve(ADD, user_tests=user_tests))

    control = run(None)
    assert any(s.data.get("demoted") for s in control.steps if s.kind == "decision")
    assert control.internal_passed is True  # the example is gone from its own tests
    attacked = run(["assert add(2, 3) == 5"])
    assert not any(s.data.get("demoted") for s in attacked.steps if s.kind == "decision")
    assert "assert add(2, 3) == 5" in attacked.internal_tests and attacked.internal_passed is False
