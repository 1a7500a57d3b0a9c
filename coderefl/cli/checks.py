"""Checks of paths and values made before any work starts.

Why up front: a solve or an evaluation can take minutes to hours; an output
path that turns out unwritable afterwards loses that work. Each check
raises :class:`BadInput` with one line naming the flag, so the CLI exits 2.
"""

from __future__ import annotations

import ast
import tempfile
from pathlib import Path

from coderefl.errors import BadInput


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe_dir(directory: Path, flag: str, shown: Path) -> None:
    """Fail unless a file can be created in ``directory`` (read-only
    mounts and permissions included: the honest test is to try)."""
    if not directory.is_dir():
        raise BadInput(f"{flag} {shown}: {directory} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=".coderefl-probe-"):
            pass
    except OSError as err:
        raise BadInput(f"{flag} {shown}: cannot write in {directory} ({err.strerror or err})") from None


def check_output_file(path: Path, flag: str = "--out") -> None:
    """``path`` can be written as a file: not a folder, its folder writable
    (or creatable: the nearest existing one is writable)."""
    if path.is_dir():
        raise BadInput(f"{flag} {path}: is a folder; give a file path")
    if path.exists() and not path.is_file():
        raise BadInput(f"{flag} {path}: not a regular file")
    _probe_dir(_nearest_existing(path.parent), flag, path)


def check_output_dir(path: Path, flag: str = "--out") -> None:
    """``path`` can be used as an output folder: a writable folder, or
    creatable under the nearest existing one."""
    if path.exists() and not path.is_dir():
        raise BadInput(f"{flag} {path}: is a file; give a folder")
    _probe_dir(_nearest_existing(path), flag, path)


def check_entry(spec_text: str, entry: str | None) -> None:
    """A Python stub that defines functions must define ``--entry``."""
    if not entry:
        return
    try:
        tree = ast.parse(spec_text)
    except (SyntaxError, ValueError):
        return  # prose, or a prompt that is not a module: nothing to check against
    defined = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if defined and entry not in defined:
        raise BadInput(f"--entry {entry}: the stub defines no function {entry!r} (it defines {', '.join(defined)})")
