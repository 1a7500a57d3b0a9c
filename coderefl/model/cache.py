"""Content-addressed response cache in SQLite: never pay twice for one call.

Why per choice: a call asking for ``n`` choices is stored as ``n`` rows,
one per choice index, keyed by ``sha256(model, api, messages or prompt,
temperature, max_tokens, stop, sample_index, choice)``. So a re-run with
the same ``n`` makes zero calls, a re-run with a larger ``n`` asks only for
the missing choices, and a server that returned fewer choices than asked
(then topped up with more calls) is replayed identically.

What is *not* in the key: the base URL and the API key. The same model
served from another host or port (the embedded llama.cpp server picks a
free port each run) is the same model; use a different cache path or
``--no-cache`` when you change what sits behind a name. ``n`` is not in
the key either (see above).

SQLite in WAL mode with a busy timeout: safe for concurrent use from one
process (a lock serialises the connection) and from several (SQLite's
own file locking); ``INSERT OR IGNORE`` makes the first writer win, so
concurrent runs agree on every cached answer.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coderefl.errors import BadInput

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
)
"""


@dataclass(frozen=True)
class CachedChoice:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int


def request_key(
    *,
    model: str,
    api: str,
    payload: Any,
    temperature: float,
    max_tokens: int,
    stop: Sequence[str] | None,
    sample_index: int,
) -> str:
    """The part of the key shared by all choices of one request."""
    doc = {
        "v": SCHEMA_VERSION,
        "model": model,
        "api": api,
        "payload": payload,
        "temperature": round(float(temperature), 6),
        "max_tokens": int(max_tokens),
        "stop": list(stop) if stop else [],
        "sample_index": int(sample_index),
    }
    blob = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def choice_key(req_key: str, choice: int) -> str:
    return hashlib.sha256(f"{req_key}:{choice}".encode()).hexdigest()


class ResponseCache:
    """A SQLite file of choices by key. Opened lazily; close() is idempotent."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=30000")
                conn.execute(_SCHEMA)
            except (OSError, sqlite3.Error) as err:
                raise BadInput(
                    f"cannot use the response cache {self.path}: {err}; set CODEREFL_CACHE_PATH or pass --no-cache"
                ) from None
            self._conn = conn
        return self._conn

    def get_many(self, keys: Sequence[str]) -> dict[str, CachedChoice]:
        if not keys:
            return {}
        with self._lock:
            db = self._db()
            marks = ",".join("?" * len(keys))
            rows = db.execute(
                f"SELECT key, text, finish_reason, prompt_tokens, completion_tokens FROM responses WHERE key IN ({marks})",
                list(keys),
            ).fetchall()
        return {k: CachedChoice(t, f, p, c) for k, t, f, p, c in rows}

    def put_many(self, model: str, items: Sequence[tuple[str, CachedChoice]]) -> None:
        if not items:
            return
        now = time.time()
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR IGNORE INTO responses (key, model, text, finish_reason, prompt_tokens, completion_tokens, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(k, model, c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens, now) for k, c in items],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def __len__(self) -> int:
        with self._lock:
            return int(self._db().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def clear(self) -> int:
        with self._lock:
            cur = self._db().execute("DELETE FROM responses")
            return cur.rowcount

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
