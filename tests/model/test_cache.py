"""The SQLite response cache: keys, first-writer-wins, and several processes at once."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from coderefl.model.cache import CachedChoice, ResponseCache, choice_key, request_key


def key(**over) -> str:
    base = dict(endpoint="http://a/v1", model="m", api="chat", payload=[{"role": "user", "content": "hi"}], temperature=0.0,
                max_tokens=10, stop=None, sample_index=0)
    base.update(over)
    return request_key(**base)


def test_key_depends_on_the_endpoint_and_every_sampling_input():
    k = key()
    assert k == key()
    variants = [key(endpoint="http://b/v1"), key(model="m2"), key(api="completions"), key(payload="hi"), key(temperature=0.1),
                key(max_tokens=11), key(stop=["x"]), key(sample_index=1)]
    assert len({k, *variants}) == len(variants) + 1
    assert choice_key(k, 0) != choice_key(k, 1)


def test_roundtrip_and_first_writer_wins(tmp_path):
    cache = ResponseCache(tmp_path / "sub" / "c.sqlite")
    cache.put_many("m", [("a", CachedChoice("one", "stop", 3, 4))])
    cache.put_many("m", [("a", CachedChoice("two", "stop", 3, 4)), ("b", CachedChoice("b", None, 0, 0))])
    got = cache.get_many(["a", "b", "missing"])
    assert got["a"].text == "one" and got["b"].finish_reason is None and "missing" not in got
    assert len(cache) == 2
    cache.close()
    cache.close()  # idempotent
    assert ResponseCache(tmp_path / "sub" / "c.sqlite").get_many(["a"])["a"].text == "one"


def _writer(path: str, tag: str, n: int) -> None:
    cache = ResponseCache(Path(path))
    for i in range(n):
        cache.put_many("m", [(f"k{i}", CachedChoice(f"{tag}{i}", "stop", 1, 1))])
    cache.close()


def test_several_processes_share_one_file(tmp_path):
    path = str(tmp_path / "c.sqlite")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, tag, 200)) for tag in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = ResponseCache(path)
    got = cache.get_many([f"k{i}" for i in range(200)])
    assert len(got) == 200 and len(cache) == 200
    assert all(c.text[1:] == str(i) for i, c in ((int(k[1:]), c) for k, c in got.items()))


def test_unusable_cache_path_is_one_line_bad_input(tmp_path):
    import pytest

    from coderefl.errors import BadInput

    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(BadInput, match="--no-cache"):
        ResponseCache(tmp_path / "file" / "c.sqlite").get_many(["k"])
    (tmp_path / "junk.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(BadInput, match="junk.sqlite"):
        ResponseCache(tmp_path / "junk.sqlite").get_many(["k"])


def test_blank_answers_are_never_stored(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    stored = cache.put_many("m", [("a", CachedChoice("", "stop", 1, 0)), ("b", CachedChoice(" \n", "stop", 1, 1)),
                                  ("c", CachedChoice("def f(): pass", "stop", 1, 4))])
    assert stored == 1
    assert set(cache.get_many(["a", "b", "c"])) == {"c"}


def test_stats_and_clear_by_endpoint_or_model(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put_many("m1", [("a", CachedChoice("x", None, 1, 1))], endpoint="http://one/v1", api="chat")
    cache.put_many("m1", [("b", CachedChoice("y", None, 1, 1)), ("c", CachedChoice("z", None, 1, 1))],
                   endpoint="http://two/v1", api="chat")
    cache.put_many("m2", [("d", CachedChoice("w", None, 1, 1))], endpoint="http://two/v1", api="completions")
    groups = cache.stats()
    assert [(g.endpoint, g.model, g.api, g.rows) for g in groups] == [
        ("http://two/v1", "m1", "chat", 2), ("http://one/v1", "m1", "chat", 1), ("http://two/v1", "m2", "completions", 1)]
    assert cache.clear(endpoint="http://two/v1/", model="m1") == 2  # a trailing slash names the same endpoint
    assert cache.clear(model="m2") == 1
    assert len(cache) == 1 and cache.clear() == 1 and len(cache) == 0


def test_a_version_1_file_gains_the_new_columns(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, text TEXT NOT NULL, finish_reason TEXT,"
               " prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL)")
    db.execute("INSERT INTO responses VALUES ('old', 'm', 'text', 'stop', 1, 1, 0)")
    db.commit()
    db.close()
    cache = ResponseCache(path)
    cache.put_many("m", [("new", CachedChoice("t", None, 1, 1))], endpoint="http://e/v1", api="chat")
    assert {(g.endpoint, g.rows) for g in cache.stats()} == {("", 1), ("http://e/v1", 1)}
