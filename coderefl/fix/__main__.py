"""``python -m coderefl.fix``: the pre-commit hook's fast entry.

:func:`coderefl.fix.hook.fast` settles a clean commit with the standard
library and the fixer's light parts; anything else goes on to the full
``coderefl fix`` command in the same process. When a warm worker for this
interpreter is waiting (:mod:`coderefl.fix.worker`), all of that runs in a
fork of it instead, with pytest already imported; a run that found none
leaves one behind for the next."""

from __future__ import annotations

import sys
from pathlib import Path

from coderefl.errors import CodereflError
from coderefl.fix import worker
from coderefl.fix.hook import fast, parse


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        where = worker.place(argv) if parse(argv) is not None else None
    except CodereflError:  # a bad CODEREFL_FIX_WORKER: the full command reports it
        full(["fix", *argv])
        sys.exit(0)
    if where is not None:
        served = worker.request(where[0], argv)
        if served is not None:
            sys.exit(served)
    run(argv, where)


def run(argv: list[str], where: tuple[Path, float] | None = None) -> None:
    """The fast path, then (when it cannot settle the check) the full
    command; exits. ``where``: the worker to start once the check is done."""
    try:
        code = fast(argv)
    except CodereflError:
        code = None  # the full command says it properly
    finally:
        if where is not None:
            worker.start(*where)
    if code is not None:
        sys.exit(code)
    full(["fix", *argv])
    sys.exit(0)


def full(argv: list[str]) -> None:
    """The full ``coderefl fix`` command (click, pydantic, the model client)."""
    from coderefl.cli.main import main

    main(argv)


if __name__ == "__main__":
    main()
