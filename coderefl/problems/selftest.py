"""Self-test quality: how far the agent's own tests can be trusted.

Two views, from run records alone:

* wrong tests: the share of records whose generated tests reject the
  canonical (correct) solution (``canonical_vs_generated is False``);
* the internal-vs-hidden confusion table, laid out like Reflexion's
  Table 2: true/false positives and negatives of the internal verdict
  (agent's tests) taken as a predictor of the hidden verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

from coderefl.problems.scorer import score_generated_tests
from coderefl.records import RunRecord

__all__ = ["self_test_quality", "score_generated_tests"]


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def self_test_quality(records: Sequence[RunRecord]) -> dict:
    known = [r for r in records if r.canonical_vs_generated is not None]
    wrong = sum(1 for r in known if r.canonical_vs_generated is False)
    judged = [r for r in records if r.internal_passed is not None]
    table = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for r in judged:
        if r.internal_passed:
            table["tp" if r.hidden_passed else "fp"] += 1
        else:
            table["fn" if r.hidden_passed else "tn"] += 1
    total = len(judged)
    return {
        "records": len(records),
        "wrong_tests": {
            "known": len(known),
            "wrong": wrong,
            "rate": _rate(wrong, len(known)),
            "task_ids": sorted({r.task_id for r in known if r.canonical_vs_generated is False}),
        },
        "confusion": {
            "judged": total,
            "unknown_internal": len(records) - total,
            "counts": table,
            "rates": {k: _rate(v, total) for k, v in table.items()},
            # of the solutions the agent believed correct, how many were not
            "false_positive_share": _rate(table["fp"], table["tp"] + table["fp"]),
            "false_negative_share": _rate(table["fn"], table["fn"] + table["tn"]),
        },
    }
