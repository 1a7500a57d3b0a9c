"""``python3 -m coderefl``: the same CLI as the ``coderefl`` script (useful
right after install, before a shell has found the new script)."""

from coderefl.cli.main import main

main()
