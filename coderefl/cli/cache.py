"""``coderefl cache``: what the response cache holds, and clearing it.

The cache (:mod:`coderefl.model.cache`) keeps every usable model answer
until it is cleared; this command shows it per endpoint, model and API
mode, and clears all of it or one endpoint's or model's answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from coderefl.config import resolve_model_config
from coderefl.model.cache import ResponseCache


def _path_option(f):  # type: ignore[no-untyped-def]
    return click.option(
        "--cache-path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="The cache file [default: CODEREFL_CACHE_PATH, coderefl.toml [model] cache_path, else the user cache dir].",
    )(f)


@contextmanager
def _opened(cache_path: Path | None, missing: str) -> Iterator[ResponseCache | None]:
    """The cache file's store, or None (after saying ``missing``) when there is no file yet."""
    path = resolve_model_config(cache_path=cache_path).cache_path
    if not path.exists():
        click.echo(f"{path}: {missing}")
        yield None
        return
    store = ResponseCache(path)
    try:
        yield store
    finally:
        store.close()


def _day(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(t))


@click.group()
def cache() -> None:
    """Show or clear the response cache."""


@cache.command("stats")
@_path_option
def stats(cache_path: Path | None) -> None:
    """Answers held per endpoint, model and API mode."""
    with _opened(cache_path, "no cache yet (0 answers)") as store:
        if store is None:
            return
        groups = store.stats()
    path = store.path
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
    total = sum(g.rows for g in groups)
    click.echo(f"{path}: {total} answers, {size / 1e6:.1f} MB on disk")
    for g in groups:
        endpoint = g.endpoint or "(endpoint not recorded: written before v2, never replayed)"
        click.echo(f"  {g.rows:>8}  {endpoint}  {g.model}  {g.api or '-'}  {_day(g.oldest)} .. {_day(g.newest)}")


@cache.command("clear")
@_path_option
@click.option("--endpoint", default=None, metavar="URL", help="Only answers from this base URL (as in `cache stats`).")
@click.option("--model", default=None, help="Only answers of this model name.")
def clear(cache_path: Path | None, endpoint: str | None, model: str | None) -> None:
    """Delete cached answers: all of them, or one endpoint's or model's."""
    with _opened(cache_path, "no cache, nothing to clear") as store:
        if store is None:
            return
        gone = store.clear(endpoint=endpoint, model=model)
        left = len(store)
    scope = " and ".join(x for x in (endpoint and f"endpoint {endpoint}", model and f"model {model}") if x)
    click.echo(f"removed {gone} answers{' of ' + scope if scope else ''} from {store.path}; {left} left")
