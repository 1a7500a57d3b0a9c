"""What a resume keeps: records checked against the run, bad lines set aside."""

from __future__ import annotations

import json
import os

import pytest

from coderefl.errors import BadInput
from coderefl.records import RunRecord, Usage
from coderefl.run.store import RunStore, read_records
from tests.run.test_store import CONFIG, rec


def write_lines(path, *lines: str) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def test_corrupt_lines_are_reported_by_number_and_moved_aside(tmp_path):
    results = tmp_path / "results.jsonl"
    a, b, c = (rec(t).model_dump_json() for t in ("T/1", "T/2", "T/3"))
    results.write_text(f"{a}\nnot json at all\n{b}\n{{\"task_id\": 5}}\n{rec('T/1', passed=False).model_dump_json()}\n{c}\n"
                       + c[:30].replace("T/3", "T/4"))
    store = RunStore(tmp_path)
    kept = store.open(CONFIG)
    store.append(rec("T/5"))
    store.close()
    assert [r.task_id for r in kept] == ["T/1", "T/2", "T/3"]
    assert [(r.line, r.reason) for r in store.rejected] == [
        (2, "not JSON"), (4, "not a run record"), (5, "a second record of T/1 sample 0"),
        (7, "a torn last line (a write cut short by a kill)")]
    # results.jsonl is valid JSONL again, with the new record after the kept ones
    assert [json.loads(x)["task_id"] for x in results.read_text().splitlines()] == ["T/1", "T/2", "T/3", "T/5"]
    aside = (tmp_path / "results.jsonl.rejected").read_text().splitlines()
    assert json.loads(aside[0])["line"] == 2 and aside[1] == "not json at all"
    assert len(aside) == 8  # a note and the raw line for each of the four
    # a second open finds nothing more to set aside, and keeps the first file of rejects
    again = RunStore(tmp_path)
    again.open(CONFIG)
    again.close()
    assert again.rejected == [] and len((tmp_path / "results.jsonl.rejected").read_text().splitlines()) == 8


@pytest.mark.parametrize("field, value", [("strategy", "reflexion"), ("model", "other-model")])
def test_results_without_config_of_another_run_are_refused_unless_forced(tmp_path, field, value):
    foreign = rec("T/1").model_copy(update={field: value})
    write_lines(tmp_path / "results.jsonl", rec("T/0").model_dump_json(), foreign.model_dump_json())
    with pytest.raises(BadInput, match=f"results of another run.*{field} {value!r}.*--force") as err:
        RunStore(tmp_path).open(CONFIG, task_ids=["T/0", "T/1"])
    assert "\n" not in str(err.value)
    assert not (tmp_path / "config.json").exists()  # nothing touched
    forced = RunStore(tmp_path)
    assert forced.open(CONFIG, force=True) == []
    forced.close()
    assert any(p.name.startswith("previous-") and (p / "results.jsonl").exists() for p in tmp_path.iterdir())


def test_a_foreign_record_under_a_matching_config_is_refused_too(tmp_path):
    store = RunStore(tmp_path)
    store.open(CONFIG)
    store.append(rec("T/1"))
    store.close()
    with open(tmp_path / "results.jsonl", "a") as fh:  # a line pasted in from another run
        fh.write(rec("T/2").model_copy(update={"strategy": "critic"}).model_dump_json() + "\n")
    with pytest.raises(BadInput, match="strategy 'critic'"):
        RunStore(tmp_path).open(CONFIG)


def test_results_without_config_of_another_benchmark_are_refused(tmp_path):
    write_lines(tmp_path / "results.jsonl", rec("Mbpp/2").model_dump_json())
    with pytest.raises(BadInput, match=r"another benchmark.*Mbpp/2"):
        RunStore(tmp_path).open(CONFIG, task_ids=["HumanEval/0", "HumanEval/1"])
    ok = RunStore(tmp_path)
    assert len(ok.open(CONFIG, task_ids=["Mbpp/1", "Mbpp/2"])) == 1
    ok.close()


def test_a_record_of_only_empty_answers_is_redone(tmp_path):
    empty = RunRecord(task_id="T/1", strategy="simple", model="m", usage=Usage(calls=2, empty_answers=2))
    half = RunRecord(task_id="T/2", strategy="simple", model="m", usage=Usage(calls=2, empty_answers=1))
    write_lines(tmp_path / "results.jsonl", empty.model_dump_json(), half.model_dump_json())
    store = RunStore(tmp_path)
    store.open(CONFIG)
    store.close()
    assert not store.is_done("T/1", 0) and store.is_done("T/2", 0)
    assert [r.reason for r in store.rejected] == ["every model answer of T/1 was empty (redone)"]
    assert read_records(tmp_path / "results.jsonl")[1] == 0


def test_files_get_the_mode_the_umask_gives(tmp_path):
    old = os.umask(0o022)
    try:
        store = RunStore(tmp_path / "run")
        store.open(CONFIG)
        store.append(rec("T/1"))
        store.write_summary({"x": 1})
        store.close()
    finally:
        os.umask(old)
    for name in ("results.jsonl", "config.json", "summary.json"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o644, name
