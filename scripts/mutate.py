"""A small AST mutation run: how many mutants of a module do its tests kill?

    python3 scripts/mutate.py coderefl/strategies/loop.py tests/strategies/test_agent_loop.py [--lines A-B]

Each mutant changes one thing (a comparison flipped, ``and``/``or`` swapped,
a condition negated, a number moved by one, ``True``/``False`` swapped, a
``continue``/``break`` swapped, a return value replaced by ``None``). It is
written into a copy of the repository, never this checkout, and the tests
run there (``pytest -x``); a mutant is killed when they fail or time out.
Prints the survivors with their line, then ``killed K of N (P%)``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_FLIP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt,
         ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}


def mutants(tree: ast.Module, lines: range | None) -> Iterator[tuple[int, str, ast.Module]]:
    """Every single-change mutant of ``tree`` as (line, what, mutated tree)."""
    nodes = [n for n in ast.walk(tree) if hasattr(n, "lineno") and (lines is None or n.lineno in lines)]
    for index, node in enumerate(nodes):
        for what, change in _changes(node):
            mutated = copy.deepcopy(tree)
            target = [n for n in ast.walk(mutated) if hasattr(n, "lineno") and (lines is None or n.lineno in lines)][index]
            change(target)
            yield node.lineno, what, ast.fix_missing_locations(mutated)


def _changes(node: ast.AST):
    if isinstance(node, ast.Compare) and type(node.ops[0]) in _FLIP:
        def flip(n):
            n.ops[0] = _FLIP[type(n.ops[0])]()
        yield f"{type(node.ops[0]).__name__} flipped", flip
    if isinstance(node, ast.BoolOp):
        def swap(n):
            n.op = ast.Or() if isinstance(n.op, ast.And) else ast.And()
        yield f"{type(node.op).__name__} swapped", swap
    if isinstance(node, (ast.If, ast.While)):
        def negate(n):
            n.test = ast.UnaryOp(op=ast.Not(), operand=n.test)
        yield "condition negated", negate
    if isinstance(node, ast.IfExp):
        def negate_exp(n):
            n.test = ast.UnaryOp(op=ast.Not(), operand=n.test)
        yield "conditional expression negated", negate_exp
    if isinstance(node, ast.Constant) and type(node.value) is bool:
        def not_bool(n):
            n.value = not n.value
        yield f"{node.value} -> {not node.value}", not_bool
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float) and not isinstance(node.value, bool):
        def plus_one(n):
            n.value = n.value + 1
        yield f"{node.value} + 1", plus_one
    if isinstance(node, ast.Return) and node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None):
        def none(n):
            n.value = ast.Constant(value=None)
        yield "return None", none
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        def drop_not(n):  # not x -> not not x: the truth of x itself
            n.operand = ast.UnaryOp(op=ast.Not(), operand=n.operand)
        yield "not removed", drop_not


def _loop_swaps(tree: ast.Module, lines: range | None) -> Iterator[tuple[int, str, ast.Module]]:
    """``continue`` <-> ``break``: statements are swapped in their parent's body."""
    paths = []
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for i, child in enumerate(value):
                    if isinstance(child, (ast.Continue, ast.Break)) and (lines is None or child.lineno in lines):
                        paths.append((parent, field, i, child))
    for parent, field, i, child in paths:
        getattr(parent, field)[i] = ast.Break() if isinstance(child, ast.Continue) else ast.Continue()
        ast.copy_location(getattr(parent, field)[i], child)
        yield child.lineno, f"{type(child).__name__.lower()} swapped", copy.deepcopy(tree)
        getattr(parent, field)[i] = child


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="the file to mutate, relative to the repository")
    parser.add_argument("tests", nargs="+", help="pytest arguments (files, -k ...)")
    parser.add_argument("--lines", help="only lines A-B of the module")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per mutant's test run")
    args = parser.parse_args()
    lines = None
    if args.lines:
        first, _, last = args.lines.partition("-")
        lines = range(int(first), int(last or first) + 1)
    source = (ROOT / args.module).read_text()
    tree = ast.parse(source)
    found = list(mutants(tree, lines))
    found += list(_loop_swaps(ast.parse(source), lines))
    work = Path(tempfile.mkdtemp(prefix="coderefl-mutants-"))
    try:
        shutil.copytree(ROOT, work / "repo", ignore=shutil.ignore_patterns(".git", "runs", "__pycache__", "*.egg-info"))
        target = work / "repo" / args.module
        env = {**os.environ, "PYTHONPATH": str(work / "repo"), "PYTHONDONTWRITEBYTECODE": "1"}
        survivors, killed = [], 0
        for n, (line, what, mutated) in enumerate(sorted(found, key=lambda f: f[0]), start=1):
            try:
                target.write_text(ast.unparse(mutated))
            except (ValueError, TypeError):
                continue
            try:
                done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args.tests],
                                      cwd=work / "repo", env=env, capture_output=True, timeout=args.timeout)
                dead = done.returncode != 0
            except subprocess.TimeoutExpired:
                dead = True
            killed += dead
            if not dead:
                survivors.append(f"  line {line}: {what}")
            print(f"[{n}/{len(found)}] line {line}: {what}: {'killed' if dead else 'SURVIVED'}", flush=True)
        target.write_text(source)
        print("\n".join(["survivors:", *survivors]) if survivors else "no survivors")
        total = len(found)
        print(f"killed {killed} of {total} ({100 * killed / max(1, total):.0f}%)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
