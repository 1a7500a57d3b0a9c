"""Sandbox layer: the interface, the hardened Docker pool and the unsafe local backend."""

from coderefl.execution.base import Sandbox, create_sandbox, register_backend

__all__ = ["Sandbox", "create_sandbox", "register_backend"]
