"""The pre-commit hook's fast entry: ``python -m coderefl.fix [FILES]``.

A clean commit must cost about what black costs, so this path imports only
the standard library and the light parts of the fixer (no pydantic, no
click, no Docker SDK, no model client): it finds the covering tests, skips
what already passed on this exact content, runs the tests on the host
(:func:`coderefl.fix.check.precheck`) and exits 0 when they pass or no test
covers the files. Anything else, a failing test, a staged file that does not
compile, an option this path does not know, goes on to the full ``coderefl
fix`` command in the same process, with the check handed over so the tests
are not run twice. Output and exit codes are the full command's. The entry
itself is :mod:`coderefl.fix.__main__` (an entry point may reach the CLI).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from coderefl.errors import CodereflError
from coderefl.settings_file import find_settings_file

#: flags this path understands; any other goes to the full command
FLAGS = {"-q", "--quiet", "--dry-run", "--no-cache"}
VALUED = {"--exec-timeout": "exec_timeout", "--check-in": "check_in"}
DEFAULTS = {"exec_timeout": 120.0, "check_in": "host"}


def parse(argv: list[str]) -> tuple[list[str], set[str], dict[str, str]] | None:
    """Files, flags and valued options; None for anything else."""
    files: list[str] = []
    flags: set[str] = set()
    values: dict[str, str] = {}
    it = iter(argv)
    for arg in it:
        name, eq, value = arg.partition("=")
        if arg == "--":
            files.extend(it)
        elif arg in FLAGS:
            flags.add(arg)
        elif name in VALUED:
            value = value if eq else next(it, None)
            if value is None:
                return None
            values[VALUED[name]] = value
        elif arg.startswith("-"):
            return None
        else:
            files.append(arg)
    return files, flags, values


def file_settings(start: Path) -> dict | None:
    """The ``[fix]`` table of the nearest coderefl.toml (or pyproject.toml
    with ``[tool.coderefl]``), as the full command finds it; None when the
    file sets what only the full command handles (its model cache) or does
    not parse, so that the full command reports it."""
    import tomllib  # here, not at the top: a run a warm worker serves never reads settings itself

    path = find_settings_file(start)
    if path is None:
        return {}
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if path.name == "pyproject.toml":
        doc = doc["tool"]["coderefl"] if isinstance(doc["tool"]["coderefl"], dict) else {}
    model = doc.get("model")
    if isinstance(model, dict) and ({"cache", "cache_path"} & set(model)):
        return None
    table = doc.get("fix", {})
    return table if isinstance(table, dict) else None


def settings(values: dict[str, str], start: Path) -> dict | None:
    """exec_timeout and check_in as the full command resolves them: a flag,
    else ``CODEREFL_FIX_<NAME>``, else ``[fix]``, else the default."""
    table = file_settings(start)
    if table is None:
        return None
    out = {}
    for name, default in DEFAULTS.items():
        raw = values.get(name, os.environ.get(f"CODEREFL_FIX_{name.upper()}") or table.get(name, default))
        try:
            value = float(raw) if name == "exec_timeout" else str(raw)
        except (TypeError, ValueError):
            return None
        if (name == "exec_timeout" and not value > 0) or (name == "check_in" and value not in ("host", "sandbox")):
            return None
        out[name] = value
    return out


def fast(argv: list[str]) -> int | None:
    """The exit code when the check settles it here, else None."""
    from coderefl.fix.check import cache_dir, hand_over, precheck
    from coderefl.fix.discover import files_to_check, find_root

    parsed = parse(argv)
    if parsed is None:
        return None
    files, flags, values = parsed
    opts = settings(values, Path.cwd().resolve())
    if opts is None or opts["check_in"] != "host":
        return None
    quiet = bool({"-q", "--quiet"} & flags)

    def say(msg: str) -> None:
        if not quiet:
            print(f"coderefl fix: {msg}", file=sys.stderr, flush=True)

    root = find_root(Path.cwd())
    staged = files_to_check(root, files, os.environ.get("PRE_COMMIT") == "1")
    if not staged:
        say("no Python files to check")
        return 0
    cache = None if "--no-cache" in flags else cache_dir()
    check = precheck(root, staged, passes=cache / "fix-passed" if cache else None,
                     reach=cache / "fix-reach" if cache else None, timeout_s=opts["exec_timeout"], log=say)
    if check.status in ("no_tests", "cached", "passed"):
        say(check.summary)
        return 0
    hand_over(root, staged, check)
    return None
