"""coderefl.atomic: whole-file replacement, and the compare-then-swap hook."""

from __future__ import annotations

import os

import pytest

from coderefl.atomic import atomic_write_bytes


def test_replaces_with_mode_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two", mode=0o640)
    assert path.read_bytes() == b"two" and (os.stat(path).st_mode & 0o777) == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["f.txt"]


def test_a_failing_last_check_leaves_the_old_file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"old")
    seen = []

    def last_look() -> None:
        seen.append(path.read_bytes())  # runs after the new bytes are on disk, before the swap
        raise RuntimeError("changed meanwhile")

    with pytest.raises(RuntimeError, match="changed meanwhile"):
        atomic_write_bytes(path, b"new", before_replace=last_look)
    assert seen == [b"old"] and path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
