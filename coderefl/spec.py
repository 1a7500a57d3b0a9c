"""A user's problem, as ``coderefl solve`` receives it, turned into a Problem.

The input may be a function stub with a docstring, a HumanEval-style prompt
or a prose spec. The entry point is, in order: ``--entry``, the last
top-level function of a stub, or the function the user's tests call.
"""

from __future__ import annotations

import ast
import hashlib
import re

from coderefl.errors import BadInput
from coderefl.records import Problem


def _functions(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _called(tests: list[str]) -> list[str]:
    names: list[str] = []
    for t in tests:
        try:
            tree = ast.parse(t)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in dir(__builtins__):
                if node.func.id not in names:
                    names.append(node.func.id)
    return names


def split_tests(source: str) -> list[str]:
    """A user's tests file as self-contained snippets: each top-level
    statement (an assert, a test function, a helper) on its own, with the
    file's imports in front of it."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise BadInput(f"the tests file is not valid Python (line {err.lineno}: {err.msg})") from None
    lines = source.splitlines()
    setup: list[str] = []
    out: list[str] = []
    for node in tree.body:
        text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        (setup if isinstance(node, (ast.Import, ast.ImportFrom)) else out).append(text)
    if setup:
        header = "\n".join(setup)
        out = [f"{header}\n{t}" for t in out]
    return out


def problem_from_spec(text: str, *, entry: str | None = None, tests: list[str] | None = None) -> Problem:
    text = text.strip("\n")
    if not text.strip():
        raise BadInput("the problem is empty: give a prompt, --file SPEC, or text on stdin")
    functions = _functions(text)
    if entry is None:
        if functions:
            entry = functions[-1]
        else:
            called = _called(tests or [])
            if called:
                entry = called[0]
    if entry is None:
        raise BadInput("cannot tell which function to write: give --entry NAME (or a stub, or --tests that call it)")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", entry):
        raise BadInput(f"--entry must be a Python function name, not {entry!r}")
    if entry in functions:
        prompt = text + "\n"
    else:
        body = text.replace('"""', "'''")
        prompt = f'"""Write the function `{entry}`.\n\n{body}\n"""\n'
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return Problem(task_id=f"solve/{entry}-{digest}", prompt=prompt, entry_point=entry, source="solve")

