"""What a tests file contains: ordered steps and the expected test names.

Parsed in the process that runs the tests (the judge, or the in-process
harness before the solution is imported), never in the long-lived server, and
in time linear in the file's size: a huge or pathological tests file costs
that job, not the pool.
"""

from __future__ import annotations

import ast

#: a tests file with this line (alone) exchanges only plain data with the solution: judge mode
PLAIN_VALUES_PRAGMA = "# coderefl: plain-values"
#: the largest tests file and the most tests one file may hold
MAX_TESTS_BYTES = 2 * 1024 * 1024
MAX_TESTS = 5000

SETUP_TYPES = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.Global,
    ast.Nonlocal,
    ast.Pass,
)


class PlanError(ValueError):
    """A tests file that cannot be used (the message says why)."""


#: with judge mode: a failed test's last call is run again, traced, and its steps shown in the message
TRACE_PRAGMA = "# coderefl: trace"


def wants_trace(src: str) -> bool:
    return any(line.strip() == TRACE_PRAGMA for line in src.splitlines())


def wants_plain_values(src: str) -> bool:
    """Whether the tests ask for judge mode (plain data only)."""
    return any(line.strip() == PLAIN_VALUES_PRAGMA for line in src.splitlines())


class Source:
    """A source text with its lines split once, so a node's text costs its
    own length (``ast.get_source_segment`` re-splits the whole file per call)."""

    def __init__(self, src: str) -> None:
        self.lines = src.splitlines(keepends=True)

    def segment(self, node: ast.AST, limit: int = 120) -> str:
        try:
            first, last = node.lineno - 1, node.end_lineno - 1  # type: ignore[attr-defined]
            c0, c1 = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
            if last - first > 50:  # a long node: its head is enough for a name
                last, c1 = first, None
            rows = [line.encode("utf-8") for line in self.lines[first : last + 1]]
            if not rows:
                raise IndexError
            if len(rows) == 1:
                rows[0] = rows[0][c0:c1]
            else:
                rows[0], rows[-1] = rows[0][c0:], rows[-1][:c1]
            text = b"".join(rows).decode("utf-8", "replace")
        except (AttributeError, IndexError, TypeError):
            text = type(node).__name__
        text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 3] + "..."


def make_plan(src: str) -> tuple[list[dict], list[str]]:
    """Split a tests file into ordered steps and the expected test names.

    Steps run in file order. A *statement test* is a top-level ``assert``, a
    bare expression (``check(f)``) or a compound statement (``for``/``if``/
    ``with``/``try``...). Imports, defs, classes and assignments are *setup*.
    ``test_*`` functions and ``Test*`` classes' ``test_*`` methods run after
    the module body, in definition order (pytest's semantics).
    Raises SyntaxError or PlanError when the file cannot be used.
    """
    size = len(src.encode("utf-8", "replace"))
    if size > MAX_TESTS_BYTES:
        raise PlanError("the tests file is %d bytes; the limit is %d" % (size, MAX_TESTS_BYTES))
    tree = ast.parse(src, filename="tests.py")
    source = Source(src)
    steps: list[dict] = []
    names: list[str] = []
    funcs: dict[str, str] = {}  # qualified test name -> kind, last definition wins
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # docstring or stray literal
        if isinstance(node, SETUP_TYPES):
            steps.append({"kind": "setup", "line": node.lineno, "end": node.end_lineno})
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                funcs.pop(node.name, None)
                funcs[node.name] = "func"
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                        q = f"{node.name}::{item.name}"
                        funcs.pop(q, None)
                        funcs[q] = "method"
            continue
        name = f"line {node.lineno}: {source.segment(node)}"
        steps.append({"kind": "test", "line": node.lineno, "end": node.end_lineno, "name": name,
                      "index": len(names)})
        names.append(name)
        if len(names) > MAX_TESTS:
            break
    for q, kind in funcs.items():
        steps.append({"kind": kind, "name": q, "index": len(names)})
        names.append(q)
    if len(names) > MAX_TESTS:
        raise PlanError("the tests file holds more than %d tests" % MAX_TESTS)
    return steps, names


def plan_for(src: str | None) -> tuple[list[dict], list[str], str | None]:
    """``make_plan`` with its failures as one message (None when usable)."""
    if src is None:
        return [], [], None
    try:
        steps, names = make_plan(src)
    except SyntaxError as err:
        return [], [], f"tests file does not parse (line {err.lineno}): {err}"
    except (PlanError, ValueError, RecursionError, MemoryError) as err:
        return [], [], f"tests file cannot be used: {err or type(err).__name__}"
    if not names:
        return [], [], "tests file contains no tests (no top-level assert, test call or test_* function)"
    return steps, names, None
