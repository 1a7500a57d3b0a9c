"""How a sandbox container is confined: one function that turns Limits into
docker SDK ``create`` arguments, used by the pool, the one-container-per-run
benchmark and ``sandbox doctor`` alike, so they cannot drift apart.

Only container-level limits (memory, pids, cpus, tmpfs) need their own
container; the timeout and the output cap are enforced per job by the runner.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from coderefl.records import Limits

LABEL = "coderefl.sandbox"
LABEL_OWNER_PID = "coderefl.owner_pid"
LABEL_OWNER_HOST = "coderefl.owner_host"
SANDBOX_USER = "65534:65534"  # nobody:nogroup; never root inside


def container_key(limits: Limits) -> tuple[int, int, float, int]:
    """The part of Limits a container is created with."""
    return (limits.memory_mb, limits.pids, limits.cpus, limits.tmpfs_mb)


def owner_labels() -> dict[str, str]:
    return {LABEL: "1", LABEL_OWNER_PID: str(os.getpid()), LABEL_OWNER_HOST: socket.gethostname()}


def container_kwargs(image: str, limits: Limits, *, command: list[str] | None = None, interactive: bool = True) -> dict[str, Any]:
    """Arguments for ``client.containers.create`` / ``run``: every hardening
    measure is on; nothing from the host (env, paths, network) gets in."""
    from docker.types import LogConfig, Ulimit

    tmpfs_opts = f"size={limits.tmpfs_mb}m,mode=1777,nosuid,nodev,noexec"
    kwargs: dict[str, Any] = dict(
        image=image,
        detach=True,
        stdin_open=interactive,
        tty=False,
        network_mode="none",
        mem_limit=f"{limits.memory_mb}m",
        memswap_limit=f"{limits.memory_mb}m",
        mem_swappiness=0,
        pids_limit=limits.pids,
        nano_cpus=int(limits.cpus * 1e9),
        read_only=True,
        tmpfs={"/work": tmpfs_opts, "/tmp": tmpfs_opts},
        shm_size="16m",
        user=SANDBOX_USER,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        environment={},
        hostname="sandbox",
        labels=owner_labels(),
        log_config=LogConfig(type=LogConfig.types.NONE),
        ulimits=[Ulimit(name="core", soft=0, hard=0), Ulimit(name="nofile", soft=1024, hard=1024)],
        auto_remove=False,
        volumes={},
    )
    if command is not None:
        kwargs["command"] = command
    return kwargs
