"""``coderefl fix``: repair functions whose tests fail, as a pre-commit hook.

discover (covering tests) -> testrun (pytest in the sandbox) -> locate
(function under test) -> repair (reflection loop) -> splice (byte-exact,
atomic write-back). :class:`~coderefl.fix.fixer.Fixer` ties them together.
"""

from coderefl.fix.fixer import FileChange, FixConfig, Fixer, FixReport

__all__ = ["FileChange", "FixConfig", "Fixer", "FixReport"]
