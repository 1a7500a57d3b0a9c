"""Prompt builders. Each returns the chat messages for one phase.

They see only what the agent may see: the problem's prompt, its visible
examples, the agent's own code, tests, feedback and reflections.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from coderefl.records import ChatMessage, Problem

SYSTEM = (
    "You are an expert Python programmer. You write correct, self-contained Python 3 code "
    "using only the standard library, and you answer in a single ```python code block when asked for code."
)


def _sys() -> ChatMessage:
    return ChatMessage(role="system", content=SYSTEM)


#: what the model is told about the trust tiers of the tests in its feedback
TIERS_NOTE = (
    "Each test is labelled with where it came from: user tests are authoritative; the problem's own examples "
    "are almost always right; tests you wrote yourself may be wrong."
)


def _task(problem: Problem, examples: Sequence[str] = (), tiers: bool = True) -> str:
    text = f"Implement the Python function `{problem.entry_point}` described here:\n\n```python\n{problem.prompt.rstrip()}\n```"
    extra = [e for e in examples if e not in problem.prompt]
    if extra and tiers:
        text += ("\n\nIt should satisfy these examples from the problem (they are almost always right; if one "
                 "clearly contradicts the description, follow the description):\n```python\n"
                 + "\n".join(extra) + "\n```")
    elif extra:
        text += "\n\nIt must satisfy these examples:\n```python\n" + "\n".join(extra) + "\n```"
    return text


def generate(problem: Problem, examples: Sequence[str] = (), tiers: bool = True) -> list[ChatMessage]:
    return [
        _sys(),
        ChatMessage(
            role="user",
            content=_task(problem, examples, tiers)
            + "\n\nReply with the complete function, with the imports and helpers it needs, in one ```python block.",
        ),
    ]


#: the system message of the test-writing prompts: a tester, not a programmer (a small model told it is
#: "an expert Python programmer" and shown a function header writes the function)
TESTER_SYSTEM = (
    "You are a software tester. You write unit tests for a Python function that someone else implements. "
    "You never write the function itself."
)


def _spec(problem: Problem, examples: Sequence[str] = ()) -> str:
    """The function under test and the problem's examples, in neutral words: the task
    text of :func:`_task` ("Implement …", "It should satisfy …") makes a small model
    write the function (BENCHMARKS.md: 11 of 18 HumanEval prompts answered with asserts
    this way, 8 of 18 with the task text's examples line)."""
    text = f"The function under test, `{problem.entry_point}`:\n\n```python\n{problem.prompt.rstrip()}\n```"
    shown = [e for e in examples if e not in problem.prompt]
    return text + ("\n\nExamples from the problem:\n```python\n" + "\n".join(shown) + "\n```" if shown else "")


def write_tests(problem: Problem, n: int, examples: Sequence[str] = (), tiers: bool = True) -> list[ChatMessage]:
    """Ask for asserts only, in three turns: the function under test; the model's
    (written here) promise to answer with asserts, shaped like the problem's first
    example; then the request. A 135M chat model shown a function header and one
    request writes the function; with an assert as its own previous turn it goes
    on writing asserts (BENCHMARKS.md, issue 16: 11 of 18 HumanEval prompts against
    4 of 18 with the one-turn "Implement ... Do not implement it" prompt). ``tiers`` is
    accepted for the callers; the tests prompt carries no tier note."""
    f = problem.entry_point
    shape = next((e for e in examples if e.startswith("assert ") and "\n" not in e), f"assert {f}(...) == ...")
    return [
        ChatMessage(role="system", content=TESTER_SYSTEM),
        ChatMessage(role="user", content=_spec(problem, examples)),
        ChatMessage(
            role="assistant",
            content=f"I will not implement `{f}`. I will write its unit tests, each an assert statement on one line, "
            f"like this:\n```python\n{shape}\n```",
        ),
        ChatMessage(
            role="user",
            content=f"Yes. Do not implement it. Instead write {n} unit tests for it as plain `assert` statements, "
            f"one per line, each calling `{f}(...)` directly and comparing with the exact expected value. "
            "Cover ordinary cases and edge cases, and rely only on behaviour the description states. "
            "Reply with only the asserts in one ```python block.",
        ),
    ]


def write_properties(problem: Problem, examples: Sequence[str] = ()) -> list[ChatMessage]:
    f = problem.entry_point
    return [
        ChatMessage(role="system", content=TESTER_SYSTEM),
        ChatMessage(
            role="user",
            content=f"Write property-based tests for the Python function `{f}`.\n\n"
            + _spec(problem, examples)
            + "\n\nDo not implement it. Write at most 3 property-based tests for it with the `hypothesis` library: "
            f"each a function named `test_...` decorated with `@given(...)` that calls `{f}` and checks "
            "an invariant the description guarantees (a round trip, an ordering, a comparison with a simple "
            "brute-force version you write inside the test). Keep generated inputs small (e.g. max_size=8). "
            "Include the imports. Reply in one ```python block.",
        ),
    ]


def regenerate(
    problem: Problem,
    previous_code: str,
    feedback: str,
    reflections: Sequence[str],
    examples: Sequence[str] = (),
    tiers: bool = True,
) -> list[ChatMessage]:
    """Multi-turn: the task, the previous attempt, then what went wrong."""
    parts = [f"I ran your implementation against unit tests:\n{feedback}"]
    if tiers:
        parts.append(TIERS_NOTE)
    if reflections:
        notes = "\n".join(f"- {r.strip()}" for r in reflections)
        parts.append(f"Your reflections on the failed attempts so far:\n{notes}")
    parts.append(
        "Write an improved, complete implementation that fixes these problems, in one ```python block. "
        "Some unit tests may themselves be wrong; follow the problem description when they disagree with it."
    )
    return [
        *generate(problem, examples, tiers),
        ChatMessage(role="assistant", content=f"```python\n{previous_code.rstrip()}\n```"),
        ChatMessage(role="user", content="\n\n".join(parts)),
    ]


#: Self-Debugging's explanation step (Chen et al. 2024), as an option of the reflection prompt
EXPLAIN = (
    "First explain the implementation line by line, tracing what each line does on the input of the first "
    "failing test, and say where the values first differ from what the description requires. Then"
)


def reflect(
    problem: Problem, code: str, feedback: str, examples: Sequence[str] = (), *, explain: bool = False,
    tiers: bool = True,
) -> list[ChatMessage]:
    ask = (
        f"{EXPLAIN} explain why the implementation is wrong and what must change to fix it."
        if explain
        else "In a few sentences, explain why the implementation is wrong and what must change to fix it."
    )
    return [
        _sys(),
        ChatMessage(
            role="user",
            content=_task(problem, examples, tiers)
            + f"\n\nHere is an implementation:\n```python\n{code.rstrip()}\n```\n\n"
            f"It was run against unit tests:\n{feedback}\n\n"
            + (TIERS_NOTE + "\n\n" if tiers else "")
            + ask
            + " Name the exact faulty line or condition. If a test's expected value contradicts the description, "
            "say so. Do not write code.",
        ),
    ]


def critique(problem: Problem, code: str, examples: Sequence[str] = (), tiers: bool = True) -> list[ChatMessage]:
    return [
        _sys(),
        ChatMessage(
            role="user",
            content=_task(problem, examples, tiers)
            + f"\n\nReview this implementation for correctness against the description, reasoning about edge "
            f"cases step by step:\n```python\n{code.rstrip()}\n```\n\n"
            "If it is correct, end your reply with LGTM on a line of its own. Otherwise list the concrete problems. "
            "Do not write code.",
        ),
    ]


def revise(
    problem: Problem, code: str, critique_text: str, examples: Sequence[str] = (), tiers: bool = True
) -> list[ChatMessage]:
    return [
        *generate(problem, examples, tiers),
        ChatMessage(role="assistant", content=f"```python\n{code.rstrip()}\n```"),
        ChatMessage(
            role="user",
            content=f"A review of this implementation found:\n{critique_text.strip()}\n\n"
            "Write a corrected, complete implementation in one ```python block.",
        ),
    ]


def tool_feedback(
    problem: Problem, code: str, report: str, examples: Sequence[str] = (), tiers: bool = True
) -> list[ChatMessage]:
    """CRITIC: what the interpreter showed, as the critique."""
    return [
        *generate(problem, examples, tiers),
        ChatMessage(role="assistant", content=f"```python\n{code.rstrip()}\n```"),
        ChatMessage(
            role="user",
            content=f"I ran this code in a Python interpreter with the examples from the description:\n{report}\n\n"
            "Using what the run shows, write a corrected, complete implementation in one ```python block.",
        ),
    ]


def is_lgtm(text: str) -> bool:
    """The critique approves: it is LGTM, begins with it, or reasons first
    and ends with it (a last line such as ``LGTM``, ``**LGTM**`` or
    ``Verdict: LGTM``). A "not LGTM" anywhere is no approval."""
    cleaned = text.strip()
    if not cleaned or re.search(r"\bnot\s+LGTM\b", cleaned, re.IGNORECASE):
        return False
    if cleaned.strip(".!`*_\"' ").upper().startswith("LGTM"):
        return True
    last = re.sub(r"[*_`]", "", cleaned.splitlines()[-1]).strip().strip(".!\"'# ").upper()
    return last == "LGTM" or last.endswith((": LGTM", " LGTM")) and len(last) <= 40


# -- lessons from long-term memory ---------------------------------------

LESSONS_HEADER = (
    "Lessons you wrote down after fixing similar problems before. They may not apply here; "
    "use them only where they fit this problem:"
)


def lessons_block(lessons: Sequence[str]) -> str:
    """The prompt text for retrieved lessons ("" when there are none)."""
    items = [re.sub(r"\s+", " ", str(x)).strip() for x in lessons]
    items = [x for x in items if x]
    if not items:
        return ""
    return LESSONS_HEADER + "\n" + "\n".join(f"- {x}" for x in items)


def with_lessons(messages: Sequence[ChatMessage], lessons: Sequence[str]) -> list[ChatMessage]:
    """Return ``messages`` with the lessons appended to the first user
    message (the task statement), so every later turn of a multi-turn
    prompt sees them and roles still alternate. No lessons: unchanged."""
    block = lessons_block(lessons)
    out = list(messages)
    if not block:
        return out
    for i, m in enumerate(out):
        if m.role == "user":
            out[i] = ChatMessage(role="user", content=f"{m.content.rstrip()}\n\n{block}")
            return out
    return [*out, ChatMessage(role="user", content=block)]


# -- is a problem's example wrong? ------------------------------------------

#: the phrase that identifies the question (scripted-model tests match on it)
EXAMPLE_QUESTION = "Does this example contradict the description"
EXAMPLE_WRONG, EXAMPLE_RIGHT = "EXAMPLE WRONG", "EXAMPLE RIGHT"


def judge_example(problem: Problem, example: str, evidence: str) -> list[ChatMessage]:
    """Ask the model to reflect on one of the problem's examples that
    independent candidates dispute, before it is demoted."""
    return [
        _sys(),
        ChatMessage(
            role="user",
            content=f"Here is the Python function `{problem.entry_point}` to implement:\n\n```python\n"
            f"{problem.prompt.rstrip()}\n```\n\nThe problem gives this example:\n```python\n{example}\n```\n"
            f"Several independent implementations that satisfy every other test agree on another result: "
            f"{evidence}.\n\n{EXAMPLE_QUESTION} (a mistake in the problem statement), or are the implementations "
            f"wrong? Work the example out from the description in a few sentences, then end with one line: "
            f"`{EXAMPLE_WRONG}` if the example contradicts the description, or `{EXAMPLE_RIGHT}` otherwise.",
        ),
    ]


def says_example_wrong(text: str) -> bool:
    """The reflection's last line says the example is wrong (and nothing says it is right)."""
    lines = [re.sub(r"[*_`]", "", line).strip().upper() for line in text.strip().splitlines() if line.strip()]
    return bool(lines) and EXAMPLE_WRONG in lines[-1] and not any(EXAMPLE_RIGHT in line for line in lines)
