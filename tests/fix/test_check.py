"""The check of the staged code on the host: the hook's fast entry, the
pass cache, dynamic coverage through fixtures, plugins, odd endings.

No Docker: the user's own tests run on the host; only a repair would need
the sandbox (and those tests say so when it cannot start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from coderefl.fix.check import precheck
from coderefl.fix.hostrun import run_host
from tests.fix.helpers import BUGGY_MODULE, buggy_repo, cli_env, make_repo

FIXED_MODULE = BUGGY_MODULE.replace("return a - b", "return a + b").replace("len(self.items) + 1", "len(self.items)")
NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
HEAVY = ("pydantic", "click", "docker", "openai", "coderefl.model.client", "coderefl.config")

#: runs the hook's fast entry with ARGS, then prints which heavy modules it imported
HOOK = f"""
import sys
from coderefl.fix.__main__ import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print("MODULES", *sorted(m for m in {HEAVY!r} if m in sys.modules))
sys.exit(code)
"""


def hook(cwd: Path, *args: str, cache: Path | None = None, **env: str):
    extra = {**NO_DOCKER, **env}
    if cache is not None:
        extra.update(CODEREFL_NO_CACHE="0", CODEREFL_CACHE_PATH=str(cache / "responses.sqlite"))
    res = subprocess.run([sys.executable, "-c", HOOK, *args], cwd=cwd, env=cli_env(**extra),
                         capture_output=True, text=True, timeout=300)
    lines = res.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("MODULES"), res.stdout + res.stderr
    return res.returncode, res.stderr, lines[-1].split()[1:]


def test_a_clean_commit_runs_the_tests_on_the_host_and_imports_nothing_heavy(tmp_path):
    root = buggy_repo(tmp_path / "r", module=FIXED_MODULE)
    code, err, heavy = hook(root, "pkg/calc.py")
    assert code == 0, err
    assert "coderefl fix: running 1 test file(s): tests/test_calc.py" in err
    assert "coderefl fix: 3 tests pass" in err and "1 file: 1 covered; ran 3 tests in 1 test file" in err
    assert heavy == []  # no pydantic, click, Docker SDK or model client: Docker being down is never noticed


def test_a_failing_test_blocks_even_with_docker_down_and_says_why(tmp_path):
    root = buggy_repo(tmp_path / "r")
    code, err, heavy = hook(root, "pkg/calc.py", PRE_COMMIT="1")
    assert code == 1, err
    assert "2 of 3 tests fail" in err
    assert "still failing: tests/test_calc.py::test_add: assert -1 == 5 (where -1 = add(2, 3))" in err
    assert "not repaired: a repair is checked in the sandbox, which cannot start: no Docker engine answers" in err
    assert "SKIP=coderefl-fix git commit" in err and "Traceback" not in err
    assert "openai" not in heavy  # no model is built when no repair can be checked
    assert (root / "pkg/calc.py").read_text() == BUGGY_MODULE


def test_options_the_fast_entry_does_not_know_go_to_the_full_command(tmp_path):
    root = buggy_repo(tmp_path / "r", module=FIXED_MODULE)
    code, err, heavy = hook(root, "--max-iters", "2", "pkg/calc.py")
    assert code == 0 and "3 tests pass" in err, err
    assert "click" in heavy  # the full command ran
    code, err, _ = hook(root, "--max-iters", "0", "pkg/calc.py")
    assert code == 2 and "max_iters" in err and "Traceback" not in err
    code, err, _ = hook(root, str(tmp_path / "elsewhere.py"))
    assert code == 2 and err.startswith("coderefl: error:") and len(err.splitlines()) == 1


def test_content_that_passed_is_not_run_again_until_something_changes(tmp_path):
    runs = tmp_path / "runs.txt"
    tests = ("import os\nfrom pkg.calc import add\n\n\ndef test_add():\n"
             f"    open({str(runs)!r}, 'a').write('x')\n    assert add(2, 3) == 5\n")
    root = buggy_repo(tmp_path / "r", module=FIXED_MODULE, tests=tests)
    (root / "data.txt").write_text("a file the tests might read\n")
    cache = tmp_path / "cache"
    assert hook(root, "pkg/calc.py", cache=cache)[0] == 0
    assert runs.read_text() == "x"
    code, err, _ = hook(root, "pkg/calc.py", cache=cache)
    assert code == 0 and "1 test file passed before on this exact content, not re-run" in err, err
    assert runs.read_text() == "x"  # not run
    (root / "data.txt").write_text("another text the tests might read\n")  # any file of the work tree counts
    assert hook(root, "pkg/calc.py", cache=cache)[0] == 0
    assert runs.read_text() == "xx"
    assert hook(root, "pkg/calc.py", "--no-cache", cache=cache)[0] == 0
    assert runs.read_text() == "xxx"
    # the code is known by its content, not its size and time: the same length, the same mtime, a bug
    calc = root / "pkg/calc.py"
    before = calc.stat()
    calc.write_text(FIXED_MODULE.replace("return a + b", "return a - b"))
    os.utime(calc, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert calc.stat().st_size == before.st_size
    assert hook(root, "pkg/calc.py", cache=cache)[0] == 1
    assert runs.read_text() == "x" * 5
    calc.write_text(FIXED_MODULE)
    assert hook(root, "pkg/calc.py", cache=cache)[0] == 0  # passed before, with these bytes
    assert runs.read_text() == "x" * 5
    # a failure is never remembered (and each is decided by a second run, with the plugins loaded)
    (root / "pkg/calc.py").write_text(BUGGY_MODULE)
    assert hook(root, "pkg/calc.py", cache=cache)[0] == 1
    assert runs.read_text() == "x" * 7
    assert hook(root, "pkg/calc.py", cache=cache)[0] == 1
    assert runs.read_text() == "x" * 9


#: a conftest fixture that loads the module under test by name: no import the static analysis can see
DYNAMIC_CONFTEST = '''import importlib

import pytest


@pytest.fixture
def calc():
    return importlib.import_module("pkg." + "calc")
'''
DYNAMIC_TESTS = "def test_add(calc):\n    assert calc.add(2, 3) == 5\n"


def test_a_bug_reached_only_through_a_dynamic_conftest_fixture_is_caught(tmp_path):
    root = make_repo(tmp_path / "r", {
        "pkg/__init__.py": "", "pkg/calc.py": BUGGY_MODULE, "tests/conftest.py": DYNAMIC_CONFTEST,
        "tests/test_calc.py": DYNAMIC_TESTS, "tests/test_other.py": "def test_other():\n    assert True\n",
    })
    # static analysis alone (no cache: nothing traced is kept) cannot see it
    code, err, _ = hook(root, "pkg/calc.py")
    assert code == 0 and "no test covers it: pkg/calc.py" in err, err
    cache = tmp_path / "cache"
    # the first traced run runs the test files no run has mapped, and finds the one that reaches pkg/calc.py
    code, err, _ = hook(root, "pkg/calc.py", cache=cache)
    assert code == 1, err
    assert "still failing: tests/test_calc.py::test_add: AssertionError: assert -1 == 5" in err
    assert "1 file: 1 covered; ran 1 test in 1 test file" in err  # test_other ran to be mapped; it does not count
    doc = json.loads(next((cache / "fix-reach").glob("reach-*.json")).read_text())
    assert "pkg/calc.py" in doc["tests"]["tests/test_calc.py"]["files"]
    assert "pkg/calc.py" not in doc["tests"]["tests/test_other.py"]["files"]
    # later runs know it from the map and run only that file
    code, err, _ = hook(root, "pkg/calc.py", cache=cache)
    assert code == 1 and "running 1 test file(s): tests/test_calc.py" in err, err
    (root / "pkg/calc.py").write_text(FIXED_MODULE)
    code, err, _ = hook(root, "pkg/calc.py", cache=cache)
    assert code == 0 and "1 tests pass" in err, err


def test_an_unrelated_broken_test_file_does_not_hide_or_fail_the_verdict(tmp_path):
    root = buggy_repo(tmp_path / "r", module=FIXED_MODULE)
    (root / "tests/test_broken.py").write_text("import no_such_module\n")
    cache = tmp_path / "cache"
    code, err, _ = hook(root, "pkg/calc.py", cache=cache)  # runs test_broken.py once, to map it
    assert code == 0 and "3 tests pass" in err, err


def test_a_test_that_kills_pytest_is_an_error_not_a_pass(tmp_path):
    tests = "import os\nfrom pkg.calc import add\n\n\ndef test_add():\n    os._exit(0)\n"
    root = buggy_repo(tmp_path / "r", module=FIXED_MODULE, tests=tests)
    run = run_host(root, ["tests/test_calc.py"], 60, lean=True, trace=False)
    assert run.status == "error" and run.nodes[-1].nodeid == "<pytest>"
    code, err, _ = hook(root, "pkg/calc.py")
    assert code == 1 and "pytest exited with 0 without finishing" in err, err


ANYIO_TESTS = '''import pytest

from pkg.calc import add


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_add():
    assert add(2, 3) == 5
'''


def test_a_test_that_needs_a_plugin_is_decided_with_the_plugins_loaded(tmp_path):
    """The lean run (no auto-loaded plugins) cannot run an anyio test; the run
    with the plugins, as the user's pytest would, decides."""
    root = buggy_repo(tmp_path / "r", module=FIXED_MODULE, tests=ANYIO_TESTS)
    lean = run_host(root, ["tests/test_calc.py"], 60, lean=True, trace=False)
    assert not lean.passed or lean.plugin_warnings  # never trusted as it is
    check = precheck(root, ["pkg/calc.py"], passes=None, reach=None, timeout_s=60)
    assert check.status == "passed" and not check.run.lean, check.run.nodes
    root2 = buggy_repo(tmp_path / "r2", tests=ANYIO_TESTS)  # and a real failure stays one
    check = precheck(root2, ["pkg/calc.py"], passes=None, reach=None, timeout_s=60)
    assert check.status == "failed" and [n.nodeid for n in check.failing] == ["tests/test_calc.py::test_add"]


def test_the_host_run_stops_a_looping_test_and_names_the_function(tmp_path):
    module = "def spin():\n    while True:\n        pass\n"
    tests = "from pkg.calc import spin\n\n\ndef test_spin():\n    spin()\n"
    root = buggy_repo(tmp_path / "r", module=module, tests=tests)
    run = run_host(root, ["tests/test_calc.py"], 4, lean=True, trace=False)
    assert run.status == "failed"
    node = run.nodes[0]
    assert "TestTimeout" in node.message
    assert [f[0] for f in node.frames] == ["tests/test_calc.py", "pkg/calc.py"] and node.frames[-1][2] == "spin"


def test_a_mark_of_a_plugin_not_loaded_makes_the_lean_pass_untrusted(tmp_path):
    """A lean run that passes but warns of an unknown mark (the plugin that
    registers it was not loaded) is decided again with the plugins. (Through
    the hook's process: a pytest run forked from this test process would
    know the mark from this one.)"""
    modes = tmp_path / "modes.txt"
    conftest = ("import os\n\n\ndef pytest_configure(config):\n"
                f"    open({str(modes)!r}, 'a').write(os.environ.get('PYTEST_DISABLE_PLUGIN_AUTOLOAD', 'all') + ',')\n")
    marked = "import pytest\nfrom pkg.calc import add\n\n\n@pytest.mark.anyio\ndef test_add():\n    assert add(2, 3) == 5\n"
    root = make_repo(tmp_path / "r", {"pkg/__init__.py": "", "pkg/calc.py": FIXED_MODULE, "tests/conftest.py": conftest,
                                      "tests/test_calc.py": marked})
    code, err, _ = hook(root, "pkg/calc.py")
    assert code == 0 and "1 tests pass" in err, err
    assert modes.read_text() == "1,all,"  # lean, then with every plugin
    modes.unlink()
    (root / "tests/test_calc.py").write_text(marked.replace("@pytest.mark.anyio\n", ""))
    assert hook(root, "pkg/calc.py")[0] == 0
    assert modes.read_text() == "1,"  # a clean lean pass is kept as it is


def test_a_changed_test_file_is_traced_again(tmp_path):
    root = make_repo(tmp_path / "r", {
        "pkg/__init__.py": "", "pkg/calc.py": BUGGY_MODULE, "tests/conftest.py": DYNAMIC_CONFTEST,
        "tests/test_other.py": "def test_other():\n    assert True\n",
    })
    cache = tmp_path / "cache"
    code, err, _ = hook(root, "pkg/calc.py", cache=cache)  # maps test_other.py: it does not reach pkg/calc.py
    assert code == 0 and "no test covers it" in err, err
    (root / "tests/test_other.py").write_text(DYNAMIC_TESTS)  # changed (as by a pull): now it does
    code, err, _ = hook(root, "pkg/calc.py", cache=cache)
    assert code == 1 and "running 1 test file(s): tests/test_other.py" in err, err


def test_a_large_suite_is_mapped_a_part_per_run_and_a_pass_waits_for_the_map(tmp_path):
    from coderefl.fix.check import MAP_PER_RUN

    files = {"pkg/__init__.py": "", "pkg/calc.py": FIXED_MODULE,
             "tests/test_calc.py": "from pkg.calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"}
    files.update({f"tests/test_more_{k:02d}.py": "def test_x():\n    assert True\n" for k in range(MAP_PER_RUN + 2)})
    root = make_repo(tmp_path / "r", files)
    cache = tmp_path / "cache"
    code, err, _ = hook(root, "pkg/calc.py", cache=cache)
    assert code == 0 and f"running {MAP_PER_RUN + 1} test file(s)" in err, err
    code, err, _ = hook(root, "pkg/calc.py", cache=cache)  # the same content, but 2 files still unmapped
    assert code == 0 and "running 3 test file(s)" in err and "passed before" not in err, err
    code, err, _ = hook(root, "pkg/calc.py", cache=cache)
    assert code == 0 and "passed before on this exact content" in err, err
