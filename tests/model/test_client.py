"""The OpenAI-compatible client over real HTTP against the scripted server."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from coderefl.errors import ModelError, NoModelConfigured
from coderefl.model.client import OpenAIModel, build_model
from coderefl.model.errors import (
    ModelAuthError,
    ModelBadResponse,
    ModelRateLimited,
    ModelServerError,
    ModelTimeout,
    ModelUnreachable,
    UnknownModel,
)
from coderefl.model.transport import ENV as TRANSPORT_ENV
from coderefl.model.transport import aiohttp_available, transport_name
from coderefl.records import ChatMessage
from tests.openai_server import Reply, ScriptedServer, count_tokens, rules


def msgs(text: str = "write add") -> list[ChatMessage]:
    return [ChatMessage(role="system", content="You write Python."), ChatMessage(role="user", content=text)]


def run(coro):
    return asyncio.run(coro)


async def _chat(model, *args, **kwargs):
    try:
        return await model.chat(*args, **kwargs)
    finally:
        await model.close()


pytestmark = pytest.mark.usefixtures("transport")  # every client test runs over both HTTP transports


def test_requests_go_through_the_transport_asked_for(transport, openai_server, make_config):
    async def go():
        model = OpenAIModel(make_config(openai_server))
        try:
            await model.chat(msgs(), phase="g")
            return type(model._state().client._client._transport).__name__
        finally:
            await model.close()

    assert transport_name() == transport
    assert run(go()) == {"aiohttp": "AiohttpTransport", "httpx": "AsyncHTTPTransport"}[transport]
    assert len(openai_server.requests) == 1


def test_unknown_transport_is_a_one_line_error(monkeypatch):
    from coderefl.errors import BadInput

    monkeypatch.setenv(TRANSPORT_ENV, "curl")
    with pytest.raises(BadInput, match="CODEREFL_HTTP_TRANSPORT must be one of aiohttp, httpx, not 'curl'"):
        transport_name()


# ---------------------------------------------------------------- basics


def test_chat_returns_text_and_usage_by_phase(openai_server, make_config):
    openai_server.handler = rules(("add", "def add(a, b): return a + b"), fallback="nope")
    model = OpenAIModel(make_config(openai_server, prices={"scripted-model": (1.0, 2.0)}))
    c = run(_chat(model, msgs(), phase="generate"))
    assert c.texts == ["def add(a, b): return a + b"]
    assert c.cached is False and c.finish_reasons == ["stop"]
    assert c.usage.calls == 1 and c.usage.cached_calls == 0
    assert c.usage.prompt_tokens == count_tokens("You write Python.\nwrite add")
    assert c.usage.completion_tokens == count_tokens("def add(a, b): return a + b")
    assert c.usage.cost_usd == pytest.approx((c.usage.prompt_tokens * 1.0 + c.usage.completion_tokens * 2.0) / 1e6)
    assert c.usage.by_phase["generate"].prompt_tokens == c.usage.prompt_tokens
    req = openai_server.requests[-1]
    assert req["_path"] == "/v1/chat/completions"
    assert req["messages"][1] == {"role": "user", "content": "write add"}
    assert req["temperature"] == 0.0 and req["max_tokens"] == 1024


def test_running_total_across_phases(openai_server, make_config):
    model = OpenAIModel(make_config(openai_server))

    async def go():
        await model.chat(msgs("a"), phase="generate")
        await model.chat(msgs("b"), phase="tests")
        await model.chat(msgs("c"), phase="reflect", n=2, temperature=0.7)
        await model.close()

    run(go())
    assert model.usage.calls == 3
    assert set(model.usage.by_phase) == {"generate", "tests", "reflect"}
    assert model.usage.prompt_tokens == sum(p.prompt_tokens for p in model.usage.by_phase.values())


def test_sampling_params_are_sent(openai_server, make_config):
    model = OpenAIModel(make_config(openai_server))
    run(_chat(model, msgs(), phase="generate", n=3, temperature=0.8, max_tokens=77, stop=["\nclass"]))
    req = openai_server.requests[-1]
    assert (req["n"], req["temperature"], req["max_tokens"], req["stop"]) == (3, 0.8, 77, ["\nclass"])


def test_completions_api(openai_server, make_config):
    openai_server.handler = lambda body: "    return a + b\n\ndef other():\n    pass"
    model = OpenAIModel(make_config(openai_server, api="completions"))

    async def go():
        try:
            return await model.complete("def add(a, b):\n", phase="generate", stop=["\ndef "])
        finally:
            await model.close()

    c = run(go())
    assert c.texts == ["    return a + b\n"]  # the server applies the stop sequence
    assert openai_server.requests[-1]["_path"] == "/v1/completions"
    assert openai_server.requests[-1]["prompt"] == "def add(a, b):\n"


# ---------------------------------------------------------------- n-sampling


def test_n_in_one_request_when_server_honours_it(openai_server, make_config):
    openai_server.handler = lambda body: [f"choice {i}" for i in range(body.get("n", 1))]
    model = OpenAIModel(make_config(openai_server))
    c = run(_chat(model, msgs(), phase="generate", n=4, temperature=1.0))
    assert c.texts == ["choice 0", "choice 1", "choice 2", "choice 3"]
    assert len(openai_server.requests) == 1


def test_n_tops_up_when_server_ignores_n(make_config):
    counter = iter(range(100))
    with ScriptedServer(handler=lambda body: Reply(texts=[f"s{next(counter)}"])) as srv:  # Ollama: one choice
        model = OpenAIModel(make_config(srv))

        async def go():
            a = await model.chat(msgs(), phase="generate", n=5, temperature=1.0)
            sent = len(srv.requests)
            b = await model.chat(msgs("other"), phase="generate", n=3, temperature=1.0)
            await model.close()
            return a, b, sent

        a, b, sent = run(go())
        assert len(a.texts) == 5 and len(set(a.texts)) == 5
        assert sent == 5  # 1 that revealed the cap + 4 top-ups
        assert model.n_cap == 1
        # once the cap is known the next call is split up front: 3 requests, none asking n>1
        assert len(b.texts) == 3 and len(srv.requests) == 8
        assert all("n" not in r for r in srv.requests[5:])
        assert a.usage.completion_tokens == 5  # one token per choice, from five calls


def test_n_tops_up_when_server_caps_choices(make_config):
    with ScriptedServer(handler=lambda body: Reply(texts=["x y"] * body.get("n", 1), max_choices=2)) as srv:  # llama.cpp: 2 slots
        model = OpenAIModel(make_config(srv))
        c = run(_chat(model, msgs(), phase="generate", n=5, temperature=1.0))
        assert len(c.texts) == 5
        asked = [r.get("n", 1) for r in srv.requests]
        assert asked[0] == 5 and sorted(asked[1:]) == [1, 2]


# ---------------------------------------------------------------- cache


def test_cache_makes_reruns_free(openai_server, make_config):
    config = make_config(openai_server, prices={"scripted-model": (1.0, 1.0)})
    first = run(_chat(OpenAIModel(config), msgs(), phase="generate", n=2, temperature=0.5))
    assert len(openai_server.requests) == 1
    # a new model object (a resumed run) on the same cache file: zero calls
    again = OpenAIModel(config)
    second = run(_chat(again, msgs(), phase="generate", n=2, temperature=0.5))
    assert len(openai_server.requests) == 1
    assert second.texts == first.texts and second.cached
    assert second.usage.cached_calls == 1 and second.usage.cost_usd == 0.0
    assert second.usage.total_tokens == first.usage.total_tokens  # budgets replay identically
    assert again.usage.cached_calls == 1


def test_a_prose_answer_to_a_request_for_code_is_not_replayed(openai_server, make_config):
    """Asked for code (phase generate), an answer without any is not cached: the
    next run asks again. Prose asked for (a reflection) is cached as usual."""
    config = make_config(openai_server)
    openai_server.handler = lambda body: "I am sorry, I cannot help with that."
    for _ in range(2):
        run(_chat(OpenAIModel(config), msgs(), phase="generate"))
    assert len(openai_server.requests) == 2
    for _ in range(2):
        run(_chat(OpenAIModel(config), msgs("why is it wrong?"), phase="reflect"))
    assert len(openai_server.requests) == 3
    openai_server.handler = lambda body: "Here:\n```python\ndef f():\n    return 1\n```"
    for _ in range(2):
        run(_chat(OpenAIModel(config), msgs("again"), phase="generate"))
    assert len(openai_server.requests) == 4


def test_cache_key_separates_what_matters(openai_server, make_config):
    config = make_config(openai_server)

    async def go():
        model = OpenAIModel(config)
        await model.chat(msgs(), phase="g")
        await model.chat(msgs(), phase="other-phase")  # phase is not in the key
        await model.chat(msgs(), phase="g", sample_index=1)
        await model.chat(msgs(), phase="g", temperature=0.3)
        await model.chat(msgs(), phase="g", max_tokens=10)
        await model.chat(msgs(), phase="g", stop=["x"])
        await model.chat(msgs("different"), phase="g")
        await model.close()

    run(go())
    assert len(openai_server.requests) == 6


def test_cache_asks_only_for_missing_choices(openai_server, make_config):
    config = make_config(openai_server)
    run(_chat(OpenAIModel(config), msgs(), phase="g", n=2, temperature=1.0))
    c = run(_chat(OpenAIModel(config), msgs(), phase="g", n=5, temperature=1.0))
    assert len(c.texts) == 5 and not c.cached
    assert [r.get("n", 1) for r in openai_server.requests] == [2, 3]


def test_no_cache_bypasses(openai_server, make_config):
    config = make_config(openai_server, no_cache=True)
    run(_chat(OpenAIModel(config), msgs(), phase="g"))
    run(_chat(OpenAIModel(config), msgs(), phase="g"))
    assert len(openai_server.requests) == 2
    assert not config.cache_path.exists()


def test_identical_concurrent_calls_pay_once(make_config):
    with ScriptedServer(latency_s=0.2) as srv:
        model = OpenAIModel(make_config(srv))

        async def go():
            results = await asyncio.gather(*(model.chat(msgs(), phase="g") for _ in range(4)))
            await model.close()
            return results

        results = run(go())
        assert len(srv.requests) == 1
        assert sum(r.cached for r in results) == 3


def test_topped_up_samples_replay_from_cache(make_config):
    counter = iter(range(100))
    with ScriptedServer(handler=lambda body: Reply(texts=[f"s{next(counter)}"])) as srv:
        config = make_config(srv)
        a = run(_chat(OpenAIModel(config), msgs(), phase="g", n=4, temperature=1.0))
        b = run(_chat(OpenAIModel(config), msgs(), phase="g", n=4, temperature=1.0))
        assert a.texts == b.texts and b.cached and len(srv.requests) == 4


# ---------------------------------------------------------------- retries and failures


def test_429_retry_after_is_honoured(openai_server, make_config):
    openai_server.queue(Reply(status=429, headers={"Retry-After": "1"}))
    model = OpenAIModel(make_config(openai_server))
    t0 = time.monotonic()
    c = run(_chat(model, msgs(), phase="g"))
    assert time.monotonic() - t0 >= 0.95
    assert len(openai_server.requests) == 2 and c.texts


@pytest.mark.parametrize(
    "failure",
    [Reply(status=500), Reply(status=503), Reply(drop=True), Reply(malformed=True)],
    ids=["500", "503", "dropped", "malformed"],
)
def test_transient_failures_are_retried(openai_server, make_config, failure):
    openai_server.queue(failure)
    c = run(_chat(OpenAIModel(make_config(openai_server)), msgs(), phase="g"))
    assert c.texts and len(openai_server.requests) == 2


def test_slow_response_past_timeout_is_retried(openai_server, make_config):
    openai_server.queue(Reply(delay_s=3))
    t0 = time.monotonic()
    c = run(_chat(OpenAIModel(make_config(openai_server, timeout=0.5)), msgs(), phase="g"))
    assert c.texts and len(openai_server.requests) == 2
    assert time.monotonic() - t0 < 2.5


def test_always_slow_is_a_timeout_error(openai_server, make_config):
    openai_server.handler = lambda body: Reply(delay_s=2)
    with pytest.raises(ModelTimeout, match=r"did not answer within 0.3s"):
        run(_chat(OpenAIModel(make_config(openai_server, timeout=0.3, max_retries=1)), msgs(), phase="g"))


@pytest.mark.parametrize(
    "reply, error, text",
    [
        (Reply(status=500), ModelServerError, "failed after 2 tries"),
        (Reply(status=429, headers={"Retry-After": "0"}), ModelRateLimited, "rate limited"),
        (Reply(malformed=True), ModelBadResponse, "malformed response"),
        (Reply(status=400), ModelError, "rejected the request"),
    ],
    ids=["500", "429", "malformed", "400"],
)
def test_persistent_failures_become_one_line_errors(openai_server, make_config, reply, error, text):
    openai_server.handler = lambda body: reply
    with pytest.raises(error, match=text) as info:
        run(_chat(OpenAIModel(make_config(openai_server, max_retries=1)), msgs(), phase="g"))
    assert "\n" not in str(info.value)
    assert len(openai_server.requests) == (1 if reply.status == 400 else 2)


def test_bad_key(make_config):
    with ScriptedServer(api_key="right") as srv:
        config = make_config(srv, api_key="wrong")
        with pytest.raises(ModelAuthError, match="refused the API key") as info:
            run(_chat(OpenAIModel(config), msgs(), phase="g"))
        assert "wrong" not in str(info.value)  # never echo the key
        assert len(srv.requests) == 1  # 401 is not retried


def test_unknown_model_lists_available(make_config):
    with ScriptedServer(models=["llama-3-8b", "qwen2.5-coder"]) as srv:
        with pytest.raises(UnknownModel, match=r"unknown model 'gpt-x'.*available: llama-3-8b, qwen2.5-coder"):
            run(_chat(OpenAIModel(make_config(srv, model="gpt-x")), msgs(), phase="g"))


def test_unreachable_server_names_the_url(make_config):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now

    class Dead:
        base_url = f"http://127.0.0.1:{port}/v1"
        api_key = None

    with pytest.raises(ModelUnreachable, match=f"cannot reach model server at http://127.0.0.1:{port}/v1"):
        run(_chat(OpenAIModel(make_config(Dead, max_retries=0)), msgs(), phase="g"))


def test_concurrency_limit_per_endpoint(make_config):
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def handler(body):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.15)
        with lock:
            state["now"] -= 1
        return "ok"

    with ScriptedServer(handler=handler) as srv:
        a = OpenAIModel(make_config(srv, concurrency=2))
        b = OpenAIModel(make_config(srv, concurrency=2, no_cache=True))

        async def go():
            calls = [m.chat(msgs(f"q{i}"), phase="g") for i in range(4) for m in (a, b)]
            await asyncio.gather(*calls)
            await a.close()
            await b.close()

        run(go())
        assert len(srv.requests) == 8
        assert state["max"] == 2  # two model objects, one endpoint, one limit


def test_model_reusable_across_event_loops(openai_server, make_config):
    model = OpenAIModel(make_config(openai_server, no_cache=True))
    run(model.chat(msgs(), phase="g"))
    run(model.chat(msgs(), phase="g"))
    run(model.close())
    assert len(openai_server.requests) == 2


def test_list_models(make_config):
    with ScriptedServer(models=["a", "b"]) as srv:
        model = OpenAIModel(make_config(srv, model="a"))

        async def go():
            try:
                return await model.list_models()
            finally:
                await model.close()

        assert run(go()) == ["a", "b"]


def test_build_model_needs_configuration(tmp_path):
    from coderefl.config import resolve_model_config

    with pytest.raises(NoModelConfigured, match="--model"):
        build_model(resolve_model_config(settings={}, env={}))
    with pytest.raises(NoModelConfigured, match="OPENAI_API_KEY"):
        build_model(resolve_model_config(settings={}, env={}, model="m"))
    assert isinstance(build_model(resolve_model_config(settings={}, env={}, model="m", base_url="http://x/v1")), OpenAIModel)


def test_adapts_to_models_that_want_max_completion_tokens(openai_server, make_config):
    openai_server.queue(
        Reply(status=400, error_message="Unsupported parameter: 'max_tokens'. Use 'max_completion_tokens' instead."),
        Reply(status=400, error_message="Unsupported value: 'temperature' does not support 0.0 with this model."),
    )
    model = OpenAIModel(make_config(openai_server, no_cache=True))

    async def go():
        await model.chat(msgs(), phase="g")
        await model.chat(msgs(), phase="g")
        await model.close()

    run(go())
    first, second, third, fourth = openai_server.requests
    assert "max_tokens" in first and "max_completion_tokens" in second and "temperature" in second
    assert "temperature" not in third and "max_tokens" not in fourth and "temperature" not in fourth


def test_at_most_four_stops_for_openai_only(openai_server, make_config):
    stops = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#"]
    run(_chat(OpenAIModel(make_config(openai_server)), msgs(), phase="g", stop=stops))
    assert openai_server.requests[-1]["stop"] == stops  # open servers get them all


def test_server_that_rejects_n_gets_single_calls(make_config):
    def handler(body):
        if body.get("n", 1) > 1:
            return Reply(status=400, error_message="Only one completion choice is allowed")
        return "one"

    with ScriptedServer(handler=handler) as srv:
        model = OpenAIModel(make_config(srv))
        c = run(_chat(model, msgs(), phase="g", n=3, temperature=1.0))
        assert c.texts == ["one"] * 3 and model.n_cap == 1
        assert [r.get("n", 1) for r in srv.requests] == [3, 1, 1, 1]


def test_finish_reason_and_partial_cache_cost(openai_server, make_config):
    openai_server.handler = lambda body: Reply(texts=["a b c"] * body.get("n", 1), finish_reason="length")
    config = make_config(openai_server, prices={"scripted-model": (0.0, 1_000_000.0)})  # $1 per completion token
    first = run(_chat(OpenAIModel(config), msgs(), phase="g", n=1, temperature=1.0))
    assert first.finish_reasons == ["length"] and first.usage.cost_usd == 3.0
    more = run(_chat(OpenAIModel(config), msgs(), phase="g", n=3, temperature=1.0))
    assert more.finish_reasons == ["length"] * 3
    assert more.usage.completion_tokens == 9 and more.usage.cost_usd == 6.0  # only the two new choices cost
    assert more.usage.cached_calls == 0 and not more.cached
