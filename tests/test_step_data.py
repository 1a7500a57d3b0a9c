"""Step.data is a declared vocabulary (records.STEP_DATA): every key the
code writes or reads is in it, so a reader in another package (export, the
viewer, reports) never depends on an undeclared key."""

from __future__ import annotations

import ast
from pathlib import Path

from coderefl.records import STEP_DATA

PACKAGE = Path(__file__).resolve().parents[1] / "coderefl"


def step_data_keys(tree: ast.AST) -> set[str]:
    """Keys written through ``decide(..., key=...)``, ``data={...}``, ``data = {...}``
    and read through ``.data[...]``, ``.data.get(...)``, ``.data.setdefault(...)``."""
    keys: set[str] = set()

    def literal_keys(node: ast.AST) -> set[str]:
        return {k.value for k in getattr(node, "keys", []) if isinstance(k, ast.Constant) and isinstance(k.value, str)}

    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "decide":
            keys |= {k.arg for k in n.keywords if k.arg not in (None, "iteration")}
        elif isinstance(n, ast.keyword) and n.arg == "data" and isinstance(n.value, ast.Dict):
            keys |= literal_keys(n.value)
        elif isinstance(n, (ast.Assign, ast.AnnAssign)):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            if any(isinstance(t, ast.Name) and t.id == "data" for t in targets) and n.value is not None:
                for part in ast.walk(n.value):
                    if isinstance(part, ast.Dict):
                        keys |= literal_keys(part)
        elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("get", "setdefault")
              and isinstance(n.func.value, ast.Attribute) and n.func.value.attr == "data"
              and n.args and isinstance(n.args[0], ast.Constant)):
            keys.add(n.args[0].value)
        elif (isinstance(n, ast.Subscript) and isinstance(n.value, ast.Attribute) and n.value.attr == "data"
              and isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str)):
            keys.add(n.slice.value)
    return keys


def test_every_step_data_key_in_the_agent_is_declared():
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / "strategies").glob("*.py")) + sorted((PACKAGE / "fix").glob("*.py")) + [
            PACKAGE / "run" / "export.py"]:
        for key in step_data_keys(ast.parse(path.read_text())):
            found.setdefault(key, set()).add(path.name)
    undeclared = {k: v for k, v in found.items() if k not in STEP_DATA}
    assert not undeclared, undeclared
    assert {"tiers", "n", "texts", "codes", "demoted", "repeated"} <= set(found)  # the scan sees them


def test_the_scan_finds_an_undeclared_key():
    tree = ast.parse("ep.decide('x', iteration=1, mood=3)\nstep.data.get('colour')\ndata = {'shape': 1}\n")
    assert step_data_keys(tree) == {"mood", "colour", "shape"}
