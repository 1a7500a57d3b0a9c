"""Self-test quality: how far the agent's own tests can be trusted.

Two views, from run records alone:

* wrong tests: the share of records whose generated tests reject the
  canonical (correct) solution (``canonical_vs_generated is False``), and
  by trust tier (``canonical_rejected_by``): the agent's own tests against
  the problem's own examples (a wrong example is the problem's fault);
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


def wrong_tests_by_tier(records: Sequence[RunRecord]) -> dict:
    """Whose wrong tests: of the records whose tiers are known, how many
    have an agent's own test that rejects the canonical solution (the agent's
    fault: ``rate`` over ``known``) and how many a problem example that does
    (the problem's: HumanEval/47), with their task ids."""
    known = [r for r in records if r.canonical_rejected_by is not None]

    def count(tier: str) -> dict:
        hit = [r for r in known if tier in (r.canonical_rejected_by or [])]
        return {"records": len(hit), "rate": _rate(len(hit), len(known)), "task_ids": sorted({r.task_id for r in hit})}

    return {"known": len(known), "agent": count("generated"), "problem_example": count("example"),
            "unknown": count("unknown")}


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
        "wrong_tests_by_tier": wrong_tests_by_tier(records),
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
