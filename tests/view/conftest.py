"""Run folders for the view tests, made the way a user makes them: the real
``coderefl eval`` CLI in a subprocess, talking HTTP to the scripted
OpenAI-compatible server (tests/openai_server.py) through the real client.

The scripted model walks each HumanEval problem down a Reflexion path
(tests/run/helpers.py: wrong first answer, reflection, canonical answer),
except HumanEval/2, which it never solves: its answers and its reflection
carry ``<script>``, an ``<img onerror>`` and ``<b>`` markup, so the escaping
test reads model-written markup that went through the whole pipeline.
For HumanEval/3 one generated test contradicts the prompt's example, so
the run records a decision to drop it.

Code runs in the local backend (``--sandbox local``): every program is one
of the scripted answers above, and the view reads the same files whichever
backend wrote them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.openai_server import ScriptedServer
from tests.run.helpers import humaneval_script

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 4

#: what the escaping test looks for, verbatim, in the page's text
MARKUP_REFLECTION = (
    'The function returns its input. <script>window.__pwned = 1</script>'
    '<img src=x onerror="window.__pwned = 2"><b>not bold</b> & it must drop the integer part.'
)
CONTRADICTING_TEST = "assert below_zero([1, 2, 3]) == True"
MARKUP_CODE = (
    "```python\n"
    "def truncate_number(number: float) -> float:\n"
    '    """<script>window.__pwned = 3</script>"""\n'
    '    print("<b>bold?</b><img src=x onerror=window.__pwned=4>")\n'
    "    return number\n"
    "```"
)


def scripted_model():
    from coderefl.problems.registry import load_benchmark

    base = humaneval_script(load_benchmark("humaneval", limit=LIMIT))

    def handler(body: dict) -> str:
        users = [str(m.get("content") or "") for m in body.get("messages") or [] if m.get("role") == "user"]
        if users and "def truncate_number" in users[0]:
            last = users[-1]
            if "Do not implement it. Instead write" in last:
                return base(body)
            if "explain why the implementation is wrong" in last:
                return MARKUP_REFLECTION
            return MARKUP_CODE
        if users and "def below_zero" in users[0] and "Do not implement it. Instead write" in users[-1]:
            # one wrong generated test: it contradicts the prompt's example, so the agent drops it
            return base(body).replace("```python\n", "```python\n" + CONTRADICTING_TEST + "\n", 1)
        return base(body)

    return handler


def eval_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_"))}
    env.update({"CODEREFL_CACHE_PATH": str(cache), "PYTHONPATH": str(ROOT)})
    return env


def eval_command(server: ScriptedServer, out: Path, strategy: str, cache: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "coderefl.cli.main", "eval", "--benchmark", "humaneval", "--limit", str(LIMIT),
        "--strategy", strategy, "--model", "scripted-model", "--base-url", server.base_url, "--api-key", "k",
        "--out", str(out), "--sandbox", "local", "--max-iters", "2", "--sandbox-concurrency", "2", "-q", *extra,
    ]


def make_run(server: ScriptedServer, out: Path, strategy: str, cache: Path, *extra: str) -> Path:
    proc = subprocess.run(eval_command(server, out, strategy, cache, *extra), cwd=out.parent, env=eval_env(cache),
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"coderefl eval exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return out


@pytest.fixture(scope="session")
def eval_runs(tmp_path_factory) -> dict[str, Path]:
    """Two real runs on the same four HumanEval problems: reflexion and simple."""
    root = tmp_path_factory.mktemp("view-runs")
    with ScriptedServer(handler=scripted_model()) as server:
        return {
            "reflexion": make_run(server, root / "reflexion", "reflexion", root / "cache.sqlite"),
            "simple": make_run(server, root / "simple", "simple", root / "cache.sqlite"),
        }
