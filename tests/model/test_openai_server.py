"""The scripted server itself, over plain urllib (so a client bug cannot hide a server bug)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

import pytest

from tests.openai_server import DEFAULT_TEXT, Reply, ScriptedServer, rules


def post(srv, path, body, key=None):
    req = urllib.request.Request(srv.base_url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def chat(srv, text="hi", **extra):
    body = {"model": "scripted-model", "messages": [{"role": "user", "content": text}], **extra}
    return post(srv, "/chat/completions", body)


def test_default_reply_usage_and_recording(openai_server):
    status, _, raw = chat(openai_server, "one two three", n=2)
    data = json.loads(raw)
    assert status == 200 and [c["message"]["content"] for c in data["choices"]] == [DEFAULT_TEXT] * 2
    assert data["usage"]["prompt_tokens"] == 3
    assert data["usage"]["completion_tokens"] == 2 * len(DEFAULT_TEXT.split())
    assert openai_server.requests[0]["_path"] == "/v1/chat/completions" and openai_server.requests[0]["n"] == 2


def test_queue_before_handler_and_rules():
    handler = rules(("tests", "assert f() == 1"), ("code", ["a", "b"]), fallback="?")
    with ScriptedServer(handler=handler) as srv:
        srv.queue("first", Reply(texts=["x", "y", "z"], max_choices=2))
        texts = lambda raw: [c["message"]["content"] for c in json.loads(raw)["choices"]]
        assert texts(chat(srv, "write code")[2]) == ["first"]
        assert texts(chat(srv, "write code", n=3)[2]) == ["x", "y"]
        assert texts(chat(srv, "write tests for code")[2]) == ["assert f() == 1"]
        assert texts(chat(srv, "write code")[2]) == ["a", "b"]
        assert texts(chat(srv, "nothing")[2]) == ["?"]


def test_errors_and_headers():
    with ScriptedServer(api_key="k") as srv:
        status, _, raw = chat(srv)
        assert status == 401 and json.loads(raw)["error"]["code"] == "invalid_api_key"
        status, _, raw = post(srv, "/chat/completions", {"model": "nope", "messages": []}, key="k")
        assert status == 404 and "nope" in json.loads(raw)["error"]["message"]
        srv.queue(Reply(status=429, headers={"Retry-After": "7"}))
        status, headers, raw = post(srv, "/chat/completions", {"model": "scripted-model", "messages": []}, key="k")
        assert status == 429 and headers["Retry-After"] == "7" and "error" in json.loads(raw)


def test_malformed_and_dropped(openai_server):
    openai_server.queue(Reply(malformed=True), Reply(drop=True))
    status, _, raw = chat(openai_server)
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        chat(openai_server)


def test_completions_models_and_stop(openai_server):
    openai_server.handler = lambda body: "    return 1\ndef g(): pass"
    status, _, raw = post(openai_server, "/completions", {"model": "scripted-model", "prompt": "def f():\n", "stop": ["\ndef "]})
    data = json.loads(raw)
    assert data["object"] == "text_completion" and data["choices"][0]["text"] == "    return 1"
    with urllib.request.urlopen(openai_server.base_url + "/models", timeout=5) as resp:
        assert [m["id"] for m in json.loads(resp.read())["data"]] == ["scripted-model"]


def test_broken_handler_answers_500_and_is_recorded():
    def handler(body):
        raise KeyError("oops")

    with ScriptedServer(handler=handler) as srv:
        status, _, raw = chat(srv)
        assert status == 500 and "KeyError" in json.loads(raw)["error"]["message"]
        assert isinstance(srv.handler_errors[0], KeyError)
