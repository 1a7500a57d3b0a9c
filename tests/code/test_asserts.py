"""extract_asserts on real-looking generated-test answers."""

from __future__ import annotations

import textwrap

from coderefl.code.extract import extract_asserts


def test_markdown_tests_answer():
    text = textwrap.dedent('''
        Here are some tests for `add`:

        ```python
        # basic cases
        assert add(1, 2) == 3
        assert add(-1, 1) == 0
        assert add(1, 2) == 3   # duplicate
        assert add(
            10,
            20,
        ) == 30
        print("all tests passed")
        ```
        ''')
    assert extract_asserts(text) == ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(\n    10,\n    20,\n) == 30"]


def test_test_functions_and_check_candidate():
    text = textwrap.dedent('''
        ```python
        import pytest

        def test_basic():
            assert add(2, 2) == 4
            value = add(3, 3)
            assert value == 6          # uses a local: cannot stand alone

        def check(candidate):
            assert candidate(0, 0) == 0
            for i in range(3):
                assert candidate(i, 0) == i   # inside a loop: skipped

        def helper(x):
            assert x > 0                # not a test function
            return x

        check(add)
        ```
        ''')
    assert extract_asserts(text, entry_point="add") == ["assert add(2, 2) == 4", "assert add(0, 0) == 0"]
    # without an entry point, `candidate` asserts cannot be resolved
    assert extract_asserts(text) == ["assert add(2, 2) == 4"]


def test_broken_and_prose_lines():
    text = "assert f(1) == 1\nThe next one checks negatives.\nassert f(-1) == 1\nassert f(2 ==\nassert f(3) == 3\n"
    assert extract_asserts(text) == ["assert f(1) == 1", "assert f(-1) == 1", "assert f(3) == 3"]


def test_cap_and_messages():
    text = "\n".join(f"assert sq({i}) == {i * i}, 'sq of {i}'" for i in range(50))
    got = extract_asserts(text, limit=7)
    assert len(got) == 7 and got[0] == "assert sq(0) == 0, 'sq of 0'"


def test_several_blocks_and_no_asserts():
    text = "```python\nassert a() == 1\n```\nand\n```py\nassert b() == 2\nassert a() == 1\n```"
    assert extract_asserts(text) == ["assert a() == 1", "assert b() == 2"]
    assert extract_asserts("No tests, sorry.") == []
    assert extract_asserts("") == []
