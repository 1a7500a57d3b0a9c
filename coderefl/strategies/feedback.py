"""Execution results as text a model can reason about.

Reflexion's reflections are only as good as this feedback: each failing
test with the value the code actually produced, tracebacks trimmed to the
end, timeouts called out as likely infinite loops.
"""

from __future__ import annotations

from coderefl.records import ExecutionResult
from coderefl.strategies.testset import TIER_LABELS

MAX_FEEDBACK_CHARS = 3000


def _tail(text: str, lines: int = 12) -> str:
    parts = text.strip().splitlines()
    return "\n".join(parts[-lines:])


def format_feedback(result: ExecutionResult, limit: int = MAX_FEEDBACK_CHARS) -> str:
    """Describe what passed and what failed, one line per test."""
    if result.status == "passed":
        return f"All {len(result.tests)} tests passed."
    lines: list[str] = []
    if result.status == "timeout" and not result.failing:
        lines.append("The program timed out before the tests finished: probably an infinite loop or a very slow algorithm.")
    passed = [t for t in result.tests if t.status == "passed"]
    failing = result.failing
    if result.tests:
        lines.append(f"{len(passed)} of {len(result.tests)} tests passed.")
    for t in passed[:5]:
        lines.append(f"Passed: {t.name}")
    for t in failing:
        detail = t.message.strip() or t.status
        if t.status == "timeout":
            detail = "timed out (infinite loop or too slow)"
        lines.append(f"Failed: {t.name}  # {detail}")
    if result.status == "error" and not failing:
        err = _tail(result.stderr) or "the program could not be run"
        lines.append(f"The program raised an error before the tests could run:\n{err}")
    text = "\n".join(lines)
    if len(text) > limit:
        text = text[:limit] + "\n... (feedback truncated)"
    return text


def _shown(test: str, outcomes: list) -> str:
    """A test as the model sees it: the assert itself, or the names of a
    block's test functions."""
    text = test.strip()
    if "\n" not in text:
        return text
    names = [o.name for o in outcomes if not o.name.startswith("line ")]
    return ", ".join(dict.fromkeys(names)) or text.splitlines()[0]


def format_test_feedback(omap, tiers=None, limit: int = MAX_FEEDBACK_CHARS) -> str:
    """Per-test feedback from outcomes mapped to tests by identity
    (:class:`coderefl.strategies.testset.OutcomeMap`), each test labelled
    with where it came from when ``tiers`` (parallel to the tests) is given,
    so the model knows which tests to trust."""

    verdicts = omap.verdicts()
    n = len(omap.tests)
    if omap.status == "passed":
        return f"All {n} tests passed."
    lines: list[str] = []
    passed = sum(1 for v in verdicts if v is True)
    unknown = sum(1 for v in verdicts if v is None)
    head = f"{passed} of {n} tests passed"
    if unknown:
        head += f"; {unknown} did not finish or did not run"
    lines.append(head + ".")
    if omap.status == "timeout":
        lines.append("The run hit the time limit: probably an infinite loop or a very slow algorithm.")
    for i, test in enumerate(omap.tests):
        outs = omap.outcomes[i]
        label = f"  [{TIER_LABELS[tiers[i]]}]" if tiers is not None else ""
        shown = _shown(test, outs)
        if verdicts[i] is True:
            lines.append(f"Passed: {shown}{label}")
        elif verdicts[i] is False:
            detail = omap.message(i).strip() or "failed"
            lines.append(f"Failed: {shown}{label}  # {detail}")
        elif any(o.status == "timeout" for o in outs):
            lines.append(f"Timed out: {shown}{label}  # still running at the time limit (infinite loop or too slow)")
        else:
            lines.append(f"Not run: {shown}{label}")
    if omap.global_outcomes and not any(v is not None for v in verdicts):
        msg = "; ".join(o.message for o in omap.global_outcomes if o.message)
        lines.append(f"The program failed before the tests could run: {msg or omap.status}")
        err = _tail(omap.result.stderr) if omap.result is not None else ""
        if err and omap.status == "error":
            lines.append(err)
    text = "\n".join(lines)
    if len(text) > limit:
        text = text[:limit] + "\n... (feedback truncated)"
    return text
