"""`--mbpp-prompt`: EvalPlus's prompt (text + first assert, the default) or
Reflexion's (a typed signature with the text as its docstring, no assert),
on the shipped MBPP sample."""

from __future__ import annotations

import ast
import json

import pytest

from coderefl.errors import BadInput
from coderefl.problems import load_benchmark
from coderefl.problems.mbpp import benchmark_for_prompt, signature_prompt
from tests.openai_server import ScriptedServer, rules
from tests.problems.helpers import MBPP_SAMPLE
from tests.run.test_eval_cli import cli


def _defs(prompt: str) -> list[ast.FunctionDef]:
    return [n for n in ast.walk(ast.parse(prompt)) if isinstance(n, ast.FunctionDef)]


def test_signature_prompts_show_no_assert_and_keep_the_hidden_tests():
    raw = {f"mbpp/{r['task_id']}": r for r in json.loads(MBPP_SAMPLE.read_text())}
    plain = {t.problem.task_id: t for t in load_benchmark("mbpp", problems_file=MBPP_SAMPLE)}
    signed = load_benchmark("mbpp-signature", problems_file=MBPP_SAMPLE)
    assert [t.problem.task_id for t in signed] == list(plain)
    for task in signed:
        p, rec = task.problem, raw[task.problem.task_id]
        assert p.visible_tests == [] and "assert" not in p.prompt
        assert not any(t.split("==")[-1].strip() in p.prompt for t in rec["test_list"] if "==" in t)
        (fn,) = _defs(p.prompt)
        ref = next(n for n in _defs(rec["code"]) if n.name == p.entry_point)
        assert fn.name == p.entry_point and [a.arg for a in fn.args.args] == [a.arg for a in ref.args.args]
        assert ast.get_docstring(fn).strip() == rec["prompt"].strip()
        # the same task otherwise: entry point, hidden tests, canonical solution
        other = plain[p.task_id]
        assert p.entry_point == other.problem.entry_point and other.problem.visible_tests
        assert task.hidden == other.hidden


def test_signature_annotations_come_from_the_first_assert():
    by_id = {t.problem.task_id: t.problem.prompt for t in load_benchmark("mbpp-signature", problems_file=MBPP_SAMPLE)}
    assert "def is_not_prime(n: int) -> bool:" in by_id["mbpp/3"]
    assert "def sort_matrix(M: List[List[int]]) -> List[List[int]]:" in by_id["mbpp/12"]
    assert by_id["mbpp/12"].startswith("from typing import List\n")
    # `assert set(f(...)) == ...`: the return value is not the compared one, so no return annotation
    assert "def similar_elements(test_tup1: Tuple[int, ...], test_tup2: Tuple[int, ...]):" in by_id["mbpp/2"]


def test_signature_prompt_falls_back_without_a_reference_def():
    prompt = signature_prompt("Add them.", "assert add(1, 'a') == None", "add", "add = lambda a, b: None")
    (fn,) = _defs(prompt)
    assert [a.arg for a in fn.args.args] == ["arg0", "arg1"] and "(arg0: int, arg1: str) -> None:" in prompt
    mixed = signature_prompt("Mix.", "assert f([1, 'a'], {1: 2.0}) == (1, 2)", "f", "def f(xs, d):\n    pass\n")
    assert "def f(xs: List[Any], d: Dict[int, float]) -> Tuple[int, ...]:" in mixed
    assert mixed.startswith("from typing import Any, Dict, List, Tuple\n")


def test_benchmark_for_prompt():
    assert benchmark_for_prompt("mbpp", None) == "mbpp"
    assert benchmark_for_prompt("mbpp", "signature") == "mbpp-signature"
    assert benchmark_for_prompt("MBPP", "first-assert") == "mbpp"
    assert benchmark_for_prompt("mbpp-signature", "first-assert") == "mbpp"
    with pytest.raises(BadInput, match="--mbpp-prompt applies to --benchmark mbpp"):
        benchmark_for_prompt("humaneval", "signature")


def test_mbpp_prompt_on_another_benchmark_is_a_one_line_error(tmp_path):
    proc = cli(["eval", "--benchmark", "humaneval", "--mbpp-prompt", "signature", "--model", "m", "--base-url",
                "http://127.0.0.1:9/v1", "--api-key", "k", "--out", str(tmp_path / "run")], tmp_path / "c.sqlite", cwd=tmp_path)
    assert proc.returncode == 2 and "--mbpp-prompt applies to --benchmark mbpp" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.docker
def test_eval_with_the_signature_prompt_sends_it_and_records_the_protocol(docker_ready, tmp_path):
    out = tmp_path / "run"
    answer = "```python\ndef is_not_prime(n):\n    return n > 1 and any(n % i == 0 for i in range(2, n))\n```"
    with ScriptedServer(handler=rules(fallback=answer)) as server:
        cli(["eval", "--benchmark", "mbpp", "--problems-file", str(MBPP_SAMPLE), "--mbpp-prompt", "signature",
             "--limit", "2", "--strategy", "simple", "--model", "scripted-model", "--base-url", server.base_url,
             "--api-key", "k", "--out", str(out), "-q"], tmp_path / "c.sqlite", cwd=tmp_path, check=True)
        users = [m["content"] for b in server.requests for m in b["messages"] if m["role"] == "user"]
    assert any("def is_not_prime(n: int) -> bool:" in u for u in users)
    assert not any("assert" in u for u in users)
    assert json.loads((out / "config.json").read_text())["benchmark"]["name"] == "mbpp-signature"
    records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert {r["task_id"]: r["hidden_passed"] for r in records} == {"mbpp/2": False, "mbpp/3": True}
