"""The splice changes a repaired function's body and nothing else (issue 18):
decorators, signature, docstring, comments and indentation style stay, and
an AST check refuses anything that would change outside the body."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coderefl.fix.locate import find_function, functions
from coderefl.fix.splice import SpliceError, keyed_functions, only_bodies_changed, reply_header_note, splice


def spliced(src: str, qualname: str, reply: str, which: int = 0) -> str:
    data = src.encode()
    span = [s for s in functions(data) if s.qualname == qualname][which]
    return splice(data, span, reply).decode()


def without(src: str, *needles: str) -> str:
    for n in needles:
        assert n in src
        src = src.replace(n, "")
    return src


STATIC = '''class Calc:
    @staticmethod
    def double(x):
        return x + x + 1
'''


def test_a_reply_without_the_decorator_keeps_it():
    new = spliced(STATIC, "Calc.double", "def double(x):\n    return 2 * x\n")
    assert new == STATIC.replace("return x + x + 1", "return 2 * x")
    ns: dict = {}
    exec(new, ns)
    assert ns["Calc"]().double(3) == 6  # still callable on an instance


def test_lru_cache_and_stacked_decorators_stay():
    src = (
        "import functools\n\n\n@functools.lru_cache(maxsize=None)\n@other  # why\ndef fib(n):\n"
        "    return fib(n - 1) + fib(n - 2)\n"
    )
    new = spliced(src, "fib", "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n")
    assert new.startswith("import functools\n\n\n@functools.lru_cache(maxsize=None)\n@other  # why\ndef fib(n):\n    if n < 2:\n")


def test_classmethod_property_setter_and_the_signature_stay():
    src = '''class Box:
    @classmethod
    def make(cls, n: int = 1) -> "Box":
        return cls(n + 1)

    @property
    def size(self):
        return self._n

    @size.setter
    def size(self, n):
        self._n = -n
'''
    reply = "@staticmethod\ndef make(cls, n=2, extra=None):\n    return cls(n)\n"  # decorator and signature changed
    new = spliced(src, "Box.make", reply)
    assert '    @classmethod\n    def make(cls, n: int = 1) -> "Box":\n        return cls(n)\n' in new
    assert reply_header_note('@classmethod\ndef make(cls, n: int = 1) -> "Box":\n    pass', reply) is not None
    # the setter is the second definition of Box.size: only its body changes
    new = spliced(src, "Box.size", "def size(self, n):\n    self._n = n\n", which=1)
    assert new == src.replace("self._n = -n", "self._n = n")


def test_nested_functions_move_with_the_body():
    src = '''def outer(xs):
    @wrap
    def inner(x):
        return x - 1
    return [inner(x) for x in xs]


def after():
    pass
'''
    reply = "def outer(xs):\n    def inner(x):\n        return x + 1\n\n    return [inner(x) for x in xs]\n"
    new = spliced(src, "outer", reply)
    assert new == src.replace("    @wrap\n    def inner(x):\n        return x - 1\n", "    def inner(x):\n        return x + 1\n\n")


def test_tabs_stay_tabs_at_every_level():
    src = "class Stack:\n\tdef size(self):\n\t\treturn len(self.items) + 1\n\n\tdef push(self, x):\n\t\tself.items.append(x)\n"
    reply = "def size(self):\n    n = 0\n    for _ in self.items:\n        n += 1\n    return n\n"
    new = spliced(src, "Stack.size", reply)
    assert new == src.replace(
        "\t\treturn len(self.items) + 1\n", "\t\tn = 0\n\t\tfor _ in self.items:\n\t\t\tn += 1\n\t\treturn n\n"
    )
    assert " " not in "".join(line[: len(line) - len(line.lstrip())] for line in new.splitlines())


def test_two_space_indentation_and_a_tab_indented_reply():
    src = "def f(x):\n  if x:\n    return 1\n  return 0\n"
    new = spliced(src, "f", "def f(x):\n\tif x > 1:\n\t\treturn 1\n\treturn 0\n")
    assert new == "def f(x):\n  if x > 1:\n    return 1\n  return 0\n"


def test_comments_around_and_on_the_def_line_stay():
    src = '''# before the function
def f(x):  # a note on the def line
    # a comment inside the body is part of the body
    return x - 1
    # a comment after the body, at the body's indentation

# between functions
def g():
    return 0
'''
    new = spliced(src, "f", "def f(x):\n    return x + 1  # fixed\n")
    assert new == without(src, "    # a comment inside the body is part of the body\n").replace(
        "return x - 1", "return x + 1  # fixed"
    )
    # a reply that repeats the body's leading comment does not double it
    new = spliced(src, "f", "def f(x):\n    # a comment inside the body is part of the body\n    return x + 1\n")
    assert new == src.replace("return x - 1", "return x + 1")


def test_docstrings_stay_and_a_replys_docstring_is_dropped():
    src = 'def f(x):\n    """Add one.\n\n    Careful: exact text.\n    """\n    return x - 1\n'
    for reply in ("def f(x):\n    return x + 1\n", 'def f(x):\n    """A rewritten docstring."""\n    return x + 1\n'):
        assert spliced(src, "f", reply) == src.replace("return x - 1", "return x + 1")
    # no docstring before: the reply may bring one (it is part of the body)
    plain = "def g():\n    return 1\n"
    assert spliced(plain, "g", 'def g():\n    """Two."""\n    return 2\n') == 'def g():\n    """Two."""\n    return 2\n'


def test_one_line_and_docstring_only_functions():
    assert spliced("def f(): return 1\n\nX = 1\n", "f", "def f():\n    return 2\n") == "def f():\n    return 2\n\nX = 1\n"
    src = "class A:\n    def m(self):\n        '''To do.'''\n"
    assert spliced(src, "A.m", "def m(self):\n    return 1\n") == src + "        return 1\n"


def test_multi_line_strings_in_the_reply_keep_their_value():
    src = "class A:\n    def text(self):\n        return ''\n"
    reply = 'def text(self):\n    return """line one\n  indented two\nthree"""\n'
    new = spliced(src, "A.text", reply)
    ns: dict = {}
    exec(new, ns)
    assert ns["A"]().text() == "line one\n  indented two\nthree"


def test_the_ast_check_names_what_would_change():
    old = b"import os\n\n\n@dec\ndef f(x):\n    return 1\n\n\ndef g():\n    return 2\n"
    key = [("f", 0)]
    assert only_bodies_changed(old, old.replace(b"return 1", b"return 3"), key) is None
    assert "signature or docstring of f" in only_bodies_changed(old, old.replace(b"def f(x)", b"def f(y)"), key)
    assert "signature or docstring of f" in only_bodies_changed(old, old.replace(b"@dec\n", b""), key)
    assert "outside the repaired functions" in only_bodies_changed(old, old.replace(b"return 2", b"return 4"), key)
    assert "outside the repaired functions" in only_bodies_changed(old, old.replace(b"import os", b"import sys"), key)
    assert "does not parse" in only_bodies_changed(old, b"def f(:\n", key)
    assert "f (definition 1) is missing" in only_bodies_changed(old, b"def h():\n    pass\n", key)


def test_a_reply_that_would_leak_out_of_the_body_is_refused():
    src = "def f():\n    return 1\n\n\ndef g():\n    return 2\n"
    with pytest.raises(SpliceError):
        # an unterminated string would swallow g: it does not compile
        spliced(src, "f", "def f():\n    x = '''\n    return 1\n")


def test_keyed_functions_follow_locates_order():
    src = "class A:\n    @property\n    def x(self):\n        return 1\n\n    @x.setter\n    def x(self, v):\n        pass\n\n\ndef f():\n    pass\n"
    assert [s.qualname for s in functions(src.encode())] == [q for q, _ in keyed_functions(ast.parse(src))]
    assert list(keyed_functions(ast.parse(src))) == [("A.x", 0), ("A.x", 1), ("f", 0)]


@settings(max_examples=60, deadline=None)
@given(
    file_unit=st.sampled_from(["\t", "  ", "    ", "        "]),
    reply_unit=st.sampled_from(["\t", "  ", "    "]),
    depth=st.integers(0, 3),
    in_class=st.booleans(),
)
def test_any_indentation_style_comes_out_in_the_files_own(file_unit, reply_unit, depth, in_class):
    """Whatever unit the reply indents with, the new body uses the file's,
    nested levels included, and the result means what the reply means."""
    base = file_unit if in_class else ""
    head = "class C:\n" if in_class else ""
    src = f"{head}{base}@dec\n{base}def f(x):\n{base}{file_unit}return x\n\n\nY = 1\n"
    body = "".join(f"{reply_unit * (1 + k)}if x > {k}:\n" for k in range(depth)) + f"{reply_unit * (1 + depth)}return {depth}\n"
    new = spliced(src, "C.f" if in_class else "f", f"def f(x):\n{body}")
    expected_body = "".join(f"{base}{file_unit * (1 + k)}if x > {k}:\n" for k in range(depth))
    expected_body += f"{base}{file_unit * (1 + depth)}return {depth}\n"
    assert new == f"{head}{base}@dec\n{base}def f(x):\n{expected_body}\n\nY = 1\n"


def test_a_method_reply_with_a_string_at_column_0_is_found_and_spliced():
    reply = "class S:\n    def text(self):\n        return '''a\nb'''\n"
    func = find_function(reply, "text")
    assert func == "def text(self):\n    return '''a\nb'''"
    src = "class S:\n    def text(self):\n        return ''\n"
    assert spliced(src, "S.text", func) == "class S:\n    def text(self):\n        return '''a\nb'''\n"


def test_the_fixer_writes_no_file_when_one_fails_the_ast_check(tmp_path):
    """The last guard before writing: a changed file whose AST differs outside
    the repaired bodies stops every write of the run."""
    from coderefl.fix.fixer import FileChange, Fixer, FixReport
    from coderefl.fix.testrun import Snapshot

    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_bytes(b"def f():\n    return 1\n")
    b.write_bytes(b"X = 1\n\n\ndef g():\n    return 2\n")
    snapshot = Snapshot(tmp_path, {"a.py": a.read_bytes(), "b.py": b.read_bytes()})
    overrides = {"a.py": b"def f():\n    return 3\n", "b.py": b"X = 2\n\n\ndef g():\n    return 4\n"}
    report = FixReport("failed", changes=[FileChange("a.py", ""), FileChange("b.py", "")])
    fixer = Fixer(tmp_path, lambda limits: None, lambda: None)
    fixer._write_back(report, snapshot, overrides, {"a.py": [("f", 0)], "b.py": [("g", 0)]})
    assert report.status == "failed" and not any(c.written for c in report.changes)
    assert [c.note for c in report.changes] == [
        "not applied: another repaired file failed its check",
        "not applied: code outside the repaired functions would change",
    ]
    assert a.read_bytes() == b"def f():\n    return 1\n" and b.read_bytes() == b"X = 1\n\n\ndef g():\n    return 2\n"
    overrides["b.py"] = b"X = 1\n\n\ndef g():\n    return 4\n"
    fixer._write_back(report, snapshot, overrides, {"a.py": [("f", 0)], "b.py": [("g", 0)]})
    assert report.status == "fixed" and all(c.written for c in report.changes)
    assert b.read_bytes() == overrides["b.py"]
