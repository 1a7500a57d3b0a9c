"""summary.json figures against values computed by hand."""

from __future__ import annotations

import math

import pytest

from coderefl.records import RunRecord, Usage
from coderefl.run.summary import summarize, summary_table


def rec(task, sample=0, *, passed=False, internal=None, canon=None, iters=1, pt=0, ct=0, cost=0.0, calls=0, error=None, evals=1, wall=1.0):
    return RunRecord(
        task_id=task, sample=sample, strategy="s", model="m", hidden_passed=passed, internal_passed=internal,
        canonical_vs_generated=canon, iterations=iters, error=error, hidden_evals=evals, wall_s=wall,
        usage=Usage(calls=calls, prompt_tokens=pt, completion_tokens=ct, cost_usd=cost),
    )


FOUR = [
    rec("A", passed=True, internal=True, canon=True, iters=1, pt=100, ct=50, cost=0.01, calls=2, wall=2.0),
    rec("B", passed=False, internal=True, canon=False, iters=3, pt=200, ct=100, cost=0.02, calls=4, wall=4.0),
    rec("C", passed=False, internal=False, canon=None, iters=5, wall=6.0),
    rec("D", error="strategy crashed: RuntimeError: boom", iters=0, evals=0, wall=0.0),
]


def test_single_sample_figures_by_hand():
    s = summarize(FOUR, wall_s=12.5)
    assert s["pass@1"] == pytest.approx(0.25)
    # Wilson 95% for 1 of 4, written out
    z, n, p = 1.96, 4, 0.25
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert s["pass@1_ci"] == pytest.approx([centre - half, centre + half])
    assert s["pass@k"]["pass@1"]["ci_method"] == "wilson"
    assert (s["problems"], s["samples_per_problem"], s["records"]) == (4, 1, 4)
    assert (s["passing"], s["failing"], s["errors"]) == (1, 2, 1)
    assert s["internal_pass_rate"] == pytest.approx(2 / 3)
    assert s["mean_iterations"] == pytest.approx(9 / 4)
    assert s["tokens"]["total"] == 450 and s["tokens"]["per_sample"] == pytest.approx(112.5)
    assert s["cost_usd"]["total"] == pytest.approx(0.03) and s["cost_usd"]["per_sample"] == pytest.approx(0.0075)
    assert s["model_calls"]["total"] == 6
    assert s["wall_s"]["run"] == 12.5 and s["wall_s"]["per_sample_mean"] == pytest.approx(3.0)
    wrong = s["self_test"]["wrong_tests"]
    assert (wrong["known"], wrong["wrong"], wrong["rate"]) == (2, 1, 0.5)
    assert s["self_test"]["confusion"]["counts"] == {"tp": 1, "fp": 1, "fn": 0, "tn": 1}
    assert s["hidden_evals"]["per_sample"] == pytest.approx(0.75)
    # the crashed record was never scored; every finished one exactly once
    assert s["hidden_evals"]["all_exactly_one"] is True and s["hidden_evals"]["unscored"] == 1


def test_pass_at_k_over_samples():
    recs = [rec("X", 0, passed=True), rec("X", 1), rec("Y", 0), rec("Y", 1)]
    s = summarize(recs)
    assert s["samples_per_problem"] == 2
    assert s["pass@1"] == pytest.approx(0.25)  # (1/2 + 0) / 2
    assert s["pass@k"]["pass@2"]["value"] == pytest.approx(0.5)  # (1 + 0) / 2
    assert s["pass@k"]["pass@1"]["ci_method"] == "bootstrap"
    assert s["hidden_evals"]["all_exactly_one"] is True


def test_table_renders_every_figure():
    from rich.console import Console

    console = Console(width=120, record=True)
    console.print(summary_table(summarize(FOUR, wall_s=1.0)))
    text = console.export_text()
    for needle in ("pass@1", "25.0%", "internal-test pass rate", "66.7%", "wrong-test rate", "2.25", "hidden evaluations per sample"):
        assert needle in text, needle
    assert "(!)" not in text


def test_a_second_hidden_evaluation_is_flagged():
    from rich.console import Console

    s = summarize([rec("A", passed=True), rec("B", evals=2)])
    assert s["hidden_evals"]["all_exactly_one"] is False
    assert s["hidden_evals"]["samples_scored_more_than_once"] == 1
    console = Console(width=120, record=True)
    console.print(summary_table(s))
    assert "1.50  (!)" in console.export_text()
