"""The fixer end to end in-process: real sandbox, real HTTP to a scripted model."""

from __future__ import annotations

import asyncio

import pytest

from coderefl.errors import NoModelConfigured
from coderefl.fix.fixer import FixConfig, Fixer
from coderefl.fix.prompts import REFLECT_NEEDLE, REPAIR_NEEDLE, RETRY_NEEDLE
from coderefl.records import Limits
from tests.fix.conftest import user_messages
from tests.fix.helpers import ADD_GOOD, BUGGY_MODULE, SIZE_GOOD, buggy_repo
from tests.openai_server import rules

pytestmark = pytest.mark.docker

LIMITS = Limits(timeout_s=60, memory_mb=1024, pids=128)
FIXED_MODULE = BUGGY_MODULE.replace("return a - b", "return a + b").replace("len(self.items) + 1", "len(self.items)")


def fix(root, sandbox, factory, staged=("pkg/calc.py",), **cfg):
    cfg.setdefault("limits", LIMITS)
    cfg.setdefault("check_in", "sandbox")  # these tests were written for the check in the sandbox; see the host ones below
    fixer = Fixer(root, sandbox, factory, FixConfig(**cfg))

    async def go():
        try:
            return await fixer.run(list(staged))
        finally:
            await fixer.close()

    return asyncio.run(go())


def test_repairs_each_function_and_writes_only_their_spans(fix_sandbox, model_factory, openai_server, tmp_path):
    openai_server.handler = rules(
        (REFLECT_NEEDLE, "It adds one to the length."),
        (RETRY_NEEDLE, SIZE_GOOD),
        ("method `size`", "```python\ndef size(self):\n    return len(self.items) - 1\n```"),  # wrong first
        ("function `add`", ADD_GOOD),
    )
    root = buggy_repo(tmp_path / "r")
    report = fix(root, fix_sandbox, model_factory)
    assert report.status == "fixed" and report.exit_code == 1
    assert (root / "pkg/calc.py").read_text() == FIXED_MODULE  # byte-exact outside the two spans
    assert [c.file for c in report.changes] == ["pkg/calc.py"] and report.changes[0].written
    assert "-    return a - b\n+    return a + b\n" in report.changes[0].diff
    assert [t.task_id for t in report.trajectories] == ["pkg/calc.py::add", "pkg/calc.py::Stack.size"]
    size = report.trajectories[1]
    assert [s.kind for s in size.steps] == ["generate", "execute", "reflect", "generate", "execute"]
    assert size.stop_reason == "passed" and size.final_code.startswith("def size(self):")
    assert size.steps[1].execution.status == "failed" and size.steps[-1].execution.status == "passed"
    asks = user_messages(openai_server)
    # the first request carries the failing test's source and pytest's report
    assert REPAIR_NEEDLE in asks[0] and "def test_add():" in asks[0] and "where -1 = add(2, 3)" in asks[0]
    # centred on the function: add uses nothing else of the file; size sees __init__, not mean()
    assert "def mean" not in asks[0] and "class Stack" not in asks[0]
    size_ask = next(a for a in asks if "method `size`" in a)
    assert "def __init__(self):" in size_ask and "def mean" not in size_ask and "def push" not in size_ask
    # the method named on pytest's failing lines is tried before the constructor and push()
    assert not any("`__init__`" in a or "method `push`" in a for a in asks)
    assert RETRY_NEEDLE in asks[-1] and "It adds one to the length." in asks[-1]


def test_the_deepest_traceback_frame_names_the_function(fix_sandbox, model_factory, openai_server, tmp_path):
    module = "def parse(s):\n    return int(s[1:])\n\n\ndef total(xs):\n    return sum(parse(x) for x in xs)\n"
    tests = "from pkg.calc import total\n\n\ndef test_total():\n    assert total(['7', '8']) == 15\n"
    openai_server.handler = rules(("function `parse`", "```python\ndef parse(s):\n    return int(s)\n```"))
    root = buggy_repo(tmp_path / "r", module=module, tests=tests)
    report = fix(root, fix_sandbox, model_factory)
    assert report.status == "fixed", report.problems
    assert report.trajectories[0].task_id == "pkg/calc.py::parse"
    assert (root / "pkg/calc.py").read_text() == module.replace("int(s[1:])", "int(s)")


def test_nothing_is_written_unless_every_affected_test_passes(fix_sandbox, model_factory, openai_server, tmp_path):
    openai_server.handler = rules(
        ("function `add`", ADD_GOOD),
        fallback="```python\ndef size(self):\n    return 0\n```",  # never right
    )
    root = buggy_repo(tmp_path / "r")
    report = fix(root, fix_sandbox, model_factory, max_iters=2, reflection=False)
    assert report.status == "failed" and report.exit_code == 1
    assert (root / "pkg/calc.py").read_text() == BUGGY_MODULE
    assert report.changes and not report.changes[0].written and "not applied" in report.changes[0].note
    assert "tests/test_calc.py::test_stack" in report.failing


def test_passing_tests_never_touch_the_model(fix_sandbox, tmp_path):
    root = buggy_repo(tmp_path / "r", module=FIXED_MODULE)

    def no_model():
        raise AssertionError("the model must not be built when the tests pass")

    report = fix(root, fix_sandbox, no_model)
    assert report.status == "passed" and report.exit_code == 0 and not report.trajectories


def test_no_model_means_no_change_and_exit_1(fix_sandbox, tmp_path):
    root = buggy_repo(tmp_path / "r")

    def no_model():
        raise NoModelConfigured("no model configured")

    report = fix(root, fix_sandbox, no_model)
    assert report.status == "failed" and report.exit_code == 1
    assert any("no model available" in p for p in report.problems)
    assert (root / "pkg/calc.py").read_text() == BUGGY_MODULE


def test_a_file_edited_during_the_run_is_not_overwritten(fix_sandbox, model_factory, openai_server, tmp_path):
    root = buggy_repo(tmp_path / "r", module=BUGGY_MODULE.replace("len(self.items) + 1", "len(self.items)"))
    target = root / "pkg/calc.py"
    edited = target.read_text() + "\n# the user typed this while coderefl ran\n"

    def handler(body):
        target.write_text(edited)  # the user saves the file while the model thinks
        return ADD_GOOD

    openai_server.handler = handler
    report = fix(root, fix_sandbox, model_factory)
    assert report.exit_code == 1
    assert target.read_text() == edited
    assert report.changes and not report.changes[0].written
    assert report.changes[0].note.startswith("not applied: ") and "changed while coderefl was running" in report.changes[0].note


def test_dry_run_and_time_budget(fix_sandbox, model_factory, openai_server, tmp_path):
    openai_server.handler = rules(("function `add`", ADD_GOOD), ("method `size`", SIZE_GOOD))
    root = buggy_repo(tmp_path / "r")
    report = fix(root, fix_sandbox, model_factory, dry_run=True)
    assert report.status == "fixed" and report.exit_code == 1
    assert not report.changes[0].written and "+    return a + b" in report.changes[0].diff
    assert (root / "pkg/calc.py").read_text() == BUGGY_MODULE

    openai_server.requests.clear()
    report = fix(root, fix_sandbox, model_factory, max_wall_s=0.01)
    assert report.status == "failed" and any("time budget" in p for p in report.problems)
    assert not openai_server.requests and (root / "pkg/calc.py").read_text() == BUGGY_MODULE


def test_a_missing_package_is_named_not_repaired(fix_sandbox, tmp_path):
    tests = "import not_installed_anywhere\nfrom pkg.calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    root = buggy_repo(tmp_path / "r", tests=tests)

    def no_model():
        raise AssertionError("nothing to repair: the model must not be built")

    report = fix(root, fix_sandbox, no_model)
    assert report.status == "failed" and report.exit_code == 1 and not report.changes
    assert any("No module named 'not_installed_anywhere' (the sandbox image lacks this package)" in p for p in report.problems), report.problems


def test_a_repeated_reply_is_resampled_hotter(fix_sandbox, model_factory, openai_server, tmp_path):
    """At temperature 0 the model repeats the buggy function; the fixer does
    not run the repeat but asks again at a higher temperature."""
    def handler(body):
        if "function `add`" not in str(body["messages"]):
            return "```python\ndef size(self):\n    return len(self.items)\n```"
        hot = (body.get("temperature") or 0) > 0
        return ADD_GOOD if hot else "```python\ndef add(a, b):\n    # same as before\n    return a - b\n```"

    openai_server.handler = handler
    root = buggy_repo(tmp_path / "r")
    report = fix(root, fix_sandbox, model_factory, reflection=False)
    assert report.status == "fixed", report.problems
    add = report.trajectories[0]
    assert [s.kind for s in add.steps] == ["generate", "decision", "generate", "execute"]
    assert add.steps[1].note == "the reply repeats the original; resampling at temperature 0.4"
    assert add.steps[2].data["temperature"] == 0.4
    temps = [b.get("temperature") for b in openai_server.requests if "function `add`" in str(b["messages"])]
    assert temps == [0.0, 0.4]


DECORATED = """import functools


class Calc:
\t@staticmethod
\tdef double(x):
\t\t\"\"\"Twice x.\"\"\"
\t\treturn x + x + 1


@functools.lru_cache(maxsize=None)
def fib(n):
    return fib(n - 1) + fib(n - 2)
"""

DECORATED_TESTS = """from pkg.calc import Calc, fib


def test_double():
    assert Calc.double(3) == 6


def test_fib():
    assert fib(10) == 55
"""


def test_decorators_docstrings_and_tabs_survive_a_repair(fix_sandbox, model_factory, openai_server, tmp_path):
    openai_server.handler = rules(
        ("method `double`", "```python\ndef double(x):\n    return 2 * x\n```"),  # no @staticmethod, spaces
        ("function `fib`", "```python\ndef fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n```"),
    )
    root = buggy_repo(tmp_path / "r", module=DECORATED, tests=DECORATED_TESTS)
    report = fix(root, fix_sandbox, model_factory, reflection=False)
    assert report.status == "fixed", report.problems
    assert (root / "pkg/calc.py").read_text() == DECORATED.replace("\t\treturn x + x + 1", "\t\treturn 2 * x").replace(
        "    return fib(n - 1) + fib(n - 2)\n", "    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n"
    )
    double = next(t for t in report.trajectories if t.task_id == "pkg/calc.py::Calc.double")
    assert double.steps[0].note.startswith("the reply changed the decorators or the signature; the original ones were kept")


def test_coverage_through_a_conftest_fixture(fix_sandbox, model_factory, openai_server, tmp_path):
    """No test file imports the module: a conftest fixture does."""
    openai_server.handler = rules(("function `add`", ADD_GOOD))
    conftest = "import pytest\nfrom pkg.calc import add\n\n\n@pytest.fixture\ndef total():\n    return add(2, 3)\n"
    tests = "def test_total(total):\n    assert total == 5\n"
    root = buggy_repo(tmp_path / "r", tests=tests)
    (root / "tests/conftest.py").write_text(conftest)
    report = fix(root, fix_sandbox, model_factory)
    assert report.tests_run == ["tests/test_calc.py"]
    assert report.status == "fixed", report.problems
    assert "return a + b" in (root / "pkg/calc.py").read_text()


def test_failing_tests_report_their_assertion(fix_sandbox, openai_server, model_factory, tmp_path):
    openai_server.handler = rules(fallback="```python\ndef add(a, b):\n    return 0\n```")
    root = buggy_repo(tmp_path / "r", tests="from pkg.calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    report = fix(root, fix_sandbox, model_factory, max_iters=1)
    assert report.status == "failed" and report.failing == ["tests/test_calc.py::test_add"]
    assert report.why["tests/test_calc.py::test_add"] == "assert -1 == 5 (where -1 = add(2, 3))"
    assert report.coverage == "1 file: 1 covered; ran 1 test in 1 test file"


def test_content_that_passed_is_not_run_again(fix_sandbox, model_factory, openai_server, tmp_path):
    """The usual second commit (the repair re-staged) holds exactly what the
    fixer saw pass: no sandbox, no model. Any other change runs again."""
    openai_server.handler = rules(("function `add`", ADD_GOOD), ("method `size`", SIZE_GOOD))
    root = buggy_repo(tmp_path / "r")
    cache = tmp_path / "passed"

    def no_sandbox(limits):
        raise AssertionError("the sandbox must not be started")

    def no_model():
        raise AssertionError("the model must not be built")

    def unconfigured():
        raise NoModelConfigured("no model configured")

    assert fix(root, fix_sandbox, unconfigured, pass_cache=cache).status == "failed"  # a failure is never remembered
    assert fix(root, fix_sandbox, model_factory, pass_cache=cache).status == "fixed"
    again = fix(root, no_sandbox, no_model, pass_cache=cache)
    assert again.status == "passed" and again.exit_code == 0
    assert again.coverage == "1 file: 1 covered; 1 test file passed before on this exact content, not re-run"
    (root / "README.md").write_text("any file of the work tree counts\n")
    with pytest.raises(AssertionError, match="must not be started"):
        fix(root, no_sandbox, no_model, pass_cache=cache)
    assert fix(root, fix_sandbox, no_model, pass_cache=cache).status == "passed"  # ran, and passed


def test_a_property_setter_is_repaired_not_its_getter(fix_sandbox, model_factory, openai_server, tmp_path):
    module = '''class Temp:
    def __init__(self):
        self._c = 0

    @property
    def celsius(self):
        return self._c

    @celsius.setter
    def celsius(self, value):
        if value < -273.15:
            raise ValueError("below absolute zero")
        self._c = value / 0
'''
    tests = "from pkg.calc import Temp\n\n\ndef test_set():\n    t = Temp()\n    t.celsius = 20\n    assert t.celsius == 20\n"
    openai_server.handler = rules((
        "method `celsius`",
        "```python\ndef celsius(self, value):\n    if value < -273.15:\n        raise ValueError('below absolute zero')\n"
        "    self._c = value\n```",
    ))
    root = buggy_repo(tmp_path / "r", module=module, tests=tests)
    report = fix(root, fix_sandbox, model_factory, reflection=False)
    assert report.status == "fixed", report.problems
    assert (root / "pkg/calc.py").read_text() == module.replace(
        '''            raise ValueError("below absolute zero")\n        self._c = value / 0\n''',
        '''            raise ValueError('below absolute zero')\n        self._c = value\n''',
    )
    asks = [a for a in user_messages(openai_server) if "method `celsius`" in a]
    assert "def celsius(self, value):" in asks[0].split("```python")[1]  # the setter was shown, not the getter


DECORATOR_BUG = """import functools


@functools.lru_cache(maxsize="128")
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


@functools.lru_cache(maxsize=None)
def square(x):
    return x * x
"""


def test_host_check_then_a_repair_of_the_decorator_the_failure_is_in(fix_sandbox, model_factory, openai_server, tmp_path):
    """The staged code fails on the host (at import: a decorator's argument);
    the repair, checked in the sandbox, may change that decorator and only it."""
    openai_server.handler = rules(("function `fib`", (
        "The decorator's maxsize must be an int.\n```python\n@functools.lru_cache(maxsize=128)\n"
        "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n```")))
    # imported in the test, so the failure is the test's (a collection error's node vanishes once fixed, and the
    # repair loop does not accept a repair whose failing test is no longer there)
    tests = "def test_fib():\n    from pkg.calc import fib, square\n\n    assert fib(10) == 55\n    assert square(3) == 9\n"
    root = buggy_repo(tmp_path / "r", module=DECORATOR_BUG, tests=tests)
    report = fix(root, fix_sandbox, model_factory, check_in="host", reflection=False)
    assert report.status == "fixed", (report.problems, report.failing, [(s.kind, s.note, s.execution and s.execution.tests) for t in report.trajectories for s in t.steps])
    assert (root / "pkg/calc.py").read_text() == DECORATOR_BUG.replace('maxsize="128"', "maxsize=128")
    assert [t.task_id for t in report.trajectories] == ["pkg/calc.py::fib"]


def test_a_body_bug_keeps_the_decorators_whatever_the_reply(fix_sandbox, model_factory, openai_server, tmp_path):
    module = DECORATOR_BUG.replace('maxsize="128"', "maxsize=128").replace("fib(n - 2)", "fib(n - 2) + 1")
    openai_server.handler = rules(("function `fib`", (
        "```python\n@functools.cache\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n```")))
    tests = "from pkg.calc import fib\n\n\ndef test_fib():\n    assert fib(10) == 55\n"
    root = buggy_repo(tmp_path / "r", module=module, tests=tests)
    report = fix(root, fix_sandbox, model_factory, check_in="host", reflection=False)
    assert report.status == "fixed", report.problems
    assert (root / "pkg/calc.py").read_text() == module.replace("fib(n - 2) + 1", "fib(n - 2)")  # maxsize=128 kept


def test_a_failure_only_on_this_machine_is_reported_not_repaired(fix_sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("FIXER_TEST_ONLY_ON_THE_HOST", "1")
    tests = ("import os\nfrom pkg.calc import add\n\n\ndef test_env():\n"
             "    assert 'FIXER_TEST_ONLY_ON_THE_HOST' not in os.environ\n")
    root = buggy_repo(tmp_path / "r", tests=tests)

    def no_model():
        raise AssertionError("no repair can help here: the model must not be built")

    report = fix(root, fix_sandbox, no_model, check_in="host")
    assert report.status == "failed" and report.failing == ["tests/test_calc.py::test_env"]
    assert any("fail on this machine but pass in the sandbox" in p for p in report.problems), report.problems
