"""The reach map between runs: kept per repository, rewritten only when a
run learnt something new."""

from __future__ import annotations

from coderefl.fix.reach import ReachMap


def test_the_map_is_written_only_when_it_changed(tmp_path):
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "tests/test_a.py").write_text("def test_a():\n    pass\n")
    existing = {"tests/test_a.py", "pkg/a.py"}
    cache = tmp_path / "cache"
    first = ReachMap.load(cache, root)
    assert first.unmapped(root, ["tests/test_a.py"], existing) == ["tests/test_a.py"]
    first.record(root, {"tests/test_a.py": ["pkg/a.py"]}, existing)
    first.save()
    [path] = cache.iterdir()
    before = path.stat()
    again = ReachMap.load(cache, root)
    assert again.tests_reaching("pkg/a.py") == ["tests/test_a.py"] and not again.unmapped(root, ["tests/test_a.py"],
                                                                                           existing)
    again.record(root, {"tests/test_a.py": ["pkg/a.py"]}, existing)  # the same reach: nothing to write
    again.save()
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    again.record(root, {"tests/test_a.py": ["pkg/a.py", "pkg/b.py"]}, existing | {"pkg/b.py"})
    again.save()
    assert path.stat().st_ino != before.st_ino  # replaced, atomically
    assert ReachMap.load(cache, root).files_of("tests/test_a.py") == ["pkg/a.py", "pkg/b.py"]
    path.write_text("{not json")  # a damaged cache is a miss, and the next save repairs it
    damaged = ReachMap.load(cache, root)
    assert damaged.entries == {}
    damaged.save()
    assert ReachMap.load(cache, root).entries == {}
    assert path.read_text().startswith('{"tests"')
