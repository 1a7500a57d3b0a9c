"""Content-addressed response cache in SQLite: never pay twice for one call.

Why per choice: a call asking for ``n`` choices is stored as ``n`` rows,
one per choice index, keyed by ``sha256(endpoint, model, api, messages or
prompt, temperature, max_tokens, stop, sample_index, choice)``. So a re-run with
the same ``n`` makes zero calls, a re-run with a larger ``n`` asks only for
the missing choices, and a server that returned fewer choices than asked
(then topped up with more calls) is replayed identically.

The endpoint (base URL) is in the key: two servers that both call their
model ``default`` are different models, and an answer one of them gave is
never replayed for the other. The embedded llama.cpp server, which picks a
free port each run, passes a stable endpoint name instead of its URL
(``ModelConfig.cache_endpoint``). The API key is not in the key, nor is ``n``
(see above).

Only usable answers are stored: a blank or missing text (a server that
answered an empty message, ``null`` content, a body that did not parse) is
returned to the caller but never cached, so the next run asks again.
Rows live until cleared (``coderefl cache clear``); each row keeps its
endpoint, model and API mode so a clear can target one endpoint or model.

SQLite in WAL mode with a busy timeout: safe for concurrent use from one
process (a lock serialises the connection) and from several (SQLite's
own file locking); ``INSERT OR IGNORE`` makes the first writer win, so
concurrent runs agree on every cached answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coderefl.errors import BadInput

#: 2: the endpoint joined the key (rows of version 1 never match again; ``cache clear`` removes them)
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    endpoint TEXT NOT NULL DEFAULT '',
    api TEXT NOT NULL DEFAULT ''
)
"""

#: columns added after version 1; an old file gains them on open
_ADDED_COLUMNS = {"endpoint": "TEXT NOT NULL DEFAULT ''", "api": "TEXT NOT NULL DEFAULT ''"}


def usable(text: str | None) -> bool:
    """Whether an answer is worth keeping: some non-blank text."""
    return bool(text and text.strip())


#: what a chat answer that was asked for code must contain to be kept: a fenced block or a definition
_CODE_SIGNS = re.compile(r"```|^\s*(?:async\s+)?def\s|^\s*class\s|^\s*return\b|^\s*import\s|^\s*from\s+\S+\s+import\s",
                         re.MULTILINE)


def worth_caching(text: str | None, phase: str, api: str) -> bool:
    """Usable, and for a chat answer to a request for code (phase ``generate``),
    one that holds some code: an answer that is only prose is not replayed to a
    later run (it is counted, and the next run asks again)."""
    if not usable(text):
        return False
    if phase == "generate" and api == "chat":
        return bool(_CODE_SIGNS.search(text or ""))
    return True


@dataclass(frozen=True)
class CachedChoice:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class CacheGroup:
    """What the cache holds for one endpoint x model x api (``coderefl cache stats``)."""

    endpoint: str  # "" for rows written before the endpoint was recorded
    model: str
    api: str
    rows: int
    text_bytes: int
    oldest: float
    newest: float


def request_key(
    *,
    endpoint: str,
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
        "endpoint": endpoint,
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
                have = {row[1] for row in conn.execute("PRAGMA table_info(responses)")}
                for column, decl in _ADDED_COLUMNS.items():
                    if column not in have:
                        conn.execute(f"ALTER TABLE responses ADD COLUMN {column} {decl}")
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

    def put_many(
        self, model: str, items: Sequence[tuple[str, CachedChoice]], *, endpoint: str = "", api: str = ""
    ) -> int:
        """Store the usable choices of ``items`` (first writer wins); return how many were offered that are usable."""
        keep = [(k, c) for k, c in items if usable(c.text)]
        if not keep:
            return 0
        now = time.time()
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR IGNORE INTO responses"
                    " (key, model, text, finish_reason, prompt_tokens, completion_tokens, created, endpoint, api)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (k, model, c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens, now, endpoint, api)
                        for k, c in keep
                    ],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return len(keep)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def stats(self) -> list[CacheGroup]:
        """Rows per (endpoint, model, api), largest first."""
        with self._lock:
            rows = self._db().execute(
                "SELECT endpoint, model, api, COUNT(*), SUM(LENGTH(text)), MIN(created), MAX(created)"
                " FROM responses GROUP BY endpoint, model, api ORDER BY COUNT(*) DESC, endpoint, model"
            ).fetchall()
        return [CacheGroup(e, m, a, int(n), int(b or 0), float(lo), float(hi)) for e, m, a, n, b, lo, hi in rows]

    def clear(self, *, endpoint: str | None = None, model: str | None = None) -> int:
        """Delete every row, or those of one endpoint and/or model; return how many went."""
        where, args = [], []
        if endpoint is not None:
            where.append("endpoint = ?")
            args.append(endpoint.rstrip("/"))
        if model is not None:
            where.append("model = ?")
            args.append(model)
        sql = "DELETE FROM responses" + (" WHERE " + " AND ".join(where) if where else "")
        with self._lock:
            db = self._db()
            try:
                n = db.execute(sql, args).rowcount
            except sqlite3.Error as err:
                raise BadInput(f"cannot clear the response cache {self.path}: {err}") from None
            if not where:
                db.execute("PRAGMA busy_timeout=1000")
                with contextlib.suppress(sqlite3.Error):  # another process has it open: the space comes back later
                    db.execute("VACUUM")  # give the space back
                db.execute("PRAGMA busy_timeout=30000")
        return int(n)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
