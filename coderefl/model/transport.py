"""Which HTTP transport the openai client sends its requests through.

Why not the SDK's default (httpx): with many requests in flight its
connection pool re-checks every idle connection on each request and each
response (a ``poll`` and a ``getpeername`` per connection), so at 64
concurrent calls the pool alone costs the coordinator milliseconds of CPU
per call, CPU the sandbox containers on the same cores need. The SDK's
``openai[aiohttp]`` extra swaps in aiohttp's connector, which hands out
keep-alive connections without that scan. It is the SDK's own, documented
option (``http_client=openai.DefaultAioHttpClient()``): retries,
``Retry-After``, timeouts and error types are unchanged.

``CODEREFL_HTTP_TRANSPORT=httpx`` forces the SDK default (to compare, or
if a proxy set-up needs httpx); without aiohttp installed it is the
default anyway.
"""

from __future__ import annotations

import os
from typing import Any

import openai

from coderefl.errors import BadInput

ENV = "CODEREFL_HTTP_TRANSPORT"
CHOICES = ("aiohttp", "httpx")


def transport_name() -> str:
    """``aiohttp`` when the extra is installed (unless the environment says
    ``httpx``), else ``httpx``."""
    wanted = os.environ.get(ENV, "").strip().lower() or "aiohttp"
    if wanted not in CHOICES:
        raise BadInput(f"{ENV} must be one of {', '.join(CHOICES)}, not {wanted!r}")
    if wanted == "aiohttp" and not aiohttp_available():
        return "httpx"
    return wanted


def aiohttp_available() -> bool:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return False
    return hasattr(openai, "DefaultAioHttpClient")


def http_client(timeout_s: float) -> Any | None:
    """The ``http_client`` for :class:`openai.AsyncOpenAI` (None: the SDK's default)."""
    if transport_name() != "aiohttp":
        return None
    return openai.DefaultAioHttpClient(timeout=timeout_s)
