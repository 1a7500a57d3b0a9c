"""Find functions and what a test calls, with tree-sitter.

Why tree-sitter here: a splice needs exact byte spans (decorators
included) of the user's file, and a model's reply may hold a broken
fragment around an intact function; tree-sitter gives both, where ``ast``
gives line numbers only and stops at the first syntax error.

A *repairable function* is a module-level function or a method of a
(possibly nested) class; a function nested inside another function is part
of its enclosing function, which is what gets repaired.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

# the shared, cached tree-sitter parser; bytes in, so offsets are the file's own
from coderefl.code.parser import _parser, definition_node, text, walk


@dataclass(frozen=True)
class FunctionSpan:
    """A function's place in a file. Offsets are byte offsets into the
    UTF-8 source; ``start`` is the first decorator's ``@`` or the ``def``."""

    qualname: str  # "f" or "Class.method"
    name: str
    start: int
    end: int
    start_line: int  # 1-based, first line of the span
    end_line: int  # 1-based, last line of the span
    indent: bytes  # what precedes ``start`` on its line (the def's indentation)

    def contains_line(self, line: int) -> bool:
        return self.start_line <= line <= self.end_line

    def source(self, data: bytes) -> str:
        """The function's text, dedented to column 0."""
        return dedent_block(self.indent + data[self.start : self.end]).decode("utf-8")


def parse_bytes(data: bytes):
    return _parser().parse(data)


def _span(node: Node, qual: str, data: bytes) -> FunctionSpan:
    d = definition_node(node)
    name_node = d.child_by_field_name("name") if d is not None else None
    line_start = data.rfind(b"\n", 0, node.start_byte) + 1
    return FunctionSpan(
        qualname=qual,
        name=text(name_node) if name_node is not None else "",
        start=node.start_byte,
        end=node.end_byte,
        start_line=node.start_point.row + 1,
        end_line=node.end_point.row + 1,
        indent=data[line_start : node.start_byte],
    )


def functions(data: bytes) -> list[FunctionSpan]:
    """Every repairable function of a file, in file order."""
    out: list[FunctionSpan] = []

    def visit(block: Node, prefix: str) -> None:
        for child in block.named_children:
            d = definition_node(child)
            if d is None:
                continue
            name_node = d.child_by_field_name("name")
            if name_node is None:
                continue
            name = text(name_node)
            if d.type == "function_definition":
                out.append(_span(child, prefix + name, data))
            elif d.type == "class_definition":
                body = d.child_by_field_name("body")
                if body is not None:
                    visit(body, f"{prefix}{name}.")

    visit(parse_bytes(data).root_node, "")
    return out


def enclosing(spans: list[FunctionSpan], line: int) -> FunctionSpan | None:
    """The repairable function whose span holds ``line`` (1-based)."""
    hits = [s for s in spans if s.contains_line(line)]
    return min(hits, key=lambda s: s.end - s.start) if hits else None


def _called_names(node: Node) -> list[str]:
    """Names called under ``node``, in order: ``f(...)`` -> f, ``a.b.f(...)``
    -> f, ``Cls(...)`` -> Cls. Functions passed as arguments (``check(f)``)
    count too, since test helpers often take the function under test."""
    names: list[str] = []
    for n in walk(node):
        if n.type == "call":
            fn = n.child_by_field_name("function")
            if fn is None:
                continue
            if fn.type == "identifier":
                names.append(text(fn))
            elif fn.type == "attribute":
                attr = fn.child_by_field_name("attribute")
                if attr is not None:
                    names.append(text(attr))
            args = n.child_by_field_name("arguments")
            for a in args.named_children if args is not None else []:
                if a.type == "identifier":
                    names.append(text(a))
                elif a.type == "attribute":
                    attr = a.child_by_field_name("attribute")
                    if attr is not None:
                        names.append(text(attr))
    return list(dict.fromkeys(names))


def find_def(block: Node, path: list[str]) -> Node | None:
    for child in block.named_children:
        d = definition_node(child)
        if d is None:
            continue
        name_node = d.child_by_field_name("name")
        if name_node is None or text(name_node) != path[0]:
            continue
        if len(path) == 1:
            return child
        body = d.child_by_field_name("body")
        if body is not None:
            found = find_def(body, path[1:])
            if found is not None:
                return found
    return None


def calls_of_test(data: bytes, test_path: list[str], conftests: list[bytes] = ()) -> list[str]:
    """The names a test calls, directly or through helpers of its own file.

    ``test_path`` is the pytest node id's name parts (``["TestX", "test_y"]``);
    the parametrisation suffix must already be stripped. Helper functions
    and fixtures defined in the test file, or in the ``conftests`` (the
    conftest.py files pytest loads for it), are followed one level deep."""
    root = parse_bytes(data).root_node
    node = find_def(root, test_path)
    if node is None:
        return []
    names = _called_names(node)
    d = definition_node(node)
    params = d.child_by_field_name("parameters") if d is not None else None
    fixture_names = [text(p) for p in (params.named_children if params is not None else []) if p.type == "identifier"]
    local = {}
    for tree_root in [*(parse_bytes(c).root_node for c in reversed(conftests)), root]:  # nearest wins
        for child in tree_root.named_children:
            d2 = definition_node(child)
            if d2 is not None and d2.type == "function_definition":
                nm = d2.child_by_field_name("name")
                if nm is not None:
                    local[text(nm)] = child
    out = list(names)
    for name in [*names, *fixture_names]:
        helper = local.get(name)
        if helper is not None and helper is not node:
            out.extend(_called_names(helper))
    return list(dict.fromkeys(n for n in out if n not in test_path))


def find_function(code: str, name: str) -> str | None:
    """The text of the definition of ``name`` in ``code`` (decorators
    included, dedented): module level first, then inside a class or
    anywhere else. None when there is no intact definition of it."""
    data = code.encode("utf-8")
    root = parse_bytes(data).root_node
    candidates: list[tuple[int, Node]] = []
    for n in walk(root):
        d = definition_node(n)
        if d is None or d.type != "function_definition" or n.has_error:
            continue
        if n.type == "function_definition" and n.parent is not None and n.parent.type == "decorated_definition":
            continue  # reached through its decorated_definition
        nm = d.child_by_field_name("name")
        if nm is None or text(nm) != name:
            continue
        depth = 0
        p = n.parent
        while p is not None:
            if p.type in ("function_definition", "class_definition"):
                depth += 1
            p = p.parent
        candidates.append((depth, n))
    if not candidates:
        return None
    depth, node = min(candidates, key=lambda c: (c[0], -c[1].start_byte))
    line_start = data.rfind(b"\n", 0, node.start_byte) + 1
    return dedent_block(data[line_start : node.end_byte]).decode("utf-8")


def dedent_block(block: bytes) -> bytes:
    """A definition that starts at a line start, moved to column 0: its
    first line's indentation is taken off every line that starts with it.
    (Not ``textwrap.dedent``: a multi-line string's line at column 0 would
    leave the whole block indented.)"""
    text = block.decode("utf-8")
    prefix = text[: len(text) - len(text.lstrip(" \t"))]
    if not prefix:
        return block
    lines = text.split("\n")
    return "\n".join(ln[len(prefix) :] if ln.startswith(prefix) else ln for ln in lines).encode("utf-8")
