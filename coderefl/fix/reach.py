"""Which repository files each test file reached when it last ran (dynamic coverage).

Static import analysis (:mod:`coderefl.fix.discover`) cannot see a module
reached through ``importlib``, a string, or a fixture whose module is
chosen at run time. So host runs of the tests are traced
(:mod:`coderefl.fix.pytest_report`): for each test file, the repository
files whose code its collection, its tests and the fixtures they use
called into. This module keeps those maps between runs, one JSON file per
repository under the fixer's cache directory, each entry stamped with a
digest of the test file and the ``conftest.py`` files pytest loads for it,
and with the time it was traced. A run is traced when one of its test files
has no entry, an out-of-date stamp, or an entry older than a day
(:data:`REFRESH_S`: a change of the code under test can change what a
test reaches, though rarely in a way static analysis misses); otherwise it
runs untraced, which saves a fifth of a small suite's pytest time.

How the hook uses it: a test file covers a staged file when static
analysis says so *or* its recorded reach contains the file. A test file
with no entry yet (a new one, or the first run in a repository) is run
once with the covering tests, so that its reach gets recorded; its
failures count only if it turns out to reach a staged file. An entry
whose stamp is out of date is still used (it can only add tests) and is
replaced the next time that test file runs.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from coderefl.atomic import atomic_write_bytes
from coderefl.fix.discover import conftests_of

VERSION = 1
#: an entry older than this is traced again when its test file runs, s
REFRESH_S = 86400.0


def stamp(root: Path, test_file: str, existing: set[str]) -> str:
    """A digest of a test file and the conftest.py files it loads."""
    h = hashlib.sha256()
    for rel in (test_file, *conftests_of(test_file, existing)):
        try:
            data = (root / rel).read_bytes()
        except OSError:
            data = b""
        h.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


class ReachMap:
    """Test file -> the repository files it reached, persisted (or not, with
    ``path=None``: then nothing is remembered and nothing extra is run)."""

    def __init__(self, path: Path | None, entries: dict[str, dict] | None = None) -> None:
        self.path = path
        self.entries: dict[str, dict] = entries or {}
        self._stored = self._doc() if entries is not None else None  # what the file holds

    @classmethod
    def load(cls, cache_dir: Path | None, root: Path) -> "ReachMap":
        if cache_dir is None:
            return cls(None)
        path = cache_dir / f"reach-{hashlib.sha256(str(root).encode()).hexdigest()[:16]}.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(path)
        if not isinstance(doc, dict) or doc.get("version") != VERSION or not isinstance(doc.get("tests"), dict):
            return cls(path)
        return cls(path, {k: v for k, v in doc["tests"].items() if isinstance(v, dict)})

    def _doc(self) -> bytes:
        return json.dumps({"version": VERSION, "tests": self.entries}, sort_keys=True).encode()

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def unmapped(self, root: Path, tests: list[str], existing: set[str]) -> list[str]:
        """Test files never traced, or changed (with their conftests) since:
        run them once to learn their reach."""
        if not self.enabled:
            return []
        return [t for t in tests if self.entries.get(t, {}).get("stamp") != stamp(root, t, existing)]

    def needs_trace(self, root: Path, tests: list[str], existing: set[str], now: float | None = None) -> bool:
        """Whether a run of ``tests`` should be traced: one of them has no
        entry, an out-of-date one, or one older than :data:`REFRESH_S`."""
        if not self.enabled:
            return False
        now = time.time() if now is None else now
        for t in tests:
            entry = self.entries.get(t, {})
            traced = entry.get("traced")
            if not isinstance(traced, (int, float)) or not 0 <= now - traced < REFRESH_S:
                return True
            if entry.get("stamp") != stamp(root, t, existing):
                return True
        return False

    def tests_reaching(self, source: str) -> list[str]:
        return sorted(t for t, e in self.entries.items() if source in e.get("files", ()))

    def files_of(self, test_file: str) -> list[str]:
        return list(self.entries.get(test_file, {}).get("files", ()))

    def record(self, root: Path, reached: dict[str, list[str]], existing: set[str], now: float | None = None) -> None:
        """Replace the entries of the test files a traced run reached."""
        now = time.time() if now is None else now
        for test_file, files in reached.items():
            if test_file in existing:
                self.entries[test_file] = {"stamp": stamp(root, test_file, existing), "files": sorted(files),
                                           "traced": now}
        for gone in [t for t in self.entries if t not in existing]:
            del self.entries[gone]

    def save(self) -> None:
        if self.path is None:
            return
        doc = self._doc()
        if doc == self._stored:
            return  # nothing new to remember
        try:
            atomic_write_bytes(self.path, doc, durable=False)  # a cache: a lost write is a miss
            self._stored = doc
        except OSError:
            pass
