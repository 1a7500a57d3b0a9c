"""Put a repaired function back into its file, and nothing else.

Never lose user code: the new file is the old bytes before the function's
span, the new function, and the old bytes after it. Everything outside
the span is byte-identical (line endings, encoding declarations, trailing
whitespace, comments). The new function is re-indented to the original's
indentation and given the file's line ending. Writes are atomic and refuse
to overwrite a file whose content changed since it was read.
"""

from __future__ import annotations

import difflib
import hashlib
import stat
from pathlib import Path

from coderefl.atomic import atomic_write_bytes
from coderefl.code.parser import syntax_error
from coderefl.errors import CoderelfError
from coderefl.fix.locate import FunctionSpan, functions


class SpliceError(CoderelfError):
    """The new function cannot be spliced in (syntax error, wrong name)."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def newline_of(data: bytes) -> bytes:
    """The file's line ending: CRLF when its first line ends with one."""
    first = data.find(b"\n")
    return b"\r\n" if first > 0 and data[first - 1 : first] == b"\r" else b"\n"


def reindent(func: str, indent: bytes, newline: bytes) -> bytes:
    """A dedented function as the bytes to place at ``indent``: the first
    line gets no prefix (the original's indentation stays before the span),
    the others get ``indent``; blank lines stay empty."""
    lines = func.rstrip().replace("\r\n", "\n").split("\n")
    out = [lines[0].encode("utf-8")]
    for line in lines[1:]:
        out.append(indent + line.encode("utf-8") if line.strip() else b"")
    return newline.join(out)


def splice(data: bytes, span: FunctionSpan, func: str) -> bytes:
    """``data`` with ``span`` replaced by ``func`` (a dedented definition).

    Raises :class:`SpliceError` when the result does not parse or no longer
    defines the function under the same qualified name."""
    new = data[: span.start] + reindent(func, span.indent, newline_of(data)) + data[span.end :]
    try:
        source = new.decode("utf-8")
    except UnicodeDecodeError as err:  # pragma: no cover - func is str
        raise SpliceError(f"not UTF-8: {err}") from None
    err = syntax_error(source)
    if err is not None:
        raise SpliceError(f"the repaired file does not parse: {err}")
    if not any(s.qualname == span.qualname for s in functions(new)):
        raise SpliceError(f"the repaired file no longer defines {span.qualname}")
    return new


def unified_diff(rel: str, old: bytes, new: bytes) -> str:
    a = old.decode("utf-8", "replace").splitlines(keepends=True)
    b = new.decode("utf-8", "replace").splitlines(keepends=True)
    text = "".join(difflib.unified_diff(a, b, f"a/{rel}", f"b/{rel}"))
    return text if text.endswith("\n") or not text else text + "\n"


class ChangedOnDisk(CoderelfError):
    """The file changed after coderefl read it; it is left alone."""


def write_if_unchanged(path: Path, expected_sha: str, new: bytes) -> None:
    """Atomically replace ``path`` with ``new`` if its content still hashes
    to ``expected_sha``, checked once before writing and once more just
    before the swap. Keeps the file's permission bits."""

    def unchanged() -> None:
        try:
            current = path.read_bytes()
        except FileNotFoundError:
            raise ChangedOnDisk(f"{path} was removed while coderefl was running; not written") from None
        if digest(current) != expected_sha:
            raise ChangedOnDisk(f"{path} changed while coderefl was running; not overwritten")

    unchanged()
    atomic_write_bytes(path, new, mode=stat.S_IMODE(path.stat().st_mode), before_replace=unchanged)
