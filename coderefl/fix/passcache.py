"""Remember that a repository's exact content passed its covering tests.

The second commit of the usual fixer session (the hook repaired a file,
you re-stage it and commit again) runs the same tests on the same bytes
that the fixer has just seen pass; so does a re-run after another hook
(black, say) stopped the commit without changing anything the tests read.
A marker file named by a digest of everything the verdict depends on lets
that run skip the tests:

* the content of every file the covering tests read as code: the staged
  files, the test files, their ``conftest.py`` files, the modules they
  import (static analysis) and the files they reached when traced;
* the size and modification time of every other file of the work tree (a
  data file a test opens), so a change anywhere is a miss;
* the test files run, coderefl's version and what checked them (this
  Python on the host, or the sandbox image's tag).

Only passes are remembered (a failure is always re-run and repaired), the
markers are empty files written atomically, and a missing or unwritable
cache directory only means no reuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import coderefl
from coderefl.atomic import atomic_write_bytes


def pass_key(root: Path, files: Iterable[str], content: Iterable[str], tests: Sequence[str], checker: str) -> str:
    """The digest naming a pass: ``content`` files by their bytes, the other
    ``files`` by size and modification time."""
    content = set(content)
    h = hashlib.sha256()
    for part in (coderefl.__version__, checker, "\0".join(tests)):
        h.update(part.encode() + b"\0\0")
    for rel in sorted({*files, *content}):
        path = root / rel
        try:
            if rel in content:
                token = hashlib.sha256(path.read_bytes()).digest()
            else:
                st = path.stat()
                token = f"{st.st_size}:{st.st_mtime_ns}".encode()
        except OSError:
            token = b"-"
        h.update(rel.encode() + b"\0" + token)
    return h.hexdigest()


class PassCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / key

    def passed(self, key: str) -> bool:
        return self._path(key).is_file()

    def remember(self, key: str) -> None:
        try:
            atomic_write_bytes(self._path(key), b"", durable=False)  # a lost marker is a miss
        except OSError:
            pass
