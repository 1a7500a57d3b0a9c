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
from coderefl.strategies.testset import build_tests_file


def split_equality(test: str) -> tuple[str, object] | None:
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
    mine = split_equality(test)
    if mine is None:
        return None
    call, expected = mine
    for example in examples:
        theirs = split_equality(example)
        if theirs is None or theirs[0] != call:
            continue
        try:
            same = theirs[1] == expected
        except Exception:  # exotic values that refuse comparison
            same = True
        if not same:
            return example
    return None


def outcome_vector(result: ExecutionResult, tests: Sequence[str]) -> list[bool | None]:
    """Per-test verdicts aligned with ``tests``, mapped by identity: True
    passed, False ran and failed, None unknown (not run, timed out, no
    outcome). See :class:`coderefl.strategies.testset.TestsFile`."""

    return build_tests_file(tests).map(result).verdicts()


@dataclass
class Agreement:
    chosen: int
    groups: list[dict] = field(default_factory=list)
    suspicious: list[int] = field(default_factory=list)
    #: examples the evidence contradicts (test index -> the value the candidates agree on)
    disputed: dict[int, str] = field(default_factory=dict)


def dual_agreement(
    matrix: Sequence[Sequence[bool | None]],
    authoritative: Sequence[bool],
    messages: Sequence[Sequence[str]] | None = None,
    programs: Sequence[str] | None = None,
    examples: Sequence[bool] | None = None,
) -> Agreement:
    """Choose a candidate by CodeT agreement and flag suspicious tests.

    ``matrix[i][j]``: candidate i passes test j (True), fails it (False) or
    it is unknown whether it would (None: the test did not run). Unknown is
    never evidence: it neither passes nor fails a test for agreement.
    ``authoritative[j]``: test j is a user test or an example (never
    suspicious, and a candidate failing one is never preferred over one
    passing all of them). ``messages[i][j]``: what test j reported for
    candidate i (the actual value); a test is suspicious only if the
    consistent candidates all ran it and agree on what they returned
    instead. ``programs[i]``: candidate i's code; identical programs are
    votes (CodeT counts them), but evidence against a test needs at least
    two *distinct* programs. ``examples[j]``: test j is a problem example,
    which may be *disputed*: every distinct program that passes every other
    test fails it, with one and the same actual value.
    """
    n_cand = len(matrix)
    n_tests = len(authoritative)
    programs = list(programs) if programs is not None else [str(i) for i in range(n_cand)]
    groups: dict[tuple[bool | None, ...], list[int]] = {}
    for i, row in enumerate(matrix):
        groups.setdefault(tuple(row), []).append(i)

    def consistent(row: Sequence[bool | None]) -> bool:
        return all(row[j] is True for j in range(n_tests) if authoritative[j])

    scored = []
    for row, members in groups.items():
        passes = sum(1 for v in row if v is True)
        scored.append({"members": members, "passes": passes, "score": len(members) * passes,
                       "consistent": consistent(row)})
    scored.sort(key=lambda g: (g["consistent"], g["score"], -g["members"][0]), reverse=True)
    chosen = scored[0]["members"][0] if scored else 0

    suspicious: list[int] = []
    agreeing = [i for i in range(n_cand) if consistent(matrix[i])]
    if len({programs[i] for i in agreeing}) >= 2:
        for j in range(n_tests):
            if authoritative[j]:
                continue
            # every candidate ran it and failed it: an unknown is no evidence
            if not all(matrix[i][j] is False for i in range(n_cand)):
                continue
            if messages is not None and not _one_answer(messages, agreeing, j):
                continue
            suspicious.append(j)

    disputed: dict[int, str] = {}
    for j in range(n_tests):
        if not (examples and examples[j]):
            continue
        others = [i for i in range(n_cand)
                  if all(matrix[i][k] is True for k in range(n_tests) if k != j)]
        if len({programs[i] for i in others}) < 2 or not all(matrix[i][j] is False for i in others):
            continue
        if messages is None or not _one_answer(messages, others, j):
            continue
        disputed[j] = messages[others[0]][j]
    return Agreement(chosen=chosen, groups=scored, suspicious=suspicious, disputed=disputed)


def _one_answer(messages: Sequence[Sequence[str]], members: Sequence[int], j: int) -> bool:
    """The candidates in ``members`` all reported one same, non-empty answer on test j."""
    answers = {messages[i][j] for i in members}
    return len(answers) == 1 and bool(next(iter(answers)))
