"""``coderefl solve``: one problem from the command line.

The problem comes from an argument, ``--file`` or stdin (``-``): a prose
spec, a stub with a docstring, or a HumanEval-style prompt. User tests
(``--tests``) are authoritative. Progress goes to stderr, the final code to
stdout or ``--out``. Exit 0 when the final candidate passes its tests, 1
when it does not, 2 on bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from coderefl.cli.checks import check_entry, check_output_file
from coderefl.cli.options import (
    agent_config_from, agent_options, local_api, local_option, model_endpoint, model_options, pop_model_flags, sandbox_option,
    strategy_choice,
)
from coderefl.cli.render import step_line
from coderefl.cli.signals import run_interruptible
from coderefl.config import resolve_model_config
from coderefl.atomic import atomic_write_text
from coderefl.errors import BadInput
from coderefl.execution import create_sandbox
from coderefl.model.client import build_model
from coderefl.execution.jobs import wants_judge
from coderefl.records import Trajectory
from coderefl.run.progress import retry_line
from coderefl.spec import problem_from_spec, split_tests
from coderefl.strategies.base import create_strategy


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise BadInput(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read {what} {path}: {err}") from None


def _spec_text(prompt: str | None, spec_file: Path | None) -> str:
    if prompt is not None and spec_file is not None:
        raise BadInput("give the problem once: as an argument, with --file, or on stdin")
    if spec_file is not None:
        return _read(spec_file, "spec file")
    if prompt == "-" or (prompt is None and not sys.stdin.isatty()):
        return sys.stdin.read()
    if prompt is None:
        raise BadInput("no problem given: pass a prompt, --file SPEC, or '-' to read stdin")
    return prompt


class _CompletionOnly:
    """Stands in for a base model when checking a strategy fits one."""

    api = "completions"


async def _solve(strategy, problem, user_tests) -> Trajectory:
    try:
        await strategy.sandbox.start()
        return await strategy.solve(problem, user_tests=user_tests)
    finally:
        await strategy.sandbox.close()
        await strategy.model.close()
        if strategy.memory is not None:
            strategy.memory.close()


@click.command()
@click.argument("prompt", required=False)
@click.option("--file", "spec_file", type=click.Path(path_type=Path), help="Read the problem from a file (.md, .txt, stub .py).")
@click.option("--tests", "tests_file", type=click.Path(path_type=Path), help="Your tests (asserts or test_* functions); always run.")
@click.option("--entry", default=None, help="Name of the function to write.")
@click.option("--strategy", type=strategy_choice(), default="reflexion", show_default=True, help="How the agent works (README: Strategies).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write the final code here instead of stdout.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole trajectory as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@click.option("--memory", "memory_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Long-term memory (SQLite): recall lessons from past problems, store new ones.")
@click.option("--ask/--no-ask", default=False, help="When still failing, ask you (on the terminal) what one input should return.")
@sandbox_option
@agent_options
@local_option
@model_options
def solve(prompt, spec_file, tests_file, entry, strategy, out, as_json, quiet, memory_path, ask, sandbox_backend, local, **kwargs) -> None:
    """Solve one problem: PROMPT, --file SPEC, or '-' for stdin."""
    model_config = resolve_model_config(**pop_model_flags(kwargs))
    agent_config = agent_config_from(kwargs, temperature=model_config.temperature)
    if out is not None:
        check_output_file(out)
    user_text = _read(tests_file, "tests file") if tests_file else ""
    user_tests = split_tests(user_text) if tests_file else []
    if user_tests and not wants_judge(user_text):
        # your tests may use the program's objects: in-process (docs/sandbox.md, isolation modes)
        agent_config = agent_config.model_copy(update={"isolation": "in-process"})
    spec = _spec_text(prompt, spec_file)
    check_entry(spec, entry)
    problem = problem_from_spec(spec, entry=entry, tests=user_tests)

    if local and local_api(model_config, local) == "completions":  # fail fast on a strategy a base model cannot drive
        create_strategy(strategy, _CompletionOnly(), None, agent_config)  # type: ignore[arg-type]
    err = Console(stderr=True, highlight=False)
    with model_endpoint(model_config, local) as endpoint:
        model = build_model(endpoint)
        if not quiet:
            model.on_retry = lambda event: err.print(retry_line(event), markup=False, soft_wrap=True)
        agent = create_strategy(
            strategy,
            model,
            create_sandbox(sandbox_backend, pool_size=1, limits=agent_config.limits),
            agent_config,
        )
        if memory_path is not None:
            from coderefl.learn import LessonMemory

            agent.memory = LessonMemory(memory_path)
        if ask:
            from coderefl.learn import HumanAdvisor

            agent.advisor = HumanAdvisor()
        if not quiet:
            agent.observer = lambda step: err.print(step_line(step))
            err.print(f"[bold]solving[/bold] {problem.entry_point} with {strategy} ({endpoint.model})")
        traj = run_interruptible(_solve(agent, problem, user_tests))

    if out is not None:
        try:
            atomic_write_text(out, traj.final_code)
        except OSError as err:  # changed since the check: the code still reaches the user
            click.echo(traj.final_code, nl=not traj.final_code.endswith("\n"))
            raise BadInput(f"--out {out}: cannot write ({err.strerror or err}); the code went to stdout") from None
    if as_json:
        click.echo(traj.model_dump_json(indent=2))
    elif out is None:
        click.echo(traj.final_code, nl=not traj.final_code.endswith("\n"))
    if not quiet:
        verdict = "passes its tests" if traj.internal_passed else "does NOT pass its tests"
        err.print(f"final candidate {verdict} (stop: {traj.stop_reason}, {traj.iterations} iterations, "
                  f"{traj.usage.calls} calls, {traj.usage.total_tokens} tokens)")
    raise SystemExit(0 if traj.internal_passed else 1)
