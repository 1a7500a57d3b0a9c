"""Comparing runs: one table, paired deltas, two plots.

Why paired: two strategies on the same problems share the problems'
difficulty, so the difference of pass@1 is far less noisy per problem than
two separate intervals suggest. The delta against the first run is
bootstrapped over the problems both runs have (resampling problems, the
same draw for both runs).

Everything is recomputed from each run's results.jsonl, so a report never
disagrees with the records, whatever summary.json says.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from coderefl.errors import BadInput
from coderefl.records import RunRecord
from coderefl.atomic import atomic_write_text
from coderefl.run.store import RunStore, read_records
from coderefl.run.summary import summarize


@dataclass
class RunData:
    path: Path
    name: str
    config: dict[str, Any]
    records: list[RunRecord]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def per_task(self) -> dict[str, float]:
        """task_id -> fraction of its samples passing the hidden tests."""
        n: dict[str, int] = defaultdict(int)
        c: dict[str, int] = defaultdict(int)
        for r in self.records:
            n[r.task_id] += 1
            c[r.task_id] += int(r.hidden_passed)
        return {t: c[t] / n[t] for t in n}


def load_run(path: str | Path) -> RunData:
    p = Path(path)
    store = RunStore(p)
    if not store.results_path.exists():
        raise BadInput(f"{p}: not a run folder (no results.jsonl)")
    records, _ = read_records(store.results_path)
    if not records:
        raise BadInput(f"{p}: results.jsonl holds no records yet")
    config = store.read_config() or {}
    run = RunData(path=p, name=p.name or str(p), config=config, records=records)
    run.summary = summarize(records, meta={"strategy": config.get("strategy"), "model": (config.get("model") or {}).get("name")})
    return run


def paired_delta(
    base: dict[str, float], other: dict[str, float], *, resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> dict[str, Any] | None:
    """mean(other - base) over common tasks, with a paired percentile bootstrap interval."""
    common = sorted(set(base) & set(other))
    if not common:
        return None
    diffs = [other[t] - base[t] for t in common]
    n = len(diffs)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(resamples))
    alpha = (1 - confidence) / 2
    lo = means[int(math.floor(alpha * (resamples - 1)))]
    hi = means[int(math.ceil((1 - alpha) * (resamples - 1)))]
    return {"delta": sum(diffs) / n, "ci_low": lo, "ci_high": hi, "common": n}


def pass_by_iteration(records: Sequence[RunRecord], max_iter: int) -> list[float]:
    """Fraction of records solved (hidden) with at most i iterations, i = 1..max_iter."""
    n = len(records)
    return [sum(1 for r in records if r.hidden_passed and 0 < r.iterations <= i) / n if n else 0.0 for i in range(1, max_iter + 1)]


def compare(runs: Sequence[RunData]) -> dict[str, Any]:
    base = runs[0]
    rows = []
    for i, run in enumerate(runs):
        s = run.summary
        p1 = (s.get("pass@k") or {}).get("pass@1") or {}
        rows.append(
            {
                "run": run.name,
                "path": str(run.path),
                "strategy": run.config.get("strategy") or (run.records[0].strategy if run.records else None),
                "model": (run.config.get("model") or {}).get("name") or (run.records[0].model if run.records else None),
                "problems": s["problems"],
                "samples_per_problem": s["samples_per_problem"],
                "pass@1": s["pass@1"],
                "pass@1_ci": [p1.get("ci_low"), p1.get("ci_high")],
                "delta_vs_first": None if i == 0 else paired_delta(base.per_task, run.per_task),
                "internal_pass_rate": s["internal_pass_rate"],
                "wrong_test_rate": s["self_test"]["wrong_tests"]["rate"],
                "mean_iterations": s["mean_iterations"],
                "tokens_per_sample": s["tokens"]["per_sample"],
                "cost_per_sample": s["cost_usd"]["per_sample"],
                "errors": s["errors"],
                "hidden_evals_per_sample": s["hidden_evals"]["per_sample"],
            }
        )
    max_iter = max(1, max((r.iterations for run in runs for r in run.records), default=1))
    curves = {run.name: pass_by_iteration(run.records, max_iter) for run in runs}
    return {"runs": rows, "pass_by_iteration": curves, "max_iterations": max_iter}


# -------------------------------------------------------------------- table


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def comparison_table(report: dict[str, Any]) -> Table:
    t = Table(title="runs compared (hidden tests)", header_style="bold")
    for col, just in [
        ("run", "left"), ("strategy", "left"), ("model", "left"), ("n", "right"), ("pass@1 [95% CI]", "right"),
        ("Δ vs first [95% CI]", "right"), ("internal", "right"), ("wrong tests", "right"), ("iters", "right"),
        ("tokens/sample", "right"), ("cost/sample", "right"), ("errors", "right"),
    ]:
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for row in report["runs"]:
        lo, hi = row["pass@1_ci"]
        d = row["delta_vs_first"]
        delta = "—" if d is None else f"{100 * d['delta']:+.1f} pts [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}] on {d['common']}"
        t.add_row(
            row["run"], str(row["strategy"]), str(row["model"]), f"{row['problems']}x{row['samples_per_problem']}",
            f"{_pct(row['pass@1'])} [{_pct(lo)}, {_pct(hi)}]", delta, _pct(row["internal_pass_rate"]),
            _pct(row["wrong_test_rate"]), "-" if row["mean_iterations"] is None else f"{row['mean_iterations']:.2f}",
            "-" if row["tokens_per_sample"] is None else f"{row['tokens_per_sample']:,.0f}",
            "-" if row["cost_per_sample"] is None else f"${row['cost_per_sample']:.4f}", str(row["errors"]),
        )
    return t


# -------------------------------------------------------------------- plots

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _cost_axis(report: dict[str, Any]) -> tuple[str, list[float]]:
    """Cost per sample in USD, or tokens per sample when no run has a price."""
    costs = [r["cost_per_sample"] or 0.0 for r in report["runs"]]
    if any(c > 0 for c in costs):
        return "cost per sample (USD)", costs
    return "tokens per sample", [float(r["tokens_per_sample"] or 0.0) for r in report["runs"]]


def svg_chart(
    series: dict[str, list[tuple[float, float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    lines: bool,
    errors: dict[str, tuple[float, float]] | None = None,
    width: int = 560,
    height: int = 360,
) -> str:
    """A small self-contained SVG: lines (or points with vertical error bars)."""
    ml, mr, mt, mb = 60, 150, 30, 45
    pw, ph = width - ml - mr, height - mt - mb
    xs = [x for pts in series.values() for x, _ in pts] or [0.0]
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1 if x0 >= 1 else 0.0, x1 + 1
    pad = (x1 - x0) * 0.05
    x0, x1 = x0 - (0 if lines else pad), x1 + (0 if lines else pad)

    def sx(x: float) -> float:
        return ml + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return mt + (1 - y) * ph

    e = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{e(title)}</text>',
        f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>',
    ]
    for k in range(6):
        y = k / 5
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{ml - 5}" y="{sy(y) + 4:.1f}" text-anchor="end">{100 * y:.0f}%</text>')
    for k in range(6):
        x = x0 + (x1 - x0) * k / 5
        label = f"{x:.0f}" if lines or abs(x) >= 100 else f"{x:.3g}"
        out.append(f'<text x="{sx(x):.1f}" y="{mt + ph + 15}" text-anchor="middle">{e(label)}</text>')
    out.append(f'<text x="{ml + pw / 2}" y="{height - 8}" text-anchor="middle">{e(xlabel)}</text>')
    out.append(f'<text x="14" y="{mt + ph / 2}" text-anchor="middle" transform="rotate(-90 14 {mt + ph / 2})">{e(ylabel)}</text>')
    for i, (name, pts) in enumerate(series.items()):
        color = _COLORS[i % len(_COLORS)]
        if lines and len(pts) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in pts:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{color}"/>')
            if errors and name in errors:
                lo, hi = errors[name]
                out.append(f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{sy(lo):.1f}" y2="{sy(hi):.1f}" stroke="{color}"/>')
        ly = mt + 14 + 16 * i
        out.append(f'<rect x="{ml + pw + 10}" y="{ly - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{ml + pw + 25}" y="{ly}">{e(name[:22])}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _plot_data(report: dict[str, Any]) -> tuple[dict, dict, dict, str]:
    iter_series = {
        name: [(float(i + 1), y) for i, y in enumerate(curve)] for name, curve in report["pass_by_iteration"].items()
    }
    xlabel, xs = _cost_axis(report)
    cost_series = {row["run"]: [(x, row["pass@1"] or 0.0)] for row, x in zip(report["runs"], xs)}
    errs = {row["run"]: (row["pass@1_ci"][0] or 0.0, row["pass@1_ci"][1] or 0.0) for row in report["runs"]}
    return iter_series, cost_series, errs, xlabel


def png_charts(report: dict[str, Any]) -> dict[str, bytes] | None:
    """The two plots as PNG bytes, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    iter_series, cost_series, errs, xlabel = _plot_data(report)
    out: dict[str, bytes] = {}
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, pts in iter_series.items():
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=name)
    ax.set(xlabel="iteration", ylabel="solved (hidden tests)", title="pass rate by iteration", ylim=(0, 1))
    ax.legend(fontsize=8)
    out["pass_vs_iteration.png"] = _fig_png(fig, plt)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, pts in cost_series.items():
        (x, y), (lo, hi) = pts[0], errs[name]
        ax.errorbar([x], [y], yerr=[[max(0.0, y - lo)], [max(0.0, hi - y)]], fmt="o", capsize=4, label=name)
    ax.set(xlabel=xlabel, ylabel="pass@1 (95% CI)", title="pass rate against cost", ylim=(0, 1))
    ax.legend(fontsize=8)
    out["pass_vs_cost.png"] = _fig_png(fig, plt)
    return out


def _fig_png(fig: Any, plt: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_report(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """report.json, report.html (self-contained) and PNGs when matplotlib is there."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    written["json"] = out / "report.json"
    iter_series, cost_series, errs, xlabel = _plot_data(report)
    pngs = png_charts(report)
    figures: list[str] = []
    if pngs:
        for name, data in pngs.items():
            _atomic_bytes(out / name, data)
            written[name] = out / name
            figures.append(f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(data).decode()}">')
    else:
        svgs = {
            "pass_vs_iteration.svg": svg_chart(iter_series, title="pass rate by iteration", xlabel="iteration", ylabel="solved (hidden)", lines=True),
            "pass_vs_cost.svg": svg_chart(cost_series, title="pass rate against cost", xlabel=xlabel, ylabel="pass@1", lines=False, errors=errs),
        }
        for name, svg in svgs.items():
            atomic_write_text(out / name, svg + "\n")
            written[name] = out / name
            figures.append(svg)
    atomic_write_text(out / "report.html", _html(report, figures))
    written["html"] = out / "report.html"
    return written


def _atomic_bytes(path: Path, data: bytes) -> None:
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _html(report: dict[str, Any], figures: list[str]) -> str:
    e = html.escape
    head = ["run", "strategy", "model", "n", "pass@1 [95% CI]", "Δ vs first [95% CI]", "internal", "wrong tests", "iters", "tokens/sample", "cost/sample", "errors"]
    rows = []
    for row in report["runs"]:
        lo, hi = row["pass@1_ci"]
        d = row["delta_vs_first"]
        delta = "—" if d is None else f"{100 * d['delta']:+.1f} pts [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}] (n={d['common']})"
        cells = [
            row["run"], row["strategy"], row["model"], f"{row['problems']}×{row['samples_per_problem']}",
            f"{_pct(row['pass@1'])} [{_pct(lo)}, {_pct(hi)}]", delta, _pct(row["internal_pass_rate"]), _pct(row["wrong_test_rate"]),
            "-" if row["mean_iterations"] is None else f"{row['mean_iterations']:.2f}",
            "-" if row["tokens_per_sample"] is None else f"{row['tokens_per_sample']:,.0f}",
            "-" if row["cost_per_sample"] is None else f"${row['cost_per_sample']:.4f}", row["errors"],
        ]
        rows.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in cells) + "</tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>coderefl report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
        ".figs{display:flex;flex-wrap:wrap;gap:1em;margin-top:1.5em}</style></head><body>"
        "<h1>coderefl: runs compared</h1><p>pass@1 on hidden tests; Δ is paired over the problems both runs share "
        "(bootstrap, 95%).</p><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
        + "".join(rows) + "</table><div class='figs'>" + "".join(figures) + "</div></body></html>\n"
    )
