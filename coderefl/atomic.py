"""Atomic file writes: a temp file in the same folder, fsync, os.replace.

A reader (or a crash) sees the old file or the new one, never half of one.
Every file coderefl writes for the user goes through here.

Why the mode is set by hand: ``mkstemp`` creates its file 0600 whatever the
umask, so without a chmod every result, summary or solution would be
private to its owner. A file that is replaced keeps its mode (a script
stays executable); a new one gets what ``open()`` would give it, 0666
less the umask.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path


def atomic_write_bytes(
    path: str | Path, data: bytes, *, mode: int | None = None, before_replace: Callable[[], None] | None = None,
    durable: bool = True,
) -> None:
    """Replace ``path`` with ``data`` atomically; ``mode`` sets the permission
    bits (default: the replaced file's, else 0666 less the umask).
    ``before_replace`` runs last, just before the swap: raising there
    leaves ``path`` as it was (a compare-then-swap). ``durable=False``
    skips the fsync, for caches: after a power cut the file may be the old
    one or unreadable (a miss), never another file's content."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except OSError:
            mode = 0o666 & ~current_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows
    (``/proc/self/status``); else set and restored under a lock."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
