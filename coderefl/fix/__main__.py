"""``python -m coderefl.fix``: the pre-commit hook's fast entry.

:func:`coderefl.fix.hook.fast` settles a clean commit with the standard
library and the fixer's light parts; anything else goes on to the full
``coderefl fix`` command in the same process."""

from __future__ import annotations

import sys

from coderefl.errors import CodereflError
from coderefl.fix.hook import fast


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        code = fast(argv)
    except CodereflError:
        code = None  # the full command says it properly
    if code is not None:
        sys.exit(code)
    from coderefl.cli.main import main as full

    full(["fix", *argv])


if __name__ == "__main__":
    main()
