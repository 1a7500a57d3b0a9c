"""pass@k (the unbiased estimator of Chen et al. 2021) and its intervals.

For n samples of a problem of which c pass, pass@k = 1 - C(n-c, k) / C(n, k),
computed as a running product so it stays exact for large n. A benchmark's
pass@k is the mean over problems. Intervals: Wilson's score interval when
every problem has one sample (each problem is then one Bernoulli trial),
otherwise a percentile bootstrap over problems.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence

from coderefl.records import RunRecord


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn from n (c correct) passes."""
    if not (0 <= c <= n) or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n} c={c} k={k}")
    if n < k:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default)."""
    if total <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= total:
        raise ValueError(f"successes {successes} not in [0, {total}]")
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_interval(
    values: Sequence[float], *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (seeded: reproducible)."""
    vals = list(values)
    if not vals:
        return (0.0, 1.0)
    rng = random.Random(seed)
    n = len(vals)
    means = sorted(sum(rng.choices(vals, k=n)) / n for _ in range(resamples))
    alpha = (1 - confidence) / 2
    lo = means[int(math.floor(alpha * (resamples - 1)))]
    hi = means[int(math.ceil((1 - alpha) * (resamples - 1)))]
    return (lo, hi)


def counts_by_task(records: Sequence[RunRecord]) -> dict[str, tuple[int, int]]:
    """task_id -> (n samples, c hidden passes)."""
    n: dict[str, int] = defaultdict(int)
    c: dict[str, int] = defaultdict(int)
    for r in records:
        n[r.task_id] += 1
        c[r.task_id] += int(r.hidden_passed)
    return {t: (n[t], c[t]) for t in n}


def summarize_pass_at_k(records: list[RunRecord], ks: Sequence[int] = (1,)) -> dict:
    """pass@k per k with a 95% interval, plus the hidden-evaluation audit.

    A k larger than some problem's sample count is reported as unavailable
    (``None``) rather than estimated from fewer samples.
    """
    counts = counts_by_task(records)
    summary: dict = {
        "problems": len(counts),
        "samples": sum(n for n, _ in counts.values()),
        "hidden_evals": {
            "total": sum(r.hidden_evals for r in records),
            "max_per_sample": max((r.hidden_evals for r in records), default=0),
            "samples_scored_more_than_once": sum(1 for r in records if r.hidden_evals > 1),
        },
    }
    single = bool(counts) and all(n == 1 for n, _ in counts.values())
    for k in ks:
        key = f"pass@{k}"
        if not counts or any(n < k for n, _ in counts.values()):
            summary[key] = None
            continue
        per_task = [pass_at_k(n, c, k) for n, c in counts.values()]
        value = sum(per_task) / len(per_task)
        if single:
            lo, hi = wilson_interval(sum(c for _, c in counts.values()), len(counts))
            method = "wilson"
        else:
            lo, hi = bootstrap_interval(per_task)
            method = "bootstrap"
        summary[key] = {"value": value, "ci_low": lo, "ci_high": hi, "ci_method": method}
    return summary
