"""What does the coderefl-fix hook cost a clean commit, next to black?

A throwaway git repository (a small package, its pytest tests, all
passing) with both hooks in one ``.pre-commit-config.yaml``, installed as
the git hook with real ``pre-commit``. Each round changes one source file
(a new ``VERSION``, so no result can be reused), stages it and runs
``git commit``; pre-commit runs black, then coderefl-fix, and prints each
hook's duration (``verbose: true``). Both hooks are ``language: system``
entries of this Python (``python -m black``, ``python -m coderefl.fix``,
the hook's entry), so no hook virtualenv is built and nothing is
downloaded. The first commit (not counted) is the first run of the hook in
the repository: it also runs the test files no run has traced yet.

Cases, each for ``--rounds`` commits:

* ``covered``: the staged file has tests: coderefl runs them on the host
  (cold: new content every round; they pass: no Docker, no model);
* ``cached``: the covered case, committed right after ``pre-commit run``
  on the same staged content (as after another hook stopped the commit):
  coderefl finds that this exact content passed and runs nothing;
* ``uncovered``: the staged file has no tests: coderefl only looks;
* ``no worker``: the covered case with ``CODEREFL_FIX_WORKER=0``: no warm
  worker (:mod:`coderefl.fix.worker`), pytest imported by the hook itself
  on every commit, as before issue 18's third round;
* ``sandbox`` (with ``--sandbox-case``): the covered case with
  ``CODEREFL_FIX_CHECK_IN=sandbox``, the tests in the Docker sandbox as
  before issue 18's second round.

Reported: the median and spread of each hook's duration, and the median
ratio coderefl / black, per case.

usage: python3 scripts/bench/fix_hook.py [--rounds 7] [--sandbox-case]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MODULE = '''"""Shapes."""

import math

VERSION = 0


def area(r):
    return math.pi * r * r


def perimeter(r):
    return 2 * math.pi * r


class Rect:
    def __init__(self, w, h):
        self.w, self.h = w, h

    def area(self):
        return self.w * self.h

    def scale(self, k):
        return Rect(self.w * k, self.h * k)
'''

TESTS = '''import math

import pytest

from pkg.{name} import Rect, area, perimeter


@pytest.mark.parametrize("r", [0, 1, 2, 3.5])
def test_area(r):
    assert area(r) == pytest.approx(math.pi * r * r)


def test_perimeter():
    assert perimeter(1) == pytest.approx(2 * math.pi)


def test_rect():
    assert Rect(2, 3).area() == 6
    assert Rect(2, 3).scale(2).area() == 24
'''

CONFIG = f"""repos:
- repo: local
  hooks:
  - id: black
    name: black
    entry: {sys.executable} -m black
    language: system
    types: [python]
    require_serial: true
    verbose: true
  - id: coderefl-fix
    name: coderefl fix
    entry: {sys.executable} -m coderefl.fix
    language: system
    types: [python]
    require_serial: true
    verbose: true
"""


def sh(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


def git(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return sh(cwd, "git", "-c", "user.email=b@example.com", "-c", "user.name=b", "-c", "commit.gpgsign=false", *args, env=env)


def make_repo(path: Path, env: dict) -> None:
    files = {"pkg/__init__.py": "", "pkg/lonely.py": MODULE, ".pre-commit-config.yaml": CONFIG}
    for name in ("geo", "shapes", "plane"):
        files[f"pkg/{name}.py"] = MODULE
        files[f"tests/test_{name}.py"] = TESTS.format(name=name)
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    git(path, "init", "-q")
    git(path, "add", "-A")
    done = git(path, "commit", "-q", "--no-verify", "-m", "start")
    assert done.returncode == 0, done.stderr
    installed = sh(path, sys.executable, "-m", "pre_commit", "install", env=env)
    assert installed.returncode == 0, installed.stderr


def durations(output: str) -> dict[str, float]:
    """Each hook's ``- duration: Xs`` from pre-commit's verbose output."""
    out: dict[str, float] = {}
    for m in re.finditer(r"- hook id: (\S+)\n- duration: ([\d.]+)s", output):
        out[m.group(1)] = float(m.group(2))
    return out


def commit_round(repo: Path, rel: str, k: int, env: dict, rerun: bool = False) -> dict[str, float]:
    """One commit of a changed ``rel``; each hook's duration."""
    path = repo / rel
    path.write_text(re.sub(r"VERSION = \d+", f"VERSION = {k}", path.read_text()))
    git(repo, "add", rel)
    if rerun:
        first = sh(repo, sys.executable, "-m", "pre_commit", "run", "--files", rel, env=env)
        assert first.returncode == 0, first.stdout + first.stderr
    res = git(repo, "commit", "-q", "-m", f"round {k}", env=env)
    out = res.stdout + res.stderr
    if res.returncode != 0:
        raise SystemExit(f"the commit failed (round {k}, {rel}):\n{out}")
    got = durations(out)
    if set(got) != {"black", "coderefl-fix"}:
        raise SystemExit(f"pre-commit printed no durations for both hooks:\n{out}")
    return got


def summary(name: str, rows: list[dict[str, float]]) -> str:
    def stat(key: str) -> str:
        xs = [r[key] for r in rows]
        return f"median {statistics.median(xs):.2f}s (min {min(xs):.2f}, max {max(xs):.2f})"

    ratio = statistics.median(r["coderefl-fix"] / r["black"] for r in rows)
    return (f"{name:9s} black {stat('black')}; coderefl-fix {stat('coderefl-fix')}; "
            f"median ratio coderefl/black {ratio:.2f}x ({len(rows)} commits)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--sandbox-case", action="store_true", help="also the tests in the Docker sandbox")
    args = ap.parse_args()
    if sh(ROOT, sys.executable, "-m", "black", "--version").returncode != 0:
        raise SystemExit("black is not installed: pip install black")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_", "PRE_COMMIT"))}
    if os.environ.get("CODEREFL_SANDBOX_IMAGE"):
        env["CODEREFL_SANDBOX_IMAGE"] = os.environ["CODEREFL_SANDBOX_IMAGE"]
    env["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryDirectory(prefix="fix-hook-bench-") as tmp:
        repo = Path(tmp) / "repo"
        env["PRE_COMMIT_HOME"] = str(Path(tmp) / "pre-commit-home")
        env["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")  # start with nothing remembered
        make_repo(repo, env)
        first = commit_round(repo, "pkg/geo.py", 1, env)  # the hook's first run here; disk caches
        cases = [("covered", "pkg/geo.py", env), ("cached", "pkg/plane.py", env), ("uncovered", "pkg/lonely.py", env),
                 ("no worker", "pkg/shapes.py", {**env, "CODEREFL_FIX_WORKER": "0"})]
        if args.sandbox_case:
            cases.append(("sandbox", "pkg/shapes.py", {**env, "CODEREFL_FIX_CHECK_IN": "sandbox",
                                                        "CODEREFL_FIX_WORKER": "0"}))
        results = {}
        k = 1
        for _ in range(args.rounds):  # the cases interleaved, so that a change of load hits them all
            for case, rel, case_env in cases:
                k += 1
                results.setdefault(case, []).append(commit_round(repo, rel, k, case_env, rerun=case == "cached"))
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
        print(f"first run in the repository (traces all 3 test files): black {first['black']:.2f}s, "
              f"coderefl-fix {first['coderefl-fix']:.2f}s")
        for case, rows in results.items():
            print(summary(case, rows))
        stop_workers(Path(tmp) / "cache")


def stop_workers(cache: Path) -> None:
    """The warm workers this run left behind (they would leave on their own once idle)."""
    import signal

    mark = f"XDG_CACHE_HOME={cache}".encode()
    for entry in Path("/proc").iterdir():
        try:
            if b"coderefl.fix.worker" in (entry / "cmdline").read_bytes() and mark in (entry / "environ").read_bytes():
                os.kill(int(entry.name), signal.SIGTERM)
        except (OSError, ValueError):
            continue


if __name__ == "__main__":
    main()
