"""tree-sitter plumbing: parse Python, locate syntax errors, find names.

Why tree-sitter and not ``ast``: model output is often broken (truncated,
prose in the middle). ``ast`` gives up at the first error; tree-sitter
always returns a tree, with ERROR/MISSING nodes where the text is wrong,
so the intact definitions around a broken one are still usable and the
error has a precise location.

Name analysis here is deliberately approximate (no full scope rules): a
definition's *free names* are the identifiers it reads minus the names it
binds anywhere inside (parameters, assignment and loop targets, nested
definitions, imports), plus names it declares ``global``/``nonlocal``.
That is enough to pull in the helpers, constants and imports a function
needs without pulling in example-usage code that happens to reuse a local
variable's name.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import tree_sitter_python as tsp
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

PY_LANGUAGE = Language(tsp.language())


@functools.lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(PY_LANGUAGE)


def parse(code: str) -> Tree:
    return _parser().parse(code.encode("utf-8"))


def text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", errors="replace")


@functools.lru_cache(maxsize=8)
def query(source: str) -> Query:
    return Query(PY_LANGUAGE, source)


def captures(node: Node, source: str) -> dict[str, list[Node]]:
    """Run a tree-sitter query under ``node``: capture name -> nodes (in order)."""
    found = QueryCursor(query(source)).captures(node)
    return {k: sorted(v, key=lambda n: n.start_byte) for k, v in found.items()}


def walk(node: Node) -> Iterator[Node]:
    """Every node under ``node`` (itself included), in document order."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


# --------------------------------------------------------------------------
# syntax errors
# --------------------------------------------------------------------------


def _column(code_bytes: bytes, row: int, byte_col: int) -> int:
    """A tree-sitter byte column as a 1-based character column."""
    lines = code_bytes.split(b"\n")
    line = lines[row] if row < len(lines) else b""
    return len(line[:byte_col].decode("utf-8", errors="replace")) + 1


def first_error(tree: Tree) -> Node | None:
    """The first ERROR or MISSING node in document order, if any."""
    if not tree.root_node.has_error:
        return None
    for n in walk(tree.root_node):
        if n.is_error or n.is_missing:
            return n
    return tree.root_node  # has_error without a node: report the start


def describe_error(tree: Tree, code_bytes: bytes) -> str | None:
    node = first_error(tree)
    if node is None:
        return None
    row, col = node.start_point.row, node.start_point.column
    where = f"line {row + 1}, column {_column(code_bytes, row, col)}"
    if node.is_missing:
        return f"{where}: missing {node.type!r}"
    snippet = text(node).strip().splitlines()[0] if text(node).strip() else ""
    if len(snippet) > 40:
        snippet = snippet[:37] + "..."
    if node.start_byte >= len(code_bytes.rstrip()):
        return f"{where}: unexpected end of code (truncated?)"
    return f"{where}: invalid syntax near {snippet!r}" if snippet else f"{where}: invalid syntax"


def syntax_error(code: str) -> str | None:
    """``"line L, column C: ..."`` for the first syntax error, or None.

    tree-sitter finds the error even in badly broken text and says where;
    Python's own compiler (which runs nothing) then words it best ("'('
    was never closed", "expected ':'") and also catches what tree-sitter's
    grammar accepts but Python does not (``return`` outside a function,
    inconsistent indentation). Python has the last word: the sandbox runs
    Python, so code it compiles is not a syntax error."""
    data = code.encode("utf-8")
    ts_message = describe_error(_parser().parse(data), data)
    try:
        compile(code, "<solution>", "exec", dont_inherit=True)
    except SyntaxError as err:
        line = err.lineno or 1
        col = err.offset or 1
        return f"line {line}, column {col}: {err.msg}"
    except (ValueError, RecursionError, MemoryError, OverflowError) as err:  # NUL bytes, absurd nesting
        return ts_message or f"line 1, column 1: {type(err).__name__}: {err}"
    return None


# --------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------

_DEF_TYPES = ("function_definition", "class_definition")


def definition_node(node: Node) -> Node | None:
    """The function/class node of a (possibly decorated) definition."""
    if node.type in _DEF_TYPES:
        return node
    if node.type == "decorated_definition":
        inner = node.child_by_field_name("definition")
        if inner is not None and inner.type in _DEF_TYPES:
            return inner
    return None


def definition_name(node: Node) -> str | None:
    d = definition_node(node)
    if d is None:
        return None
    name = d.child_by_field_name("name")
    return text(name) if name is not None else None


def import_bindings(node: Node) -> set[str]:
    """Names an import statement binds ("*" for a star import)."""
    names: set[str] = set()
    if node.type == "import_statement":
        for child in node.named_children:
            if child.type == "aliased_import":
                alias = child.child_by_field_name("alias")
                if alias is not None:
                    names.add(text(alias))
            elif child.type == "dotted_name":
                names.add(text(child).split(".")[0])
    elif node.type == "import_from_statement":
        module = node.child_by_field_name("module_name")
        for child in node.named_children:
            if child is module or (module is not None and child.id == module.id):
                continue
            if child.type == "wildcard_import":
                names.add("*")
            elif child.type == "aliased_import":
                alias = child.child_by_field_name("alias")
                if alias is not None:
                    names.add(text(alias))
            elif child.type == "dotted_name":
                names.add(text(child).split(".")[-1])
    elif node.type == "future_import_statement":
        names.add("__future__")
    return names


def _target_identifiers(node: Node | None) -> Iterator[Node]:
    """Identifiers bound by an assignment/loop target (not attributes or subscripts)."""
    if node is None:
        return
    if node.type == "identifier":
        yield node
    elif node.type in ("pattern_list", "tuple_pattern", "list_pattern", "list_splat_pattern", "parenthesized_expression",
                       "expression_list", "tuple", "list", "list_splat", "as_pattern_target"):
        for c in node.named_children:
            yield from _target_identifiers(c)


def binding_nodes(root: Node) -> tuple[set[int], set[str], set[str]]:
    """(ids of identifier nodes in binding position, bound names, global/nonlocal names) under ``root``."""
    ids: set[int] = set()
    bound: set[str] = set()
    declared: set[str] = set()

    def bind(n: Node | None) -> None:
        for ident in _target_identifiers(n):
            ids.add(ident.id)
            bound.add(text(ident))

    for n in walk(root):
        t = n.type
        if t in ("assignment", "augmented_assignment"):
            bind(n.child_by_field_name("left"))
        elif t in ("for_statement", "for_in_clause"):
            bind(n.child_by_field_name("left"))
        elif t == "named_expression":
            bind(n.child_by_field_name("name"))
        elif t in _DEF_TYPES:
            name = n.child_by_field_name("name")
            if name is not None and n.id != root.id:
                bind(name)
            elif name is not None:
                ids.add(name.id)
        elif t in ("parameters", "lambda_parameters"):
            for p in n.named_children:
                if p.type == "identifier":
                    bind(p)
                elif p.type in ("typed_parameter", "list_splat_pattern", "dictionary_splat_pattern"):
                    for c in p.named_children:
                        if c.type == "identifier":
                            bind(c)
                            break
                        if c.type in ("list_splat_pattern", "dictionary_splat_pattern"):
                            for cc in c.named_children:
                                if cc.type == "identifier":
                                    bind(cc)
                            break
                elif p.type in ("default_parameter", "typed_default_parameter"):
                    bind(p.child_by_field_name("name"))
        elif t == "as_pattern":
            alias = n.child_by_field_name("alias")
            if alias is not None:
                bind(alias)
                for c in alias.named_children:
                    bind(c)
        elif t == "except_clause":
            # `except E as name`: the identifier after `as`
            kids = n.children
            for i, c in enumerate(kids):
                if c.type == "as" and i + 1 < len(kids):
                    bind(kids[i + 1])
        elif t in ("import_statement", "import_from_statement"):
            for c in walk(n):
                if c.type == "identifier":
                    ids.add(c.id)  # never "used"
            bound.update(import_bindings(n) - {"*"})
        elif t in ("global_statement", "nonlocal_statement"):
            for c in n.named_children:
                if c.type == "identifier":
                    ids.add(c.id)
                    declared.add(text(c))
    return ids, bound, declared


def used_names(root: Node, skip_ids: set[int] = frozenset()) -> set[str]:
    """Identifiers read under ``root``: not attribute names, keyword names or binding positions."""
    names: set[str] = set()
    for n in walk(root):
        if n.type != "identifier" or n.id in skip_ids:
            continue
        parent = n.parent
        if parent is not None:
            if parent.type == "attribute":
                attr = parent.child_by_field_name("attribute")
                if attr is not None and attr.id == n.id:
                    continue
            elif parent.type == "keyword_argument":
                name = parent.child_by_field_name("name")
                if name is not None and name.id == n.id:
                    continue
        names.add(text(n))
    return names


def free_names(root: Node) -> set[str]:
    """Names ``root`` reads from the enclosing (module) scope, approximately."""
    ids, bound, declared = binding_nodes(root)
    return (used_names(root, ids) - bound) | declared
