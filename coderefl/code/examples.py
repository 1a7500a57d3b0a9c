"""Examples a problem's docstring shows, in every style prompts use, as asserts.

HumanEval alone writes them as ``f(x) == y``, ``f(x) => y``, ``f(x) -> y``,
``f(x) ==> y``, ``f(x) ➞ y``, ``f(x) returns y``, ``f(x) should return y``,
``>>> f(x) == y`` (a doctest line with no output), ``For x = 1 the output
should be y`` and ``Input: x = 1`` / ``Output: y`` blocks. Doctests proper
(``>>> f(x)`` then the output line) are read with the standard library's
doctest parser in :mod:`coderefl.strategies.examples`.

tree-sitter finds the entry point's definition and docstring (a prompt may
hold helpers, and a broken prompt still parses) and its parameter names; an
example is kept only when its call's arguments and its expected value are
plain data (literals, with simple arithmetic: ``19 - 5 - 6``), so prose that
merely looks like a call (``is_happy(a) => False``) is skipped.
"""

from __future__ import annotations

import ast
import re

from coderefl.code.parser import parse, text, walk

#: what may stand between a call and its value, longest first
_SEPARATORS = ("should return", "# returns", "# =>", "returns", "==>", "=>", "->", "➞", "→", "==", "=", ":")
_PLAIN_NODES = (
    ast.Expression, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.UnaryOp, ast.BinOp,
    ast.USub, ast.UAdd, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Load,
)
_WORDS = {"true": "True", "false": "False", "none": "None", "null": "None"}
_FOR = re.compile(r"\bFor\s+(?P<args>.+?)\s*,?\s+(?:the\s+)?(?:output|result)\s+should\s+be\s+(?P<value>.+)", re.IGNORECASE)
_INPUT = re.compile(r"^\s*Input\s*:\s*(?P<args>.+?)\s*$", re.IGNORECASE)
_OUTPUT = re.compile(r"^\s*Output\s*:\s*(?P<value>.+?)\s*$", re.IGNORECASE)


def docstring_examples(prompt: str, entry_point: str, limit: int = 10) -> list[str]:
    """``assert CALL == VALUE`` for each example the entry point's docstring shows."""
    doc, params = _docstring_and_params(prompt, entry_point)
    if not doc:
        return []
    out: list[str] = []
    for found in (_inline(doc, entry_point), _for_prose(doc, entry_point, params), _input_output(doc, entry_point, params)):
        for a in found:
            if a not in out:
                out.append(a)
    return out[:limit]


def _docstring_and_params(prompt: str, entry_point: str) -> tuple[str, list[str]]:
    """The entry point's docstring text and parameter names (tree-sitter)."""
    tree = parse(prompt)
    for node in walk(tree.root_node):
        if node.type != "function_definition":
            continue
        name = node.child_by_field_name("name")
        if name is None or text(name) != entry_point:
            continue
        params: list[str] = []
        plist = node.child_by_field_name("parameters")
        for p in plist.named_children if plist is not None else []:
            ident = p if p.type == "identifier" else p.child_by_field_name("name") or (
                p.named_children[0] if p.named_children else None)
            if ident is not None and ident.type == "identifier":
                params.append(text(ident))
        body = node.child_by_field_name("body")
        first = body.named_children[0] if body is not None and body.named_children else None
        if first is not None and first.type == "expression_statement" and first.named_children:
            s = first.named_children[0]
            if s.type == "string":
                return _string_body(text(s)), params
        return "", params
    return "", []


def _string_body(literal: str) -> str:
    for q in ('"""', "'''", '"', "'"):
        i = literal.find(q)
        if i >= 0 and literal.endswith(q) and len(literal) >= i + 2 * len(q):
            return literal[i + len(q) : len(literal) - len(q)]
    return literal


def _inline(doc: str, entry_point: str) -> list[str]:
    out: list[tuple[str, str]] = []
    defines = False  # ``tri(n) = 1 + n / 2``: the docstring defines a recurrence, its ``=`` are not calls
    for m in re.finditer(rf"(?<![\w.]){re.escape(entry_point)}\s*\(", doc):
        end = _matching_paren(doc, m.end() - 1)
        if end is None:
            continue
        rest = doc[end + 1 :]
        line_end = rest.find("\n")
        head = rest if line_end < 0 else rest[:line_end]
        stripped = head.lstrip()
        call = _plain_call(doc[m.start() : end + 1], entry_point)
        if call is None:
            defines = defines or (stripped.startswith("=") and not stripped.startswith("=="))
            continue
        for sep in _SEPARATORS:
            if stripped.lower().startswith(sep):
                value_text = stripped[len(sep) :]
                if sep == "=" and value_text.startswith("="):
                    continue
                break
        else:
            continue  # a call in prose with no value after it
        value = _plain_prefix(value_text) or _plain_prefix(value_text + rest[len(head) :][:400], multiline=True)
        if value is not None:
            out.append((f"assert {call} == {value}", sep))
    return [a for a, sep in out if not (defines and sep == "=")]


def _for_prose(doc: str, entry_point: str, params: list[str]) -> list[str]:
    out: list[str] = []
    for line in doc.splitlines():
        m = _FOR.search(line)
        if not m:
            continue
        call = _call_from_bindings(m.group("args"), entry_point, params)
        value = _plain_prefix(m.group("value"))
        if call and value is not None:
            out.append(f"assert {call} == {value}")
    return out


def _input_output(doc: str, entry_point: str, params: list[str]) -> list[str]:
    out: list[str] = []
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        m = _INPUT.match(line)
        if not m:
            continue
        following = next((ln for ln in lines[i + 1 : i + 3] if ln.strip()), "")
        o = _OUTPUT.match(following)
        if not o:
            continue
        args = m.group("args")
        call = _call_from_bindings(args, entry_point, params)
        if call is None and len(params) == 1:
            arg = _plain_prefix(args)
            call = f"{entry_point}({arg})" if arg is not None and _same(arg, args) else None
        value = _plain_prefix(o.group("value"))
        if call and value is not None:
            out.append(f"assert {call} == {value}")
    return out


def _call_from_bindings(args: str, entry_point: str, params: list[str]) -> str | None:
    """``x = 1, k = 2`` (every parameter, by name) as the call ``f(1, 2)``."""
    if not params:
        return None
    starts = []
    for p in params:
        m = re.search(rf"(?<![\w.]){re.escape(p)}\s*=(?!=)", args)
        if m is None:
            return None
        starts.append((m.start(), m.end(), p))
    starts.sort()
    values: dict[str, str] = {}
    for k, (_, vstart, p) in enumerate(starts):
        vend = starts[k + 1][0] if k + 1 < len(starts) else len(args)
        chunk = args[vstart:vend].strip().rstrip(",").strip()
        value = _plain_prefix(chunk)
        if value is None or not (_same(value, chunk) or (k + 1 == len(starts) and _clause_after(chunk))):
            return None
        values[p] = value
    return f"{entry_point}({', '.join(values[p] for p in params)})"


def _matching_paren(s: str, open_at: int) -> int | None:
    """Index of the bracket closing the one at ``open_at`` (strings skipped)."""
    depth, quote, i = 0, "", open_at
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack: list[str] = []
    while i < len(s):
        c = s[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in pairs:
            stack.append(pairs[c])
            depth += 1
        elif c in ")]}":
            if not stack or stack.pop() != c:
                return None
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _plain_call(call: str, entry_point: str) -> str | None:
    """The call as canonical source, when its arguments are plain data."""
    try:
        tree = ast.parse(call.strip(), mode="eval")
    except SyntaxError:
        return None
    tree = _Words().visit(tree)
    node = tree.body
    ok = (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == entry_point
        and not node.keywords
        and all(_plain(a) for a in node.args)
    )
    return ast.unparse(tree) if ok else None


def _plain(node: ast.AST) -> bool:
    return all(isinstance(n, _PLAIN_NODES) for n in ast.walk(node))


def _plain_prefix(value_text: str, multiline: bool = False) -> str | None:
    """The longest prefix of ``value_text`` that is a plain-data expression,
    as canonical source (comments and a sentence's full stop dropped,
    ``true``/``false``/``null`` as Python's)."""
    raw = value_text.split("\n")[0] if not multiline else value_text
    raw = raw.strip()
    if not raw:
        return None
    for end in range(len(raw), 0, -1):
        if end < len(raw) and (raw[end].isalnum() or raw[end] in "_'\"" or raw[end - 1].isalnum() and raw[end] == "."):
            continue
        candidate = raw[:end].strip()
        if candidate.endswith(".") and _literal(candidate[:-1].strip()) is not None:
            candidate = candidate[:-1]  # "should return 16." ends a sentence
        value = _literal(candidate)
        if value is not None:
            rest = raw[end:].lstrip()
            if rest[:1] and rest[:1] in "+-*/%<>&|^@(" and not rest.startswith(("->", "=>")):
                return None  # the expression goes on with a name: ``2 + y`` is not data
            return value
    return None


def _literal(candidate: str) -> str | None:
    """``candidate`` as canonical source when it is plain data, else None."""
    if not candidate or "#" in candidate.replace("'#'", "").replace('"#"', "") and _has_comment(candidate):
        return None
    try:
        tree = ast.parse(candidate, mode="eval")
    except SyntaxError:
        return None
    tree = _Words().visit(tree)
    if not _plain(tree) or (isinstance(tree.body, ast.Tuple) and not candidate.startswith("(")):
        return None
    return ast.unparse(tree)


def _has_comment(src: str) -> bool:
    import io
    import tokenize

    try:
        return any(t.type == tokenize.COMMENT for t in tokenize.generate_tokens(io.StringIO(src).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return True


class _Words(ast.NodeTransformer):
    """``true``/``false``/``null``/``none`` written in prose, as constants."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        word = _WORDS.get(node.id.lower())
        return ast.copy_location(ast.Constant(value=ast.literal_eval(word)), node) if word else node


def _same(value: str, text_: str) -> bool:
    """``value`` is all of ``text_`` (not a prefix of a longer expression)."""
    return _literal(" ".join(text_.split()).rstrip(".,;")) == value


def _clause_after(chunk: str) -> bool:
    """``1000, the sum of its digits is 1``: a value, a comma, then prose."""
    head, sep, _ = chunk.partition(",")
    return bool(sep) and _literal(head.strip()) is not None
