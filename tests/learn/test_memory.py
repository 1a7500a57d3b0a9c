"""Long-term memory: which lessons are learnt, how they persist and are found."""

from __future__ import annotations

import sqlite3

import pytest

from coderefl.errors import BadInput
from coderefl.learn import LessonMemory, lessons_from_trajectory, with_lessons
from coderefl.learn.lessons import LESSONS_HEADER, lessons_block
from coderefl.records import ChatMessage, ExecutionResult, Problem, RunRecord, Step, TestOutcome, Trajectory
from coderefl.strategies import prompts
from tests.openai_server import rules

from .conftest import ADD, ADD_TESTS, BUGGY, GOOD, REFLECT, REFLECTION, REGEN, TESTS


def reflexion_handler(reflection: str = REFLECTION):
    return rules((TESTS, ADD_TESTS), (REFLECT, reflection), (REGEN, GOOD), fallback=BUGGY)


# -- what is a lesson ----------------------------------------------------------


def test_the_reflection_before_an_internal_pass_is_the_lesson(solve):
    traj = solve("reflexion", ADD, reflexion_handler())
    assert traj.stop_reason == "passed" and traj.iterations == 2
    assert lessons_from_trajectory(traj) == [REFLECTION]


def test_no_lesson_without_a_fix(solve):
    at_once = solve("reflexion", ADD, rules((TESTS, ADD_TESTS), fallback=GOOD))
    assert at_once.stop_reason == "passed" and at_once.iterations == 1
    assert lessons_from_trajectory(at_once) == []
    # reflections that never led to a pass teach nothing
    never = solve("reflexion", ADD, rules((TESTS, ADD_TESTS), (REFLECT, "Try harder."), fallback=BUGGY), max_iters=3)
    assert never.internal_passed is False and [s for s in never.steps if s.kind == "reflect"]
    assert lessons_from_trajectory(never) == []


def _exec(passed: bool) -> ExecutionResult:
    status = "passed" if passed else "failed"
    return ExecutionResult(status=status, tests=[TestOutcome(name="assert f(1) == 1", status=status)])


def synthetic(*steps: Step, internal_passed: bool = True) -> Trajectory:
    for i, s in enumerate(steps):
        s.index = i
    return Trajectory(task_id="t", strategy="reflexion", steps=list(steps), internal_passed=internal_passed,
                      final_code="def f(x):\n    return x\n", stop_reason="passed")


def test_several_reflections_pick_the_last_ones_before_the_first_pass():
    t = ["assert f(1) == 1"]
    traj = synthetic(
        Step(index=0, kind="execute", tests=t, execution=_exec(False)),
        Step(index=0, kind="reflect", reflection="first   idea\n is wrong."),
        Step(index=0, kind="execute", tests=t, execution=_exec(False)),
        Step(index=0, kind="reflect", reflection="Second idea: off by one."),
        Step(index=0, kind="execute", tests=t, execution=_exec(True)),
        Step(index=0, kind="reflect", reflection="after the pass: not a lesson"),
    )
    assert lessons_from_trajectory(traj) == ["Second idea: off by one."]
    assert lessons_from_trajectory(traj, max_lessons=5) == ["first idea is wrong.", "Second idea: off by one."]
    assert lessons_from_trajectory(traj, max_lessons=0) == []
    long = synthetic(
        Step(index=0, kind="reflect", reflection="A first sentence that is long enough to keep. " + "x" * 900),
        Step(index=0, kind="execute", tests=t, execution=_exec(True)),
    )
    assert lessons_from_trajectory(long, max_chars=100) == ["A first sentence that is long enough to keep."]


def test_critiques_count_but_lgtm_and_empty_passes_do_not():
    t = ["assert f(1) == 1"]
    traj = synthetic(
        Step(index=0, kind="critique", response="LGTM."),
        Step(index=0, kind="critique", response="It ignores negative numbers."),
        Step(index=0, kind="execute", tests=t, execution=_exec(True)),
    )
    assert lessons_from_trajectory(traj) == ["It ignores negative numbers."]
    no_tests = synthetic(
        Step(index=0, kind="reflect", reflection="Use a set."),
        Step(index=0, kind="execute", tests=[], execution=ExecutionResult(status="passed")),
        internal_passed=True,
    )
    no_tests.stop_reason = "single_shot"
    assert lessons_from_trajectory(no_tests) == []
    # the agent's own verdict must hold at the end
    failed = synthetic(
        Step(index=0, kind="reflect", reflection="Use a set."),
        Step(index=0, kind="execute", tests=t, execution=_exec(True)),
        internal_passed=False,
    )
    assert lessons_from_trajectory(failed) == []


# -- the store -------------------------------------------------------------------

PAL = Problem(task_id="p/pal", prompt='def is_palindrome(s):\n    """Check whether s reads the same backwards."""\n', entry_point="is_palindrome")
PAL2 = Problem(task_id="p/pal2", prompt='def isPalindromeNumber(n):\n    """True when the digits of n read the same backwards."""\n', entry_point="isPalindromeNumber")
PRIMES = Problem(task_id="p/primes", prompt='def sum_primes(n):\n    """Sum of the prime numbers below n."""\n', entry_point="sum_primes")


def test_lessons_persist_and_the_most_similar_come_first(tmp_path):
    path = tmp_path / "mem" / "lessons.sqlite"
    with LessonMemory(path) as mem:
        assert mem.add(PAL.prompt, "Compare the string with its reverse after lower-casing.", task_id=PAL.task_id)
        assert mem.add(PRIMES.prompt, "1 is not a prime; start the sieve at 2.", task_id=PRIMES.task_id)
        assert not mem.add(PAL.prompt, "Compare the string with its reverse after lower-casing.")  # duplicate
        assert not mem.add(PAL.prompt, "   ")
        assert len(mem) == 2
    with LessonMemory(path) as mem:  # reopened: still there
        hits = mem.search(PAL2.prompt, k=3)
        assert hits[0].lesson.startswith("Compare the string") and hits[0].task_id == "p/pal"
        assert hits[0].score > (hits[1].score if len(hits) > 1 else 0)
        assert mem.search(PRIMES.prompt, k=1)[0].lesson.startswith("1 is not a prime")
        assert mem.search("completely unrelated words zebra", k=3) == []
        assert mem.lessons_for(PAL, k=3) == []  # its own lesson is excluded; primes share nothing
        assert "Compare the string" in mem.lessons_for(PAL, k=3, exclude_same_task=False)[0]
        assert "p/pal" not in [h.task_id for h in mem.search(PAL2.prompt, k=3, exclude_task_ids=["p/pal"])]
    rows = sqlite3.connect(path).execute("SELECT task_id, lesson FROM lessons ORDER BY id").fetchall()
    assert rows[0][0] == "p/pal" and len(rows) == 2


def test_a_lesson_added_by_another_process_is_found(tmp_path):
    path = tmp_path / "lessons.sqlite"
    with LessonMemory(path) as a, LessonMemory(path) as b:
        assert a.search(PAL.prompt) == []
        b.add(PAL2.prompt, "Convert the number to a string first.", task_id="p/pal2")
        assert [h.lesson for h in a.search(PAL.prompt)] == ["Convert the number to a string first."]


def test_a_file_that_is_not_a_store_is_bad_input(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(BadInput, match="not a usable lesson store"):
        LessonMemory(junk)


def test_learning_from_a_real_run_helps_a_similar_problem(solve, tmp_path):
    traj = solve("reflexion", ADD, reflexion_handler())
    similar = Problem(task_id="demo/add3", prompt='def add3(a, b, c):\n    """Return the sum of a, b and c."""\n', entry_point="add3")
    with LessonMemory(tmp_path / "m.sqlite") as mem:
        assert mem.learn(ADD, traj) == [REFLECTION]
        assert mem.learn(ADD, traj) == []  # nothing new the second time
        stored = mem.all()[0]
        assert stored.problem == ADD.prompt.strip() and stored.source == "reflexion"
        lessons = mem.lessons_for(similar)
    assert lessons == [REFLECTION]
    msgs = with_lessons(prompts.generate(similar), lessons)
    assert [m.role for m in msgs] == ["system", "user"]
    assert REFLECTION in msgs[1].content and LESSONS_HEADER in msgs[1].content
    assert msgs[1].content.startswith(prompts.generate(similar)[1].content)


def test_memory_refuses_run_records(tmp_path):
    rec = RunRecord(task_id="demo/add", strategy="reflexion", model="m", hidden_passed=True)
    with LessonMemory(tmp_path / "m.sqlite") as mem, pytest.raises(TypeError, match="never a RunRecord"):
        mem.learn(ADD, rec)  # type: ignore[arg-type]


def test_with_lessons_keeps_roles_and_is_a_no_op_without_lessons():
    msgs = prompts.regenerate(ADD, "def add(a, b):\n    return a - b\n", "feedback", ["r1"])
    assert with_lessons(msgs, []) == msgs
    out = with_lessons(msgs, ["Check the sign.", "  "])
    assert [m.role for m in out] == [m.role for m in msgs]
    assert "- Check the sign." in out[1].content and out[2:] == msgs[2:]
    assert lessons_block([]) == "" and lessons_block(["a\nb"]).endswith("- a b")
    assert with_lessons([ChatMessage(role="system", content="s")], ["x"])[-1].role == "user"
