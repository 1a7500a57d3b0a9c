"""``coderefl models check``: is the configured endpoint usable, and how fast?

Why a command: the first thing that goes wrong with a GPU box or a new key
is the endpoint (wrong URL, server not up yet, key typo, model name not
the served one). This reaches the endpoint, lists its models, makes one
tiny uncached completion and prints the latency; failures are one line
that says which of those it is.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click

from coderefl.cli.options import model_options, pop_model_flags
from coderefl.config import resolve_model_config
from coderefl.errors import ModelError, NoModelConfigured
from coderefl.model.client import OPENAI_URL, OpenAIModel
from coderefl.model.errors import ModelAuthError, ModelUnreachable
from coderefl.records import ChatMessage

CHECK_PROMPT = "Reply with the single word: ok"
CHECK_PREFIX = "def add(a, b):\n    return"


@click.group()
def models() -> None:
    """Check a model endpoint."""


@models.command("check")
@model_options
@click.option("--retries", type=int, default=1, show_default=True, help="Retries per request for this check.")
def check(retries: int, **kwargs: Any) -> None:
    """Reach the endpoint, list its models, make one tiny completion, print latency."""
    flags = pop_model_flags(kwargs)
    flags["no_cache"] = True
    config = resolve_model_config(**flags)
    if not config.base_url and not config.api_key:
        raise NoModelConfigured(
            "no endpoint configured: pass --base-url http://HOST:PORT/v1 (a local server) or set OPENAI_API_KEY (OpenAI)"
        )
    config = config.model_copy(update={"max_retries": min(config.max_retries, retries)})
    asyncio.run(_check(config))


async def _check(config: Any) -> None:
    url = config.base_url or OPENAI_URL
    click.echo(f"endpoint: {url}")
    probe = OpenAIModel(config.model_copy(update={"model": config.model or "?"}))
    try:
        t0 = time.monotonic()
        listed = await probe.list_models()
        click.echo(f"models:   {_short_list(listed)}  ({time.monotonic() - t0:.2f} s)")
    except (ModelAuthError, ModelUnreachable):
        raise
    except ModelError as err:  # some servers have no GET /models; the completion still tells
        listed = []
        click.echo(f"models:   (not listed: {err})")
    finally:
        await probe.close()
    name = config.model
    if not name:
        if not listed:
            raise NoModelConfigured(f"{url} lists no models; pass --model NAME")
        name = listed[0]
        click.echo(f"model:    {name} (first listed; pass --model to choose)")
    else:
        note = "" if not listed or name in listed else "  (not in the list; the server may still accept it)"
        click.echo(f"model:    {name}{note}")
    model = OpenAIModel(config.model_copy(update={"model": name}))
    try:
        if config.api == "completions":
            result = await model.complete(CHECK_PREFIX, phase="check", max_tokens=8, temperature=0.0)
        else:
            msgs = [ChatMessage(role="user", content=CHECK_PROMPT)]
            result = await model.chat(msgs, phase="check", max_tokens=8, temperature=0.0)
    finally:
        await model.close()
    reply = " ".join(result.texts[0].split())[:60] if result.texts else ""
    u = result.usage
    click.echo(
        f"reply:    {reply!r}  ({result.latency_s:.2f} s, {u.prompt_tokens} prompt + {u.completion_tokens} completion tokens)"
    )
    click.echo("ok")


def _short_list(names: list[str], limit: int = 8) -> str:
    if not names:
        return "(none listed)"
    shown = ", ".join(names[:limit])
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return shown + more
