"""Remember that a repository's exact content passed its covering tests.

The second commit of the usual fixer session (the hook repaired a file,
you re-stage it and commit again) runs the same tests on the same bytes
that the fixer has just seen pass in the sandbox; so does a re-run after
another hook (black, say) stopped the commit without changing anything
the tests read. A marker file named by a digest of everything the verdict
depends on lets that run skip the sandbox:

* every file copied into the sandbox (path and bytes), so any change to any
  file of the work tree (not only the staged ones) is a miss;
* the test files run, coderefl's version and the sandbox image's tag.

Only passes are remembered (a failure is always re-run and repaired), the
markers are empty files written atomically, and a missing or unwritable
cache directory only means no reuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import coderefl
from coderefl.atomic import atomic_write_bytes


def pass_key(files: Mapping[str, bytes], tests: Sequence[str]) -> str:
    from coderefl.execution.image import image_tag

    h = hashlib.sha256()
    for part in (coderefl.__version__, image_tag(), "\0".join(tests)):
        h.update(part.encode() + b"\0\0")
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
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
            atomic_write_bytes(self._path(key), b"")
        except OSError:
            pass
