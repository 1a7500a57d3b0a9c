"""Removing leftover sandbox containers (``coderefl sandbox prune``).

Every container carries the owner's pid and host in its labels; one whose
owner is gone was left by a crash (SIGKILL, power loss) and is safe to remove.
"""

from __future__ import annotations

import os
import socket

from coderefl.execution.hardening import LABEL, LABEL_OWNER_HOST, LABEL_OWNER_PID
from coderefl.execution.image import docker_client


def _owner_alive(labels: dict[str, str]) -> bool:
    if labels.get(LABEL_OWNER_HOST) != socket.gethostname():
        return True  # another machine's daemon user: not ours to judge
    try:
        pid = int(labels.get(LABEL_OWNER_PID, ""))
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sandbox_containers(client=None) -> list:
    client = client or docker_client()
    return client.containers.list(all=True, filters={"label": f"{LABEL}=1"}, ignore_removed=True)


def prune(all_: bool = False) -> tuple[int, int]:
    """Remove orphaned (or, with ``all_``, every) sandbox container.
    Returns (removed, kept)."""
    client = docker_client()
    removed = kept = 0
    for c in sandbox_containers(client):
        if not all_ and _owner_alive(c.labels or {}):
            kept += 1
            continue
        try:
            c.remove(force=True)
            removed += 1
        except Exception:
            pass  # removed concurrently
    return removed, kept


def prune_images(client=None) -> int:
    """Remove ``coderefl-sandbox`` images other than the current tag (a
    runner change leaves the old one behind). Images in use are kept."""
    from coderefl.execution.image import IMAGE_REPO, image_tag

    client = client or docker_client()
    current = image_tag()
    removed = 0
    for img in client.images.list(name=IMAGE_REPO):
        tags = [t for t in img.tags if t.startswith(IMAGE_REPO + ":")]
        if not tags or current in img.tags:
            continue
        for tag in tags:
            try:
                client.images.remove(tag, noprune=False)
                removed += 1
            except Exception:
                pass  # in use by a container (another run): keep it
    return removed
