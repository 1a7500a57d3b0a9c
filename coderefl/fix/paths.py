"""Where the fixer keeps what it remembers: light, for the hook's first lines."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(env: dict | None = None) -> Path | None:
    """Where the fixer remembers passes (``fix-passed/``) and reach maps
    (``fix-reach/``), and where its warm workers listen (``fix-worker/``): next to the response cache (``CODEREFL_CACHE_PATH``'s
    folder, else the user cache folder); None with ``CODEREFL_NO_CACHE=1``."""
    env = os.environ if env is None else env
    if env.get("CODEREFL_NO_CACHE", "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    if env.get("CODEREFL_CACHE_PATH"):
        return Path(env["CODEREFL_CACHE_PATH"]).expanduser().parent
    import platformdirs

    return Path(platformdirs.user_cache_dir("coderefl"))
