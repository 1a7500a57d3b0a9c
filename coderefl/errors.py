"""Typed errors. Layers raise these; only the CLI turns them into one-line
messages and exit codes (see ``coderefl.cli.main``)."""

from __future__ import annotations

from typing import Literal


class CodereflError(Exception):
    """Base of every error coderefl expects. ``str(err)`` is the one line the
    user sees, so it says what went wrong and what to do."""

    exit_code = 2


#: the old misspelling, kept for one release so code that catches it keeps working
CoderelfError = CodereflError


class BadInput(CodereflError):
    """A file, flag or value the user gave cannot be used."""


class SandboxError(CodereflError):
    """The sandbox cannot run anything (not: the program failed)."""


class SandboxUnavailable(SandboxError):
    """No Docker engine answers, or the backend cannot start."""


class ImageMissing(SandboxError):
    """The sandbox image is not built."""


class ModelError(CodereflError):
    """The model endpoint cannot be used (unreachable, bad key, unknown model)."""


class NoModelConfigured(ModelError):
    """No endpoint or model is configured."""


class BudgetExceeded(CodereflError):
    """A per-problem budget (calls, tokens, time) ran out. The framework
    (:meth:`coderefl.strategies.base.Strategy.solve`) catches it and ends the
    trajectory with the best candidate so far; ``which`` is the stop reason."""

    def __init__(self, which: Literal["budget_calls", "budget_tokens", "budget_time"], message: str = "") -> None:
        super().__init__(message or f"budget exhausted: {which}")
        self.which = which
