"""The main job end to end: `coderefl eval --local` through the real llama.cpp
server, the real client and the Docker sandbox, with no API key."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.local_model, pytest.mark.docker, pytest.mark.slow]


@pytest.mark.parametrize(
    ("choice", "name", "api"),
    [
        ([], "smollm2-135m-instruct", "chat"),  # the default: the packaged chat model
        (["--local-model", "gemma3-270m"], "gemma-3-270m", "completions"),  # the packaged base model
    ],
)
def test_eval_humaneval_limit_5_local(local_ready, docker_ready, tmp_path, choice, name, api):
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_"))}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # a fresh response cache: real calls
    cmd = [sys.executable, "-m", "coderefl.cli.main", "eval", "--benchmark", "humaneval", "--limit", "5",
           "--local", *choice, "--strategy", "simple", "--out", str(out), "-q"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]

    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["task_id"] for r in records) == [f"HumanEval/{i}" for i in range(5)]
    for r in records:
        assert r["model"] == name and r["strategy"] == "simple"
        assert r["hidden_evals"] == 1 and r["hidden_status"] in ("passed", "failed", "timeout", "error")
        assert r["usage"]["completion_tokens"] > 0  # the model really generated
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [s["task_id"] for s in samples] == [r["task_id"] for r in sorted(records, key=lambda r: int(r["task_id"].split("/")[1]))]
    assert all(s["completion"].strip() for s in samples)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pass@1"] == sum(r["hidden_passed"] for r in records) / 5
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["name"] == name and config["model"]["api"] == api
    assert config["model_config"]["api_key"] == "***"  # the key is never written

    # resuming makes no new model call and no new record
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert len((out / "results.jsonl").read_text().splitlines()) == 5
