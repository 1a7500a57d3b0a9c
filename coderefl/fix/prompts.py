"""Prompts of the fixer's reflection loop: repair, reflect, repair again.

The model sees one function, what it uses from its file (imports, the
names it reads, the functions it calls; :mod:`coderefl.fix.context`),
the failing tests' source and pytest's report, and answers with that
function only; the splice replaces its body and keeps everything else. The phrases in capitals below
are stable so tests can tell the prompts apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from coderefl.records import ChatMessage
from coderefl.strategies.prompts import SYSTEM

#: phrases identifying each prompt (tests script the model server with them)
REPAIR_NEEDLE = "fails the project's tests"
REFLECT_NEEDLE = "explain why this version of"
RETRY_NEEDLE = "I spliced your function into the file"

def _fence(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


def _where(qualname: str, file: str) -> str:
    if "." in qualname:
        cls, _, meth = qualname.rpartition(".")
        return f"the method `{meth}` of class `{cls}` in `{file}`"
    return f"the function `{qualname}` in `{file}`"


def _task(qualname: str, file: str, function: str, context: str, tests: Sequence[str], feedback: str) -> str:
    name = qualname.rpartition(".")[2]
    parts = [f"{_where(qualname, file)[0].upper()}{_where(qualname, file)[1:]} {REPAIR_NEEDLE}:\n\n{_fence(function)}"]
    if context.strip():
        parts.append(f"What `{name}` uses from `{file}` (for reference; do not rewrite it):\n{_fence(context)}")
    if tests:
        parts.append("The failing tests:\n" + "\n".join(_fence(t) for t in tests))
    parts.append(f"pytest reported:\n{feedback.strip()}")
    parts.append(
        f"Reply with the corrected `{name}` only: its complete definition, as a plain `def` without the class "
        "line, in one ```python block. Only its body is used: the decorators, name and parameters stay as they "
        "are. If it needs an import, put the import inside the function. The tests are right unless they "
        "contradict each other."
    )
    return "\n\n".join(parts)


def repair(qualname: str, file: str, function: str, context: str, tests: Sequence[str], feedback: str) -> list[ChatMessage]:
    return [
        ChatMessage(role="system", content=SYSTEM),
        ChatMessage(role="user", content=_task(qualname, file, function, context, tests, feedback)),
    ]


def reflect(qualname: str, file: str, attempt: str, tests: Sequence[str], feedback: str) -> list[ChatMessage]:
    name = qualname.rpartition(".")[2]
    body = [f"Here is a version of {_where(qualname, file)}:\n{_fence(attempt)}"]
    if tests:
        body.append("The project's tests that must pass:\n" + "\n".join(_fence(t) for t in tests))
    body.append(f"pytest reported:\n{feedback.strip()}")
    body.append(
        f"In a few sentences, {REFLECT_NEEDLE} `{name}` fails the tests and what must change. "
        "Name the exact faulty line or condition. Do not write code."
    )
    return [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content="\n\n".join(body))]


def retry(first: list[ChatMessage], attempt: str, feedback: str, reflections: Sequence[str]) -> list[ChatMessage]:
    """Multi-turn: the first request, the last attempt, what happened."""
    parts = [f"{RETRY_NEEDLE} and ran the tests again:\n{feedback.strip()}"]
    if reflections:
        parts.append("Your reflections on the failed attempts so far:\n" + "\n".join(f"- {r.strip()}" for r in reflections))
    parts.append("Write a corrected version of the function only, in one ```python block.")
    return [
        *first,
        ChatMessage(role="assistant", content=_fence(attempt)),
        ChatMessage(role="user", content="\n\n".join(parts)),
    ]
