"""``coderefl show``: read a trajectory as a person."""

from __future__ import annotations

import json
from pathlib import Path

import click
from pydantic import ValidationError
from rich.console import Console

from coderefl.cli.render import print_trajectory
from coderefl.errors import BadInput
from coderefl.records import Trajectory


def load_trajectory(path: Path, task: str | None, sample: int = 0) -> Trajectory:
    """A trajectory file, or a run folder plus a task id and sample."""
    if path.is_dir():
        if not task:
            raise BadInput(f"{path} is a folder: name the problem with --task ID")
        from coderefl.run.store import RunStore

        file = RunStore(path).trajectory_path(task, sample)
        if not file.exists():
            raise BadInput(f"no trajectory for task {task} sample {sample} in {path}")
        path = file
    try:
        data = json.loads(path.read_text())
        if isinstance(data, dict) and isinstance(data.get("trajectory"), dict):
            data = data["trajectory"]  # a run folder's file: {task_id, sample, trajectory}
        return Trajectory.model_validate(data)
    except FileNotFoundError:
        raise BadInput(f"no such file: {path}") from None
    except (ValidationError, ValueError) as err:
        raise BadInput(f"{path} is not a coderefl trajectory ({str(err).splitlines()[0]})") from None


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--task", default=None, help="Task id, when PATH is a run folder.")
@click.option("--sample", default=0, show_default=True, help="Sample index, when PATH is a run folder.")
@click.option("--no-code", is_flag=True, help="Hide generated code.")
def show(path: Path, task: str | None, sample: int, no_code: bool) -> None:
    """Show a trajectory (a JSON file, or a run folder with --task)."""
    print_trajectory(load_trajectory(path, task, sample), Console(), code=not no_code)
