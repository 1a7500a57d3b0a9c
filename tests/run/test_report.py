"""coderefl report: paired deltas, curves and files, against hand-computed values."""

from __future__ import annotations

import json

import pytest

from coderefl.errors import BadInput
from coderefl.records import RunRecord, Usage
from coderefl.run import report as rep
from coderefl.run.store import RunStore


def make_run(root, name, strategy, outcomes, iters=None, cost=0.0):
    store = RunStore(root / name)
    store.open({"benchmark": {"name": "b"}, "strategy": strategy, "model": {"name": "m"}, "agent": {}})
    for i, (task, passed) in enumerate(outcomes.items()):
        store.append(
            RunRecord(
                task_id=task, strategy=strategy, model="m", hidden_passed=passed, hidden_evals=1,
                iterations=(iters or {}).get(task, 1), usage=Usage(prompt_tokens=100, cost_usd=cost),
            )
        )
    store.close()
    return root / name


def test_paired_delta_over_common_problems(tmp_path):
    a = make_run(tmp_path, "a", "simple", {"T1": True, "T2": False, "T3": False, "T4": True})
    b = make_run(tmp_path, "b", "reflexion", {"T1": True, "T2": True, "T3": False, "T4": True, "T5": False})
    report = rep.compare([rep.load_run(a), rep.load_run(b)])
    first, second = report["runs"]
    assert first["delta_vs_first"] is None
    d = second["delta_vs_first"]
    assert d["common"] == 4 and d["delta"] == pytest.approx(0.25)  # only T2 changed, of 4 shared
    # diffs are [0, 1, 0, 0]: any resample's mean lies in [0, 1]; the interval holds the estimate
    assert 0.0 <= d["ci_low"] <= 0.25 <= d["ci_high"] <= 1.0
    assert first["pass@1"] == pytest.approx(0.5) and second["pass@1"] == pytest.approx(3 / 5)


def test_identical_runs_have_a_zero_width_delta(tmp_path):
    a = make_run(tmp_path, "a", "simple", {"T1": True, "T2": False})
    b = make_run(tmp_path, "b", "simple", {"T1": True, "T2": False})
    d = rep.compare([rep.load_run(a), rep.load_run(b)])["runs"][1]["delta_vs_first"]
    assert (d["delta"], d["ci_low"], d["ci_high"]) == (0.0, 0.0, 0.0)


def test_pass_by_iteration_by_hand(tmp_path):
    a = make_run(tmp_path, "a", "reflexion", {"T1": True, "T2": True, "T3": False, "T4": False}, iters={"T1": 1, "T2": 3, "T3": 3, "T4": 2})
    report = rep.compare([rep.load_run(a)])
    assert report["max_iterations"] == 3
    assert report["pass_by_iteration"]["a"] == [0.25, 0.25, 0.5]


def test_files_png_and_svg_fallback(tmp_path, monkeypatch):
    a = make_run(tmp_path, "a", "simple", {"T1": True, "T2": False}, cost=0.01)
    b = make_run(tmp_path, "b", "critic", {"T1": True, "T2": True}, cost=0.03)
    report = rep.compare([rep.load_run(a), rep.load_run(b)])
    written = rep.write_report(report, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "report.json").read_text())["runs"][1]["strategy"] == "critic"
    html = (tmp_path / "out" / "report.html").read_text()
    assert "critic" in html and "+50.0 pts" in html
    if rep.png_charts(report) is not None:
        for name in ("pass_vs_iteration.png", "pass_vs_cost.png"):
            assert written[name].read_bytes().startswith(b"\x89PNG")
        assert html.count("data:image/png;base64,") == 2

    monkeypatch.setattr(rep, "png_charts", lambda report: None)  # as without matplotlib
    written = rep.write_report(report, tmp_path / "svg")
    html = (tmp_path / "svg" / "report.html").read_text()
    assert html.count("<svg") == 2 and "cost per sample (USD)" in html
    import xml.etree.ElementTree as ET

    for name in ("pass_vs_cost.svg", "pass_vs_iteration.svg"):
        root = ET.fromstring(written[name].read_text())  # well-formed
        assert root.tag.endswith("svg") and len(root) > 10


def test_not_a_run_folder(tmp_path):
    with pytest.raises(BadInput):
        rep.load_run(tmp_path)
