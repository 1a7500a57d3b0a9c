"""Atomic file writes: a temp file in the same folder, fsync, os.replace.

A reader (or a crash) sees the old file or the new one, never half of one.
Every file coderefl writes for the user goes through here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write_bytes(
    path: str | Path, data: bytes, *, mode: int | None = None, before_replace: Callable[[], None] | None = None
) -> None:
    """Replace ``path`` with ``data`` atomically; ``mode`` sets the permission
    bits. ``before_replace`` runs last, just before the swap: raising there
    leaves ``path`` as it was (a compare-then-swap)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
