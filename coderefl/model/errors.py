"""Model errors with one-line messages, mapped from the ``openai`` client's exceptions.

Why subclasses: the CLI only needs ``str(err)``, but callers (``models
check``, the scheduler deciding whether to stop a run) need to tell "the
server is down" from "this one request was bad".
"""

from __future__ import annotations

import email.utils
import errno
import json
import random
import time
from typing import Any

import openai

from coderefl.errors import ModelError


class ModelUnreachable(ModelError):
    """No HTTP answer at all: connection refused, DNS, dropped connections."""


class ModelTimeout(ModelUnreachable):
    """The server took longer than the timeout, on every retry."""


class ModelAuthError(ModelError):
    """401/403: the API key is missing or wrong."""


class UnknownModel(ModelError):
    """404: the model name is not served at this endpoint."""


class ModelRateLimited(ModelError):
    """429 after all retries."""


class ModelServerError(ModelError):
    """5xx after all retries."""


class ModelBadRequest(ModelError):
    """400/422: the server refused the request (context too long, bad parameter)."""


class ModelBadResponse(ModelError):
    """200 with a body that is not a usable completion (malformed JSON, no choices)."""


def server_message(err: openai.APIStatusError) -> str:
    """The server's own error text, on one line and short."""
    body = err.body
    msg = ""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            msg = str(inner.get("message") or "")
        elif isinstance(inner, str):
            msg = inner
        if not msg and "detail" in body:
            msg = json.dumps(body["detail"])[:200]
    if not msg:
        msg = str(err.message or "")
    msg = " ".join(msg.split())
    return msg[:200]


def map_error(
    err: Exception,
    *,
    base_url: str,
    model: str,
    retries: int,
    timeout_s: float,
    available: list[str] | None = None,
) -> ModelError:
    """One ModelError with a one-line message that says what to do."""
    if isinstance(err, openai.APITimeoutError) and _timed_out(err):
        return ModelTimeout(
            f"model server at {base_url} did not answer within {timeout_s:g}s (tried {_times(retries + 1)}); "
            "raise --timeout or check the server"
        )
    if isinstance(err, openai.APIConnectionError) and refused(err):
        return ModelUnreachable(
            f"cannot reach model server at {base_url} (connection refused); is it running? (tried {_times(retries + 1)})"
        )
    if isinstance(err, openai.APIConnectionError):
        cause = _causes(err)[-1] if err.__cause__ is not None else None
        why = f" ({type(cause).__name__}: {cause})" if cause else ""
        why = (" " + " ".join(why.split())[:160]) if why else ""
        return ModelUnreachable(
            f"cannot reach model server at {base_url}{why}; is it running? (tried {_times(retries + 1)})"
        )
    if isinstance(err, openai.AuthenticationError | openai.PermissionDeniedError):
        return ModelAuthError(
            f"model server at {base_url} refused the API key ({err.status_code}: {server_message(err)}); "
            "set OPENAI_API_KEY or pass --api-key"
        )
    if isinstance(err, openai.NotFoundError):
        if available:
            shown = ", ".join(available[:8]) + (", ..." if len(available) > 8 else "")
            hint = f"available: {shown}"
        elif available is not None:
            hint = "the server lists no models"
        else:
            hint = "check --model, and that --base-url ends in /v1"
        return UnknownModel(f"unknown model {model!r} at {base_url} (404); {hint}")
    if isinstance(err, openai.RateLimitError):
        return ModelRateLimited(
            f"rate limited by {base_url} after {_tries(retries + 1)} (429: {server_message(err)}); "
            "lower --concurrency or wait"
        )
    if isinstance(err, openai.InternalServerError):
        return ModelServerError(
            f"model server at {base_url} failed after {_tries(retries + 1)} ({err.status_code}: {server_message(err)})"
        )
    if isinstance(err, openai.APIStatusError):
        if err.status_code in (400, 422):
            return ModelBadRequest(f"model server at {base_url} rejected the request ({err.status_code}: {server_message(err)})")
        return ModelError(f"model server at {base_url} answered {err.status_code}: {server_message(err)}")
    if isinstance(err, ModelBadResponse):
        return ModelBadResponse(f"model server at {base_url} answered {err} ({_tries(retries + 1)})")
    if isinstance(err, openai.APIResponseValidationError | json.JSONDecodeError):
        return ModelBadResponse(f"model server at {base_url} sent a malformed response {_times(retries + 1)} ({type(err).__name__})")
    return ModelError(f"model call to {base_url} failed: {type(err).__name__}: {' '.join(str(err).split())[:200]}")


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _tries(n: int) -> str:
    return "1 try" if n == 1 else f"{n} tries"


def _causes(err: BaseException) -> list[BaseException]:
    """``err``'s chain of causes, outermost first."""
    chain: list[BaseException] = []
    e: BaseException | None = err
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    return chain


def _timed_out(err: openai.APITimeoutError) -> bool:
    """Whether a timeout error really is one. The aiohttp transport reports
    every failed connection (refused, dropped) as a connect timeout; its
    cause chain tells them apart: a real timeout has a ``TimeoutError`` in
    it, a refused or dropped connection an ``OSError`` or a disconnect."""
    chain = _causes(err)
    if any(isinstance(e, TimeoutError) for e in chain):
        return True
    return not any(isinstance(e, OSError) or type(e).__name__ == "ServerDisconnectedError" for e in chain)


#: statuses worth asking again (the SDK's own list)
RETRY_STATUSES = frozenset({408, 409, 429})
#: the longest ``Retry-After`` honoured; a longer one gets the usual backoff
MAX_RETRY_AFTER_S = 60.0
#: 200 bodies that are not a usable completion: asked again like a dropped connection
MALFORMED = (json.JSONDecodeError, openai.APIResponseValidationError, ModelBadResponse)


def backoff_s(attempt: int) -> float:
    """Exponential backoff with jitter, like the openai client's (0.5s doubling, max 8s, -25%)."""
    return min(0.5 * 2.0**attempt, 8.0) * (1 - 0.25 * random.random())


def refused(err: BaseException) -> bool:
    """Whether nothing listens at the endpoint (connection refused), as
    opposed to a connection that dropped or timed out."""
    for e in _causes(err):
        if isinstance(e, ConnectionRefusedError):
            return True
        if isinstance(e, OSError) and e.errno == errno.ECONNREFUSED:
            return True
        os_error = getattr(e, "os_error", None)  # aiohttp's ClientConnectorError
        if isinstance(os_error, OSError) and os_error.errno == errno.ECONNREFUSED:
            return True
    return False


def retry_wait(err: BaseException, attempt: int, max_retries: int) -> float | None:
    """Seconds to wait before asking again after ``err`` (the ``attempt``-th
    retry, from 0), or None when it is not worth asking again. A refused
    connection gets one retry at most: a server that is not there answers
    no better after 18 s of backoff."""
    limit = min(1, max_retries) if refused(err) else max_retries
    if attempt >= limit:
        return None
    if isinstance(err, openai.APIStatusError):
        if err.status_code not in RETRY_STATUSES and err.status_code < 500:
            return None
        after = _retry_after(err.response.headers if err.response is not None else {})
        return after if after is not None else backoff_s(attempt)
    if isinstance(err, (openai.APIConnectionError, *MALFORMED)):
        return backoff_s(attempt)
    return None


def _retry_after(headers: Any) -> float | None:
    """``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), when sane."""
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            value = float(ms) / 1000
        else:
            raw = headers.get("retry-after")
            if raw is None:
                return None
            try:
                value = float(raw)
            except ValueError:
                when = email.utils.parsedate_to_datetime(raw)
                value = when.timestamp() - time.time()
    except (TypeError, ValueError):
        return None
    return value if 0 <= value <= MAX_RETRY_AFTER_S else None


def choice_texts(resp: Any, api: str) -> list[str]:
    """The texts of a completion's choices (null content is ""), or
    :class:`ModelBadResponse` naming what the body was instead."""
    expected = "a chat completion" if api == "chat" else "a text completion"
    if isinstance(resp, str | bytes):
        text = resp.decode(errors="replace") if isinstance(resp, bytes) else resp
        head = text.lstrip()[:200].lower()
        if head.startswith(("<!doctype", "<html")) or "<html" in head:
            raise ModelBadResponse(f"an HTML page instead of {expected} (is --base-url the API's address, ending in /v1?)")
        raise ModelBadResponse(f"text that is not {expected}: {' '.join(text.split())[:80]!r}")
    choices = getattr(resp, "choices", None)
    if not isinstance(choices, list):
        raise ModelBadResponse(f"a body with no choices list instead of {expected}")
    texts = []
    for c in choices:
        if api == "chat":
            message = getattr(c, "message", None)
            content = getattr(message, "content", None) if message is not None else None
        else:
            content = getattr(c, "text", None)
        texts.append(content if isinstance(content, str) else "")
    return texts
