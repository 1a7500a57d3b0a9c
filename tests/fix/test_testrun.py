"""The repository's pytest tests, run in the Docker sandbox on a copy."""

from __future__ import annotations

import asyncio

import pytest

from coderefl.fix.testrun import Snapshot, run_pytest
from coderefl.records import Limits
from tests.fix.helpers import BUGGY_MODULE, buggy_repo

pytestmark = pytest.mark.docker

LIMITS = Limits(timeout_s=60, memory_mb=1024, pids=128)


def run(sb, root, targets, overrides=None, limits=LIMITS):
    return asyncio.run(run_pytest(sb, Snapshot.read(root), targets, limits, overrides))


def test_outcomes_messages_and_frames(fix_sandbox, tmp_path):
    tests = "from pkg.calc import add, mean\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_mean_empty():\n    assert mean([]) == 0\n\n\ndef test_ok():\n    assert mean([2]) == 2\n"
    root = buggy_repo(tmp_path / "r", tests=tests)
    r = run(fix_sandbox, root, ["tests/test_calc.py"])
    assert r.status == "failed"
    by_id = {n.nodeid: n for n in r.nodes}
    assert by_id["tests/test_calc.py::test_ok"].status == "passed"
    add = by_id["tests/test_calc.py::test_add"]
    assert add.status == "failed" and "where -1 = add(2, 3)" in add.message
    empty = by_id["tests/test_calc.py::test_mean_empty"]
    assert "ZeroDivisionError" in empty.message
    assert ("pkg/calc.py", 10, "mean") in empty.frames  # the frame inside the module under test
    assert r.execution.status == "failed" and len(r.execution.tests) == 3
    assert "FAILED tests/test_calc.py::test_add" in r.feedback()


def test_overrides_are_tested_and_the_checkout_is_never_written(fix_sandbox, tmp_path):
    tests = "import pathlib\nfrom pkg.calc import add\n\n\ndef test_add():\n    pathlib.Path('pkg/calc.py').write_text('vandalised')\n    assert add(2, 3) == 5\n"
    root = buggy_repo(tmp_path / "r", tests=tests)
    fixed = BUGGY_MODULE.replace("return a - b", "return a + b").encode()
    r = run(fix_sandbox, root, ["tests/test_calc.py"], overrides={"pkg/calc.py": fixed})
    assert r.passed, r.feedback()
    assert (root / "pkg/calc.py").read_text() == BUGGY_MODULE  # a copy ran, not the checkout


def test_a_hard_exit_is_never_a_pass(fix_sandbox, tmp_path):
    module = "import os\n\n\ndef add(a, b):\n    os._exit(0)\n"
    tests = "from pkg.calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    root = buggy_repo(tmp_path / "r", module=module, tests=tests)
    r = run(fix_sandbox, root, ["tests/test_calc.py"])
    assert not r.passed and r.status == "error"


def test_a_looping_test_is_stopped_with_a_traceback_into_the_loop(fix_sandbox, tmp_path):
    module = "def add(a, b):\n    while True:\n        pass\n"
    tests = "from pkg.calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_other():\n    assert True\n"
    root = buggy_repo(tmp_path / "r", module=module, tests=tests)
    r = run(fix_sandbox, root, ["tests/test_calc.py"], limits=LIMITS.model_copy(update={"timeout_s": 9}))
    by_id = {n.nodeid: n for n in r.nodes}
    looping = by_id["tests/test_calc.py::test_add"]
    assert looping.status == "failed" and "still running after 2.0s" in looping.message
    assert any(f[0] == "pkg/calc.py" and f[2] == "add" for f in looping.frames)
    assert by_id["tests/test_calc.py::test_other"].status == "passed"  # the run went on


def test_a_hang_outside_any_test_is_a_timeout(fix_sandbox, tmp_path):
    module = "while True:\n    pass\n"
    tests = "import pkg.calc\n\n\ndef test_x():\n    assert True\n"
    root = buggy_repo(tmp_path / "r", module=module, tests=tests)
    r = run(fix_sandbox, root, ["tests/test_calc.py"], limits=LIMITS.model_copy(update={"timeout_s": 6}))
    assert r.status == "timeout" and not r.passed
    assert "time limit" in r.feedback()
