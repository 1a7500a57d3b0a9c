"""Export for fine-tuning: run folders -> chat-jsonl, built from real
trajectories of real strategies (scripted model over HTTP, real runner)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coderefl.run.export import BenchmarkLookup, conversation, export_chat, validate_messages
from coderefl.problems.firewall import hidden_fragments
from coderefl.records import BenchmarkTask, HiddenTests, Problem, RunRecord
from coderefl.run.store import RunStore
from tests.openai_server import rules

from .conftest import Solver, ADD, ADD_TASK, ADD_TESTS, BARE, BUGGY, GOOD, HIDDEN_ADD, REFLECT, REFLECTION, REGEN, TESTS

ROOT = Path(__file__).resolve().parents[2]
GOOD_SUM = "```python\ndef add(a, b):\n    return sum([a, b])\n```"
LEAKY = GOOD + "\nassert add(1234567, 7654321) == 8888888\n"


def variant(task_id: str, problem: Problem = ADD) -> Problem:
    return problem.model_copy(update={"task_id": task_id})


def problems_file(path: Path) -> Path:
    """A custom set holding the tasks of the runs below, hidden tests included."""
    rows = []
    for tid, prob in [("demo/add", ADD), ("demo/add-never", ADD), ("demo/add-once", ADD), ("demo/add-leak", ADD),
                      ("demo/add-hash", ADD), ("demo/add-two", ADD), ("demo/bare", BARE)]:
        rows.append({"task_id": tid, "prompt": prob.prompt, "entry_point": prob.entry_point, "tests": HIDDEN_ADD,
                     "visible_tests": list(prob.visible_tests), "canonical_solution": ADD_TASK.hidden.canonical_solution})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_run(root: Path, strategy: str, bench: Path, items) -> Path:
    """A run folder as the scheduler writes it: config, trajectory (with the
    scheduler's hidden notes beside it), then the record."""
    store = RunStore(root)
    store.open({"benchmark": {"name": str(bench), "problems_file": None}, "strategy": strategy,
                "model": {"name": "scripted-model"}, "agent": {}})
    try:
        for traj, hidden_passed in items:
            rec = RunRecord(task_id=traj.task_id, strategy=strategy, model="scripted-model", final_code=traj.final_code,
                            internal_passed=traj.internal_passed, hidden_passed=hidden_passed, hidden_evals=1,
                            hidden_status="passed" if hidden_passed else "failed", iterations=traj.iterations,
                            stop_reason=traj.stop_reason)
            extra = {"hidden": {"status": rec.hidden_status, "failing": [HIDDEN_ADD]}}
            store.write_trajectory(traj.task_id, 0, traj, extra)
            store.append(rec)
    finally:
        store.close()
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two run folders: reflexion (6 records) and simple (1 record), built once."""
    from coderefl.execution import create_sandbox
    from tests.openai_server import ScriptedServer

    tmp_path = tmp_path_factory.mktemp("runs")
    with ScriptedServer() as server:
        solve = Solver(server, create_sandbox("local"), tmp_path)
        try:
            yield _build_runs(solve, tmp_path)
        finally:
            solve.close()


def _build_runs(solve, tmp_path):
    fixing = rules((TESTS, ADD_TESTS), (REFLECT, REFLECTION), (REGEN, GOOD), fallback=BUGGY)
    fixed = solve("reflexion", variant("demo/add"), fixing)
    never = solve("reflexion", variant("demo/add-never"),
                  rules((TESTS, ADD_TESTS), (REFLECT, "Still wrong."), fallback=BUGGY), max_iters=2)
    once = solve("reflexion", variant("demo/add-once"), rules((TESTS, ADD_TESTS), fallback=GOOD))
    leak = solve("reflexion", variant("demo/add-leak"), rules((TESTS, ADD_TESTS), fallback=LEAKY))
    hashed = solve("reflexion", variant("demo/add-hash"), fixing, keep_messages="hash")
    two = solve("reflexion", variant("demo/add-two"), rules((TESTS, ADD_TESTS), fallback=[BUGGY, GOOD_SUM]), candidates=2)
    bare = solve("simple", BARE, rules(fallback=GOOD))
    assert fixed.stop_reason == "passed" and never.internal_passed is False and once.iterations == 1
    assert bare.internal_tests == [] and two.stop_reason == "passed"
    bench = problems_file(tmp_path / "set.jsonl")
    a = write_run(tmp_path / "runs" / "refl", "reflexion", bench,
                  [(fixed, True), (never, False), (once, False), (leak, True), (hashed, True), (two, True)])
    b = write_run(tmp_path / "runs" / "simple", "simple", bench, [(bare, True)])
    return a, b, bench


def by_task(result) -> dict[str, dict]:
    return {json.loads(x)["metadata"]["task_id"]: json.loads(x) for x in result.lines}


def test_reflexion_fix_becomes_a_multi_turn_conversation(runs):
    refl, _, _ = runs
    res = export_chat([refl])
    got = by_task(res)
    sample = got["demo/add"]
    msgs = sample["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant"]
    assert "a - b" in msgs[2]["content"]  # the failed attempt
    assert REFLECTION in msgs[3]["content"] and "add(1, 2) == 3" in msgs[3]["content"]  # feedback + reflection
    assert msgs[4]["content"] == GOOD  # the model's own fixed answer
    assert validate_messages(msgs) == []
    meta = sample["metadata"]
    assert meta == {"task_id": "demo/add", "sample": 0, "strategy": "reflexion", "model": "scripted-model",
                    "run": "refl", "shape": "multi_turn", "iterations": 2, "internal_passed": True, "hidden_passed": True}
    # default selection: the agent's own verdict; never-fixed is out, passed-at-once is in
    assert "demo/add-never" not in got and got["demo/add-once"]["metadata"]["shape"] == "one_turn"
    assert [m["role"] for m in got["demo/add-once"]["messages"]] == ["system", "user", "assistant"]
    # several candidates: the answer of the choice that was kept
    assert got["demo/add-two"]["messages"][-1]["content"] == GOOD_SUM
    # messages kept only as a hash: without the problem it cannot be rebuilt
    assert "demo/add-hash" not in got and res.counts["skipped_unbuildable"] == 1
    assert res.counts["skipped_not_internally_passed"] == 1


def test_only_passed_selects_on_hidden_verdict_and_methods_filter(runs):
    refl, simple, _ = runs
    res = export_chat([refl, simple], only_passed=True)
    got = by_task(res)
    assert "demo/add-once" not in got and "demo/add" in got and "demo/bare" in got
    assert res.counts["skipped_not_passed"] == 2
    only_simple = export_chat([refl, simple], methods=["simple"], only_passed=True)
    assert list(by_task(only_simple)) == ["demo/bare"] and only_simple.counts["skipped_method"] == 6
    assert export_chat([refl], methods=["critic"]).lines == []


def test_a_problem_without_tests_becomes_one_turn_with_the_code(runs):
    _, simple, _ = runs
    sample = by_task(export_chat([simple]))["demo/bare"] if export_chat([simple]).lines else None
    # simple on a problem with no example has no internal verdict: only --only-passed exports it
    assert sample is None
    got = by_task(export_chat([simple], only_passed=True))["demo/bare"]
    msgs = got["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
    assert "def add(a, b):" in msgs[1]["content"] and "Add two numbers." in msgs[1]["content"]
    assert msgs[2]["content"] == "```python\ndef add(a, b):\n    return a + b\n```"
    assert got["metadata"]["shape"] == "one_turn"


def test_hidden_tests_never_reach_an_export(runs):
    refl, simple, bench = runs
    lookup = BenchmarkLookup()
    res = export_chat([refl, simple], only_passed=True, problems=lookup.problem, guard=lookup.hidden)
    assert lookup.unavailable == []
    text = "\n".join(res.lines)
    task = BenchmarkTask(problem=ADD, hidden=HiddenTests(test_code=HIDDEN_ADD))
    frags = hidden_fragments(task)
    assert len(frags) == 2 and not any(f in text for f in frags)
    assert "8888888" not in text and "88888" not in text  # nor the scheduler's hidden notes
    # the model wrote a hidden assert on its own: the guard drops that sample
    assert res.counts["skipped_guard"] == 1 and "demo/add-leak" not in by_task(res)
    without_guard = export_chat([refl], only_passed=True)
    assert "demo/add-leak" in by_task(without_guard)  # so the guard is what dropped it
    # with the problem known, a hashed trajectory becomes a one-turn sample
    hashed = by_task(res)["demo/add-hash"]
    assert hashed["metadata"]["shape"] == "one_turn" and hashed["messages"][-1]["content"].startswith("```python")


def test_dedupe_and_validation():
    assert validate_messages([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]) == []
    bad = [
        [],
        [{"role": "assistant", "content": "a"}],
        [{"role": "user", "content": "q"}],
        [{"role": "user", "content": "q"}, {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a"}],
        [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}],
        [{"role": "user", "content": "q", "name": "x"}, {"role": "assistant", "content": "a"}],
        [{"role": "system", "content": "s"}],
    ]
    for msgs in bad:
        assert validate_messages(msgs, raise_error=False), msgs
        with pytest.raises(ValueError):
            validate_messages(msgs)


def test_duplicates_are_dropped(runs, tmp_path):
    refl, _, _ = runs
    twice = export_chat([refl, refl])
    assert twice.counts["skipped_duplicate"] == len(export_chat([refl]).lines)
    assert len(export_chat([refl, refl], dedupe=False).lines) == 2 * len(export_chat([refl]).lines)
    plain = export_chat([refl], include_metadata=False)
    assert all(set(json.loads(x)) == {"messages"} for x in plain.lines)


def cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "coderefl.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_export_to_stdout_and_atomically_to_a_file(runs, tmp_path):
    refl, simple, _ = runs
    out = cli(["export", str(refl), str(simple), "--format", "chat-jsonl", "--only-passed"], tmp_path)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert {x["metadata"]["task_id"] for x in lines} == {"demo/add", "demo/add-hash", "demo/add-two", "demo/bare"}
    assert "exported 4 samples" in out.stderr and "guard: 1" in out.stderr
    for x in lines:
        validate_messages(x["messages"])
    target = tmp_path / "data" / "sft.jsonl"
    filed = cli(["export", str(refl), "--methods", "reflexion,simple", "--out", str(target), "--no-metadata"], tmp_path)
    assert filed.returncode == 0 and filed.stdout == ""
    rows = [json.loads(x) for x in target.read_text().splitlines()]
    assert rows and all(set(r) == {"messages"} for r in rows)
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temp file left behind
    # bad input: one line, exit 2
    bad = cli(["export", str(tmp_path / "nope")], tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "no such run folder" in bad.stderr
    notrun = cli(["export", str(tmp_path)], tmp_path)
    assert notrun.returncode == 2 and "not a run folder" in notrun.stderr


def test_export_loads_with_the_datasets_json_loader(runs, tmp_path):
    datasets = pytest.importorskip("datasets")
    refl, simple, _ = runs
    res = export_chat([refl, simple], only_passed=True)
    path = tmp_path / "sft.jsonl"
    path.write_text("".join(x + "\n" for x in res.lines))
    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    assert len(ds) == len(res.lines) and set(ds.column_names) == {"messages", "metadata"}
    for row in ds:
        roles = [m["role"] for m in row["messages"]]
        assert roles[0] == "system" and roles[-1] == "assistant"
        assert validate_messages(row["messages"]) == []
    # the TRL recipe's step: drop metadata, keep the conversational column
    assert ds.remove_columns("metadata").column_names == ["messages"]


def test_conversation_needs_code():
    from coderefl.records import Trajectory

    assert conversation(Trajectory(task_id="t", strategy="s")) is None
