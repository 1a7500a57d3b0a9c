"""The OpenAI-compatible client: one class for OpenAI and for a GPU box.

Why the official ``openai`` async client: it speaks every server's dialect
of the API, maps statuses to typed errors and times requests out. On top of
it this module adds what open-model servers need and what a benchmark run
needs:

* its own retry loop (the SDK's retries are off): the same backoff and
  ``Retry-After`` handling, also for 200 answers whose body is not a usable
  completion (a flaky proxy's truncated JSON, an HTML page), but a refused
  connection is retried at most once, and every retry is reported as it
  happens (:attr:`ChatModel.on_retry`, shown on the progress line);
* n-sampling that tops up with concurrent calls when a server returns
  fewer choices than asked (Ollama ignores ``n``, llama.cpp caps it at its
  slot count); once a cap is seen, later calls are split up front;
* a concurrency limit per endpoint (base URL), shared by every model
  object in the event loop;
* usage per call, tagged by phase, priced from the config's price table,
  and a running total in :attr:`OpenAIModel.usage`;
* the response cache (:mod:`coderefl.model.cache`), so re-runs and resumed
  runs make zero repeated calls. A cached answer reports the tokens it cost
  when it was made (so budgets replay identically) but ``cost_usd`` 0 and
  ``cached_calls`` 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import openai
from openai.types import Completion as TextCompletion
from openai.types.chat import ChatCompletion

from coderefl.config import ModelConfig
from coderefl.errors import ModelError, NoModelConfigured
from coderefl.model.base import ChatModel
from coderefl.model.base import RetryEvent
from coderefl.model.cache import CachedChoice, ResponseCache, choice_key, request_key, usable, worth_caching
from coderefl.model.errors import ModelBadResponse, choice_texts, map_error, refused, retry_wait
from coderefl.model.transport import http_client
from coderefl.records import ChatMessage, Completion, PhaseUsage, Usage

OPENAI_URL = "https://api.openai.com/v1"
#: sent when no key is configured: local servers ignore it, OpenAI answers 401
PLACEHOLDER_KEY = "no-key"
#: top-up rounds before giving up on a server that keeps returning too few choices
MAX_TOPUP_ROUNDS = 8
MAX_OPENAI_STOPS = 4

# event loop -> base_url -> semaphore (asyncio primitives belong to one loop)
_ENDPOINT_LIMITS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]]" = (
    weakref.WeakKeyDictionary()
)


def endpoint_semaphore(base_url: str, limit: int) -> asyncio.Semaphore:
    """The one semaphore for ``base_url`` in the running loop (first limit wins)."""
    loop = asyncio.get_running_loop()
    per_loop = _ENDPOINT_LIMITS.setdefault(loop, {})
    sem = per_loop.get(base_url)
    if sem is None:
        sem = per_loop[base_url] = asyncio.Semaphore(limit)
    return sem


def estimate_tokens(text: str) -> int:
    """A rough count for servers that send no usage (about 4 characters a token)."""
    return max(1, len(text) // 4) if text else 0


@dataclass
class _Fetched:
    """Choices from one HTTP call, with that call's token counts."""

    texts: list[str]
    finish_reasons: list[str | None]
    prompt_tokens: int
    completion_tokens: int

    def shares(self) -> list[CachedChoice]:
        """Split the call's tokens over its choices, so summing the choices
        of any answer (fresh or cached) gives what was paid for them."""
        k = len(self.texts)
        out = []
        for i, (text, fin) in enumerate(zip(self.texts, self.finish_reasons)):
            pt = self.prompt_tokens // k + (1 if i < self.prompt_tokens % k else 0)
            ct = self.completion_tokens // k + (1 if i < self.completion_tokens % k else 0)
            out.append(CachedChoice(text, fin, pt, ct))
        return out


class _LoopState:
    """Per-event-loop resources: the HTTP client and the in-flight locks."""

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self.client = client
        self.locks: dict[str, asyncio.Lock] = {}
        self.waiters: dict[str, int] = {}


class OpenAIModel(ChatModel):
    """Any OpenAI-compatible endpoint: OpenAI, vLLM, SGLang, llama.cpp server, Ollama."""

    def __init__(self, config: ModelConfig) -> None:
        if not config.model:
            raise NoModelConfigured(_HOWTO)
        self.config = config
        self.name = config.model
        self.api = config.api
        self.base_url = config.base_url or OPENAI_URL
        #: running total of this model object's calls (the run's usage)
        self.usage = Usage()
        #: HTTP requests actually sent (retries inside the openai client not counted)
        self.http_calls = 0
        #: the most choices this server returned for one request, once it returned fewer than asked
        self.n_cap: int | None = None
        self.cache: ResponseCache | None = ResponseCache(config.cache_path) if config.cache else None
        self._max_tokens_param = "max_tokens"
        self._send_temperature = True
        self._states: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState]" = weakref.WeakKeyDictionary()
        #: the endpoint's name in the cache key (the base URL, unless the config names it)
        self.cache_endpoint = config.cache_endpoint or self.base_url
        #: answers this object got that were blank (not cached, counted in Usage.empty_answers)
        self.empty_answers = 0

    # ------------------------------------------------------------------ public

    async def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        phase: str,
        n: int = 1,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        sample_index: int = 0,
    ) -> Completion:
        payload = [_message_dict(m) for m in messages]
        return await self._generate("chat", payload, phase, n, temperature, max_tokens, stop, sample_index)

    async def complete(
        self,
        prompt: str,
        *,
        phase: str,
        n: int = 1,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        sample_index: int = 0,
    ) -> Completion:
        return await self._generate("completions", prompt, phase, n, temperature, max_tokens, stop, sample_index)

    async def list_models(self) -> list[str]:
        """Model ids the endpoint serves (``GET /models``)."""
        client = self._state().client.with_options(max_retries=1)
        try:
            page = await client.models.list()
        except openai.NotFoundError:
            raise ModelError(f"{self.base_url} has no GET /models (404); check that --base-url ends in /v1") from None
        except (openai.APIError, json.JSONDecodeError) as err:
            raise self._map(err) from None
        return [m.id for m in page.data]

    async def start(self) -> None:
        self._state()

    async def close(self) -> None:
        for state in list(self._states.values()):
            with contextlib.suppress(Exception):
                await state.client.close()
        self._states = weakref.WeakKeyDictionary()
        if self.cache is not None:
            self.cache.close()

    # ------------------------------------------------------------------ core

    async def _generate(
        self,
        api: str,
        payload: Any,
        phase: str,
        n: int,
        temperature: float | None,
        max_tokens: int | None,
        stop: Sequence[str] | None,
        sample_index: int,
    ) -> Completion:
        if n < 1:
            raise ValueError("n must be >= 1")
        temp = self.config.temperature if temperature is None else float(temperature)
        mt = self.config.max_tokens if max_tokens is None else int(max_tokens)
        stops = list(stop) if stop else None
        rkey = request_key(
            endpoint=self.cache_endpoint,
            model=self.name, api=api, payload=payload, temperature=temp, max_tokens=mt, stop=stops, sample_index=sample_index
        )
        keys = [choice_key(rkey, i) for i in range(n)]
        t0 = time.monotonic()
        async with self._inflight(rkey):  # identical concurrent calls wait and then hit the cache
            hits = self.cache.get_many(keys) if self.cache is not None else {}
            missing = [i for i in range(n) if keys[i] not in hits]
            fresh: dict[int, CachedChoice] = {}
            if missing:
                fetched = await self._fetch(api, payload, len(missing), temp, mt, stops)
                shares = [s for f in fetched for s in f.shares()][: len(missing)]
                fresh = dict(zip(missing, shares))
                if self.cache is not None:
                    keep = [(keys[i], c) for i, c in fresh.items() if worth_caching(c.text, phase, api)]
                    self.cache.put_many(self.name, keep, endpoint=self.cache_endpoint, api=api)
        choices = [hits.get(keys[i]) or fresh[i] for i in range(n)]
        usage = self._usage(phase, choices, fresh)
        self.usage.add(usage)
        return Completion(
            texts=[c.text for c in choices],
            usage=usage,
            model=self.name,
            cached=not fresh,
            latency_s=time.monotonic() - t0,
            finish_reasons=[c.finish_reason for c in choices],
        )

    def _usage(self, phase: str, choices: list[CachedChoice], fresh: dict[int, CachedChoice]) -> Usage:
        p_price, c_price = self.config.price(self.name)
        pt = sum(c.prompt_tokens for c in choices)
        ct = sum(c.completion_tokens for c in choices)
        cost = sum(c.prompt_tokens * p_price + c.completion_tokens * c_price for c in fresh.values()) / 1e6
        empty = sum(1 for c in fresh.values() if not usable(c.text))
        self.empty_answers += empty
        return Usage(
            empty_answers=empty,
            calls=1,
            prompt_tokens=pt,
            completion_tokens=ct,
            cost_usd=cost,
            cached_calls=0 if fresh else 1,
            by_phase={phase: PhaseUsage(calls=1, prompt_tokens=pt, completion_tokens=ct, cost_usd=cost)},
        )

    async def _fetch(
        self, api: str, payload: Any, n: int, temp: float, mt: int, stop: list[str] | None
    ) -> list[_Fetched]:
        """At least ``n`` choices, topping up with concurrent calls when the
        server returns fewer than asked."""
        got: list[_Fetched] = []
        have = 0
        rounds = 0
        while have < n:
            rounds += 1
            if rounds > MAX_TOPUP_ROUNDS:
                raise ModelBadResponse(
                    f"model server at {self.base_url} returned only {have} of {n} choices after {MAX_TOPUP_ROUNDS} rounds"
                )
            need = n - have
            cap = self.n_cap or need
            sizes = [min(cap, need - i) for i in range(0, need, cap)]
            try:
                batch = await asyncio.gather(*(self._call(api, payload, k, temp, mt, stop) for k in sizes))
            except _TooManyChoices:
                self.n_cap = 1  # the server refuses n > 1 (some llama.cpp builds): one choice per call
                continue
            for asked, f in zip(sizes, batch):
                if len(f.texts) < asked:
                    if not f.texts:
                        raise ModelBadResponse(f"model server at {self.base_url} returned no choices")
                    self.n_cap = min(self.n_cap or len(f.texts), len(f.texts))
                got.append(f)
                have += len(f.texts)
        return got

    async def _call(self, api: str, payload: Any, n: int, temp: float, mt: int, stop: list[str] | None) -> _Fetched:
        """One request, retried here (the SDK's own retries are off): 408,
        409, 429 (honouring ``Retry-After``), 5xx, timeouts, dropped
        connections and 200 bodies that are not a usable completion, up to
        ``max_retries`` times with backoff; a refused connection at most
        once, so a server that is gone is said in about a second. Every
        retry is reported to :attr:`on_retry` as it happens."""
        state = self._state()
        kwargs: dict[str, Any] = {"model": self.name, self._max_tokens_param: mt}
        if self._send_temperature:
            kwargs["temperature"] = temp
        if n > 1:
            kwargs["n"] = n
        if stop:
            # OpenAI accepts at most 4 stop sequences; open servers take more
            kwargs["stop"] = stop[:MAX_OPENAI_STOPS] if self.base_url == OPENAI_URL else stop
        attempt = 0
        async with endpoint_semaphore(self.base_url, self.config.concurrency):
            while True:
                self.http_calls += 1
                try:
                    resp, texts = await self._post(state.client, api, payload, kwargs)
                    break
                except openai.BadRequestError as err:
                    # newer OpenAI models want max_completion_tokens and only the default temperature
                    msg = str(err)
                    if api == "chat" and "max_tokens" in kwargs and "max_completion_tokens" in msg:
                        kwargs["max_completion_tokens"] = kwargs.pop("max_tokens")
                        self._max_tokens_param = "max_completion_tokens"
                    elif "temperature" in kwargs and "temperature" in msg and "unsupported" in msg.lower():
                        kwargs.pop("temperature")
                        self._send_temperature = False
                    elif n > 1 and _rejects_n(msg):
                        raise _TooManyChoices() from None
                    else:
                        raise self._map(err) from None
                except openai.NotFoundError as err:
                    raise self._map(err, available=await self._available()) from None
                except Exception as err:
                    wait = retry_wait(err, attempt, self.config.max_retries)
                    if wait is None:
                        raise self._map(err, retries=attempt) from None
                    self._report_retry(err, attempt, wait)
                    await asyncio.sleep(wait)
                    attempt += 1
        order = sorted(range(len(resp.choices)), key=lambda i: getattr(resp.choices[i], "index", i) or 0)
        texts = [texts[i] for i in order]
        finish = [getattr(resp.choices[i], "finish_reason", None) for i in order]
        usage = getattr(resp, "usage", None)
        if usage is not None and isinstance(getattr(usage, "prompt_tokens", None), int):
            pt, ct = int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0)
        else:
            prompt_text = payload if isinstance(payload, str) else "\n".join(m["content"] for m in payload)
            pt, ct = estimate_tokens(prompt_text), sum(estimate_tokens(t) for t in texts)
        return _Fetched(texts, finish, pt, ct)

    async def _post(self, client: openai.AsyncOpenAI, api: str, payload: Any, kwargs: dict[str, Any]) -> tuple[Any, list[str]]:
        """One HTTP request; the answer and its choices' texts, or
        :class:`ModelBadResponse` saying what the 200 body was instead."""
        if api == "chat":
            resp = await client.post("/chat/completions", body={"messages": payload, **kwargs}, cast_to=ChatCompletion)
        else:
            resp = await client.post("/completions", body={"prompt": payload, **kwargs}, cast_to=TextCompletion)
        return resp, choice_texts(resp, api)

    def _report_retry(self, err: Exception, attempt: int, wait: float) -> None:
        if self.on_retry is None:
            return
        limit = 1 if refused(err) else self.config.max_retries
        why = str(self._map(err, retries=attempt))
        self.on_retry(RetryEvent(endpoint=self.base_url, attempt=attempt + 1, limit=limit, wait_s=wait, reason=why))

    async def _available(self) -> list[str] | None:
        """Model ids for a 404 message, when cheap (one quick, unretried request)."""
        try:
            page = await self._state().client.with_options(max_retries=0, timeout=5).models.list()
            return [m.id for m in page.data]
        except Exception:
            return None

    def _map(self, err: Exception, *, retries: int | None = None, available: list[str] | None = None) -> Exception:
        return map_error(
            err,
            base_url=self.base_url,
            model=self.name,
            retries=self.config.max_retries if retries is None else retries,
            timeout_s=self.config.timeout_s,
            available=available,
        )

    # ------------------------------------------------------------------ plumbing

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self.config.api_key or PLACEHOLDER_KEY,
                timeout=self.config.timeout_s,
                max_retries=0,  # retried in _call, where refused connections fail fast and retries are reported
                http_client=http_client(self.config.timeout_s),
            )
            state = self._states[loop] = _LoopState(client)
        return state

    @contextlib.asynccontextmanager
    async def _inflight(self, key: str) -> AsyncIterator[None]:
        state = self._state()
        lock = state.locks.setdefault(key, asyncio.Lock())
        state.waiters[key] = state.waiters.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            state.waiters[key] -= 1
            if state.waiters[key] == 0:
                del state.waiters[key]
                del state.locks[key]


class _TooManyChoices(Exception):
    """The server answered 400 to ``n > 1``."""


def _rejects_n(message: str) -> bool:
    m = message.lower()
    return "choice" in m or "'n'" in m or '"n"' in m or "n must be" in m or "n should be" in m


def _message_dict(m: ChatMessage | dict) -> dict[str, str]:
    if isinstance(m, ChatMessage):
        return {"role": m.role, "content": m.content}
    return {"role": str(m["role"]), "content": str(m["content"])}


_HOWTO = (
    "no model configured: pass --model NAME with --base-url http://HOST:PORT/v1 (a local server) "
    "or with OPENAI_API_KEY set (OpenAI); or set them in coderefl.toml [model] / CODEREFL_MODEL"
)


def build_model(config: ModelConfig) -> ChatModel:
    """The model for ``config``; :class:`NoModelConfigured` says how to configure one."""
    if not config.model:
        raise NoModelConfigured(_HOWTO)
    if not config.base_url and not config.api_key:
        raise NoModelConfigured(
            f"no endpoint for model {config.model!r}: pass --base-url http://HOST:PORT/v1 for a local server, "
            "or set OPENAI_API_KEY for OpenAI"
        )
    return OpenAIModel(config)
