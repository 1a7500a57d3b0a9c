"""Model layer: any OpenAI-compatible endpoint, with retries, n-sampling, usage and a response cache."""

from coderefl.model.base import ChatModel

__all__ = ["ChatModel"]
