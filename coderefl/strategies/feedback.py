"""Execution results as text a model can reason about.

Reflexion's reflections are only as good as this feedback: each failing
test with the value the code actually produced, tracebacks trimmed to the
end, timeouts called out as likely infinite loops.
"""

from __future__ import annotations

from coderefl.records import ExecutionResult

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
