"""The model layer's interface: messages -> texts + usage.

Strategies depend on :class:`ChatModel` only. The OpenAI-compatible client
(``coderefl.model.client``) implements it; so can anything else.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from coderefl.records import ChatMessage, Completion


@dataclass(frozen=True)
class RetryEvent:
    """A model call failed and will be asked again after ``wait_s``."""

    endpoint: str
    attempt: int  # 1 for the first retry
    limit: int  # retries allowed for this kind of failure
    wait_s: float
    reason: str  # one line: what failed


class ChatModel(abc.ABC):
    """A model endpoint. ``phase`` tags usage (generate, tests, reflect, ...)."""

    #: the model name, as recorded in run records
    name: str = ""
    #: "chat" sends messages; "completions" sends a raw prompt prefix (base models)
    api: str = "chat"
    #: called (in the event loop) before each retry, so a progress display can show it
    on_retry: Callable[[RetryEvent], None] | None = None

    @abc.abstractmethod
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
        """Return ``n`` choices. ``sample_index`` separates otherwise identical
        calls in the response cache (sample k of a pass@k run)."""

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
        """Raw text completion, for base models. Optional."""
        raise NotImplementedError(f"{type(self).__name__} has no completion mode")

    async def start(self) -> None:
        """Set up what the first call would (HTTP client, TLS context) in
        the running event loop, so it does not hold up that call. Optional."""

    async def close(self) -> None:
        """Release connections. Idempotent."""
