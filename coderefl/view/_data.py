"""What the page shows, as plain JSON-ready data, read from run folders only.

Why here and not in the page: every figure (pass@k and its interval, the
self-test table, the paired delta, the curves of the plots) comes from the
same code as ``coderefl eval``'s summary and ``coderefl report``
(:func:`coderefl.run.summary.summarize`, :func:`coderefl.run.report.compare`),
so the page can never disagree with them. The page only lays data out.

Two sizes of data: the overview (every record of every run, small) is read
at once; a trajectory (tens of KB) is read when a problem is opened.
A run still being written is re-read when its results.jsonl changes.
"""

from __future__ import annotations

import difflib
import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from coderefl.errors import BadInput
from coderefl.records import RunRecord
from coderefl.run.report import RunData, _plot_data, compare
from coderefl.run.store import RunStore, _task_order, read_records
from coderefl.run.summary import summarize

#: "f(1) returned None, expected 2": the sandbox runner's message for a failed assert
_RETURNED = re.compile(r"^(?P<expr>.*?) (?:returned|was) (?P<got>.*), expected (?P<want>.*)$", re.S)


def status_of(record: RunRecord) -> str:
    """passed / failed / error, as the hidden tests (or a crash) decided."""
    if record.error:
        return "error"
    return "passed" if record.hidden_passed else "failed"


def split_returned(message: str) -> dict[str, str] | None:
    """The call, returned and expected values of a failed assert's message, when it has that shape."""
    m = _RETURNED.match(message.strip())
    if not m:
        return None
    return {"expr": m.group("expr"), "returned": m.group("got"), "expected": m.group("want")}


def code_diff(before: str, after: str) -> list[list[str]]:
    """A unified diff as [kind, text] rows; kind is one of ' ', '+', '-', '@'."""
    rows: list[list[str]] = []
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), "previous", "this", lineterm="", n=3)
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        kind = line[:1] if line[:1] in "+-@" else " "
        rows.append([kind, line[1:] if kind in "+- " else line])
    return rows


class RunSource:
    """One run folder, re-read when its results.jsonl changes (a live run)."""

    def __init__(self, path: str | Path, name: str) -> None:
        self.path = Path(path)
        self.name = name
        self.store = RunStore(self.path)
        if not self.path.exists():
            raise BadInput(f"{self.path}: no such run folder")
        if not self.path.is_dir():
            raise BadInput(f"{self.path}: not a folder; name a run folder made by `coderefl eval`")
        if not self.store.exists():
            raise BadInput(f"{self.path}: not a run folder (no config.json or results.jsonl)")
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._records: list[RunRecord] = []
        self._prompts: dict[str, str] = {}

    def stamp(self) -> tuple[int, int]:
        """(size, mtime) of results.jsonl: changes whenever a record lands."""
        try:
            st = self.store.results_path.stat()
        except FileNotFoundError:
            return (0, 0)
        return (st.st_size, st.st_mtime_ns)

    def records(self) -> list[RunRecord]:
        return self.read()[0]

    def read(self) -> tuple[list[RunRecord], tuple[int, int]]:
        """The records, and the stamp taken before reading them: the records
        hold at least what the stamp says, so a page that polls the stamp
        never misses one that landed while they were read."""
        with self._lock:
            stamp = self.stamp()
            if stamp != self._stamp:
                self._records, _ = read_records(self.store.results_path)
                self._stamp = stamp
            return list(self._records), stamp

    def config(self) -> dict[str, Any]:
        try:
            return self.store.read_config() or {}
        except BadInput:
            return {}

    def session_wall(self) -> float | None:
        """The last session's wall time, from summary.json (records do not hold it)."""
        try:
            data = json.loads(self.store.summary_path.read_text(encoding="utf-8"))
            return float((data.get("wall_s") or {}).get("run"))
        except (OSError, ValueError, TypeError, AttributeError):
            return None

    def trajectory_file(self, task_id: str, sample: int) -> dict[str, Any] | None:
        path = self.store.trajectory_path(task_id, sample)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def prompt(self, task_id: str, sample: int) -> str:
        """The problem as the agent saw it: the first user message it was sent
        (cached per task; empty when messages were kept as hashes only)."""
        if task_id not in self._prompts:
            data = self.trajectory_file(task_id, sample) or {}
            self._prompts[task_id] = first_user_message(data.get("trajectory") or {})
        return self._prompts[task_id]


def first_user_message(trajectory: dict[str, Any]) -> str:
    for step in trajectory.get("steps") or []:
        for msg in step.get("messages") or []:
            if msg.get("role") == "user":
                return str(msg.get("content") or "")
    return ""


def record_row(record: RunRecord) -> dict[str, Any]:
    u = record.usage
    return {
        "task_id": record.task_id,
        "sample": record.sample,
        "status": status_of(record),
        "hidden_status": record.hidden_status,
        "internal_passed": record.internal_passed,
        "iterations": record.iterations,
        "stop_reason": record.stop_reason or "error",  # as the summary counts it
        "calls": u.calls,
        "tokens": u.total_tokens,
        "cost_usd": u.cost_usd,
        "wall_s": round(record.wall_s, 3),
        "error": record.error,
    }


def _run_data(src: RunSource, records: list[RunRecord]) -> RunData:
    config = src.config()
    run = RunData(path=src.path, name=src.name, config=config, records=records)
    model = (config.get("model") or {}).get("name") if isinstance(config.get("model"), dict) else config.get("model")
    run.summary = summarize(records, wall_s=src.session_wall(), meta={"strategy": config.get("strategy"), "model": model})
    return run


def overview(sources: Sequence[RunSource]) -> dict[str, Any]:
    """Every run's summary, records and prompts, the comparison and the plot data."""
    runs = []
    datas = []
    for src in sources:
        unsorted, stamp = src.read()
        records = sorted(unsorted, key=lambda r: (_task_order(r.task_id), r.sample))
        data = _run_data(src, records)
        datas.append(data)
        config = data.config
        prompts = {r.task_id: src.prompt(r.task_id, r.sample) for r in records}
        runs.append(
            {
                "name": src.name,
                "path": str(src.path),
                "strategy": data.summary.get("strategy") or (records[0].strategy if records else None),
                "model": data.summary.get("model") or (records[0].model if records else None),
                "benchmark": (config.get("benchmark") or {}).get("name") if isinstance(config.get("benchmark"), dict) else config.get("benchmark"),
                "summary": data.summary,
                "records": [record_row(r) for r in records],
                "prompts": prompts,
                "stamp": list(stamp),
            }
        )
    report = compare(datas) if datas else {"runs": [], "pass_by_iteration": {}}
    iter_series, cost_series, errs, xlabel = _plot_data(report)
    plots = {
        "iteration": {"series": iter_series, "xlabel": "iteration", "ylabel": "solved (hidden tests)", "title": "pass rate by iteration"},
        "cost": {
            "series": cost_series, "errors": errs, "xlabel": xlabel, "ylabel": "pass@1 (95% CI)", "title": "pass rate against cost",
        },
    }
    return {"runs": runs, "report": report, "plots": plots}


def trajectory_view(src: RunSource, task_id: str, sample: int) -> dict[str, Any] | None:
    """One problem x sample: its record, its steps with diffs and parsed test
    results, and the hidden result; None when the run has no such record."""
    record = next((r for r in src.records() if r.task_id == task_id and r.sample == sample), None)
    if record is None:
        return None
    data = src.trajectory_file(task_id, sample) or {}
    traj = data.get("trajectory") if isinstance(data.get("trajectory"), dict) else None
    raw_steps = [dict(s) for s in (traj or {}).get("steps") or [] if isinstance(s, dict)]
    origin = TestOrigins(raw_steps)
    steps = []
    previous_code: str | None = None
    for step in raw_steps:
        if step.get("kind") == "generate" and step.get("code"):
            step["diff"] = code_diff(previous_code, step["code"]) if previous_code is not None else None
            step["diff_from"] = previous_code is not None
            previous_code = step["code"]
        if step.get("kind") == "generate_tests":
            step["test_rows"] = origin.rows(step)
        execution = step.get("execution")
        if isinstance(execution, dict):
            for test in execution.get("tests") or []:
                parsed = split_returned(str(test.get("message") or "")) if test.get("status") != "passed" else None
                if parsed:
                    test.update(parsed)
                test["tier"] = origin.tier_of_outcome(str(test.get("name") or ""), step)
        steps.append(step)
    head = {k: v for k, v in (traj or {}).items() if k != "steps"}
    return {
        "run": src.name,
        "task_id": task_id,
        "sample": sample,
        "record": record.model_dump(mode="json"),
        "status": status_of(record),
        "prompt": first_user_message(traj or {}),
        "trajectory": head if traj is not None else None,
        "steps": steps,
        "hidden": data.get("hidden"),
        "timing": data.get("timing"),
        "traceback": data.get("traceback"),
    }


class TestOrigins:
    """Where each test of a trajectory came from, and which were dropped.

    Trust tiers: ``example`` (authoritative: the problem's visible examples
    or the user's tests; always run, never dropped), ``generated`` (asserts
    the model wrote) and ``property`` (hypothesis properties it wrote). A
    step that records its own tiers (``data["tiers"]``, a list aligned with
    ``tests`` or a mapping test -> tier; or ``data["tier"]``) is taken at its
    word; otherwise the tier is read from the generate_tests steps. Drops are
    the decision steps that name a ``test`` in their data."""

    __test__ = False  # not a pytest class

    def __init__(self, steps: list[dict[str, Any]]) -> None:
        self.generated: set[str] = set()
        self.properties: set[str] = set()
        self.dropped: dict[str, dict[str, Any]] = {}
        for step in steps:
            data = step.get("data") or {}
            if step.get("kind") == "generate_tests":
                phases = ((step.get("usage") or {}).get("by_phase") or {}).keys()
                (self.properties if "properties" in phases else self.generated).update(step.get("tests") or [])
            elif step.get("kind") == "decision" and isinstance(data.get("test"), str):
                self.dropped[data["test"]] = {"why": step.get("note") or "", "step": step.get("index")}

    def tier(self, test: str, step: dict[str, Any], position: int | None = None) -> str:
        data = step.get("data") or {}
        tiers = data.get("tiers")
        if isinstance(tiers, dict) and isinstance(tiers.get(test), str):
            return tiers[test]
        if isinstance(tiers, list) and position is not None and position < len(tiers) and isinstance(tiers[position], str):
            return tiers[position]
        if isinstance(data.get("tier"), str):
            return data["tier"]
        if test in self.properties:
            return "property"
        return "generated" if test in self.generated else "example"

    def rows(self, step: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"test": t, "tier": self.tier(t, step, i), "dropped": self.dropped.get(t)}
            for i, t in enumerate(step.get("tests") or [])
        ]

    def tier_of_outcome(self, name: str, step: dict[str, Any]) -> str:
        """An outcome is named ``line N: <assert>`` or after a test function."""
        text = re.sub(r"^line \d+: ", "", name)
        tests = step.get("tests") or []
        for i, t in enumerate(tests):
            if t.strip() == text.strip() or (text.isidentifier() and f"def {text}(" in t):
                return self.tier(t, step, i)
        return "example" if text not in self.generated else "generated"


def open_runs(paths: Sequence[str | Path]) -> list[RunSource]:
    """RunSources with distinct names (the folder name, or the path when two share it)."""
    if not paths:
        raise BadInput("name at least one run folder")
    names = [Path(p).name or str(p) for p in paths]
    return [RunSource(p, str(p) if names.count(n) > 1 else n) for p, n in zip(paths, names)]
