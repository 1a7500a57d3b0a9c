"""``coderefl fix``: repair functions whose tests fail, as a pre-commit hook.

check (covering tests, run on the host) -> testrun (pytest in the sandbox,
for repairs) -> locate (function under test) -> repair (reflection loop)
-> splice (byte-exact, atomic write-back). :class:`~coderefl.fix.fixer.Fixer`
ties them together; :mod:`coderefl.fix.hook` is the hook's fast entry.

The exports are loaded on first use, so that ``python -m coderefl.fix``
(which imports this package first) stays free of pydantic and the rest.
"""

from __future__ import annotations

import importlib

__all__ = ["FileChange", "FixConfig", "Fixer", "FixReport"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("coderefl.fix.fixer"), name)
    raise AttributeError(f"module 'coderefl.fix' has no attribute {name!r}")
