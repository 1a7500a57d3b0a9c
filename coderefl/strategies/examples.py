"""Visible examples: the asserts a problem shows the agent.

They come from ``Problem.visible_tests`` (MBPP's first assert, a custom
set's examples), from the prompt's own doctest examples (HumanEval's
``>>> f(x)`` lines, read with the standard library's doctest parser), and
from the other styles docstrings use (``f(x) == y``, ``f(x) => y``,
``f(x) ➞ y``, ``For x = 1 the output should be y``, ...:
:func:`coderefl.code.examples.docstring_examples`). One example per call:
the first source wins.
"""

from __future__ import annotations

import ast
import doctest

from coderefl.code.examples import docstring_examples
from coderefl.records import Problem
from coderefl.strategies.agreement import split_equality


def doctest_asserts(prompt: str, limit: int = 10) -> list[str]:
    """``>>> f(x)`` / ``y`` pairs as ``assert f(x) == y``, when both sides are
    plain expressions (examples that print or raise are skipped)."""
    try:
        examples = doctest.DocTestParser().get_examples(prompt)
    except ValueError:  # malformed doctest layout
        return []
    out: list[str] = []
    for ex in examples:
        source, want = ex.source.strip(), _before_docstring_end(ex.want).strip()
        if not source or not want or want.startswith("Traceback") or "\n" in source or source.startswith("print("):
            continue
        if not (_is_expression(source) and _is_expression(want)):
            continue
        out.append(f"assert {source} == {want}")
        if len(out) >= limit:
            break
    return out


def visible_examples(problem: Problem) -> list[str]:
    seen: list[str] = []
    calls: set[str] = set()
    found = [*problem.visible_tests, *doctest_asserts(problem.prompt),
             *docstring_examples(problem.prompt, problem.entry_point)]
    for t in found:
        split = split_equality(t)
        if t in seen or (split is not None and split[0] in calls):
            continue
        seen.append(t)
        if split is not None:
            calls.add(split[0])
    return seen


def _before_docstring_end(want: str) -> str:
    """doctest reads an example's output up to a blank line, so in a prompt
    whose docstring closes right after the output, the closing quotes are
    taken as output too; cut them off."""
    lines = []
    for line in want.splitlines():
        if line.strip().startswith(('"""', "'''")):
            break
        lines.append(line)
    return "\n".join(lines)


def _is_expression(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        return False
    return True
