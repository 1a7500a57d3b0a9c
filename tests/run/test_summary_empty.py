"""The summary counts blank answers and records without code, and flags a large share."""

from __future__ import annotations

import io

from rich.console import Console

from coderefl.records import RunRecord, Usage
from coderefl.run.summary import summarize, summary_table


def rec(task: str, code: str, calls: int, empty: int, cached: int = 0) -> RunRecord:
    return RunRecord(task_id=task, strategy="s", model="m", final_code=code, hidden_evals=1,
                     usage=Usage(calls=calls, empty_answers=empty, cached_calls=cached))


def test_few_blank_answers_are_counted_without_a_warning():
    s = summarize([rec(f"T/{i}", "def f(): pass", 3, 1 if i == 0 else 0) for i in range(10)])
    assert s["empty_answers"] == {"count": 1, "share": 1 / 30, "records_with_only_empty": 0,
                                  "records_without_code": 0, "warning": False}


def test_a_large_share_is_flagged_and_shown_in_the_table():
    records = [rec("T/1", "", 2, 2), rec("T/2", "", 2, 0), rec("T/3", "def f(): pass", 3, 0, cached=1)]
    s = summarize(records)
    e = s["empty_answers"]
    assert e["count"] == 2 and e["share"] == 2 / 6  # of fresh answers: the cached one does not count
    assert e["records_with_only_empty"] == 1 and e["records_without_code"] == 2 and e["warning"] is True
    out = io.StringIO()
    Console(file=out, width=200).print(summary_table(s))
    assert "empty answers / records without code" in out.getvalue() and "(!)" in out.getvalue()


def test_records_without_code_alone_are_counted_not_flagged():
    s = summarize([rec("T/1", "", 1, 0), rec("T/2", "", 1, 0)])
    assert s["empty_answers"]["records_without_code"] == 2 and s["empty_answers"]["warning"] is False
    out = io.StringIO()
    Console(file=out, width=200).print(summary_table(s))
    assert "empty answers" not in out.getvalue()
