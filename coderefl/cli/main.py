"""The ``coderefl`` entry point: a click group whose subcommands live in one
module each and are imported only when used (fast ``--help``)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys

import click

from coderefl import __version__
from coderefl.cli.env import bad_environment_value, bind_environment
from coderefl.envvars import deprecated_in, parse_bool
from coderefl.errors import CodereflError

#: command name -> "module:attribute"; a new command is one line here.
COMMANDS: dict[str, tuple[str, str]] = {
    "sandbox": ("coderefl.cli.sandbox:sandbox", "Run code in the hardened sandbox; build, check and prune it."),
    "problems": ("coderefl.cli.problems:problems", "List, show and check problem sets."),
    "models": ("coderefl.cli.models:models", "Check a model endpoint."),
    "cache": ("coderefl.cli.cache:cache", "Show or clear the model response cache."),
    "serve-local": ("coderefl.cli.local:serve_local", "Serve the embedded local model (llama.cpp)."),
    "solve": ("coderefl.cli.solve:solve", "Solve one problem with a strategy."),
    "eval": ("coderefl.cli.evaluate:evaluate", "Evaluate a strategy on a benchmark."),
    "report": ("coderefl.cli.report:report", "Compare evaluation runs side by side."),
    "show": ("coderefl.cli.show:show", "Show a trajectory readably."),
    "fix": ("coderefl.cli.fix:fix", "Repair functions whose tests fail (a pre-commit hook)."),
    "export": ("coderefl.cli.export:export", "Export successful trajectories for fine-tuning."),
    "view": ("coderefl.cli.view:view", "Browse runs and trajectories in a web page."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n, (target, _) in COMMANDS.items() if _exists(target))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None or not _exists(entry[0]):
            return None
        module, attr = entry[0].split(":")
        command = getattr(importlib.import_module(module), attr)
        bind_environment(command, name)  # its environment variables, from the one table
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n][1]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _exists(target: str) -> bool:
    module = target.split(":")[0]
    return importlib.util.find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="coderefl")
def cli() -> None:
    """coderefl: write code with a language model, and do not trust it.

    Every candidate runs in an isolated sandbox against tests; failures
    become reflections that condition the next attempt.
    """


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; expected errors print one line to stderr and exit non-zero."""
    debug = False
    try:
        debug = parse_bool("CODEREFL_DEBUG", os.environ.get("CODEREFL_DEBUG"))
        for warning in deprecated_in(dict(os.environ)):
            click.echo(f"coderefl: warning: {warning}", err=True)
        rv = cli.main(args=argv, prog_name="coderefl", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("coderefl: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        click.echo(one_line(err), err=True)
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except CodereflError as err:
        click.echo(f"coderefl: error: {err}", err=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("coderefl: interrupted", err=True)
        sys.exit(130)
    except Exception as err:  # last resort: still one line unless asked for more
        if debug:
            raise
        click.echo(f"coderefl: internal error: {type(err).__name__}: {err} (set CODEREFL_DEBUG=1 for a traceback)", err=True)
        sys.exit(3)
    else:
        # standalone_mode=False: ctx.exit(n) comes back as the return value
        sys.exit(rv if isinstance(rv, int) else 0)


def one_line(err: click.ClickException) -> str:
    """Click's error as one line: ``coderefl: error: [COMMAND: ]message``,
    with where to look for a usage error (click prints four lines)."""
    from_env = bad_environment_value(err)
    if from_env:
        return f"coderefl: error: {from_env}"
    # click names an option's variable in every error about it; a flag's error is about the flag
    message = re.sub(r" \(env var: [^)]*\)", "", " ".join(err.format_message().split()))
    ctx = getattr(err, "ctx", None)
    if isinstance(err, click.UsageError) and ctx is not None:
        where = ctx.command_path
        sub = where.partition(" ")[2]
        return f"coderefl: error: {sub + ': ' if sub else ''}{message} (see '{where} --help')"
    return f"coderefl: error: {message}"


if __name__ == "__main__":
    main()
