"""``coderefl models check`` against the scripted server, through the real CLI."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from coderefl.cli.main import main

from tests.openai_server import ScriptedServer


@pytest.fixture
def coderefl(capsys, monkeypatch):
    """Run ``coderefl models check ARGS`` in-process through the real entry
    point (one-line errors, exit codes), with extra environment."""

    def run(*args: str, env: dict | None = None) -> Result:
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        capsys.readouterr()
        try:
            main(["models", "check", *args])
        except SystemExit as exit_:
            code = exit_.code
        else:  # main always exits
            code = None
        out, err = capsys.readouterr()
        for k in env or {}:
            monkeypatch.delenv(k)
        return Result(code, out, err)

    return run


@dataclass
class Result:
    returncode: int | None
    stdout: str
    stderr: str


@pytest.fixture
def server():
    with ScriptedServer(models=["qwen2.5-coder", "llama3"], api_key="sk-test", handler=lambda body: "ok") as srv:
        yield srv


def test_check_ok(server, coderefl):
    p = coderefl("--base-url", server.base_url, "--api-key", "sk-test", "--model", "llama3")
    assert p.returncode == 0, p.stderr
    assert f"endpoint: {server.base_url}" in p.stdout
    assert "qwen2.5-coder, llama3" in p.stdout
    assert "reply:    'ok'" in p.stdout and p.stdout.rstrip().endswith("ok")
    paths = [r["_path"] for r in server.requests]
    assert paths == ["/v1/models", "/v1/chat/completions"]
    assert server.requests[-1]["model"] == "llama3"


def test_check_from_env_picks_first_model(server, coderefl):
    p = coderefl(env={"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"})
    assert p.returncode == 0, p.stderr
    assert "qwen2.5-coder (first listed" in p.stdout


def test_check_completions_mode(server, coderefl):
    p = coderefl("--base-url", server.base_url, "--api-key", "sk-test", "--model", "llama3", "--api", "completions")
    assert p.returncode == 0, p.stderr
    assert server.requests[-1]["_path"] == "/v1/completions"


def test_check_never_uses_the_cache(server, tmp_path, coderefl):
    env = {"CODEREFL_CACHE_PATH": str(tmp_path / "c.sqlite")}
    args = ("--base-url", server.base_url, "--api-key", "sk-test", "--model", "llama3")
    assert coderefl(*args, env=env).returncode == 0
    assert coderefl(*args, env=env).returncode == 0
    assert [r["_path"] for r in server.requests].count("/v1/chat/completions") == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (("--api-key", "wrong", "--model", "llama3"), "refused the API key"),
        (("--api-key", "sk-test", "--model", "gpt-9"), "unknown model 'gpt-9'"),
    ],
)
def test_check_errors_are_one_line(server, args, message, coderefl):
    p = coderefl("--base-url", server.base_url, *args)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coderefl: error:") and message in lines[0]
    assert "Traceback" not in p.stderr


def test_check_unreachable_and_unconfigured(coderefl):
    p = coderefl("--base-url", "http://127.0.0.1:9/v1", "--model", "m")
    assert p.returncode == 2 and "cannot reach model server at http://127.0.0.1:9/v1" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    p = coderefl("--model", "m")
    assert p.returncode == 2 and "--base-url" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_check_as_a_real_process(server):
    """The installed entry point, once, as a user runs it."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_"))}
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run(
        [sys.executable, "-m", "coderefl.cli.main", "models", "check", "--base-url", server.base_url, "--api-key", "nope"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "refused the API key" in p.stderr


def test_check_wrong_base_url_path(server, coderefl):
    root = server.base_url.removesuffix("/v1")
    p = coderefl("--base-url", root, "--api-key", "sk-test", "--model", "llama3")
    assert p.returncode == 2
    assert "not listed" in p.stdout and "ends in /v1" in p.stdout
    assert "unknown model 'llama3'" in p.stderr and "ends in /v1" in p.stderr
