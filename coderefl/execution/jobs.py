"""The job and answer formats shared by every backend and the runner.

A job is the JSON object the in-sandbox runner reads; an answer is what it
writes back. Both backends build jobs and read answers here, so the wire
format has one definition on the host side.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from typing import Any

from coderefl.errors import BadInput
from coderefl.records import ExecutionResult, Limits, TestOutcome

#: the tests-file line that selects judge mode (sandbox/coderefl_runner/plan.py): the tests and the
#: program run in separate processes and only plain data crosses (docs/sandbox.md, isolation modes)
PLAIN_VALUES_PRAGMA = "# coderefl: plain-values"


#: with judge mode: a failed test's last call is run again, traced, and its steps are in the message
TRACE_PRAGMA = "# coderefl: trace"


def with_plain_values(test_code: str) -> str:
    """``test_code`` with the plain-values line first (judge mode)."""
    return f"{PLAIN_VALUES_PRAGMA}\n{test_code}"


def wants_judge(test_code: str) -> bool:
    """Whether a tests file carries the plain-values line (alone on a line)."""
    return any(line.strip() == PLAIN_VALUES_PRAGMA for line in test_code.splitlines())


_RESULT_FIELDS = ("status", "tests", "stdout", "stderr", "truncated", "duration_s", "exit_code", "isolation")


def make_job(
    program: str,
    tests: str | None,
    limits: Limits,
    files: Mapping[str, str | bytes] | None = None,
) -> dict[str, Any]:
    """A runner job with a fresh random id the answer must echo."""
    if not isinstance(program, str):
        raise BadInput("program must be a string of Python source")
    if tests is not None and not isinstance(tests, str):
        raise BadInput("tests must be a string of Python source or None")
    extra: dict[str, Any] = {}
    for name, content in (files or {}).items():
        norm = os.path.normpath(name)
        if os.path.isabs(norm) or norm.startswith("..") or norm in (".", "solution.py", "tests.py"):
            raise BadInput(f"extra file name {name!r} must be a relative path inside the work dir")
        if isinstance(content, (bytes, bytearray)):
            extra[norm] = {"b64": base64.b64encode(bytes(content)).decode("ascii")}
        else:
            extra[norm] = content
    return {
        "op": "run",
        "id": secrets.token_hex(8),
        "program": program,
        "tests": tests,
        "files": extra,
        "limits": limits.model_dump(),
    }


def to_result(answer: Mapping[str, Any]) -> ExecutionResult:
    """The runner's answer as an ExecutionResult (validated: a malformed
    answer is an ``error`` verdict, never a pass)."""
    try:
        return ExecutionResult.model_validate({k: answer[k] for k in _RESULT_FIELDS if k in answer})
    except Exception as err:
        return error_result(f"malformed answer from the sandbox runner: {type(err).__name__}")


def error_result(message: str, status: str = "error", duration_s: float = 0.0, name: str = "sandbox") -> ExecutionResult:
    return ExecutionResult(
        status=status,  # type: ignore[arg-type]
        tests=[TestOutcome(name=name, status="timeout" if status == "timeout" else "error", message=message)],
        duration_s=round(duration_s, 4),
    )

