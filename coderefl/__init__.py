"""coderefl: write code with a language model, and do not trust it."""

__version__ = "0.1.0"
