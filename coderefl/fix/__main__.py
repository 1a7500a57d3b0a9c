"""``python -m coderefl.fix``: the pre-commit hook's fast entry (see :mod:`coderefl.fix.hook`)."""

from coderefl.fix.hook import main

main()
