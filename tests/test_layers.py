"""The layers depend one way: records -> model / execution / problems ->
strategies -> learn -> run -> cli (fix and view are applications beside
run). Every import counts, also one inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "coderefl"

#: modules every layer may use
BASE = {"records", "errors", "atomic", "plugins", "config", "envvars", "settings_file", "spec", "__version__"}
#: what each part of coderefl may import, besides BASE
ALLOWED = {
    "records": set(), "errors": set(), "atomic": set(), "plugins": {"errors"}, "envvars": {"errors"},
    "config": {"errors", "envvars", "settings_file"}, "settings_file": set(),
    "spec": {"errors", "records"},
    "code": BASE,
    "model": BASE,
    "execution": BASE,
    "problems": BASE | {"execution"},
    "strategies": BASE | {"code", "model", "execution", "problems"},
    "learn": BASE | {"code", "model", "execution", "problems", "strategies"},
    "fix": BASE | {"code", "model", "execution", "strategies"},
    "run": BASE | {"code", "model", "execution", "problems", "strategies", "learn"},
    "view": BASE | {"run"},
    "cli": BASE | {"code", "model", "execution", "problems", "strategies", "learn", "fix", "run", "view"},
    "__main__": {"cli"},
}


def imports(path: Path) -> set[str]:
    """The parts of coderefl that ``path`` imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] == "coderefl" and len(parts) > 1:
                found.add(parts[1])
            elif node.module == "coderefl":
                found.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("coderefl."))
    return found


def parts() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).parts
        if rel == ("__init__.py",):
            continue
        out.append((rel[0].removesuffix(".py"), path))
    return out


def test_every_part_of_coderefl_has_a_layer():
    assert {name for name, _ in parts()} <= set(ALLOWED)


@pytest.mark.parametrize("name,path", parts(), ids=lambda v: str(v).rsplit("coderefl/", 1)[-1])
def test_imports_go_down_the_layers_only(name, path):
    entry = {"cli"} if path.name == "__main__.py" else set()  # ``python -m coderefl.x`` is a command: it may reach the CLI
    bad = imports(path) - ALLOWED[name] - {name} - entry
    assert not bad, f"{path.relative_to(PACKAGE)} ({name}) imports {sorted(bad)}"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The rule bites: an import inside a function is found too."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from coderefl.learn.memory import LessonMemory\n    import coderefl.run.store\n")
    assert imports(probe) == {"learn", "run"}
    assert imports(probe) - ALLOWED["strategies"] == {"learn", "run"}


def test_click_stays_in_the_cli():
    users = [p.relative_to(PACKAGE) for name, p in parts()
             if name != "cli" and any(isinstance(n, (ast.Import, ast.ImportFrom))
                                      and "click" in ([a.name for a in n.names] if isinstance(n, ast.Import)
                                                      else [n.module or ""])
                                      for n in ast.walk(ast.parse(p.read_text())))]
    assert not users, users


def test_run_uses_learn_through_its_public_face_only():
    """run may use what coderefl.learn exports, never its modules."""
    inner = []
    for name, path in parts():
        if name not in ("run", "view"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("coderefl.learn."):
                inner.append(f"{path.relative_to(PACKAGE)}: {node.module}")
    assert not inner, inner


def test_no_context_variable_carries_state_between_modules():
    users = [p.relative_to(PACKAGE) for _, p in parts() if "ContextVar" in p.read_text()]
    assert not users, users
