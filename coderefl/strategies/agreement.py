"""Telling a wrong test from wrong code.

Self-written tests are often wrong, and reflecting on a wrong test breaks
correct code. Two defences, both recorded in the trajectory:

* :func:`contradicts_examples`: a generated ``assert f(a) == x`` whose call
  also appears in a visible example with another expected value is wrong
  by the problem's own word.
* :func:`dual_agreement`: with several candidates, weigh candidates and
  tests by mutual agreement (CodeT, Chen et al. 2022): candidates that pass
  the same tests form a consensus group, scored by group size times tests
  passed. A generated test that every candidate fails, while candidates
  that satisfy every visible example agree on another answer, is dropped.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field

from coderefl.records import ExecutionResult


def _split_equality(test: str) -> tuple[str, object] | None:
    """``assert CALL == EXPECTED`` -> (normalised CALL, EXPECTED's value or source)."""
    try:
        tree = ast.parse(test.strip())
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    test_expr = tree.body[0].test
    if not (isinstance(test_expr, ast.Compare) and len(test_expr.ops) == 1 and isinstance(test_expr.ops[0], ast.Eq)):
        return None
    left, right = test_expr.left, test_expr.comparators[0]
    if not isinstance(left, ast.Call) and isinstance(right, ast.Call):
        left, right = right, left
    if not isinstance(left, ast.Call):
        return None
    try:
        expected: object = ast.literal_eval(right)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        expected = ast.dump(right)
    return ast.dump(left), expected


def contradicts_examples(test: str, examples: Sequence[str]) -> str | None:
    """The example a generated test contradicts, or None."""
    mine = _split_equality(test)
    if mine is None:
        return None
    call, expected = mine
    for example in examples:
        theirs = _split_equality(example)
        if theirs is None or theirs[0] != call:
            continue
        try:
            same = theirs[1] == expected
        except Exception:  # exotic values that refuse comparison
            same = True
        if not same:
            return example
    return None


def outcome_vector(result: ExecutionResult, tests: Sequence[str]) -> list[bool]:
    """Per-test pass flags aligned with ``tests``.

    The runner reports one outcome per assert, in order; when the counts do
    not line up (an import error, a crash) nothing counts as passed."""
    if result.status == "passed":
        return [True] * len(tests)
    if len(result.tests) != len(tests):
        return [False] * len(tests)
    return [o.status == "passed" for o in result.tests]


@dataclass
class Agreement:
    chosen: int
    groups: list[dict] = field(default_factory=list)
    suspicious: list[int] = field(default_factory=list)


def dual_agreement(
    matrix: Sequence[Sequence[bool]],
    authoritative: Sequence[bool],
    messages: Sequence[Sequence[str]] | None = None,
) -> Agreement:
    """Choose a candidate by CodeT agreement and flag suspicious tests.

    ``matrix[i][j]``: candidate i passes test j. ``authoritative[j]``: test j
    is a visible example or a user test (never suspicious, and a candidate
    failing one is never preferred over one passing all of them).
    ``messages[i][j]``: what test j reported for candidate i (the actual
    value); when given, a test is suspicious only if the consistent
    candidates also agree on what they returned instead."""
    n_cand = len(matrix)
    n_tests = len(authoritative)
    groups: dict[tuple[bool, ...], list[int]] = {}
    for i, row in enumerate(matrix):
        groups.setdefault(tuple(row), []).append(i)

    def consistent(row: tuple[bool, ...]) -> bool:
        return all(row[j] for j in range(n_tests) if authoritative[j])

    scored = []
    for row, members in groups.items():
        score = len(members) * sum(row)
        scored.append({"members": members, "passes": sum(row), "score": score, "consistent": consistent(row)})
    scored.sort(key=lambda g: (g["consistent"], g["score"], -g["members"][0]), reverse=True)
    chosen = scored[0]["members"][0] if scored else 0

    suspicious: list[int] = []
    consistent_rows = [row for row in groups if consistent(row)]
    consistent_count = sum(len(groups[r]) for r in consistent_rows)
    if n_cand >= 2 and consistent_count >= 2:
        for j in range(n_tests):
            if authoritative[j]:
                continue
            if any(matrix[i][j] for i in range(n_cand)):
                continue
            if messages is not None:
                answers = {messages[i][j] for i in range(n_cand) if consistent(tuple(matrix[i]))}
                if len(answers) != 1:
                    continue
            suspicious.append(j)
    return Agreement(chosen=chosen, groups=scored, suspicious=suspicious)
