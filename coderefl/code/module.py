"""Assemble a runnable module from the top-level statements of code sources.

Why a dependency closure: a model's answer mixes the solution with example
usage, ``if __name__ == "__main__":`` blocks, prints, asserts and tests,
sometimes across several blocks, sometimes relying on the prompt's imports
and helpers. Running all of it would run the examples (slow, noisy, or
crashing before any test runs). Keeping only the entry point and what it
needs, transitively (helpers, classes, constants, imports), gives a module
that defines the solution and does nothing else at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from coderefl.code.parser import definition_name, free_names, import_bindings, parse, text, walk


@dataclass
class Stmt:
    """One top-level statement worth keeping."""

    kind: str  # "import" | "def" | "assign" | "setup"
    code: str
    binds: set[str]
    needs: set[str]
    has_error: bool
    source: int  # index of the source (higher = higher priority)
    pos: int  # order inside the source


@dataclass
class Source:
    """A piece of code (a block, the prompt) split into top-level statements."""

    code: str
    priority: int
    is_prompt: bool = False
    has_error: bool = False
    stmts: list[Stmt] = field(default_factory=list)

    def defines(self, name: str, *, clean_only: bool = False) -> bool:
        return any(s.kind == "def" and name in s.binds and not (clean_only and s.has_error) for s in self.stmts)


def _is_main_guard(node: Node) -> bool:
    cond = node.child_by_field_name("condition")
    return cond is not None and "__name__" in text(cond)


def _is_setup(node: Node) -> bool:
    """Harmless module-level calls a solution may rely on."""
    t = text(node)
    return t.startswith("sys.setrecursionlimit(")


def _simple_assignment(node: Node) -> Node | None:
    if node.type != "expression_statement" or node.named_child_count != 1:
        return None
    inner = node.named_children[0]
    if inner.type != "assignment":
        return None
    return inner


def _assigned_names(assign: Node) -> set[str]:
    left = assign.child_by_field_name("left")
    names: set[str] = set()
    if left is None:
        return names
    if left.type == "identifier":
        names.add(text(left))
    elif left.type in ("pattern_list", "tuple_pattern"):
        names.update(text(c) for c in left.named_children if c.type == "identifier")
    # chained `a = b = 1`: the right side is itself an assignment
    right = assign.child_by_field_name("right")
    if right is not None and right.type == "assignment":
        names |= _assigned_names(right)
    return names


def split_source(code: str, priority: int, is_prompt: bool = False) -> Source:
    """Parse ``code`` and keep its imports, definitions, simple assignments
    and setup calls; drop everything else (calls, prints, asserts, loops,
    ``if __name__`` blocks)."""
    tree = parse(code)
    src = Source(code=code, priority=priority, is_prompt=is_prompt, has_error=tree.root_node.has_error)
    for pos, node in enumerate(tree.root_node.named_children):
        t = node.type
        if t in ("import_statement", "import_from_statement", "future_import_statement"):
            src.stmts.append(Stmt("import", text(node), import_bindings(node), set(), node.has_error, priority, pos))
        elif t in ("function_definition", "class_definition", "decorated_definition"):
            name = definition_name(node)
            if name:
                src.stmts.append(Stmt("def", text(node), {name}, free_names(node), node.has_error, priority, pos))
        elif t == "try_statement":
            # `try: import x / except ImportError: ...` guards
            imports = [n for n in walk(node) if n.type in ("import_statement", "import_from_statement")]
            if imports:
                binds = set().union(*(import_bindings(n) for n in imports))
                src.stmts.append(Stmt("import", text(node), binds, set(), node.has_error, priority, pos))
        elif t == "expression_statement":
            assign = _simple_assignment(node)
            if assign is not None:
                names = _assigned_names(assign)
                if names:
                    src.stmts.append(Stmt("assign", text(node), names, free_names(node), node.has_error, priority, pos))
            elif _is_setup(node):
                src.stmts.append(Stmt("setup", text(node), set(), {"sys"}, node.has_error, priority, pos))
        elif t == "if_statement" and _is_main_guard(node):
            continue
    return src


def assemble(sources: list[Source], roots: set[str]) -> tuple[str, set[str]]:
    """The module holding ``roots`` and their transitive needs; also the
    names that were found. Definitions come from the highest-priority
    source that has an error-free one (then any one), imports likewise."""
    by_prio = sorted(sources, key=lambda s: -s.priority)

    def pick(name: str, kinds: tuple[str, ...]) -> Stmt | None:
        # the answer before the prompt; error-free before broken
        for prompt, clean_only in ((False, True), (False, False), (True, True), (True, False)):
            for src in by_prio:
                if src.is_prompt != prompt:
                    continue
                # the last binding in a source wins, as at runtime
                for st in reversed(src.stmts):
                    if st.kind in kinds and name in st.binds and (st.has_error is False or not clean_only):
                        return st
        return None

    chosen: dict[int, Stmt] = {}
    found: set[str] = set()
    todo = list(roots)
    seen: set[str] = set()
    star_imports = [st for src in by_prio for st in src.stmts if st.kind == "import" and "*" in st.binds]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        st = pick(name, ("def", "assign")) or pick(name, ("import",))
        if st is None:
            continue
        found.add(name)
        if id(st) not in chosen:
            chosen[id(st)] = st
            todo.extend(st.needs - seen)
    if chosen:
        for st in star_imports:
            chosen[id(st)] = st
        for src in by_prio:
            for st in src.stmts:
                if st.kind == "setup" or "__future__" in st.binds:
                    chosen[id(st)] = st
                    if st.kind == "setup":
                        sys_import = pick("sys", ("import",))
                        if sys_import is not None:
                            chosen[id(sys_import)] = sys_import
    return _render(list(chosen.values())), found


def _render(stmts: list[Stmt]) -> str:
    """Future imports, imports, setup, then definitions: lower-priority
    sources first (helpers from the prompt or other blocks), each in its
    own order."""
    def order(st: Stmt) -> tuple[int, int, int]:
        rank = 0 if "__future__" in st.binds else 1 if st.kind == "import" else 2 if st.kind == "setup" else 3
        return (rank, st.source, st.pos)

    parts: list[str] = []
    seen_text: set[str] = set()
    prev_rank = None
    for st in sorted(stmts, key=order):
        body = st.code.rstrip()
        if body in seen_text:
            continue
        seen_text.add(body)
        rank = order(st)[0]
        if prev_rank is not None:
            parts.append("\n\n\n" if rank == 3 else ("\n\n" if rank != prev_rank else "\n"))
        parts.append(body)
        prev_rank = rank
    return ("".join(parts) + "\n") if parts else ""
