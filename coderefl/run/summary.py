"""The figures of a finished run, computed from its records alone.

Why from records only: summary.json must be reproducible from
results.jsonl (a resumed run, or ``coderefl report`` on an old folder,
gets the same numbers), so nothing here reads live counters.

Conventions: a record is one solve of one problem (task x sample). A
record with ``error`` set counts as a hidden failure in pass@k, so a
crashing strategy cannot look better than a failing one. "per sample"
figures divide by records, "per problem" by distinct tasks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from coderefl.learn import advice_summary
from coderefl.problems.passk import summarize_pass_at_k
from coderefl.problems.selftest import self_test_quality
from coderefl.records import RunRecord, Usage
from coderefl.run.store import answered_nothing


def default_ks(samples: int) -> list[int]:
    """pass@1 always; pass@k for the usual k that the sample count allows."""
    return [k for k in (1, 2, 5, 10, 20, 50, 100) if k <= max(1, samples)]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(
    records: Sequence[RunRecord],
    *,
    ks: Sequence[int] | None = None,
    wall_s: float | None = None,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the final table and summary.json show."""
    records = list(records)
    tasks = sorted({r.task_id for r in records})
    per_task = Counter(r.task_id for r in records)
    samples = min(per_task.values(), default=0)
    ks = list(ks) if ks is not None else default_ks(samples)
    passk = summarize_pass_at_k(records, ks)
    p1 = passk.get("pass@1")

    usage = Usage()
    for r in records:
        usage.add(r.usage)
    n = len(records)
    judged = [r for r in records if r.internal_passed is not None]
    evals = [r.hidden_evals for r in records]

    out: dict[str, Any] = dict(meta or {})
    out.update(
        {
            "pass@1": p1["value"] if p1 else None,
            "pass@1_ci": [p1["ci_low"], p1["ci_high"]] if p1 else None,
            "pass@k": {k: v for k, v in passk.items() if k.startswith("pass@")},
            "problems": len(tasks),
            "samples_per_problem": samples,
            "records": n,
            "passing": sum(1 for r in records if r.hidden_passed),
            "failing": sum(1 for r in records if not r.hidden_passed and not r.error),
            "errors": sum(1 for r in records if r.error),
            "internal_pass_rate": _mean([1.0 if r.internal_passed else 0.0 for r in judged]),
            "internal_judged": len(judged),
            "self_test": self_test_quality(records),
            # asking an expert: advice rate beside the pass rates of advised and other samples
            "advice": advice_summary(records) if any(r.advice_requests for r in records) else None,
            "mean_iterations": _mean([float(r.iterations) for r in records]),
            "stop_reasons": dict(Counter(r.stop_reason or "error" for r in records).most_common()),
            "tokens": {
                "prompt": usage.prompt_tokens,
                "completion": usage.completion_tokens,
                "total": usage.total_tokens,
                "per_sample": usage.total_tokens / n if n else None,
                "per_problem": usage.total_tokens / len(tasks) if tasks else None,
            },
            "cost_usd": {
                "total": usage.cost_usd,
                "per_sample": usage.cost_usd / n if n else None,
                "per_problem": usage.cost_usd / len(tasks) if tasks else None,
            },
            "model_calls": {
                "total": usage.calls,
                "cached": usage.cached_calls,
                "per_sample": usage.calls / n if n else None,
            },
            "empty_answers": empty_answers(records, usage),
            "wall_s": {
                "run": wall_s,
                "per_sample_mean": _mean([r.wall_s for r in records]),
                "per_sample_sum": sum(r.wall_s for r in records),
            },
            "hidden_evals": {
                **passk["hidden_evals"],
                "per_sample": _mean([float(e) for e in evals]),
                # the firewall check: every sample that finished was scored exactly once
                # (a crashed strategy's record never reaches the scorer: counted as unscored)
                "all_exactly_one": all(r.hidden_evals == 1 for r in records if r.error is None),
                "unscored": sum(1 for e in evals if e == 0),
                # how the hidden tests ran (docs/sandbox.md): benchmarks' hidden tests always in judge mode
                "isolation": dict(sorted(Counter(r.hidden_isolation or "unknown" for r in records if r.error is None).items())),
            },
        }
    )
    return out


#: a share of blank answers at or above which the run is flagged (the endpoint is probably broken)
EMPTY_WARN_SHARE = 0.2


def empty_answers(records: Sequence[RunRecord], usage: Usage) -> dict[str, Any]:
    """Blank answers (empty or null text) among the model's fresh answers:
    a healthy endpoint gives none; many mean the figures say nothing about
    the strategy (flagged). Records whose final code is empty are counted
    beside them: a weak model writing no code is a result, not a fault, so
    they alone raise no flag."""
    fresh = usage.calls - usage.cached_calls
    share = usage.empty_answers / fresh if fresh > 0 else None
    return {
        "count": usage.empty_answers,
        "share": share,
        "records_with_only_empty": sum(1 for r in records if answered_nothing(r)),
        "records_without_code": sum(1 for r in records if r.error is None and not r.final_code.strip()),
        "warning": share is not None and share >= EMPTY_WARN_SHARE,
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def summary_table(s: Mapping[str, Any], title: str | None = None) -> Table:
    """The final table of one run, for the terminal."""
    t = Table(title=title, show_header=True, header_style="bold")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for key, v in (s.get("pass@k") or {}).items():
        if v is None:
            continue
        t.add_row(f"{key} (hidden tests)", f"{_pct(v['value'])}  [{_pct(v['ci_low'])}, {_pct(v['ci_high'])}] {v['ci_method']}")
    t.add_row("problems x samples", f"{s.get('problems', 0)} x {s.get('samples_per_problem', 0)} = {s.get('records', 0)}")
    t.add_row("passing / failing / errors", f"{s.get('passing', 0)} / {s.get('failing', 0)} / {s.get('errors', 0)}")
    t.add_row("internal-test pass rate", _pct(s.get("internal_pass_rate")))
    st = s.get("self_test") or {}
    wrong = st.get("wrong_tests") or {}
    conf = st.get("confusion") or {}
    t.add_row("wrong-test rate (reject canonical)", f"{_pct(wrong.get('rate'))} of {wrong.get('known', 0)}")
    tier = st.get("wrong_tests_by_tier") or {}
    if tier.get("known"):  # whose fault: the agent's own tests, or the problem's wrong examples (HumanEval/47)
        agent, example = tier.get("agent") or {}, tier.get("problem_example") or {}
        t.add_row("  by tier: agent's own / problem's examples",
                  f"{_pct(agent.get('rate'))} / {_pct(example.get('rate'))} of {tier['known']}")
    counts = conf.get("counts") or {}
    if counts:
        t.add_row(
            "internal vs hidden TP/FP/FN/TN",
            f"{counts.get('tp', 0)}/{counts.get('fp', 0)}/{counts.get('fn', 0)}/{counts.get('tn', 0)}",
        )
        t.add_row("false-positive share (believed correct)", _pct(conf.get("false_positive_share")))
    advice = s.get("advice")
    if advice:
        t.add_row(
            "advice rate / pass advised vs not",
            f"{_pct(advice.get('advice_rate'))} / {_pct(advice.get('pass_rate_advised'))} vs "
            f"{_pct(advice.get('pass_rate_not_advised'))}",
        )
    empty = s.get("empty_answers") or {}
    if empty.get("count"):
        flag = "  (!)" if empty.get("warning") else ""
        t.add_row(
            "empty answers / records without code",
            f"{empty.get('count', 0)} ({_pct(empty.get('share'))} of fresh answers) / {empty.get('records_without_code', 0)}{flag}",
        )
    rejected = s.get("rejected_lines") or []
    if rejected:
        t.add_row("results lines set aside", f"{len(rejected)} (results.jsonl.rejected)")
    t.add_row("mean iterations", _num(s.get("mean_iterations")))
    tok = s.get("tokens") or {}
    cost = s.get("cost_usd") or {}
    t.add_row("tokens per sample", _num(tok.get("per_sample"), "{:,.0f}"))
    t.add_row("cost per sample (USD)", _num(cost.get("per_sample"), "{:.4f}"))
    t.add_row("total tokens / cost", f"{tok.get('total', 0):,} / ${cost.get('total', 0.0):.4f}")
    wall = s.get("wall_s") or {}
    t.add_row("wall time (this session)", _num(wall.get("run"), "{:.1f}s"))
    t.add_row("wall time per sample (mean)", _num(wall.get("per_sample_mean"), "{:.1f}s"))
    he = s.get("hidden_evals") or {}
    flag = "" if he.get("all_exactly_one") else "  (!)"
    t.add_row("hidden evaluations per sample", _num(he.get("per_sample")) + flag)
    return t
