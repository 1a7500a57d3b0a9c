"""Decorators: kept unless the failure is in them, and then only they (and
the body) may change; the AST check outside the function still holds."""

from __future__ import annotations

import pytest

from coderefl.fix.fixer import decorator_blamed, failure_lines, locate_candidates
from coderefl.fix.discover import Coverage
from coderefl.fix.locate import functions
from coderefl.fix.pytest_report import NodeResult
from coderefl.fix.splice import SpliceError, only_bodies_changed, splice

SOURCE = b'''import functools


class C:
    # a comment above the decorators stays
    @functools.lru_cache(maxsize="128")
    @staticmethod
    def fib(n):
        """Fibonacci."""
        return n if n < 2 else C.fib(n - 1) + C.fib(n - 2) + 1


@functools.lru_cache(maxsize=None)
def g(x):
    return x
'''
KEY = ("C.fib", 0)
REPLY = ('@functools.lru_cache(maxsize=128)\n@staticmethod\ndef fib(n):\n'
         '    return n if n < 2 else C.fib(n - 1) + C.fib(n - 2)\n')


def span(qual="C.fib"):
    return next(s for s in functions(SOURCE) if s.qualname == qual)


def test_without_blame_the_decorators_are_kept():
    new = splice(SOURCE, span(), REPLY)
    assert b'@functools.lru_cache(maxsize="128")\n    @staticmethod\n    def fib(n):' in new
    assert b"C.fib(n - 2)\n" in new and b"+ 1" not in new


def test_with_blame_the_replys_decorators_replace_them_and_nothing_else_changes():
    new = splice(SOURCE, span(), REPLY, decorators=True)
    assert new == SOURCE.replace(b'maxsize="128"', b"maxsize=128").replace(b"C.fib(n - 2) + 1", b"C.fib(n - 2)")
    # only for the blamed function: g's decorators stay whatever the reply says
    new = splice(SOURCE, span("g"), "def g(x):\n    return x + 0\n")
    assert b"@functools.lru_cache(maxsize=None)\ndef g(x):\n    return x + 0\n" in new


def test_with_blame_the_signature_and_docstring_still_stay():
    reply = '@functools.lru_cache(maxsize=128)\n@staticmethod\ndef fib(n, extra=1):\n    """Other."""\n    return n\n'
    new = splice(SOURCE, span(), reply, decorators=True)
    assert b"    def fib(n):\n        \"\"\"Fibonacci.\"\"\"\n        return n\n" in new
    assert b"@functools.lru_cache(maxsize=128)" in new


def test_a_reply_without_decorators_removes_them_only_when_blamed():
    reply = "def fib(n):\n    return n\n"
    assert b"@staticmethod" in splice(SOURCE, span(), reply)
    new = splice(SOURCE, span(), reply, decorators=True)
    assert b"    # a comment above the decorators stays\n    def fib(n):\n" in new


def test_the_ast_check_allows_decorator_changes_only_for_the_named_functions():
    new = splice(SOURCE, span(), REPLY, decorators=True)
    assert only_bodies_changed(SOURCE, new, [KEY], decorators=[KEY]) is None
    assert "decorators, signature or docstring of C.fib" in only_bodies_changed(SOURCE, new, [KEY])
    changed_g = new.replace(b"maxsize=None", b"maxsize=1")
    assert only_bodies_changed(SOURCE, changed_g, [KEY], decorators=[KEY]) is not None
    with pytest.raises(SpliceError):  # a reply whose decorators do not parse is refused
        splice(SOURCE, span(), "@(\ndef fib(n):\n    return n\n", decorators=True)


COLLECTION_ERROR = '''ImportError while importing test module '/repo/tests/test_c.py'.
tests/test_c.py:1: in <module>
    from pkg.c import C
pkg/c.py:6: in <module>
    @functools.lru_cache(maxsize="128")
E   TypeError: Expected first argument to be an integer, a callable, or None
'''


def test_blame_comes_from_a_traceback_line_on_a_decorator():
    on_decorator = NodeResult("tests/test_c.py", "error", COLLECTION_ERROR)
    assert failure_lines(on_decorator) == [("tests/test_c.py", 1), ("pkg/c.py", 6)]
    assert decorator_blamed("pkg/c.py", KEY, SOURCE, [on_decorator])
    in_body = NodeResult("tests/test_c.py::test_fib", "failed", "E assert 2 == 1",
                         frames=[("tests/test_c.py", 4, "test_fib"), ("pkg/c.py", 10, "fib")])
    assert not decorator_blamed("pkg/c.py", KEY, SOURCE, [in_body])
    assert not decorator_blamed("pkg/other.py", KEY, SOURCE, [on_decorator])  # another file's line 6
    assert not decorator_blamed("pkg/c.py", ("g", 0), SOURCE, [on_decorator])  # g's decorator is line 13
    on_def = NodeResult("t::x", "failed", "", frames=[("pkg/c.py", 8, "fib")])  # the def line is not a decorator
    assert not decorator_blamed("pkg/c.py", KEY, SOURCE, [on_def])


def test_a_collection_error_in_a_decorator_locates_its_function():
    node = NodeResult("tests/test_c.py", "error", COLLECTION_ERROR)
    cov = Coverage(sources=["pkg/c.py"], tests_for={"pkg/c.py": ["tests/test_c.py"]})
    cands, evidence = locate_candidates(node, cov, {"pkg/c.py": SOURCE, "tests/test_c.py": b"from pkg.c import C\n"})
    assert cands[0] == "pkg/c.py::C.fib" and evidence == "traceback"


def test_a_reply_differing_only_in_decorators_is_a_new_attempt_only_when_they_may_change():
    from coderefl.fix.splice import body_fingerprint

    original = '@functools.lru_cache(maxsize="128")\ndef fib(n):\n    return n\n'
    reply = "@functools.lru_cache(maxsize=128)\ndef fib(n):\n    return n\n"
    assert body_fingerprint(original) == body_fingerprint(reply)  # the splice would keep the decorators: a repeat
    assert body_fingerprint(original, decorators=True) != body_fingerprint(reply, decorators=True)
