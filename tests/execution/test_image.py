"""The image tag: a content hash of sandbox/, so a runner change rebuilds
and an unchanged tree is reused."""

from __future__ import annotations

import shutil

import pytest

from coderefl.errors import ImageMissing
from coderefl.execution import image


@pytest.fixture
def tree(tmp_path):
    src = image.sandbox_dir()
    dst = tmp_path / "sandbox"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def test_hash_is_stable_and_content_based(tree):
    h1 = image.content_hash(tree)
    assert len(h1) == 12 and int(h1, 16) >= 0
    assert image.content_hash(tree) == h1
    (tree / "runner.py").touch()  # mtime only
    assert image.content_hash(tree) == h1


def test_runner_change_changes_hash(tree):
    h1 = image.content_hash(tree)
    with open(tree / "runner.py", "a") as fh:
        fh.write("\n# changed\n")
    assert image.content_hash(tree) != h1


def test_new_or_renamed_file_changes_hash(tree):
    h1 = image.content_hash(tree)
    (tree / "extra.txt").write_text("x")
    h2 = image.content_hash(tree)
    assert h2 != h1
    (tree / "extra.txt").rename(tree / "extra2.txt")
    assert image.content_hash(tree) not in (h1, h2)


def test_caches_are_ignored(tree):
    h1 = image.content_hash(tree)
    (tree / "__pycache__").mkdir()
    (tree / "__pycache__" / "runner.cpython-311.pyc").write_bytes(b"junk")
    (tree / "stray.pyc").write_bytes(b"junk")
    assert image.content_hash(tree) == h1


def test_tag_uses_the_hash_and_env_override(tree, monkeypatch):
    monkeypatch.setenv("CODEREFL_SANDBOX_DIR", str(tree))
    monkeypatch.delenv("CODEREFL_SANDBOX_IMAGE", raising=False)
    assert image.image_tag() == f"coderefl-sandbox:{image.content_hash(tree)}"
    monkeypatch.setenv("CODEREFL_SANDBOX_IMAGE", "mine:1")
    assert image.image_tag() == "mine:1"


def test_missing_sandbox_dir_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEREFL_SANDBOX_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ImageMissing, match="sandbox definition not found"):
        image.sandbox_dir()
