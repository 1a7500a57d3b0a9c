"""The sandbox image: where its definition lives, its content-hashed tag, and
how to build it (online from a slim Python base, or offline from Debian
packages via debootstrap).

The tag is ``coderefl-sandbox:<hash of sandbox/>`` so a changed runner gets a
new image and an unchanged one is reused; nothing else decides staleness.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import coderefl
from coderefl.errors import BadInput, ImageMissing, SandboxUnavailable

IMAGE_REPO = "coderefl-sandbox"
BASE_OFFLINE = "coderefl-sandbox-base:bookworm"
#: files in sandbox/ that never change the image
_IGNORED_PARTS = {"__pycache__", ".pytest_cache"}


def sandbox_dir() -> Path:
    """The ``sandbox/`` directory next to the package (editable install or a
    checkout), or ``CODEREFL_SANDBOX_DIR``."""
    env = os.environ.get("CODEREFL_SANDBOX_DIR")
    package = Path(coderefl.__file__).resolve().parent
    path = Path(env) if env else package.parent / "sandbox"
    if not env and not (path / "runner.py").is_file():
        path = package / "_sandbox"  # a wheel install: shipped as package data
    if not (path / "runner.py").is_file() or not (path / "Dockerfile").is_file():
        raise ImageMissing(
            f"sandbox definition not found at {path} (needs runner.py and Dockerfile); "
            "use an editable install of a coderefl checkout or set CODEREFL_SANDBOX_DIR"
        )
    return path


def runner_path() -> Path:
    """The in-sandbox runner script (also used by the local backend)."""
    return sandbox_dir() / "runner.py"


def content_hash(root: Path | None = None, length: int = 12) -> str:
    """sha256 over the sorted relative paths and bytes of every file under
    ``root``, ignoring caches. Independent of mtimes and listing order."""
    root = root or sandbox_dir()
    digest = hashlib.sha256()
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and not (_IGNORED_PARTS & set(p.relative_to(root).parts)) and p.suffix != ".pyc"
    )
    for path in files:
        rel = path.relative_to(root).as_posix()
        digest.update(rel.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:length]


def image_tag() -> str:
    """The tag of the image built from the current ``sandbox/``.
    ``CODEREFL_SANDBOX_IMAGE`` overrides it (a pre-built image)."""
    return os.environ.get("CODEREFL_SANDBOX_IMAGE") or f"{IMAGE_REPO}:{content_hash()}"


def docker_client(timeout: int = 30):
    """A connected docker SDK client, or SandboxUnavailable with what to do."""
    try:
        import docker

        # many pool threads share one client: a connection pool to match
        client = docker.from_env(timeout=timeout, max_pool_size=64)
        client.ping()
        return client
    except Exception as err:
        raise SandboxUnavailable(
            f"no Docker engine answers ({type(err).__name__}); start dockerd "
            "(e.g. `bash scripts/ci/setup_docker.sh`) or use the unsafe local backend"
        ) from None


def ensure_image(client) -> str:
    """The tag, or ImageMissing saying how to build it."""
    tag = image_tag()
    try:
        client.images.get(tag)
    except Exception:
        raise ImageMissing(f"sandbox image {tag} is not built; run `coderefl sandbox build --offline`") from None
    return tag


@dataclass
class BuildResult:
    tag: str
    built: bool
    base: str


def bootstrap_script() -> Path:
    path = sandbox_dir().parent / "scripts" / "bootstrap_base.sh"
    if not path.is_file():
        raise BadInput(f"offline bootstrap script not found at {path}; run from a coderefl checkout")
    return path


def build_image(offline: bool = False, force: bool = False, base: str | None = None) -> BuildResult:
    """Build (or reuse) the sandbox image. Idempotent and fast when the tag exists.

    Offline: bootstrap the base with debootstrap + ``docker import`` if it is
    missing (``scripts/bootstrap_base.sh``), then layer the runner on it with
    the build's network disabled, so only Debian's mirror is ever contacted.
    """
    client = docker_client(timeout=600)
    tag = image_tag()
    if not force:
        try:
            client.images.get(tag)
            return BuildResult(tag=tag, built=False, base="")
        except Exception:
            pass
    base = base or (BASE_OFFLINE if offline else "python:3.11-slim-bookworm")
    if offline:
        try:
            client.images.get(base)
        except Exception:
            proc = subprocess.run(["bash", str(bootstrap_script()), base], capture_output=True, text=True)
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
                raise SandboxUnavailable(f"bootstrapping the base image failed: {last}")
    import docker.errors

    try:
        client.images.build(
            path=str(sandbox_dir()),
            tag=tag,
            buildargs={"BASE": base},
            rm=True,
            forcerm=True,
            pull=False,
            network_mode="none" if offline else None,
            labels={"coderefl.sandbox.hash": tag.rsplit(":", 1)[-1]},
        )
    except docker.errors.BuildError as err:
        tail = [str(line.get("stream", line.get("error", ""))).strip() for line in err.build_log][-3:]
        raise SandboxUnavailable(f"building {tag} failed: {err.msg}; {' | '.join(t for t in tail if t)}") from None
    except docker.errors.APIError as err:
        raise SandboxUnavailable(f"building {tag} failed: {err.explanation or err}") from None
    return BuildResult(tag=tag, built=True, base=base)
