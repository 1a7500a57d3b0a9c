"""The run folder: atomic appends, torn lines, resume identity."""

from __future__ import annotations

import json
import os

import pytest

from coderefl.errors import BadInput
from coderefl.records import RunRecord, Trajectory
from coderefl.run.store import RunStore, read_records

CONFIG = {
    "benchmark": {"name": "humaneval", "problems_file": None},
    "strategy": "simple",
    "model": {"name": "m", "api": "chat", "temperature": 0.0, "max_tokens": 100},
    "agent": {"max_iters": 3},
    "run": {"samples": 1, "concurrency": 4},
}


def rec(task: str, sample: int = 0, passed: bool = True) -> RunRecord:
    return RunRecord(task_id=task, sample=sample, strategy="simple", model="m", hidden_passed=passed, hidden_evals=1)


def test_append_is_one_full_line_each_and_survives_reopen(tmp_path):
    store = RunStore(tmp_path / "r")
    assert store.open(CONFIG) == []
    store.append(rec("T/1"))
    store.append(rec("T/2", passed=False))
    store.close()
    lines = (tmp_path / "r" / "results.jsonl").read_text().splitlines()
    assert [json.loads(x)["task_id"] for x in lines] == ["T/1", "T/2"]
    again = RunStore(tmp_path / "r")
    done = again.open(CONFIG)
    assert [(r.task_id, r.hidden_passed) for r in done] == [("T/1", True), ("T/2", False)]
    assert again.is_done("T/1", 0) and not again.is_done("T/1", 1)
    with pytest.raises(RuntimeError):
        again.append(rec("T/1"))  # never twice
    again.close()
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["strategy"] == "simple"


def test_torn_last_line_is_ignored_then_cut_before_appending(tmp_path):
    store = RunStore(tmp_path)
    store.open(CONFIG)
    store.append(rec("T/1"))
    store.close()
    path = tmp_path / "results.jsonl"
    full = rec("T/2").model_dump_json()
    with open(path, "ab") as fh:  # what a SIGKILL mid-write leaves
        fh.write(full[: len(full) // 2].encode())
    records, skipped = read_records(path)
    assert [r.task_id for r in records] == ["T/1"] and skipped == 1

    store = RunStore(tmp_path)
    assert [r.task_id for r in store.open(CONFIG)] == ["T/1"]
    store.append(rec("T/2"))
    store.close()
    records, skipped = read_records(path)
    assert [r.task_id for r in records] == ["T/1", "T/2"] and skipped == 0
    assert path.read_bytes().endswith(b"\n")


def test_torn_first_line_only(tmp_path):
    (tmp_path / "results.jsonl").write_text('{"task_id": "T/1", "sam')
    store = RunStore(tmp_path)
    assert store.open(CONFIG) == []
    assert (tmp_path / "results.jsonl").read_bytes() == b""
    store.close()


def test_duplicate_and_garbage_lines_are_skipped(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(rec("A").model_dump_json() + "\nnot json\n" + rec("A", passed=False).model_dump_json() + "\n")
    records, skipped = read_records(path)
    assert len(records) == 1 and records[0].hidden_passed is True and skipped == 2


@pytest.mark.parametrize(
    "change, word",
    [
        ({"strategy": "reflexion"}, "strategy"),
        ({"model": {**CONFIG["model"], "name": "other"}}, "model.name"),
        ({"benchmark": {"name": "mbpp", "problems_file": None}}, "benchmark.name"),
        ({"agent": {"max_iters": 5}}, "agent.max_iters"),
    ],
)
def test_other_identity_is_refused_unless_forced(tmp_path, change, word):
    store = RunStore(tmp_path)
    store.open(CONFIG)
    store.append(rec("T/1"))
    store.close()
    with pytest.raises(BadInput) as err:
        RunStore(tmp_path).open({**CONFIG, **change})
    assert word in str(err.value) and "\n" not in str(err.value)

    forced = RunStore(tmp_path)
    assert forced.open({**CONFIG, **change}, force=True) == []
    forced.close()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("previous-")]
    assert len(aside) == 1 and (aside[0] / "results.jsonl").exists()


def test_non_identity_changes_resume(tmp_path):
    store = RunStore(tmp_path)
    store.open(CONFIG)
    store.append(rec("T/1"))
    store.close()
    more = {**CONFIG, "run": {"samples": 3, "concurrency": 16}}
    assert len(RunStore(tmp_path).open(more)) == 1


def test_trajectory_written_atomically(tmp_path):
    store = RunStore(tmp_path)
    store.open(CONFIG)
    path = store.write_trajectory("HumanEval/0", 2, Trajectory(task_id="HumanEval/0", strategy="simple", final_code="x=1"))
    assert path.name == "HumanEval_0__s2.json"
    assert json.loads(path.read_text())["trajectory"]["final_code"] == "x=1"
    assert not [p for p in os.listdir(path.parent) if p.endswith(".tmp")]
    store.close()


def test_one_writer_per_folder(tmp_path):
    first = RunStore(tmp_path)
    first.open(CONFIG)
    with pytest.raises(BadInput, match="another coderefl eval"):
        RunStore(tmp_path).open(CONFIG)
    first.close()
    second = RunStore(tmp_path)  # free again once the first is closed
    second.open(CONFIG)
    second.close()
