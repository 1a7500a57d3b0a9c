"""Put a repaired function body back into its file, and nothing else.

Never change what the repair was not asked to change. Only the *body* of
the repaired function is replaced, after its docstring: the decorators,
the ``def`` line(s) (name, parameters, annotations), the docstring and
every byte outside the body stay exactly as they were. One exception, the
decorators, when the failure is in them (a traceback line on a decorator:
``@lru_cache(maxsize="128")`` raising at import): then the reply's
decorators replace the original ones (``splice(..., decorators=True)``). The new body takes
the indentation style of the file (tabs or N spaces, whatever the model
used) and the file's line ending; the lines inside a multi-line string of
the reply are kept verbatim, so string values are what the model wrote.

And prove it rather than hope: :func:`splice` checks that the bytes before
and after the replaced region are the original's, that the new file
compiles, and that its AST with the repaired bodies blanked out equals the
original's with the same bodies blanked out (:func:`only_bodies_changed`).
Anything else is a :class:`SpliceError` and nothing is written. Writes are
atomic and refuse to overwrite a file whose content changed since it was
read.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import io
import stat
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from coderefl.atomic import atomic_write_bytes
from coderefl.errors import CoderelfError
from coderefl.fix.locate import FunctionSpan

#: a function's identity across edits: its qualified name and which
#: definition of that name it is, in file order (a property's getter and
#: setter share a qualified name; line numbers shift when a body grows)
FuncKey = tuple[str, int]
FuncNode = ast.FunctionDef | ast.AsyncFunctionDef


class SpliceError(CoderelfError):
    """The new function cannot be spliced in (syntax error, wrong name,
    or something outside the function's body would change)."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def newline_of(data: bytes) -> bytes:
    """The file's line ending: CRLF when its first line ends with one."""
    first = data.find(b"\n")
    return b"\r\n" if first > 0 and data[first - 1 : first] == b"\r" else b"\n"


# -- the functions of a module, as ast nodes ---------------------------------


def ast_functions(tree: ast.Module) -> Iterator[tuple[str, FuncNode]]:
    """Repairable functions in file order, as :func:`coderefl.fix.locate.functions`
    lists them: module-level functions and methods of (nested) classes."""

    def visit(body: list[ast.stmt], prefix: str) -> Iterator[tuple[str, FuncNode]]:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield prefix + node.name, node
            elif isinstance(node, ast.ClassDef):
                yield from visit(node.body, f"{prefix}{node.name}.")

    yield from visit(tree.body, "")


def keyed_functions(tree: ast.Module) -> dict[FuncKey, FuncNode]:
    seen: dict[str, int] = {}
    out: dict[FuncKey, FuncNode] = {}
    for qual, node in ast_functions(tree):
        k = seen.get(qual, 0)
        seen[qual] = k + 1
        out[(qual, k)] = node
    return out


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def key_of(tree: ast.Module, span: FunctionSpan) -> FuncKey:
    for key, node in keyed_functions(tree).items():
        if key[0] == span.qualname and _first_line(node) == span.start_line:
            return key
    raise SpliceError(f"{span.qualname} is not at line {span.start_line} of the file")


def _has_docstring(node: FuncNode) -> bool:
    first = node.body[0] if node.body else None
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)


def _parse(data: bytes, what: str) -> ast.Module:
    try:
        return ast.parse(data.decode("utf-8"))
    except (SyntaxError, ValueError, UnicodeDecodeError) as err:
        where = f" (line {err.lineno})" if isinstance(err, SyntaxError) and err.lineno else ""
        raise SpliceError(f"{what} does not parse: {getattr(err, 'msg', err)}{where}") from None


def only_bodies_changed(old: bytes, new: bytes, keys: Iterable[FuncKey], decorators: Iterable[FuncKey] = ()) -> str | None:
    """None when ``new``'s AST equals ``old``'s once the bodies of the
    functions ``keys`` (after a docstring, which must stay), and the
    decorator lists of the functions ``decorators``, are blanked out in
    both; else one line on what differs."""
    keys = set(keys)
    decorators = set(decorators) & keys
    try:
        trees = [_parse(old, "the original file"), _parse(new, "the repaired file")]
    except SpliceError as err:
        return str(err)
    old_funcs, new_funcs = keyed_functions(trees[0]), keyed_functions(trees[1])
    for funcs in (old_funcs, new_funcs):
        missing = keys - set(funcs)
        if missing:
            qual, k = sorted(missing)[0]
            return f"{qual} (definition {k + 1}) is missing"
    for key in keys:
        keep = 1 if _has_docstring(old_funcs[key]) else 0
        for node in (old_funcs[key], new_funcs[key]):
            node.body = node.body[:keep]
            if key in decorators:
                node.decorator_list = []
    if ast.dump(trees[0]) == ast.dump(trees[1]):
        return None
    for key in sorted(keys):  # name the changed function, else "elsewhere"
        if ast.dump(old_funcs[key]) != ast.dump(new_funcs[key]):
            return f"the decorators, signature or docstring of {key[0]} would change"
    return "code outside the repaired functions would change"


# -- re-indenting a reply's body into the file -------------------------------


@dataclass
class _Lines:
    """A source's lines as byte offsets (each line without its ending)."""

    data: bytes

    def __post_init__(self) -> None:
        self.starts = [0]
        for i, b in enumerate(self.data):
            if b == 0x0A:
                self.starts.append(i + 1)

    def offset(self, lineno: int, col: int) -> int:
        return self.starts[lineno - 1] + col

    def line(self, lineno: int) -> bytes:
        start = self.starts[lineno - 1]
        end = self.starts[lineno] - 1 if lineno < len(self.starts) else len(self.data)
        return self.data[start:end].rstrip(b"\r")

    def line_end(self, lineno: int) -> int:
        return self.starts[lineno - 1] + len(self.line(lineno))


def _leading(line: bytes) -> bytes:
    return line[: len(line) - len(line.lstrip(b" \t"))]


def _string_lines(source: bytes) -> set[int]:
    """Lines (1-based) that start inside a multi-line string token."""
    inside: set[int] = set()
    try:
        for tok in tokenize.tokenize(io.BytesIO(source).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                inside.update(range(tok.start[0] + 1, tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        pass
    return inside


def _indent_unit(data: bytes) -> bytes:
    """The file's indentation step: the first indented line's whitespace."""
    for line in data.splitlines():
        lead = _leading(line)
        if lead and line.strip() and not line.strip().startswith(b"#"):
            return lead
    return b"    "


def _convert(rel: bytes, unit: bytes, file_unit: bytes) -> bytes:
    """Relative indentation in the reply's unit, in the file's unit."""
    k = 0
    while unit and rel.startswith(unit, k * len(unit)):
        k += 1
    return file_unit * k + rel[k * len(unit) :]


def _reply_body(func: str, name: str, drop_docstring: bool) -> tuple[list[tuple[bool, bytes]], bytes]:
    """The reply's body lines (after its docstring when the original has
    one), each with whether to keep it verbatim (it starts inside a
    multi-line string), and the body's indentation in the reply."""
    data = func.encode("utf-8")
    tree = _parse(data, "the repaired function")
    node = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name), None)
    if node is None:
        raise SpliceError(f"the reply does not define {name}")
    body = node.body[1:] if drop_docstring and _has_docstring(node) else node.body
    if not body:
        raise SpliceError(f"the reply's {name} has no body besides its docstring")
    lines = _Lines(data)
    first = _first_line(body[0])
    last = body[-1].end_lineno or first
    first_text = lines.line(first)
    col = body[0].col_offset if first == body[0].lineno else len(_leading(first_text))
    verbatim = _string_lines(data)
    if first_text[:col].strip():  # `def f(): return 1`: the body shares the def's line
        out = [(n in verbatim, lines.line(n)) for n in range(first, last + 1)]
        out[0] = (False, first_text[col:])
        return out, b""
    floor = (node.body[0].end_lineno or node.lineno) if body is not node.body else node.lineno
    start = _leading_comments(lines, first, floor)
    return [(n in verbatim, lines.line(n)) for n in range(start, last + 1)], first_text[:col]


def _leading_comments(lines: _Lines, first: int, floor: int) -> int:
    """The first line of the comment lines just above line ``first`` (and
    below line ``floor``): a body's leading comments belong to the body."""
    earliest, k = first, first - 1
    while k > floor:
        text = lines.line(k).strip()
        if text.startswith(b"#"):
            earliest = k
        elif text:
            break
        k -= 1
    return earliest


def _reindent(body: list[tuple[bool, bytes]], reply_indent: bytes, indent: bytes, unit: bytes) -> list[bytes]:
    """The reply's body lines at ``indent``, nested levels in ``unit``."""
    reply_unit = reply_indent or b"    "  # the reply's def is at column 0
    out = []
    for verbatim, line in body:
        if verbatim:
            out.append(line)
        elif not line.strip():
            out.append(b"")
        else:
            lead = _leading(line)
            rel = lead[len(reply_indent) :] if lead.startswith(reply_indent) else b""
            out.append(indent + _convert(rel, reply_unit, unit) + line[len(lead) :])
    return out


def splice(data: bytes, span: FunctionSpan, func: str, *, decorators: bool = False) -> bytes:
    """``data`` with the body of the function at ``span`` replaced by the
    body of ``func`` (a dedented definition of the same name); with
    ``decorators`` (the failure is in them), its decorators too.

    Raises :class:`SpliceError` when the result does not compile, or when
    anything but that body would change."""
    tree = _parse(data, "the original file")
    key = key_of(tree, span)
    node = keyed_functions(tree)[key]
    keep = 1 if _has_docstring(node) else 0
    lines = _Lines(data)
    nl = newline_of(data)
    def_indent = _leading(lines.line(_first_line(node)))
    rest = node.body[keep:]
    body, reply_indent = _reply_body(func, span.name, drop_docstring=bool(keep))
    own_line = False
    if rest:
        first = _first_line(rest[0])
        col = rest[0].col_offset if first == rest[0].lineno else len(_leading(lines.line(first)))
        start = lines.offset(first, col)
        end = lines.line_end(rest[-1].end_lineno or first)
        own_line = not lines.line(first)[:col].strip()
        indent = lines.line(first)[:col] if own_line else b""
        if own_line:
            floor = (node.body[0].end_lineno or node.lineno) if keep else node.lineno
            start = lines.offset(_leading_comments(lines, first, floor), 0)
    else:  # the body is a docstring only: the new body goes after it
        doc = node.body[0]
        start = end = lines.line_end(doc.end_lineno or doc.lineno)
        doc_line = lines.line(doc.lineno)
        indent = b"" if doc_line[: doc.col_offset].strip() else doc_line[: doc.col_offset]
    if not own_line:
        while start > 0 and data[start - 1 : start] in (b" ", b"\t"):
            start -= 1
        indent = indent or def_indent + _indent_unit(data)
    unit = indent[len(def_indent) :] if indent.startswith(def_indent) and len(indent) > len(def_indent) else _indent_unit(data)
    new_lines = _reindent(body, reply_indent, indent, unit)
    block = nl.join(new_lines)
    new = data[:start] + (block if own_line else nl + block) + data[end:]
    if new[:start] != data[:start] or not new.endswith(data[end:]):  # pragma: no cover - by construction
        raise SpliceError("bytes outside the function's body would change")
    header = decorators
    if header:
        new = _swap_decorators(new, lines, node, func, span.name, def_indent, nl)
    try:
        compile(new.decode("utf-8"), span.qualname, "exec", dont_inherit=True)
    except SyntaxError as err:
        raise SpliceError(f"the repaired file does not compile: {err.msg} (line {err.lineno})") from None
    why = only_bodies_changed(data, new, [key], decorators=[key] if header else ())
    if why is not None:
        raise SpliceError(why)
    return new


def _swap_decorators(new: bytes, lines: "_Lines", node: FuncNode, func: str, name: str, def_indent: bytes, nl: bytes) -> bytes:
    """``new`` with the original decorator lines (whose bytes precede the
    body, so the original's offsets hold) replaced by the reply's, at the
    ``def``'s indentation. The same bytes when the decorators are the same."""
    reply = _parse(func.encode("utf-8"), "the repaired function")
    rnode = next((n for n in reply.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name), None)
    if rnode is None or [ast.dump(d) for d in rnode.decorator_list] == [ast.dump(d) for d in node.decorator_list]:
        return new
    start = lines.offset(_first_line(node), 0)
    end = lines.offset(node.lineno, 0)
    rlines = _Lines(func.encode("utf-8"))
    rindent = _leading(rlines.line(rnode.lineno))
    out = b""
    for n in range(_first_line(rnode), rnode.lineno):
        text = rlines.line(n)
        out += def_indent + (text[len(rindent):] if text.startswith(rindent) else text.lstrip(b" \t")) + nl
    return new[:start] + out + new[end:]


def body_fingerprint(func: str, *, decorators: bool = False) -> str | None:
    """What a definition's body does, ignoring its docstring, comments and
    layout: two replies with the same fingerprint are the same repair. Its
    decorators count too when the repair may change them (``decorators``),
    since the splice then takes them."""
    try:
        node = ast.parse(func).body[0]
    except (SyntaxError, IndexError, ValueError):
        return None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    body = node.body[1:] if _has_docstring(node) else node.body
    head = [ast.dump(d) for d in node.decorator_list] if decorators else []
    return "\n".join([*head, ast.dump(ast.Module(body=body, type_ignores=[]))])


def reply_header_note(original: str, func: str) -> str | None:
    """A note when the reply changed the decorators or the ``def`` line,
    which the splice keeps as they were."""
    try:
        a = ast.parse(original).body[0]
        b = ast.parse(func).body[0]
    except (SyntaxError, IndexError, ValueError):
        return None
    if not isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef)) or not isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    for n in (a, b):
        n.body = []
    if ast.dump(a) == ast.dump(b):
        return None
    return "the reply changed the decorators or the signature; the original ones were kept (only the body is replaced)"


def unified_diff(rel: str, old: bytes, new: bytes) -> str:
    a = old.decode("utf-8", "replace").splitlines(keepends=True)
    b = new.decode("utf-8", "replace").splitlines(keepends=True)
    text = "".join(difflib.unified_diff(a, b, f"a/{rel}", f"b/{rel}"))
    return text if text.endswith("\n") or not text else text + "\n"


class ChangedOnDisk(CoderelfError):
    """The file changed after coderefl read it; it is left alone."""


def write_if_unchanged(path: Path, expected_sha: str, new: bytes) -> None:
    """Atomically replace ``path`` with ``new`` if its content still hashes
    to ``expected_sha``, checked once before writing and once more just
    before the swap. Keeps the file's permission bits."""

    def unchanged() -> None:
        try:
            current = path.read_bytes()
        except FileNotFoundError:
            raise ChangedOnDisk(f"{path} was removed while coderefl was running; not written") from None
        if digest(current) != expected_sha:
            raise ChangedOnDisk(f"{path} changed while coderefl was running; not overwritten")

    unchanged()
    atomic_write_bytes(path, new, mode=stat.S_IMODE(path.stat().st_mode), before_replace=unchanged)
