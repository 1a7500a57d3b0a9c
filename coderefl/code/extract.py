"""Turn a model's messy answer into a runnable module, and its tests into asserts.

The public face of ``coderefl.code``:

* :func:`extract_code` -- answer (markdown, prose, several blocks, a
  truncated block, no block) -> the entry-point function plus the imports,
  helpers, classes and constants it needs, transitively; no example usage,
  no ``if __name__`` block, no top-level asserts or prints. Syntax errors
  come back as ``"line L, column C: ..."``, never as an exception.
* :func:`extract_asserts` -- a generated-tests answer -> separate,
  deduplicated, syntax-checked assert statements.
* :func:`completion_to_module` -- a base model's continuation of a
  HumanEval-style prompt -> a module, cut where the function body ends.
* :func:`syntax_error` -- the first syntax error's location, or None.
"""

from __future__ import annotations

import builtins
import re
import textwrap
from dataclasses import dataclass

from tree_sitter import Node

from coderefl.code.blocks import PYTHON_TAGS, Block, fenced_blocks, python_blocks, strip_reasoning, tagged_blocks
from coderefl.code.module import Source, assemble, split_source
from coderefl.code.parser import (
    binding_nodes,
    definition_name,
    free_names,
    import_bindings,
    parse,
    syntax_error,
    text,
    used_names,
    walk,
)

__all__ = ["Extraction", "extract_code", "extract_asserts", "completion_to_module", "syntax_error"]

_BUILTINS = set(dir(builtins))


@dataclass
class Extraction:
    """What :func:`extract_code` found."""

    code: str  # runnable module ("" if nothing usable)
    entry_point_found: bool
    syntax_error: str | None  # "line L, column C: ..." from the tree-sitter parse, or None

    @property
    def ok(self) -> bool:
        return bool(self.code) and self.entry_point_found and self.syntax_error is None


# --------------------------------------------------------------------------
# code
# --------------------------------------------------------------------------


def _def_re(name: str) -> re.Pattern[str]:
    return re.compile(rf"^(?:async\s+)?def\s+{re.escape(name)}\s*\(", re.M)


def _rank_blocks(blocks: list[Block], entry_point: str | None) -> list[Source]:
    """Sources for the answer's blocks, priority by: defines the entry point
    without errors > defines it at all > later in the answer (a later block
    is usually the corrected version)."""
    parsed = [split_source(b.code, 0) for b in blocks]

    def rank(i: int) -> tuple[int, int, int]:
        src = parsed[i]
        if entry_point is None:
            return (0, 0, i)
        return (int(src.defines(entry_point, clean_only=True)), int(src.defines(entry_point)), i)

    order = sorted(range(len(parsed)), key=rank)
    for prio, i in enumerate(order, start=1):
        src = parsed[i]
        src.priority = prio
        for st in src.stmts:
            st.source = prio
    return parsed


def _method_owner(sources: list[Source], entry_point: str) -> str | None:
    """A top-level class defining ``entry_point`` as a method (LeetCode style)."""
    for src in sorted(sources, key=lambda s: -s.priority):
        tree = parse(src.code)
        for node in tree.root_node.named_children:
            cls = node.child_by_field_name("definition") if node.type == "decorated_definition" else node
            if cls is None or cls.type != "class_definition":
                continue
            body = cls.child_by_field_name("body")
            for member in body.named_children if body is not None else []:
                if definition_name(member) == entry_point:
                    return definition_name(cls)
    return None


def _indent_body(code: str) -> str:
    """A bare function body, indented under the prompt's signature."""
    first = next((ln for ln in code.splitlines() if ln.strip()), "")
    if first[:1] in (" ", "\t"):
        return code
    return textwrap.indent(code, "    ")


def extract_code(response: str, entry_point: str | None, prompt: str | None = None) -> Extraction:
    """A runnable module from a model's answer. Never raises on bad input."""
    blocks = python_blocks(response or "")
    prompt_src = split_source(prompt, 0, is_prompt=True) if prompt else None
    sources = _rank_blocks(blocks, entry_point)

    if entry_point and not any(s.defines(entry_point) for s in sources):
        # a bare body continuing the prompt's signature (completion style)
        has_defs = any(st.kind == "def" for s in sources for st in s.stmts)
        if prompt_src is not None and prompt_src.defines(entry_point) and not has_defs:
            body = blocks[-1].code if blocks else _bare_body(response or "")
            if body.strip():
                module = completion_to_module(prompt or "", _indent_body(body))
                src = split_source(module, len(sources) + 1)
                if src.defines(entry_point):
                    sources.append(src)
        owner = None if any(s.defines(entry_point) for s in sources) else _method_owner(sources, entry_point)
        if owner is not None:
            code, _ = assemble(sources + ([prompt_src] if prompt_src else []), {owner})
            wrapper = (
                f"\n\ndef {entry_point}(*args, **kwargs):\n"
                f"    return {owner}().{entry_point}(*args, **kwargs)\n"
            )
            code = code + wrapper
            return Extraction(code, True, syntax_error(code))

    if entry_point:
        roots = {entry_point}
    else:
        roots = {n for s in sources for st in s.stmts if st.kind == "def" for n in st.binds}
    all_sources = sources + ([prompt_src] if prompt_src is not None else [])
    code, found = assemble(all_sources, roots)
    entry_found = entry_point in found if entry_point else bool(code)
    # the entry point must come from the answer, not from the prompt's stub
    if entry_point and entry_found and not any(s.defines(entry_point) for s in sources):
        entry_found = False
        code = ""
    if not entry_found and sources:
        best = max(sources, key=lambda s: s.priority)
        raw = best.code
        if entry_point and _def_re(entry_point).search(raw):
            # the definition is there but inside a parse error: hand back the
            # block as is, so the error's location points into what the model wrote
            return Extraction(raw, True, syntax_error(raw) or "line 1, column 1: entry point definition not parsed")
        # no entry point: keep the definitions (and what they need), never example usage
        others = {n for s in sources for st in s.stmts if st.kind == "def" for n in st.binds}
        code, _ = assemble(all_sources, others)
        if not code and best.has_error:
            return Extraction(raw, False, syntax_error(raw))
    return Extraction(code, entry_found, syntax_error(code) if code else None)


def _bare_body(response: str) -> str:
    """An unfenced answer that is only an indented function body."""
    lines = response.splitlines()
    if any(ln.startswith(("    ", "\t")) and ln.strip() for ln in lines):
        body = [ln for ln in lines if not ln.strip() or ln.startswith(("    ", "\t"))]
        return "\n".join(body).strip("\n") + "\n"
    return ""


# --------------------------------------------------------------------------
# completion mode
# --------------------------------------------------------------------------

#: the usual stop sequences for a base model completing a HumanEval-style
#: prompt (pass them as ``stop=``; completion_to_module cuts the same way)
STOP_SEQUENCES = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")


def _truncate_completion(prompt: str, completion: str) -> tuple[str, str]:
    """(kept, rest): cut at the first top-level (column 0) line after the body."""
    lines = completion.split("\n")
    start = 0 if prompt.endswith("\n") or not prompt else 1
    for i in range(start, len(lines)):
        line = lines[i]
        if line.strip() and line[0] not in (" ", "\t"):
            return "\n".join(lines[:i]).rstrip() + "\n", "\n".join(lines[i:])
    return completion, ""


def completion_to_module(prompt: str, completion: str) -> str:
    """``prompt + completion`` cut at the first top-level statement after the
    function body (what the usual stop sequences do), keeping any helper
    definitions after the cut that the function calls."""
    kept, rest = _truncate_completion(prompt, completion)
    module = prompt + kept
    if not rest.strip():
        return module
    tree = parse(module)
    defined: set[str] = set()
    needed: set[str] = set()
    for node in tree.root_node.named_children:
        name = definition_name(node)
        if name:
            defined.add(name)
            needed |= free_names(node)
        elif node.type in ("import_statement", "import_from_statement"):
            defined |= import_bindings(node)
        elif node.type == "expression_statement":
            ids, bound, _ = binding_nodes(node)
            defined |= bound
    missing = needed - defined - _BUILTINS
    if not missing:
        return module
    helpers, _ = assemble([split_source(rest, 1)], missing)
    if not helpers:
        return module
    return module.rstrip("\n") + "\n\n\n" + helpers


# --------------------------------------------------------------------------
# asserts
# --------------------------------------------------------------------------

_TEST_FUNC = re.compile(r"^(test\w*|check)$")


def _enclosing_test_function(node: Node) -> Node | None | bool:
    """None: the assert is at module level; a function node: a test
    function's body holds it directly; False: anywhere else."""
    parent = node.parent
    if parent is None:
        return False
    if parent.type in ("module", "ERROR"):
        return None
    if parent.type == "block" and parent.parent is not None and parent.parent.type == "function_definition":
        fn = parent.parent
        name = fn.child_by_field_name("name")
        if name is not None and _TEST_FUNC.match(text(name)):
            return fn
    return False


def _assert_candidates(code: str) -> list[tuple[str, Node | None, Node]]:
    tree = parse(code)
    out = []
    for n in walk(tree.root_node):
        if n.type != "assert_statement":
            continue
        where = _enclosing_test_function(n)
        if where is False:
            continue
        out.append((textwrap.dedent(text(n)), where, n))
    return out


def _line_asserts(code: str) -> list[str]:
    """Asserts found line by line (for text tree-sitter cannot make sense of)."""
    lines = code.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("assert ") or lines[i].startswith("assert("):
            stmt = [lines[i]]
            depth = _bracket_depth(lines[i])
            j = i + 1
            while (depth > 0 or stmt[-1].rstrip().endswith("\\")) and j < len(lines) and j - i < 30:
                if lines[j][:1].isalpha():  # a new statement at column 0: the assert was cut off
                    break
                stmt.append(lines[j])
                depth += _bracket_depth(lines[j])
                j += 1
            out.append("\n".join(stmt))
            i = j
        else:
            i += 1
    return out


def _bracket_depth(line: str) -> int:
    depth = 0
    for ch in re.sub(r"(\"[^\"]*\"|'[^']*')", "", line.split("  #")[0]):
        depth += ch in "([{"
        depth -= ch in ")]}"
    return depth


def _is_one_assert(code: str) -> bool:
    tree = parse(code)
    kids = tree.root_node.named_children
    return (
        not tree.root_node.has_error
        and len([k for k in kids if k.type != "comment"]) == 1
        and kids[0].type == "assert_statement"
        and syntax_error(code) is None
    )


def extract_asserts(text_: str, limit: int = 20, entry_point: str | None = None) -> list[str]:
    """Top-level asserts of a tests answer, each separately; also the
    direct asserts of ``def test_*`` and ``def check(candidate)`` bodies
    (``candidate`` renamed to ``entry_point`` when given, else skipped).
    Asserts that use a test function's local variables are skipped, since
    they cannot stand alone. Deduplicated, syntax-checked, at most ``limit``."""
    text_ = strip_reasoning(text_ or "")
    fenced = [b for b in fenced_blocks(text_) if b.tag in PYTHON_TAGS] or tagged_blocks(text_)
    codes = [b.code for b in fenced] if fenced else [text_]
    found: list[str] = []
    for code in codes:
        cands = _assert_candidates(code)
        for stmt, fn, node in cands:
            if fn is not None:
                ids, bound, _ = binding_nodes(fn)
                params = fn.child_by_field_name("parameters")
                param_names = {text(p) for p in walk(params) if p.type == "identifier"} if params is not None else set()
                uses = used_names(node)
                local = (bound - param_names) | (param_names - {"candidate"})
                if uses & local:
                    continue
            found.append(stmt)
        if parse(code).root_node.has_error:
            found.extend(_line_asserts(code))
    out: list[str] = []
    seen: set[str] = set()
    for stmt in found:
        stmt = stmt.strip()
        if re.search(r"\bcandidate\b", stmt):
            if not entry_point:
                continue
            stmt = re.sub(r"\bcandidate\b", entry_point, stmt)
        key = re.sub(r"\s+", "", stmt)
        if key in seen or not _is_one_assert(stmt):
            continue
        seen.add(key)
        out.append(stmt)
        if len(out) >= limit:
            break
    return out
