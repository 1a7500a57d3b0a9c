"""What the model sees around the function it repairs.

Not the whole file: a model shown a whole module may answer about another
function in it. The context is centred on the function: the module's
imports, the module-level names it reads, for a method its class line and
``__init__`` (where the attributes come from), and the functions and
methods of the same file it calls, each shown whole.
"""

from __future__ import annotations

import ast
import textwrap

from coderefl.fix.splice import FuncKey, keyed_functions

MAX_CONTEXT_CHARS = 8000
MAX_PIECE_CHARS = 2000


def _segment(source: str, node: ast.AST) -> str:
    lines = source.splitlines()
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])  # type: ignore[attr-defined]
    text = textwrap.dedent("\n".join(lines[first - 1 : node.end_lineno]))  # type: ignore[attr-defined]
    return text if len(text) <= MAX_PIECE_CHARS else text[:MAX_PIECE_CHARS] + "\n    # ... (truncated)"


def _called(func: ast.AST) -> tuple[set[str], set[str], set[str]]:
    """Names called as ``f(...)``, attributes called on ``self``/``cls``
    (``self.m(...)``), and every plain name read, in ``func``."""
    plain, methods, read = set(), set(), set()
    for n in ast.walk(func):
        if isinstance(n, ast.Name):
            read.add(n.id)
        if not isinstance(n, ast.Call):
            continue
        f = n.func
        if isinstance(f, ast.Name):
            plain.add(f.id)
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in ("self", "cls"):
            methods.add(f.attr)
    return plain, methods, read


def function_context(data: bytes, key: FuncKey) -> str:
    """The pieces of the file the function at ``key`` depends on, as
    Python text (empty when there is nothing beyond the function itself)."""
    source = data.decode("utf-8", "replace")
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    funcs = keyed_functions(tree)
    target = funcs.get(key)
    if target is None:
        return ""
    qual = key[0]
    owner = qual.rpartition(".")[0]
    plain, methods, read = _called(target)
    methods.add("__init__")  # where a method's attributes come from
    pieces: list[str] = []
    imports = [_segment(source, n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    if imports:
        pieces.append("\n".join(imports))
    for n in tree.body:  # module-level names the function reads
        names = {t.id for t in getattr(n, "targets", [getattr(n, "target", None)]) if isinstance(t, ast.Name)}
        if isinstance(n, (ast.Assign, ast.AnnAssign)) and names & read:
            pieces.append(_segment(source, n))
    own: list[str] = []
    for (q, _), node in funcs.items():
        if node is target:
            continue
        q_owner, _, name = q.rpartition(".")
        if owner and q_owner == owner and name in methods:
            own.append(_segment(source, node))
        elif not q_owner and name in plain:
            pieces.append(_segment(source, node))
    cls = _class(tree, owner.split(".")) if owner else None
    if cls is not None:
        header = source.splitlines()[cls.lineno - 1].strip()
        members = "\n\n".join(textwrap.indent(m, "    ") for m in own) or "    ..."
        pieces.append(f"{header}  # the class of `{qual.rpartition('.')[2]}`, the parts it uses\n{members}")
    for n in tree.body:  # classes it instantiates: their __init__ shows how
        if isinstance(n, ast.ClassDef) and n.name in plain and n.name != owner:
            init = funcs.get((f"{n.name}.__init__", 0))
            pieces.append(f"class {n.name}:\n" + textwrap.indent(_segment(source, init) if init else "...", "    "))
    text = "\n\n".join(dict.fromkeys(pieces))
    return text if len(text) <= MAX_CONTEXT_CHARS else text[:MAX_CONTEXT_CHARS] + "\n# ... (context truncated)"


def _class(tree: ast.Module, path: list[str]) -> ast.ClassDef | None:
    body: list[ast.stmt] = tree.body
    found = None
    for name in path:
        found = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == name), None)
        if found is None:
            return None
        body = found.body
    return found
