"""Which tests cover a staged file: the static import rule of coderefl.fix.discover."""

from __future__ import annotations

from coderefl.fix.discover import covering_tests, imported_paths, is_test_file, repo_files
from tests.fix.helpers import make_repo


def test_test_file_names_follow_pytest_defaults():
    assert is_test_file("tests/test_a.py") and is_test_file("a_test.py")
    assert not is_test_file("tests/helpers.py") and not is_test_file("test_data.txt")


def test_import_forms_resolve_to_files():
    src = (
        "import pkg.sub.mod\n"
        "from pkg2 import thing\n"
        "from . import sibling\n"
        "from ..up import x\n"
        "def test_f():\n    import lazy.mod\n"
    )
    paths = imported_paths("tests/unit/test_a.py", src)
    assert "pkg/sub/mod.py" in paths
    assert "pkg/__init__.py" in paths and "pkg/sub/__init__.py" in paths  # packages on the way run too
    assert "pkg2.py" in paths and "pkg2/thing.py" in paths  # `from pkg import mod`
    assert "src/pkg/sub/mod.py" in paths  # src layout
    assert "tests/unit/sibling.py" in paths
    assert "tests/up.py" in paths
    assert "lazy/mod.py" in paths  # imports inside test functions count


def test_covering_tests_on_a_repository(tmp_path):
    root = make_repo(
        tmp_path / "r",
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "def f():\n    return 1\n",
            "pkg/b.py": "def g():\n    return 2\n",
            "src/lib/c.py": "def h():\n    return 3\n",
            "tests/test_a.py": "from pkg.a import f\n\ndef test_f():\n    assert f() == 1\n",
            "tests/test_ab.py": "from pkg import a, b\n",
            "tests/test_c.py": "import lib.c\n",
            "tests/helpers.py": "from pkg.b import g\n",
            "tests/test_none.py": "import os\n",
            "node_modules/x/test_skip.py": "from pkg.a import f\n",
            "bad_test.py": "this is not python (\n",
        },
    )
    cov = covering_tests(root, ["pkg/a.py", "pkg/b.py", "src/lib/c.py", "tests/test_none.py", "README.md"])
    assert cov.sources == ["pkg/a.py", "pkg/b.py", "src/lib/c.py"]
    assert cov.staged_tests == ["tests/test_none.py"]
    assert cov.tests_for["pkg/a.py"] == ["tests/test_a.py", "tests/test_ab.py"]
    assert cov.tests_for["pkg/b.py"] == ["tests/test_ab.py"]  # helpers.py is no test file
    assert cov.tests_for["src/lib/c.py"] == ["tests/test_c.py"]
    assert cov.all_tests() == ["tests/test_none.py", "tests/test_a.py", "tests/test_ab.py", "tests/test_c.py"]
    assert cov.sources_of("tests/test_ab.py") == ["pkg/a.py", "pkg/b.py"]
    assert "node_modules/x/test_skip.py" not in repo_files(root)


def test_no_git_falls_back_to_a_walk(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    (tmp_path / "test_m.py").write_text("import m\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "test_x.py").write_text("import m\n")
    cov = covering_tests(tmp_path, ["m.py"])
    assert cov.tests_for["m.py"] == ["test_m.py"]


def test_tests_reached_through_conftest_fixtures_and_helpers(tmp_path):
    root = make_repo(
        tmp_path / "r",
        {
            "pkg/__init__.py": "",
            "pkg/core.py": "def f():\n    return 1\n",
            "pkg/api.py": "from pkg.core import f\n\ndef g():\n    return f()\n",
            "pkg/other.py": "def h():\n    return 3\n",
            "tests/conftest.py": "import pytest\nfrom pkg.core import f\n\n@pytest.fixture\ndef value():\n    return f()\n",
            "tests/unit/test_fixture.py": "def test_v(value):\n    assert value == 1\n",  # no import at all
            "tests/unit/test_api.py": "from pkg.api import g\n",  # reaches core through api
            "tests/unit/helpers.py": "from pkg.other import h\n",
            "tests/unit/test_helper.py": "from .helpers import h\n",
            "plugins/fixtures.py": "from pkg.other import h\n",
            "conftest.py": "pytest_plugins = ['plugins.fixtures']\n",
            "elsewhere/test_plain.py": "import os\n",
        },
    )
    cov = covering_tests(root, ["pkg/core.py", "pkg/other.py"])
    assert cov.tests_for["pkg/core.py"] == ["tests/unit/test_api.py", "tests/unit/test_fixture.py", "tests/unit/test_helper.py"]
    # the root conftest's pytest_plugins reach pkg/other.py for every test file
    assert cov.tests_for["pkg/other.py"] == [
        "elsewhere/test_plain.py", "tests/unit/test_api.py", "tests/unit/test_fixture.py", "tests/unit/test_helper.py"
    ]


def test_a_staged_conftest_selects_the_tests_below_it(tmp_path):
    root = make_repo(
        tmp_path / "r",
        {
            "tests/unit/conftest.py": "import pytest\n",
            "tests/unit/test_a.py": "def test_a():\n    pass\n",
            "tests/unit/deep/test_b.py": "def test_b():\n    pass\n",
            "tests/other/test_c.py": "def test_c():\n    pass\n",
        },
    )
    cov = covering_tests(root, ["tests/unit/conftest.py"])
    assert cov.sources == [] and cov.conftests == {"tests/unit/conftest.py": ["tests/unit/deep/test_b.py", "tests/unit/test_a.py"]}
    assert cov.all_tests() == ["tests/unit/deep/test_b.py", "tests/unit/test_a.py"]


def test_the_coverage_summary_line(tmp_path):
    from coderefl.fix.fixer import coverage_summary

    root = make_repo(
        tmp_path / "r",
        {
            "a.py": "def f():\n    return 1\n",
            "b.py": "def g():\n    return 2\n",
            "c.py": "def h():\n    return 3\n",
            "test_a.py": "import a\n",
            "test_ab.py": "import a, b\n",
        },
    )
    assert coverage_summary(covering_tests(root, ["c.py"])) == "1 file, no test covers it: c.py"
    assert coverage_summary(covering_tests(root, ["a.py", "b.py", "c.py"]), 5) == (
        "3 files: 2 covered, 1 not covered (c.py); ran 5 tests in 2 test files"
    )
    assert coverage_summary(covering_tests(root, ["a.py", "test_a.py"]), 1) == (
        "2 files: 1 test file, 1 covered; ran 1 test in 2 test files"
    )
