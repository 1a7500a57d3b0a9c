"""extract_code on real-looking messy model answers; each result is run for real."""

from __future__ import annotations

import textwrap

import pytest

from coderefl.code.extract import Extraction, completion_to_module, extract_code, syntax_error


def load(code: str) -> dict:
    """Execute the module in a fresh namespace (these are our own fixtures, not model output)."""
    ns: dict = {"__name__": "solution"}
    exec(compile(code, "<solution>", "exec"), ns)
    return ns


def answer(s: str) -> str:
    return textwrap.dedent(s).lstrip("\n")


def test_prose_block_example_usage_main_guard_are_dropped(capsys):
    resp = answer('''
        Sure! Here is an efficient solution:

        ```python
        import math
        from collections import Counter

        LIMIT = 10 ** 6

        def is_square(n):
            return math.isqrt(n) ** 2 == n

        def count_squares(nums):
            """Count perfect squares."""
            result = 0
            for n in nums:
                if 0 <= n <= LIMIT and is_square(n):
                    result += 1
            return result

        result = count_squares([1, 2, 4])
        print(result)
        assert count_squares([]) == 0

        if __name__ == "__main__":
            print(count_squares([9, 16]))
        ```

        The function runs in O(n) time.
        ''')
    ex = extract_code(resp, "count_squares")
    assert ex.entry_point_found and ex.syntax_error is None
    assert "print" not in ex.code and "assert" not in ex.code and "__main__" not in ex.code
    assert "Counter" not in ex.code  # unused import left out
    assert "result = count_squares" not in ex.code  # a local variable's name is not a dependency
    ns = load(ex.code)
    assert ns["count_squares"]([1, 2, 4, 9]) == 3
    assert capsys.readouterr().out == ""


def test_no_fence_with_prose_around():
    resp = answer('''
        The answer is simple.
        def add(a, b):
            return a + b

        Example usage:
        print(add(2, 3))  # prints 5
        ''')
    ex = extract_code(resp, "add")
    assert ex.entry_point_found and ex.syntax_error is None
    assert load(ex.code)["add"](2, 3) == 5
    assert "print" not in ex.code


def test_several_blocks_helper_in_another_block():
    resp = answer('''
        First a helper:

        ```python
        def gcd(a, b):
            while b:
                a, b = b, a % b
            return a
        ```

        Then the function:

        ```python
        def lcm(a, b):
            return a * b // gcd(a, b)
        ```

        Tests:

        ```python
        from solution import lcm
        assert lcm(4, 6) == 12
        ```
        ''')
    ex = extract_code(resp, "lcm")
    assert ex.entry_point_found and ex.syntax_error is None
    assert "from solution" not in ex.code
    assert load(ex.code)["lcm"](4, 6) == 12


def test_later_corrected_block_wins():
    resp = answer('''
        ```python
        def inc(x):
            return x + 2
        ```
        Oops, that is wrong. Corrected:
        ```python
        def inc(x):
            return x + 1
        ```
        ''')
    assert load(extract_code(resp, "inc").code)["inc"](1) == 2


def test_truncated_block_reports_syntax_error_with_location():
    resp = "Here you go:\n```python\ndef f(xs):\n    total = 0\n    for x in xs:\n        total +="
    ex = extract_code(resp, "f")
    assert isinstance(ex, Extraction)
    assert ex.entry_point_found
    assert ex.syntax_error is not None and ex.syntax_error.startswith("line ")


def test_truncated_block_keeps_complete_functions():
    resp = "```python\ndef f(x):\n    return g(x) + 1\n\ndef g(x):\n    return 2 * x\n\nprint(f(3)"
    ex = extract_code(resp, "f")
    assert ex.syntax_error is None
    assert load(ex.code)["f"](3) == 7


def test_broken_definition_reported_not_raised():
    ex = extract_code("```python\ndef f(x)\n    return x\n```", "f")
    assert ex.entry_point_found
    assert ex.syntax_error and "line 1" in ex.syntax_error


def test_no_code_at_all():
    assert extract_code("I'm sorry, I can't help with that.", "f") == Extraction("", False, None)
    assert extract_code("", "f") == Extraction("", False, None)


def test_entry_point_missing_is_flagged():
    ex = extract_code("```python\ndef something_else():\n    return 1\n```", "wanted")
    assert not ex.entry_point_found


def test_uses_prompt_imports_and_helpers():
    prompt = answer('''
        from typing import List


        def is_palindrome(string: str) -> bool:
            """ Test if given string is a palindrome """
            return string == string[::-1]


        def make_palindrome(string: str) -> str:
            """ Find the shortest palindrome that begins with a supplied string. """
        ''')
    resp = answer('''
        ```python
        def make_palindrome(string: str) -> str:
            for i in range(len(string)):
                if is_palindrome(string[i:]):
                    return string + string[:i][::-1]
            return string
        ```
        ''')
    ex = extract_code(resp, "make_palindrome", prompt)
    assert ex.ok
    ns = load(ex.code)
    assert ns["make_palindrome"]("cat") == "catac"
    assert "List" not in ex.code  # not needed, not added


def test_prompt_import_added_for_annotations():
    prompt = "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n"
    resp = "```python\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```"
    ex = extract_code(resp, "total", prompt)
    assert ex.code.startswith("from typing import List")
    assert load(ex.code)["total"]([1, 2]) == 3


def test_bare_body_continues_the_prompt():
    prompt = 'def double(x: int) -> int:\n    """Twice x."""\n'
    for resp in ("    return 2 * x\n", "```python\n    return 2 * x\n```", "```python\nreturn 2 * x\n```"):
        ex = extract_code(resp, "double", prompt)
        assert ex.ok, (resp, ex)
        assert load(ex.code)["double"](4) == 8


def test_prompt_stub_alone_is_not_a_solution():
    prompt = 'def double(x: int) -> int:\n    """Twice x."""\n'
    ex = extract_code("I don't know.", "double", prompt)
    assert not ex.entry_point_found


def test_class_method_entry_point_gets_a_wrapper():
    resp = "```python\nclass Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n" \
           "        for i, n in enumerate(nums):\n            if target - n in seen:\n" \
           "                return [seen[target - n], i]\n            seen[n] = i\n```"
    ex = extract_code(resp, "twoSum")
    assert ex.ok
    assert load(ex.code)["twoSum"]([2, 7, 11], 9) == [0, 1]


def test_classes_constants_and_decorators_transitively():
    resp = answer('''
        ```python
        import functools
        import sys
        sys.setrecursionlimit(10000)

        BASE = 7

        class Box:
            def __init__(self, v):
                self.v = v * BASE

        @functools.lru_cache(maxsize=None)
        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)

        def solve(n):
            return Box(fib(n)).v

        for i in range(3):
            print(solve(i))
        ```
        ''')
    ex = extract_code(resp, "solve")
    assert ex.ok
    assert "setrecursionlimit" in ex.code and "for i in range" not in ex.code
    assert load(ex.code)["solve"](10) == 55 * 7


def test_tagged_and_tilde_and_indented_fences():
    for resp in (
        "[PYTHON]\ndef f():\n    return 3\n[/PYTHON]",
        "~~~py\ndef f():\n    return 3\n~~~",
        "1. Write it:\n\n   ```python\n   def f():\n       return 3\n   ```\n",
        "```Python\ndef f():\n    return 3```",
    ):
        ex = extract_code(resp, "f")
        assert ex.ok, resp
        assert load(ex.code)["f"]() == 3


def test_other_language_blocks_are_ignored():
    resp = "Run:\n```bash\npip install numpy\n```\n```python\ndef f():\n    return 1\n```\n```text\n1\n```"
    ex = extract_code(resp, "f")
    assert ex.code.strip() == "def f():\n    return 1"


def test_no_entry_point_keeps_all_definitions():
    resp = "```python\nimport os\ndef a():\n    return b()\ndef b():\n    return 1\nprint(a())\n```"
    ex = extract_code(resp, None)
    assert ex.entry_point_found and "print" not in ex.code
    assert load(ex.code)["a"]() == 1


def test_try_import_guard_is_kept_when_needed():
    resp = "```python\ntry:\n    import numpy as np\nexcept ImportError:\n    np = None\n\ndef f():\n    return np is None or True\n```"
    ex = extract_code(resp, "f")
    assert "try:" in ex.code and load(ex.code)["f"]() is True


# ---------------------------------------------------------------- syntax_error


@pytest.mark.parametrize(
    "code, line",
    [
        ("def f(:\n    pass\n", 1),
        ("x = 1\ny = (2,\n", 2),
        ("def f():\n    return 1\n  return 2\n", 3),
        ("return 5\n", 1),  # grammar accepts it, Python does not
    ],
)
def test_syntax_error_location(code, line):
    msg = syntax_error(code)
    assert msg is not None and msg.startswith(f"line {line}, column ")


def test_syntax_error_none_for_valid_code():
    assert syntax_error("def f():\n    return [x for x in range(3)]\n") is None
    assert syntax_error("") is None


# ---------------------------------------------------------------- completion mode

HUMANEVAL_PROMPT = '''from typing import List


def below_zero(operations: List[int]) -> bool:
    """ Detect if the balance ever falls below zero.
    >>> below_zero([1, 2, -4, 5])
    True
    """
'''


@pytest.mark.parametrize(
    "tail",
    [
        "\n\ndef main():\n    pass\n",
        "\n\nclass X:\n    pass\n",
        "\n\nif __name__ == '__main__':\n    print(below_zero([1]))\n",
        "\nprint(below_zero([1, -2]))\n",
        "\n# Test\nassert below_zero([-1])\n",
        "\n\nassert below_zero([-1])\n",
        "",
    ],
)
def test_completion_is_cut_after_the_body(tail):
    body = "    balance = 0\n    for op in operations:\n        balance += op\n        if balance < 0:\n            return True\n    return False\n"
    module = completion_to_module(HUMANEVAL_PROMPT, body + tail)
    assert module.startswith(HUMANEVAL_PROMPT)
    assert syntax_error(module) is None
    for junk in ("def main", "class X", "__main__", "print(", "# Test", "assert"):
        assert junk not in module
    assert load(module)["below_zero"]([1, 2, -4, 5]) is True


def test_completion_keeps_a_called_helper_after_the_cut():
    body = "    return _neg(operations)\n\n\ndef _neg(ops):\n    s = 0\n    for o in ops:\n        s += o\n        if s < 0:\n            return True\n    return False\n\nprint(1)\n"
    module = completion_to_module(HUMANEVAL_PROMPT, body)
    assert "print(1)" not in module
    assert load(module)["below_zero"]([1, -2]) is True


def test_completion_garbage_after_body_is_dropped():
    body = "    return any(x < 0 for x in operations)\nThis solution checks\nthe running total ```"
    module = completion_to_module(HUMANEVAL_PROMPT, body)
    assert syntax_error(module) is None


def test_reasoning_drafts_are_ignored():
    resp = "<think>\nDraft:\n```python\ndef f():\n    return 0\n```\nno wait\n</think>\nFinal answer:\n```python\ndef g():\n    return 1\n\ndef f():\n    return g() + 41\n```"
    assert load(extract_code(resp, "f").code)["f"]() == 42
    only_draft = "<think>\n```python\ndef f():\n    return 7\n```\n</think>\nSee above."
    assert not extract_code(only_draft, "f").entry_point_found


def test_class_answer_with_prompt_stub_is_not_treated_as_a_body():
    prompt = 'def twoSum(nums, target):\n    """Indices of the two numbers adding to target."""\n'
    resp = "```python\nclass Solution:\n    def twoSum(self, nums, target):\n        return [0, 1]\n```"
    ex = extract_code(resp, "twoSum", prompt)
    assert ex.ok and load(ex.code)["twoSum"]([1, 2], 3) == [0, 1]
    assert '"""Indices' not in ex.code


def test_plain_module_is_kept_verbatim_including_doctests():
    module = 'import re\n\nPATTERN = re.compile(r"""\nab+\n""", re.X)\n\n\ndef f(s):\n    """\n    >>> f("abb")\n    True\n    """\n    return bool(PATTERN.fullmatch(s))\n'
    ex = extract_code(module, "f")
    assert ex.ok and '>>> f("abb")' in ex.code
    assert load(ex.code)["f"]("abb") is True


def test_missing_entry_point_still_drops_example_usage():
    ex = extract_code("```python\ndef other():\n    return 1\nprint(other())\nother()\n```", "wanted")
    assert not ex.entry_point_found
    assert ex.code.strip() == "def other():\n    return 1"


def test_garbage_block_without_definitions_reports_its_error():
    ex = extract_code("```python\nfor x in range(3)\n    print(x)\n```", "f")
    assert not ex.entry_point_found and ex.syntax_error and ex.syntax_error.startswith("line 1")
