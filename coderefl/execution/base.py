"""The sandbox layer's interface: program + tests + limits -> verdict.

A backend is one module that subclasses :class:`Sandbox` and registers
itself with :func:`register_backend`. Strategies and the scorer depend on
this interface only.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any

from coderefl.records import ExecutionResult, Limits


class Sandbox(abc.ABC):
    """Runs an untrusted program and its tests, isolated, and returns a
    verdict the program cannot forge.

    ``program`` is importable as the module ``solution``; ``tests`` is a
    tests file (top-level asserts, ``test_*`` functions, hypothesis
    properties) run with the solution's names in scope. ``files`` are extra
    files (relative path -> content) placed in the work dir.

    Exceptions: :class:`coderefl.errors.SandboxUnavailable` and
    :class:`coderefl.errors.ImageMissing` when nothing can run. A program
    that crashes, loops or floods is a verdict, never an exception.
    """

    name: str = "abstract"
    #: True when the backend isolates the program from the host.
    isolated: bool = True

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    @abc.abstractmethod
    async def run(
        self,
        program: str,
        tests: str | None = None,
        limits: Limits | None = None,
        files: Mapping[str, str | bytes] | None = None,
    ) -> ExecutionResult: ...

    async def start(self) -> None:
        """Prepare resources (pull pool up). Idempotent."""

    async def close(self) -> None:
        """Release every resource. Idempotent; safe after a failed start."""

    async def __aenter__(self) -> "Sandbox":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


_BACKENDS: dict[str, Callable[..., Sandbox]] = {}


def register_backend(name: str) -> Callable[[type[Sandbox]], type[Sandbox]]:
    def deco(cls: type[Sandbox]) -> type[Sandbox]:
        cls.name = name
        _BACKENDS[name] = cls
        return cls

    return deco


def create_sandbox(name: str = "docker", **kwargs: Any) -> Sandbox:
    """Build a backend by name (``docker`` or ``local``)."""
    # Import backends so they register; each is one file.
    from coderefl.execution import docker_pool, local  # noqa: F401

    try:
        factory = _BACKENDS[name]
    except KeyError:
        from coderefl.errors import BadInput

        raise BadInput(f"unknown sandbox backend {name!r}; choose from {', '.join(sorted(_BACKENDS))}")
    return factory(**kwargs)
