"""The sandbox layer's interface: program + tests + limits -> verdict.

A backend is one module that subclasses :class:`Sandbox` and registers
itself with :func:`register_backend` (or, from another package, through the
``coderefl.sandboxes`` entry point group). Strategies and the scorer depend
on this interface only.
"""

from __future__ import annotations

import abc
import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from coderefl.records import ExecutionResult, Limits


class Sandbox(abc.ABC):
    """Runs an untrusted program and its tests, isolated, and returns a
    verdict the program cannot forge.

    ``program`` is importable as the module ``solution``; ``tests`` is a
    tests file (top-level asserts, ``test_*`` functions, hypothesis
    properties) run with the solution's names in scope. ``files`` are extra
    files (relative path -> content) placed in the work dir. A tests file with
    the line ``# coderefl: plain-values`` runs in judge mode (docs/sandbox.md).

    Everything callers use is declared here, async and sync: a backend
    implements ``run`` (and may override the ``*_sync`` methods when it is
    synchronous at heart); the sync methods otherwise share one wrapper.

    Exceptions: :class:`coderefl.errors.SandboxUnavailable` and
    :class:`coderefl.errors.ImageMissing` when nothing can run. A program
    that crashes, loops or floods is a verdict, never an exception.
    """

    name: str = "abstract"
    #: True when the backend isolates the program from the host.
    isolated: bool = True
    #: one line for ``--help`` and the README's table of backends
    description: str = ""

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

    def run_sync(
        self,
        program: str,
        tests: str | None = None,
        limits: Limits | None = None,
        files: Mapping[str, str | bytes] | None = None,
    ) -> ExecutionResult:
        """:meth:`run` for callers without an event loop (or inside one)."""
        return run_blocking(self.run(program, tests, limits, files))

    def start_sync(self) -> None:
        run_blocking(self.start())

    def close_sync(self) -> None:
        run_blocking(self.close())

    async def __aenter__(self) -> "Sandbox":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


T = TypeVar("T")


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from sync code: on this thread when no event
    loop runs here, else on a helper thread with a loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as err:  # noqa: BLE001 - handed back to the caller as it is
            box["error"] = err

    thread = threading.Thread(target=work, name="coderefl-run-blocking")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


_BACKENDS: dict[str, type[Sandbox]] = {}
#: Python entry points an installed package adds backends through (``name = "pkg.module:Class"``)
ENTRY_POINT_GROUP = "coderefl.sandboxes"


def register_backend(name: str, *, description: str = "") -> Callable[[type[Sandbox]], type[Sandbox]]:
    """Class decorator: make a backend available by ``name`` (``--sandbox NAME``)."""

    def deco(cls: type[Sandbox]) -> type[Sandbox]:
        cls.name = name
        if description:
            cls.description = description
        _BACKENDS[name] = cls
        return cls

    return deco


def available_backends() -> dict[str, type[Sandbox]]:
    """Every backend by name: the modules of ``coderefl.execution`` that register one,
    and those installed packages declare under the ``coderefl.sandboxes`` entry point group."""
    from coderefl.plugins import import_package_modules, load_entry_points

    import_package_modules("coderefl.execution")

    def register(name: str, obj: object) -> None:
        if isinstance(obj, type) and issubclass(obj, Sandbox):
            register_backend(name)(obj)

    load_entry_points(ENTRY_POINT_GROUP, lambda n: n in _BACKENDS, register, "sandbox backend")
    return dict(sorted(_BACKENDS.items()))


def create_sandbox(name: str = "docker", **kwargs: Any) -> Sandbox:
    """Build a backend by name; keyword arguments a backend does not take are ignored."""
    backends = available_backends()
    try:
        factory = backends[name]
    except KeyError:
        from coderefl.errors import BadInput

        raise BadInput(f"unknown sandbox backend {name!r}; choose from {', '.join(backends)}") from None
    params = inspect.signature(factory).parameters.values()
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        names = {p.name for p in params}
        kwargs = {k: v for k, v in kwargs.items() if k in names}
    return factory(**kwargs)
