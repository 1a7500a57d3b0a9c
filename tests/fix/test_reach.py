"""The reach map between runs: kept per repository, rewritten only when a
run learnt something new."""

from __future__ import annotations

import json
import time

from coderefl.fix.check import precheck
from coderefl.fix.reach import REFRESH_S, ReachMap
from tests.fix.helpers import make_repo


def test_the_map_is_written_only_when_it_changed(tmp_path):
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "tests/test_a.py").write_text("def test_a():\n    pass\n")
    existing = {"tests/test_a.py", "pkg/a.py"}
    cache = tmp_path / "cache"
    first = ReachMap.load(cache, root)
    assert first.unmapped(root, ["tests/test_a.py"], existing) == ["tests/test_a.py"]
    first.record(root, {"tests/test_a.py": ["pkg/a.py"]}, existing, now=100.0)
    first.save()
    [path] = cache.iterdir()
    before = path.stat()
    again = ReachMap.load(cache, root)
    assert again.tests_reaching("pkg/a.py") == ["tests/test_a.py"] and not again.unmapped(root, ["tests/test_a.py"],
                                                                                           existing)
    again.record(root, {"tests/test_a.py": ["pkg/a.py"]}, existing, now=100.0)  # the same: nothing to write
    again.save()
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    again.record(root, {"tests/test_a.py": ["pkg/a.py", "pkg/b.py"]}, existing | {"pkg/b.py"}, now=100.0)
    again.save()
    assert path.stat().st_ino != before.st_ino  # replaced, atomically
    assert ReachMap.load(cache, root).files_of("tests/test_a.py") == ["pkg/a.py", "pkg/b.py"]
    path.write_text("{not json")  # a damaged cache is a miss, and the next save repairs it
    damaged = ReachMap.load(cache, root)
    assert damaged.entries == {}
    damaged.save()
    assert ReachMap.load(cache, root).entries == {}
    assert path.read_text().startswith('{"tests"')


def test_a_run_is_traced_only_when_a_test_files_entry_is_missing_changed_or_a_day_old(tmp_path):
    root = make_repo(tmp_path / "r", {"pkg/__init__.py": "", "pkg/calc.py": "def add(a, b):\n    return a + b\n",
                                      "tests/test_calc.py": "from pkg.calc import add\n\n\ndef test_add():\n"
                                                            "    assert add(2, 3) == 5\n"})
    cache = tmp_path / "cache"

    def check(version: int):
        (root / "pkg/calc.py").write_text(f"def add(a, b):\n    return a + b\n\n\nVERSION = {version}\n")
        got = precheck(root, ["pkg/calc.py"], passes=cache / "fix-passed", reach=cache / "fix-reach", timeout_s=60)
        assert got.status == "passed", got
        return got.run.reached

    assert "pkg/calc.py" in check(1)["tests/test_calc.py"]  # no entry yet: traced
    [path] = (cache / "fix-reach").iterdir()
    entry = json.loads(path.read_text())["tests"]["tests/test_calc.py"]
    assert 0 <= time.time() - entry["traced"] < 60
    assert check(2) == {}  # new code, same tests, a fresh entry: untraced
    (root / "tests/test_calc.py").write_text((root / "tests/test_calc.py").read_text() + "\n\ndef test_b():\n    pass\n")
    assert "tests/test_calc.py" in check(3)  # the test file changed: traced
    doc = json.loads(path.read_text())
    doc["tests"]["tests/test_calc.py"]["traced"] -= REFRESH_S + 1
    path.write_text(json.dumps(doc))
    assert "tests/test_calc.py" in check(4)  # a day old: traced again
    assert check(5) == {}


def test_needs_trace_against_the_clock(tmp_path):
    root = tmp_path
    (root / "t.py").write_text("def test():\n    pass\n")
    existing = {"t.py"}
    reach = ReachMap(tmp_path / "m.json")
    assert reach.needs_trace(root, ["t.py"], existing, now=1000.0)  # no entry
    reach.record(root, {"t.py": []}, existing, now=1000.0)
    assert REFRESH_S == 86400  # a day
    assert not reach.needs_trace(root, ["t.py"], existing, now=1000.0 + 86399)
    assert reach.needs_trace(root, ["t.py"], existing, now=1000.0 + 86400)
    assert reach.needs_trace(root, ["t.py"], existing, now=999.0)  # traced "in the future": a clock moved back
    assert not ReachMap(None).needs_trace(root, ["t.py"], existing)  # nothing kept: nothing to learn


def test_no_cache_folder_means_nothing_kept_nothing_extra_run(tmp_path):
    (tmp_path / "t.py").write_text("def test():\n    pass\n")
    off = ReachMap.load(None, tmp_path)
    assert not off.enabled and off.unmapped(tmp_path, ["t.py"], {"t.py"}) == []
    off.record(tmp_path, {"t.py": ["a.py"]}, {"t.py"})
    off.save()
    assert list(tmp_path.iterdir()) == [tmp_path / "t.py"]


def test_a_map_of_another_version_or_shape_is_a_miss(tmp_path):
    cache = tmp_path / "cache"
    first = ReachMap.load(cache, tmp_path)
    first.record(tmp_path, {}, set())
    first.save()
    [path] = cache.iterdir()
    for text in ('{"version": 0, "tests": {"t.py": {"files": ["a.py"]}}}', "[1, 2]", '{"version": 1, "tests": []}'):
        path.write_text(text)
        again = ReachMap.load(cache, tmp_path)
        assert again.enabled and again.entries == {}
