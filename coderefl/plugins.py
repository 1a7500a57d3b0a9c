"""How registries fill themselves: every module of a package, and Python entry points.

Strategies, sandbox backends and benchmarks each keep one registry, filled by a
decorator in the module that defines the thing. Adding one is one new file:
inside coderefl, a module in the right package (imported here, so it
registers); outside, a package that declares it under the entry point group
(``coderefl.strategies``, ``coderefl.sandboxes``, ``coderefl.benchmarks``).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from importlib.metadata import entry_points

from coderefl.errors import BadInput

_loaded: set[str] = set()


def import_package_modules(package: str) -> None:
    """Import every public module of ``package`` once (each registers what it defines)."""
    if package in _loaded:
        return
    _loaded.add(package)
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


def load_entry_points(group: str, known: Callable[[str], bool], register: Callable[[str, object], None], kind: str) -> None:
    """Register what installed packages declare under ``group`` (names already known are left alone)."""
    for ep in entry_points(group=group):
        if known(ep.name):
            continue
        try:
            obj = ep.load()
        except Exception as err:  # a broken plug-in is named, not a crash
            raise BadInput(f"{kind} {ep.name!r} from {ep.value} cannot be loaded: {err}") from None
        if not known(ep.name):
            register(ep.name, obj)
