"""``coderefl show``: read a trajectory as a person."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import ValidationError
from rich.console import Console

from coderefl.cli.render import print_trajectory
from coderefl.errors import BadInput
from coderefl.records import Trajectory


def load_trajectory(path: Path, task: str | None) -> Trajectory:
    """A trajectory file, or a run folder plus a task id (first match)."""
    if path.is_dir():
        folder = path / "trajectories" if (path / "trajectories").is_dir() else path
        files = sorted(folder.glob("*.json"))
        if task:
            safe = task.replace("/", "_")
            files = [f for f in files if f.stem.startswith(safe)]
        if not files:
            raise BadInput(f"no trajectory found in {path}" + (f" for task {task}" if task else ""))
        path = files[0]
    try:
        return Trajectory.model_validate_json(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"no such file: {path}") from None
    except (ValidationError, ValueError) as err:
        raise BadInput(f"{path} is not a coderefl trajectory ({str(err).splitlines()[0]})") from None


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--task", default=None, help="Task id, when PATH is a run folder.")
@click.option("--no-code", is_flag=True, help="Hide generated code.")
def show(path: Path, task: str | None, no_code: bool) -> None:
    """Show a trajectory (a JSON file, or a run folder with --task)."""
    print_trajectory(load_trajectory(path, task), Console(), code=not no_code)
