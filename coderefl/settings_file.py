"""Where coderefl's settings file is: the nearest ``coderefl.toml``, or
``pyproject.toml`` with ``[tool.coderefl]``, walking up from a folder.

Standard library only, so the pre-commit hook's fast path
(:mod:`coderefl.fix.hook`) finds the file exactly as the full command does
(:func:`coderefl.config.load_settings`) without importing pydantic.
"""

from __future__ import annotations

import tomllib
from pathlib import Path


def find_settings_file(start_dir: Path | None = None) -> Path | None:
    """The nearest coderefl.toml, or pyproject.toml with [tool.coderefl], walking up."""
    here = (start_dir or Path.cwd()).resolve()
    for d in (here, *here.parents):
        own = d / "coderefl.toml"
        if own.is_file():
            return own
        pyproject = d / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError):
                continue
            if isinstance(data.get("tool"), dict) and "coderefl" in data["tool"]:
                return pyproject
    return None
