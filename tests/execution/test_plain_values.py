"""Judge mode for the hidden tests: a solution cannot forge a verdict with a
returned object whose comparison, truth or arithmetic lies, because only plain
data crosses from its process to the judge's.

Through the local backend, which runs the very runner the containers run;
the HumanEval and MBPP loaders put the pragma in every hidden tests file."""

from __future__ import annotations

import asyncio

import pytest

from coderefl.execution.image import runner_path
from coderefl.execution.local import LocalSandbox
from coderefl.problems._common import PLAIN_VALUES_PRAGMA, with_plain_values
from coderefl.problems.registry import load_benchmark
from coderefl.problems.scorer import Scorer
from coderefl.records import Limits
from tests.problems.helpers import mbpp_test_file

ALWAYS_EQUAL = (
    "class AlwaysEqual:\n"
    "    def __eq__(self, other):\n        return True\n"
    "    def __ne__(self, other):\n        return False\n"
    "    def __bool__(self):\n        return True\n"
    "    def __sub__(self, other):\n        return 0\n"
    "    def __rsub__(self, other):\n        return 0\n"
    "    def __abs__(self):\n        return 0\n"
    "    def __float__(self):\n        return 0.0\n"
    "    def __hash__(self):\n        return 0\n"
    "    def __lt__(self, other):\n        return True\n"
)

FORGERS = {
    "eq_always_true": ALWAYS_EQUAL + "def f(x):\n    return AlwaysEqual()\n",
    "int_subclass": "class I(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
                    "def f(x):\n    return I(0)\n",
    "inside_a_list": ALWAYS_EQUAL + "def f(x):\n    return [AlwaysEqual()]\n",
    "inside_a_dict": ALWAYS_EQUAL + "def f(x):\n    return {'k': (1, AlwaysEqual())}\n",
    "callable_object": ALWAYS_EQUAL + "class F:\n    def __call__(self, x):\n        return AlwaysEqual()\n"
                       "f = F()\n",
    "metaclass_call": ALWAYS_EQUAL + "class M(type):\n    def __call__(cls, x):\n        return AlwaysEqual()\n"
                      "class f(metaclass=M):\n    pass\n",
    "new_returns_a_forger": ALWAYS_EQUAL + "class f:\n    def __new__(cls, x):\n        return AlwaysEqual()\n",
    "class_whose_instances_lie": "class f:\n    def __init__(self, x):\n        pass\n"
                                 "    def __eq__(self, o):\n        return True\n    __hash__ = None\n"
                                 "    def __bool__(self):\n        return True\n"
                                 "    def __sub__(self, o):\n        return 0\n",
    "type_claims_a_builtin_name": "T = type('int', (), {'__eq__': lambda s, o: True, '__module__': 'builtins'})\n"
                                  "def f(x):\n    return T()\n",
    "swaps_the_module": ALWAYS_EQUAL + "import sys, types\n"
                        "fake = types.ModuleType('solution')\nfake.f = lambda x: AlwaysEqual()\n"
                        "sys.modules['solution'] = fake\ndef f(x):\n    return AlwaysEqual()\n",
}

# every way a test uses a returned value: equality, truth, arithmetic, through a check(candidate)
TESTS = (
    "def check(candidate):\n"
    "    assert candidate(1) == [42]\n"
    "    assert candidate(2)\n"
    "    assert abs(candidate(3) - 1.5) < 1e-6\n"
    "\n"
    "def test_check():\n"
    "    from solution import f as candidate\n"
    "    check(candidate)\n"
    "\n"
    "def test_direct():\n"
    "    assert f(4) == {'expected': 1}\n"
)


def run(program: str, tests: str):
    return asyncio.run(LocalSandbox(limits=Limits(timeout_s=10)).run(program, tests))


def test_the_pragma_is_the_runners():
    import importlib.util

    spec = importlib.util.spec_from_file_location("coderefl_runner", runner_path())
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    assert runner.PLAIN_VALUES_PRAGMA == PLAIN_VALUES_PRAGMA
    from coderefl.execution.jobs import TRACE_PRAGMA
    from coderefl_runner.plan import TRACE_PRAGMA as RUNNER_TRACE  # the runner's package, loaded just above

    assert RUNNER_TRACE == TRACE_PRAGMA  # the host's copy of each line is the runner's
    assert runner.wants_plain_values(with_plain_values("assert True\n"))
    assert not runner.wants_plain_values("x = 1  # coderefl: plain-values\n")  # a line of its own


def test_without_the_guard_a_forger_passes():
    """Why judge mode exists: in the tested process, a lying __eq__ wins."""
    result = run(FORGERS["eq_always_true"], TESTS)
    assert result.passed and result.isolation == "in-process"


@pytest.mark.parametrize("name", sorted(FORGERS))
def test_forgers_are_refused(name):
    result = run(FORGERS[name], with_plain_values(TESTS))
    assert result.isolation == "judge"
    assert not result.passed
    assert all(t.status in ("failed", "error") for t in result.tests), result.tests
    for t in result.tests:  # an object is named as such; anything else arrived as the plain value it is
        assert "only plain data can be compared" in t.message or " returned " in t.message, t.message


def test_plain_values_pass_and_recursion_keeps_its_depth():
    program = (
        "import sys\n"
        "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
        "def f(x):\n"
        "    return [x, 1.5, 2j, True, None, 'a', b'b', (1, [2]), {3}, frozenset({4}), {'k': [None]}]\n"
        "def shared():\n    a = [1]\n    return [a, a, (a,)]\n"
    )
    tests = (
        "def test_values():\n"
        "    assert f(1) == [1, 1.5, 2j, True, None, 'a', b'b', (1, [2]), {3}, frozenset({4}), {'k': [None]}]\n"
        "def test_deep_recursion():\n"
        "    assert depth(900) == 900\n"  # the module's own calls are not guarded: no extra frames
        "def test_shared_and_nested():\n"
        "    assert shared() == [[1], [1], ([1],)]\n"
    )
    result = run(program, with_plain_values(tests))
    assert result.passed, [t.message for t in result.tests]


def test_a_cycle_is_a_clear_failure_not_a_hang():
    program = "def f():\n    a = []\n    a.append(a)\n    return a\n"
    result = run(program, with_plain_values("def test_cycle():\n    r = f()\n    assert r[0] is r\n"))
    assert [t.status for t in result.tests] == ["error"]
    assert "cannot be compared: the value is too large or too deeply nested" in result.tests[0].message


def test_hidden_tests_of_the_benchmarks_carry_the_guard():
    """A forged HumanEval and MBPP solution fails the hidden tests; the
    canonical solutions still pass them."""
    for bench in ("humaneval", "mbpp"):
        task = load_benchmark(bench, problems_file=mbpp_test_file() if bench == "mbpp" else None, limit=1)[0]
        assert task.hidden.test_code.startswith(PLAIN_VALUES_PRAGMA)
        entry = task.problem.entry_point
        forged = ALWAYS_EQUAL + f"def {entry}(*args, **kwargs):\n    return AlwaysEqual()\n"
        scorer = Scorer(LocalSandbox(limits=Limits(timeout_s=10)))
        assert not asyncio.run(scorer.score(task, forged)).passed, bench
        assert asyncio.run(scorer.score(task, task.hidden.canonical_solution)).passed, bench


def test_stdlib_values_the_solution_cannot_change_are_accepted():
    program = (
        "import collections, datetime, decimal, fractions, re\n"
        "def counts(s):\n    return collections.Counter(s)\n"
        "def ordered():\n    return collections.OrderedDict(a=[1])\n"
        "def grouped():\n    d = collections.defaultdict(list)\n    d['k'].append(1)\n    return d\n"
        "def window():\n    return collections.deque([1, (2, 3)], maxlen=5)\n"
        "def match(s):\n    return re.search('ab+', s)\n"
        "def money():\n    return decimal.Decimal('1.10')\n"
        "def ratio():\n    return fractions.Fraction(1, 3)\n"
        "def day():\n    return datetime.date(2026, 11, 22)\n"
    )
    tests = (
        "import collections, datetime, decimal, fractions\n"
        "def test_all():\n"
        "    assert counts('aab') == {'a': 2, 'b': 1}\n"
        "    assert ordered() == {'a': [1]} and grouped() == {'k': [1]}\n"
        "    assert list(window()) == [1, (2, 3)]\n"
        "    assert match('xabb') and not match('xyz')\n"
        "    assert money() == decimal.Decimal('1.1') and ratio() * 3 == 1\n"
        "    assert day() == datetime.date(2026, 11, 22)\n"
    )
    result = run(program, with_plain_values(tests))
    assert result.passed, [t.message for t in result.tests]


def test_a_patched_stdlib_class_cannot_sway_the_judge():
    program = (
        "import collections\n"
        "collections.Counter.__eq__ = lambda self, other: True\n"
        "def counts(s):\n    return collections.Counter(s)\n"
    )
    result = run(program, with_plain_values("def test_c():\n    assert counts('a') == collections.Counter('zz')\n"
                                            "import collections\n"))
    assert not result.passed  # the patch lives in the program's process; the judge compares with its own Counter
    assert "counts('a') returned Counter({'a': 1}), expected Counter({'z': 2})" in result.tests[-1].message


def test_what_a_call_patches_is_undone_before_the_test_goes_on():
    """The solution patches what the tests use (builtins, a module the tests
    import) during the call: the test still compares with the originals."""
    program = (
        "import builtins, math\n"
        "def f(x):\n"
        "    builtins.abs = lambda v: 0\n"
        "    math.isclose = lambda *a, **k: True\n"
        "    return 123.0\n"
    )
    tests = (
        "import math\n"
        "def test_abs():\n    x = f(1)\n    assert abs(x - 1.5) < 1e-6\n"
        "def test_isclose():\n    x = f(1)\n    assert math.isclose(x, 1.5)\n"
    )
    forged = run(program, tests)  # without the guard the patches win
    assert forged.passed
    guarded = run(program, with_plain_values(tests))
    assert [t.status for t in guarded.tests] == ["failed", "failed"], guarded.tests


def test_a_plain_class_of_the_solution_can_be_built_by_the_tests():
    """MBPP's task 601 style: the tests build the solution's data class and
    pass it back in; its instances cannot pose as values, so that is allowed."""
    program = (
        "class Pair(object):\n    def __init__(self, a, b):\n        self.a = a\n        self.b = b\n"
        "def max_chain_length(arr, n):\n    return sum(1 for p in arr if p.a < p.b)\n"
    )
    tests = "def test_1():\n    assert max_chain_length([Pair(5, 24), Pair(15, 25), Pair(27, 3)], 3) == 2\n"
    result = run(program, with_plain_values(tests))
    assert result.passed, [t.message for t in result.tests]
