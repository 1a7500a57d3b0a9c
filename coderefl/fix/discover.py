"""Which of the repository's tests cover a staged file.

The rule (documented in docs/fix.md): a test file *covers* a source file
when it reaches that file's module through imports, found by static import
analysis (``ast``, every ``import``/``from ... import`` anywhere in a file,
relative imports resolved against its package), followed transitively
through the repository's own modules, and starting from the test file and
every ``conftest.py`` pytest loads for it (its directory and each parent),
including the modules a conftest names in ``pytest_plugins``. So a fixture
in a conftest, or a helper module, that uses the staged module counts. A
staged file that is itself a test file is always run. Nothing is imported
or executed here.

Why static and per file: the hook must decide quickly, before any sandbox
run, and without executing the user's code on the host. Importing module
``a.b.c`` also runs ``a/__init__.py`` and ``a/b/__init__.py``, so tests
importing a submodule cover the package ``__init__`` files on the way.

Module names are resolved against three roots, like pytest's default
``rootdir``/``sys.path`` handling: the repository root, ``<root>/src``
(src layout) and the test file's own directory (tests importing a sibling
helper module).
"""

from __future__ import annotations

import ast
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from coderefl.errors import BadInput

#: directories never searched for tests or copied into the sandbox
SKIP_DIRS = {
    ".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "env", "__pycache__", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", "node_modules", "build", "dist", ".eggs", "site-packages",
}


def is_test_file(rel: str) -> bool:
    """pytest's default ``python_files``: ``test_*.py`` and ``*_test.py``."""
    name = PurePosixPath(rel).name
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def find_root(start: Path) -> Path:
    """The git work tree containing ``start``, else ``start`` itself."""
    start = start.resolve()
    if (start / ".git").exists():  # the top of a work tree (where pre-commit runs hooks): no need to ask git
        return start
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return start
    if out.returncode == 0 and out.stdout.strip():
        return Path(out.stdout.strip()).resolve()
    return start


def repo_files(root: Path) -> list[str]:
    """Every file of the work tree (tracked and untracked, not ignored), as
    POSIX paths relative to ``root``. Outside git: a walk skipping SKIP_DIRS."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root, capture_output=True, timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        out = None
    if out is not None and out.returncode == 0:
        names = sorted({n for n in out.stdout.decode("utf-8", "replace").split("\0") if n})
        return [n for n in names if (root / n).is_file() and not (set(PurePosixPath(n).parts[:-1]) & SKIP_DIRS)]
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for f in sorted(filenames):
            found.append(Path(dirpath, f).relative_to(root).as_posix())
    return found


def staged_files(root: Path) -> list[str]:
    """Python files staged for commit (``git diff --cached``), relative to root."""
    try:
        out = subprocess.run(
            ["git", "diff", "--cached", "--name-only", "--diff-filter=ACMR", "-z"],
            cwd=root, capture_output=True, timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BadInput(f"cannot ask git for the staged files: {err}") from None
    if out.returncode != 0:
        raise BadInput("no files given and not in a git repository: pass the Python files to check")
    return [n for n in out.stdout.decode("utf-8", "replace").split("\0") if n.endswith(".py")]


def _module_paths(name: str, roots: list[PurePosixPath]) -> set[str]:
    """Files importing dotted ``name`` may execute: the module itself and
    the ``__init__`` of each package on the way, under each root."""
    parts = [p for p in name.split(".") if p]
    out: set[str] = set()
    for root in roots:
        for i in range(1, len(parts) + 1):
            base = root.joinpath(*parts[:i])
            out.add(str(base / "__init__.py"))
            if i == len(parts):
                out.add(str(base) + ".py")
    return {os.path.normpath(p) for p in out}


def imported_paths(test_rel: str, source: str) -> set[str]:
    """Repository-relative paths a file may import (existing or not)."""
    try:
        tree = ast.parse(source, filename=test_rel)
    except (SyntaxError, ValueError):
        return set()
    here = PurePosixPath(test_rel).parent
    roots = [PurePosixPath("."), PurePosixPath("src"), here]
    paths: set[str] = set()
    for node in ast.walk(tree):
        plugins = _pytest_plugins(node)
        for name in plugins:
            paths |= _module_paths(name, roots)
        if isinstance(node, ast.Import):
            for alias in node.names:
                paths |= _module_paths(alias.name, roots)
        elif isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names if a.name != "*"]
            if node.level:
                base = here
                for _ in range(node.level - 1):
                    base = base.parent
                mod_parts = (node.module or "").split(".") if node.module else []
                target = base.joinpath(*mod_parts) if mod_parts else base
                paths.add(os.path.normpath(str(target) + ".py"))
                paths.add(os.path.normpath(str(target / "__init__.py")))
                for n in names:  # `from . import mod`
                    paths.add(os.path.normpath(str(target / n) + ".py"))
                    paths.add(os.path.normpath(str(target / n / "__init__.py")))
                continue
            if not node.module:
                continue
            paths |= _module_paths(node.module, roots)
            for n in names:  # `from pkg import mod`
                paths |= _module_paths(f"{node.module}.{n}", roots)
    return paths


def _pytest_plugins(node: ast.AST) -> list[str]:
    """Module names of a ``pytest_plugins = [...]`` assignment."""
    if not isinstance(node, ast.Assign) or not any(
        isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in node.targets
    ):
        return []
    value = node.value
    items = value.elts if isinstance(value, (ast.List, ast.Tuple)) else [value]
    return [i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)]


def conftests_of(test_rel: str, existing: set[str]) -> list[str]:
    """The ``conftest.py`` files pytest loads for a test file: in its
    directory and each parent up to the root."""
    out = []
    d = PurePosixPath(test_rel).parent
    while True:
        c = str(d / "conftest.py") if str(d) != "." else "conftest.py"
        if c in existing:
            out.append(c)
        if str(d) in (".", ""):
            return out
        d = d.parent


class ImportGraph:
    """Repository files and the repository files each imports, parsed once."""

    def __init__(self, root: Path, files: list[str]) -> None:
        self.root = root
        self.existing = set(files)
        self._edges: dict[str, set[str]] = {}

    def edges(self, rel: str) -> set[str]:
        if rel not in self._edges:
            try:
                text = (self.root / rel).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = ""
            self._edges[rel] = imported_paths(rel, text) & self.existing
        return self._edges[rel]

    def reach(self, test_rel: str) -> set[str]:
        """Every repository module a test file's run may import."""
        todo = [test_rel, *conftests_of(test_rel, self.existing)]
        seen = set(todo)
        while todo:
            for nxt in self.edges(todo.pop()):
                if nxt not in seen and nxt.endswith(".py"):
                    seen.add(nxt)
                    todo.append(nxt)
        return seen


@dataclass
class Coverage:
    """The covering tests of each staged source file."""

    sources: list[str] = field(default_factory=list)  # staged, non-test .py files
    tests_for: dict[str, list[str]] = field(default_factory=dict)  # source -> covering test files
    staged_tests: list[str] = field(default_factory=list)  # staged test files (always run)
    conftests: dict[str, list[str]] = field(default_factory=dict)  # staged conftest.py -> tests it applies to

    def all_tests(self) -> list[str]:
        seen: dict[str, None] = {}
        for t in [*self.staged_tests, *(t for ts in self.conftests.values() for t in ts)]:
            seen[t] = None
        for src in self.sources:
            for t in self.tests_for.get(src, []):
                seen[t] = None
        return list(seen)

    def sources_of(self, test_file: str) -> list[str]:
        """The staged sources a test file covers."""
        return [s for s in self.sources if test_file in self.tests_for.get(s, [])]


def covering_tests(root: Path, staged: list[str], files: list[str] | None = None) -> Coverage:
    """Split the staged files into sources and tests, and find each source's
    covering test files among the repository's test files."""
    files = repo_files(root) if files is None else files
    cov = Coverage()
    for rel in staged:
        if not rel.endswith(".py"):
            continue
        name = PurePosixPath(rel).name
        if is_test_file(rel):
            cov.staged_tests.append(rel)
        elif name == "conftest.py":
            cov.conftests[rel] = []
        else:
            cov.sources.append(rel)
    graph = ImportGraph(root, files)
    imports = {rel: graph.reach(rel) for rel in files if is_test_file(rel)}
    existing = set(files)
    for c in cov.conftests:  # a staged conftest.py applies to the tests below its directory
        cov.conftests[c] = sorted(t for t in imports if c in conftests_of(t, existing | {c}))
    for src in cov.sources:
        cov.tests_for[src] = sorted(t for t, paths in imports.items() if src in paths)
    for t in cov.staged_tests:  # a staged test also checks the staged sources it imports
        paths = imports.get(t, set())
        for src in cov.sources:
            if src in paths and t not in cov.tests_for[src]:
                cov.tests_for[src].append(t)
    return cov


def files_to_check(root: Path, given: list, under_precommit: bool) -> list[str]:
    """The Python files to check, relative to ``root``, each once: those
    given; else, under pre-commit, none (it passed no file of ours); else
    the staged ones."""
    if given:
        staged = [relative_to_root(root, f) for f in given]
        missing = [f for f in staged if not (root / f).is_file()]
        if missing:
            raise BadInput(f"not a file: {missing[0]}")
    elif under_precommit:
        staged = []
    else:
        staged = staged_files(root)
    return [f for f in dict.fromkeys(staged) if f.endswith(".py")]


def relative_to_root(root: Path, path: str | Path, cwd: Path | None = None) -> str:
    """A user-given path as a POSIX path relative to the repository root."""
    p = Path(path)
    if not p.is_absolute():
        p = (cwd or Path.cwd()) / p
    try:
        return p.resolve().relative_to(root).as_posix()
    except ValueError:
        raise BadInput(f"{path} is outside the repository at {root}") from None
