"""The agent's side of asking an expert: when to ask, what to ask, and
how the answer re-enters the loop.

The agent asks only when its confidence is low (:func:`low_confidence`):
its internal tests still fail after the budget, or its candidates
disagree. It then names the one input it is least sure about
(:func:`unsure_prompt`), the reply is parsed safely with
``ast.literal_eval`` (:func:`parse_unsure_args`: never ``eval``), an
an :class:`~coderefl.strategies.services.Expert` answers, and the answer becomes
an authoritative example test (:func:`advice_tests`) and a note in the
next prompt (:func:`advice_note`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any

from coderefl.records import Advice, ChatMessage, Completion, PhaseUsage, Problem, Trajectory, Usage
from coderefl.strategies import prompts
from coderefl.strategies.episode import Episode, StepNotes
from coderefl.strategies.services import Expert

#: a phrase that identifies the question prompt (scripted-model tests match on it)
UNSURE_NEEDLE = "ask an expert what"
_MAX_REPLY_CHARS = 4000


def low_confidence(trajectory: Trajectory) -> bool:
    """True when the agent should consider asking: its own tests still
    fail (``internal_passed is False``), or the last candidate choice saw
    candidates disagreeing (more than one outcome group)."""
    if trajectory.internal_passed is False:
        return True
    for step in reversed(trajectory.steps):
        if step.kind == "decision" and "groups" in step.data:
            return len(step.data.get("groups") or []) > 1
    return False


def unsure_prompt(problem: Problem, code: str, feedback: str = "", examples: Sequence[str] = ()) -> list[ChatMessage]:
    """Multi-turn: the task, the agent's current code, then the question."""
    ask = (
        f"Before you try again you may {UNSURE_NEEDLE} `{problem.entry_point}` must return for ONE input: "
        "the input you are least sure about (an edge case the description leaves open, or one where your "
        "code and the tests disagree). Reply with only the arguments, as a Python tuple literal on one line, "
        f"for example `(3, [1, 2])` to ask about `{problem.entry_point}(3, [1, 2])`; write `(x,)` for a single "
        "argument. Reply NONE if you have no question."
    )
    if feedback:
        ask = f"The latest test run:\n{feedback}\n\n{ask}"
    return [
        *prompts.generate(problem, examples),
        ChatMessage(role="assistant", content=f"```python\n{code.rstrip()}\n```"),
        ChatMessage(role="user", content=ask),
    ]


def _from_call(text: str, entry_point: str) -> tuple[Any, ...] | None:
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point and not node.keywords:
        try:
            return tuple(ast.literal_eval(a) for a in node.args)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    return None


def _literal(text: str) -> tuple[Any, ...] | None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, tuple) else (value,)


def parse_unsure_args(text: str, entry_point: str | None = None) -> tuple[Any, ...] | None:
    """The arguments a model's reply names, or None (NONE, nothing parsable).

    Accepts a tuple literal ``(1, [2])``, a single literal ``"abc"`` (one
    argument), or a call ``f(1, [2])`` of the entry point, alone, on a
    line, in backticks or in a code block. Parsed with
    ``ast.literal_eval`` only, so a reply can never run code here."""
    text = (text or "").strip()[:_MAX_REPLY_CHARS]
    if not text or text.strip("`. ").upper() == "NONE":
        return None
    spans = [text]
    spans += re.findall(r"```(?:python|py)?\s*\n(.*?)```", text, re.S)
    spans += re.findall(r"`([^`\n]+)`", text)
    spans += text.splitlines()
    for span in spans:
        span = span.strip().rstrip(".;").strip()
        if ":" in span and not span.startswith(("(", "[", "{", "'", '"')):
            head, _, tail = span.partition(":")
            if head.replace(" ", "").isalpha():  # "Arguments: (1, 2)"
                span = tail.strip()
        if not span:
            continue
        if entry_point and span.startswith(f"{entry_point}("):
            found = _from_call(span, entry_point)
            if found is not None:
                return found
            continue
        found = _literal(span)
        if found is not None:
            return found
    return None


def advice_tests(advice: Sequence[Advice | None]) -> list[str]:
    """The example asserts among the answers: add them to the authoritative tests."""
    return [a.text for a in advice if a is not None and a.kind == "example"]


def advice_note(advice: Sequence[Advice | None]) -> str:
    """Text for the next prompt ("" when there was no answer)."""
    answers = [a for a in advice if a is not None]
    if not answers:
        return ""
    lines = ["An expert answered your questions. Trust these answers over your own tests:"]
    lines += [f"- {a.text}" for a in answers]
    return "\n".join(lines)


async def consult(
    ep: Episode,
    advisor: Expert | None,
    code: str,
    feedback: str = "",
    examples: Sequence[str] = (),
    *,
    iteration: int = 0,
) -> Advice | None:
    """One full ask-an-expert exchange inside a strategy's episode.

    1. Nothing happens (no model call) without an advisor, when it cannot
       answer this problem, or when the problem's requests are used up.
    2. The model is asked which input it is unsure about; that call is a
       step of kind ``advice`` (counted against the budget like any call;
       :class:`~coderefl.errors.BudgetExceeded` propagates).
    3. The reply is parsed (:func:`parse_unsure_args`); the advisor is asked
       (with no input only if it ``answers_free_questions``).
    4. The step records ``data["question"]``, ``data["advice_requested"]``
       and ``data["advice"]``, and its note is the answer. The advisor's
       ``cost_tokens`` are added to the step's and the trajectory's usage
       as prompt tokens of phase ``advisor``, so token budgets and reports
       count the help.
    """
    problem = ep.problem
    if advisor is None or not advisor.available(problem) or advisor.remaining(problem, ep.sample) <= 0:
        return None
    expert = advisor
    given: Advice | None = None

    async def answer(reply: Completion) -> StepNotes:
        nonlocal given
        args = parse_unsure_args(reply.text, problem.entry_point)
        question = None if args is None else repr(args)
        if args is None and not expert.answers_free_questions:
            return StepNotes(note="the agent named no input to ask about",
                             data={"question": question, "advice_requested": False})
        advice = await expert.advise(problem, args, sample=ep.sample)
        given = advice
        cost = None
        if expert.cost_tokens:
            cost = Usage(prompt_tokens=expert.cost_tokens,
                         by_phase={"advisor": PhaseUsage(prompt_tokens=expert.cost_tokens)})
        return StepNotes(
            note=f"advice: {advice.text}" if advice is not None else "the advisor gave no answer",
            data={"question": question, "advice_requested": True,
                  "advice": advice.model_dump(mode="json") if advice is not None else None},
            extra_usage=cost,
        )

    await ep.ask(unsure_prompt(problem, code, feedback, examples), kind="advice", phase="advice",
                 iteration=iteration, annotate=answer)
    return given


def advice_requests(trajectory: Trajectory) -> int:
    """How many times the agent asked its advisor (for ``RunRecord.advice_requests``)."""
    return sum(1 for s in trajectory.steps if s.kind == "advice" and s.data.get("advice_requested"))
