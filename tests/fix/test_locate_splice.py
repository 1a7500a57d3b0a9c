"""Function spans, reply parsing and the byte-exact, atomic splice."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coderefl.fix.locate import calls_of_test, enclosing, find_function, functions
from coderefl.fix.splice import ChangedOnDisk, SpliceError, digest, splice, unified_diff, write_if_unchanged

SRC = '''# -*- coding: utf-8 -*-
"""Module: ünïcode before the spans shifts byte offsets."""
import functools


@functools.lru_cache(maxsize=None)
def cached(n):
    return n - 1   # trailing comment


class Outer:
    class Inner:
        def deep(self):
            def nested():
                return 1
            return nested()

    @staticmethod
    def util(x):
        return x


def last():
    pass
'''


def test_functions_lists_module_functions_and_methods_with_decorators():
    data = SRC.encode()
    spans = {s.qualname: s for s in functions(data)}
    assert list(spans) == ["cached", "Outer.Inner.deep", "Outer.util", "last"]
    cached = spans["cached"]
    assert data[cached.start : cached.end].startswith(b"@functools.lru_cache")
    assert data[cached.start : cached.end].endswith(b"# trailing comment")  # a same-line comment is part of its line
    assert spans["Outer.util"].indent == b"    "
    assert spans["Outer.util"].source(data).startswith("@staticmethod\ndef util(x):\n    return x")
    # a line inside a nested function belongs to the method that holds it
    line = SRC.splitlines().index("                return 1") + 1
    assert enclosing(list(spans.values()), line).qualname == "Outer.Inner.deep"
    assert enclosing(list(spans.values()), 1) is None


def test_splice_reindents_methods_and_diffs():
    data = SRC.encode()
    span = next(s for s in functions(data) if s.qualname == "Outer.util")
    new = splice(data, span, "@staticmethod\ndef util(x):\n    if x:\n        return x * 2\n\n    return 0\n")
    assert b"    @staticmethod\n    def util(x):\n        if x:\n            return x * 2\n\n        return 0\n" in new
    diff = unified_diff("m.py", data, new)
    assert diff.startswith("--- a/m.py\n+++ b/m.py\n") and "+            return x * 2" in diff


def test_splice_keeps_crlf_files_crlf():
    data = b"def f():\r\n    return 1\r\n\r\n\r\ndef g():\r\n    return 2\r\n"
    span = functions(data)[0]
    new = splice(data, span, "def f():\n    x = 2\n    return x\n")
    assert new == b"def f():\r\n    x = 2\r\n    return x\r\n\r\n\r\ndef g():\r\n    return 2\r\n"


def test_splice_refuses_broken_or_renamed_functions():
    data = b"def f():\n    return 1\n"
    span = functions(data)[0]
    with pytest.raises(SpliceError, match="does not parse"):
        splice(data, span, "def f(:\n    return 1\n")
    with pytest.raises(SpliceError, match="does not define f"):
        splice(data, span, "def g():\n    return 1\n")
    with pytest.raises(SpliceError, match="does not compile: 'await' outside async function"):
        splice(data, span, "def f():\n    await g()\n")


_line = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=20)


@settings(max_examples=60, deadline=None)
@given(before=st.lists(_line, max_size=4), after=st.lists(_line, max_size=4), body=st.integers(0, 99))
def test_bytes_outside_the_body_are_identical(before, after, body):
    """Whatever comments surround the function, only its body changes."""
    head = "".join(f"# {t}\n" for t in before)
    tail = "".join(f"# {t}\n" for t in after)
    data = (head + "def target(a):  # the def line stays\n    return a\n" + tail).encode()
    span = functions(data)[0]
    new = splice(data, span, f"def target(b):\n    return a + {body}\n")
    assert new == (head + f"def target(a):  # the def line stays\n    return a + {body}\n" + tail).encode()


def test_find_function_in_messy_replies():
    reply = "Sure!\n\n```python\nimport os\n\nclass Stack:\n    def size(self):\n        return len(self.items)\n```\n"
    assert find_function(reply.split("```python\n")[1].split("```")[0], "size") == "def size(self):\n    return len(self.items)"
    assert find_function("def other():\n    pass\n", "size") is None
    # the last top-level definition wins over an earlier one
    two = "def f():\n    return 1\n\n\ndef f():\n    return 2\n"
    assert find_function(two, "f") == "def f():\n    return 2"


def test_calls_of_test_follows_helpers_and_methods():
    tests = b'''
from pkg import add, Stack


def check(fn):
    assert fn(1, 2) == 3


def test_add():
    check(add)


class TestStack:
    def test_size(self):
        s = Stack()
        s.push(1)
        assert s.size() == 1
'''
    assert "add" in calls_of_test(tests, ["test_add"])
    assert calls_of_test(tests, ["TestStack", "test_size"]) == ["Stack", "push", "size"]
    assert calls_of_test(tests, ["test_missing"]) == []


def test_write_if_unchanged_is_atomic_and_refuses_edited_files(tmp_path):
    path = tmp_path / "m.py"
    path.write_bytes(b"old\n")
    os.chmod(path, 0o750)
    sha = digest(b"old\n")
    write_if_unchanged(path, sha, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o750
    with pytest.raises(ChangedOnDisk):
        write_if_unchanged(path, sha, b"newer\n")  # the user edited it meanwhile
    assert path.read_bytes() == b"new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.py"]  # no temp file left behind
