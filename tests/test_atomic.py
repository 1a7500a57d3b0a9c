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


@pytest.mark.parametrize("umask, want", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path, umask, want):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "f").st_mode & 0o777 == want


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "script.sh"
    path.write_bytes(b"old")
    os.chmod(path, 0o751)
    atomic_write_bytes(path, b"new")
    assert os.stat(path).st_mode & 0o777 == 0o751


def test_a_cache_write_skips_only_the_fsync(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    target = tmp_path / "c.json"
    atomic_write_bytes(target, b"1", durable=False)
    assert synced == [] and target.read_bytes() == b"1"
    atomic_write_bytes(target, b"2")
    assert len(synced) == 1 and target.read_bytes() == b"2"
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]  # no temporary file left either way
