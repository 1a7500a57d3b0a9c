"""What counts as a lesson, and how lessons enter a prompt.

A lesson is a short verbal reflection (or critique) that was followed by a
candidate passing the agent's *internal* tests: the agent's own evidence
that the reflection fixed something. It is picked from the
:class:`~coderefl.records.Trajectory` alone. Hidden-test outcomes
(``RunRecord.hidden_*``) never decide what is learnt, so memory cannot leak
the benchmark's answers into later problems: this module does not accept a
RunRecord at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from coderefl.records import Step, Trajectory
# how lessons enter a prompt is the strategies' business; re-exported here
from coderefl.strategies.prompts import LESSONS_HEADER, lessons_block, with_lessons  # noqa: F401

#: step kinds whose text is a verbal reflection on a candidate
REFLECTIVE_KINDS = ("reflect", "critique")



def _step_passed(step: Step) -> bool:
    """An execute step whose candidate passed at least one internal test and failed none."""
    ex = step.execution
    return step.kind == "execute" and ex is not None and ex.status == "passed" and bool(step.tests or ex.tests)


def _reflection_text(step: Step) -> str:
    text = (step.reflection or step.response or "").strip()
    if step.kind == "critique" and text.strip(".!` ").upper().startswith("LGTM"):
        return ""
    return text


def shorten(text: str, max_chars: int) -> str:
    """Collapse whitespace and cut at the last sentence end within ``max_chars``."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    if end >= max_chars // 3:
        return cut[: end + 1]
    return cut.rstrip() + "..."


def lessons_from_trajectory(traj: Trajectory, *, max_lessons: int = 1, max_chars: int = 600) -> list[str]:
    """The reflections that led to an internal pass, oldest first.

    Rule: find the first ``execute`` step whose candidate passed its
    (non-empty) internal tests; the lessons are the last ``max_lessons``
    non-empty ``reflect``/``critique`` texts recorded *before* it (step
    order), oldest first, shortened to ``max_chars``. A trajectory that
    passed at once (no reflection), or never passed internally, teaches
    nothing. When the pass came only after the agent dropped a wrong test
    (``stop_reason == "passed"`` with no raw passing run), the end of the
    trajectory counts as the pass.
    """
    if traj.internal_passed is not True or max_lessons <= 0:
        return []
    steps = traj.steps
    pass_at = next((i for i, s in enumerate(steps) if _step_passed(s)), None)
    if pass_at is None:
        if traj.stop_reason != "passed":
            return []
        pass_at = len(steps)
    texts = [_reflection_text(s) for s in steps[:pass_at] if s.kind in REFLECTIVE_KINDS]
    texts = [shorten(t, max_chars) for t in texts if t]
    out: list[str] = []
    for t in texts[::-1]:
        if t not in out:
            out.append(t)
        if len(out) == max_lessons:
            break
    return out[::-1]
