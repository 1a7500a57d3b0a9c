"""The client against a server that misbehaves on purpose: empty, null,
HTML, cut-off and refused answers, over real HTTP (both transports)."""

from __future__ import annotations

import time

import pytest

from coderefl.model.client import OpenAIModel
from coderefl.model.errors import ModelBadResponse, ModelUnreachable
from tests.model.test_client import _chat, msgs, run
from tests.openai_server import Reply, ScriptedServer, refused_url


pytestmark = pytest.mark.usefixtures("transport")  # over both HTTP transports


class Endpoint:
    def __init__(self, base_url: str) -> None:
        self.base_url, self.api_key = base_url, None


@pytest.mark.parametrize("reply", [Reply(texts=[""]), Reply(texts=["  \n"]), Reply(null_content=True)],
                         ids=["empty", "blank", "null"])
def test_blank_answers_are_counted_and_never_cached(openai_server, make_config, reply):
    openai_server.queue(reply)
    config = make_config(openai_server)
    first = run(_chat(OpenAIModel(config), msgs(), phase="g"))
    assert not first.texts[0].strip() and first.usage.empty_answers == 1
    second = run(_chat(OpenAIModel(config), msgs(), phase="g"))  # asked again, and this answer is kept
    assert second.texts[0].startswith("```python") and not second.cached and second.usage.empty_answers == 0
    third = run(_chat(OpenAIModel(config), msgs(), phase="g"))
    assert third.cached and len(openai_server.requests) == 2


def test_an_html_page_is_one_clear_line(openai_server, make_config):
    openai_server.handler = lambda body: Reply(raw=b"<!DOCTYPE html><html><body>Welcome to nginx</body></html>",
                                              content_type="text/html")
    with pytest.raises(ModelBadResponse, match=r"an HTML page instead of a chat completion.*ending in /v1") as info:
        run(_chat(OpenAIModel(make_config(openai_server, max_retries=1)), msgs(), phase="g"))
    assert "\n" not in str(info.value) and "AttributeError" not in str(info.value)
    assert len(openai_server.requests) == 2


@pytest.mark.parametrize("raw", [b"null", b"[]", b'{"object": "chat.completion"}'], ids=["null", "list", "no-choices"])
def test_a_json_body_that_is_not_a_completion_is_one_line(openai_server, make_config, raw):
    openai_server.handler = lambda body: Reply(raw=raw)
    with pytest.raises(ModelBadResponse, match="model server at .* answered") as info:
        run(_chat(OpenAIModel(make_config(openai_server, max_retries=0)), msgs(), phase="g"))
    assert "\n" not in str(info.value)


def test_a_body_cut_off_halfway_is_retried(openai_server, make_config):
    openai_server.queue(Reply(cut_body=True))
    c = run(_chat(OpenAIModel(make_config(openai_server)), msgs(), phase="g"))
    assert c.texts[0].startswith("```python") and len(openai_server.requests) == 2


def test_a_refused_connection_fails_fast_with_one_retry(make_config):
    events = []
    model = OpenAIModel(make_config(Endpoint(refused_url()), max_retries=5))
    model.on_retry = events.append
    t0 = time.monotonic()
    with pytest.raises(ModelUnreachable, match=r"connection refused.*tried 2 times"):
        run(_chat(model, msgs(), phase="g"))
    assert time.monotonic() - t0 < 3
    assert [(e.attempt, e.limit) for e in events] == [(1, 1)]
    assert "connection refused" in events[0].reason


def test_retries_are_reported_as_they_happen(openai_server, make_config):
    openai_server.queue(Reply(status=503), Reply(status=429, headers={"Retry-After": "0.2"}))
    events = []
    model = OpenAIModel(make_config(openai_server, max_retries=3))
    model.on_retry = events.append
    c = run(_chat(model, msgs(), phase="g"))
    assert c.texts and len(openai_server.requests) == 3
    assert [(e.attempt, e.limit) for e in events] == [(1, 3), (2, 3)]
    assert "503" in events[0].reason and "429" in events[1].reason
    assert events[1].wait_s == pytest.approx(0.2)  # Retry-After honoured


def test_two_servers_with_one_model_name_never_share_answers(make_config, tmp_path):
    with ScriptedServer(handler=lambda b: "answer from A", models=["default"]) as a, \
            ScriptedServer(handler=lambda b: "answer from B", models=["default"]) as b:
        ca = run(_chat(OpenAIModel(make_config(a, model="default")), msgs(), phase="g"))
        cb = run(_chat(OpenAIModel(make_config(b, model="default")), msgs(), phase="g"))
    assert ca.texts == ["answer from A"] and cb.texts == ["answer from B"] and not cb.cached


def test_a_cached_answer_does_not_hide_an_unreachable_server(openai_server, make_config):
    config = make_config(openai_server)
    run(_chat(OpenAIModel(config), msgs(), phase="g"))
    gone = config.model_copy(update={"base_url": refused_url().rstrip("/")})
    with pytest.raises(ModelUnreachable):
        run(_chat(OpenAIModel(gone), msgs(), phase="g"))


def test_a_named_endpoint_keeps_its_cache_across_ports(openai_server, make_config):
    """The embedded server (a new port each run) names itself in the key."""
    config = make_config(openai_server, cache_endpoint="local:tiny")
    run(_chat(OpenAIModel(config), msgs(), phase="g"))
    moved = config.model_copy(update={"base_url": refused_url().rstrip("/")})
    assert run(_chat(OpenAIModel(moved), msgs(), phase="g")).cached


def test_a_slow_server_reports_its_timeout_before_retrying(openai_server, make_config):
    openai_server.queue(Reply(delay_s=3))
    events = []
    model = OpenAIModel(make_config(openai_server, timeout=0.5))
    model.on_retry = events.append
    t0 = time.monotonic()
    c = run(_chat(model, msgs(), phase="g"))
    assert c.texts and time.monotonic() - t0 < 2.5
    assert len(events) == 1 and "did not answer within 0.5s" in events[0].reason
