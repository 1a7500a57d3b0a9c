"""Shared helpers for the problem-layer tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from coderefl.problems.mbpp import repo_reference_file

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "problems" / "examples.yaml"
MBPP_SAMPLE = REPO / "problems" / "mbpp-sample.json"


def mbpp_test_file() -> Path:
    """The full reference MBPP beside the checkout when present, else the shipped sample."""
    ref = repo_reference_file()
    return ref if ref.is_file() else MBPP_SAMPLE


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "coderefl.cli.main", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
