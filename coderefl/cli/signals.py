"""SIGTERM handled like Ctrl-C, so long commands clean up the same way."""

from __future__ import annotations

import signal


def sigterm_as_interrupt() -> None:
    """Make SIGTERM raise KeyboardInterrupt in the main thread, so the
    ``finally`` blocks that remove sandbox containers and write partial
    results run on ``kill`` as they do on Ctrl-C."""

    def handler(signum: int, frame: object) -> None:  # noqa: ARG001
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. under a test runner)
        pass
