"""Sandbox layer: the interface, the hardened Docker pool and the unsafe local backend."""

from coderefl.execution.base import Sandbox, available_backends, create_sandbox, register_backend, run_blocking

__all__ = ["Sandbox", "available_backends", "create_sandbox", "register_backend", "run_blocking"]
