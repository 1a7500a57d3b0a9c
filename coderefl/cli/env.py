"""Environment variables of the click options, bound from the one table.

No option declares ``envvar=`` and the group sets no automatic prefix:
:func:`bind_environment` gives each option the variable that
:data:`coderefl.envvars.ENVIRONMENT` names for it (and the deprecated
spelling, if it has one), so the table is the only list. A bad value is
reported with the variable's name (:func:`bad_environment_value`).
"""

from __future__ import annotations

import os

import click
from click.core import ParameterSource

from coderefl.envvars import flag_bindings


def long_flag(param: click.Parameter) -> str | None:
    return next((o for o in param.opts if o.startswith("--")), None)


def bind_environment(command: click.Command, path: str) -> None:
    """Set ``envvar`` on the options of ``command`` (called ``path``, e.g.
    "sandbox run") and of its subcommands, as the table says."""
    bindings = flag_bindings()
    for param in command.params:
        flag = long_flag(param)
        row = bindings.get((path, flag)) if isinstance(param, click.Option) and flag else None
        if row is not None:
            param.envvar = [row.name, *row.aliases]
            param.show_envvar = True
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            bind_environment(sub, f"{path} {name}")


def env_origin(ctx: click.Context | None, param: click.Parameter | None) -> str | None:
    """The variable ``param``'s value came from, or None when it did not come from one."""
    if ctx is None or param is None or param.name is None:
        return None
    if ctx.get_parameter_source(param.name) != ParameterSource.ENVIRONMENT:
        return None
    names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or [])
    return next((n for n in names if os.environ.get(n)), None)


def bad_environment_value(err: click.ClickException) -> str | None:
    """``environment variable NAME: why (it sets COMMAND --flag)``
    for a bad value that came from the environment, else None."""
    if not isinstance(err, click.BadParameter):
        return None
    ctx, param = err.ctx, err.param
    name = env_origin(ctx, param)
    if name is None or ctx is None or param is None:
        return None
    message = " ".join(str(err.message).split()).rstrip(".")
    return f"environment variable {name}: {message} (it sets {ctx.command_path} {long_flag(param)})"


def origin_note(param_name: str) -> str:
    """`` (from environment variable NAME)`` when the current command's
    ``param_name`` was set by the environment; for errors found after parsing."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return ""
    param = next((p for p in ctx.command.params if p.name == param_name), None)
    name = env_origin(ctx, param)
    return f" (from environment variable {name})" if name else ""
