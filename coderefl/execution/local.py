"""The UNSAFE local backend: the same runner, as a plain subprocess.

NOT A SANDBOX. The program runs as your user, on your filesystem and
network; only rlimits (address space, file size, CPU seconds), a fresh temp
work dir, a scrubbed environment and a process-group + subreaper kill at the
deadline stand between it and your machine. Use it for trusted code, for
tests, or where Docker is impossible; the verdict logic (expected tests, the
report protocol, the exit tricks) is identical to the Docker backend's.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping

from coderefl.errors import SandboxUnavailable
from coderefl.execution.base import Sandbox, register_backend
from coderefl.execution.image import runner_path
from coderefl.execution.jobs import error_result, make_job, to_result
from coderefl.records import ExecutionResult, Limits


@register_backend("local", description="UNSAFE: a plain subprocess with rlimits, for trusted code or machines without Docker")
class LocalSandbox(Sandbox):
    """Unsafe: no isolation (see module docstring). ``isolated`` is False so
    callers can refuse it for untrusted code."""

    isolated = False

    def __init__(self, limits: Limits | None = None, python: str | None = None, grace_s: float = 3.0, **_: object) -> None:
        super().__init__(limits)
        self.python = python or sys.executable
        self.grace_s = grace_s

    def run_sync(
        self,
        program: str,
        tests: str | None = None,
        limits: Limits | None = None,
        files: Mapping[str, str | bytes] | None = None,
    ) -> ExecutionResult:
        limits = limits or self.limits
        job = make_job(program, tests, limits, files)
        work = tempfile.mkdtemp(prefix="coderefl-local-")
        job["work_root"] = work
        data = json.dumps(job).encode()
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [self.python, "-I", str(runner_path()), "once"],
                input=struct.pack(">I", len(data)) + data,
                capture_output=True,
                timeout=limits.timeout_s + self.grace_s,
                env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
                cwd=work,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            return error_result(f"no answer within {limits.timeout_s:g}s", status="timeout",
                                duration_s=time.monotonic() - started, name="time limit")
        except OSError as err:
            raise SandboxUnavailable(f"cannot start the local runner with {self.python}: {err}") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        out = proc.stdout
        if len(out) < 4 or len(out) < 4 + struct.unpack(">I", out[:4])[0]:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            return error_result(f"the local runner failed: {tail[0]}")
        answer = json.loads(out[4 : 4 + struct.unpack(">I", out[:4])[0]])
        if answer.get("id") != job["id"]:
            return error_result("the local runner answered for another job")
        return to_result(answer)

    async def run(
        self,
        program: str,
        tests: str | None = None,
        limits: Limits | None = None,
        files: Mapping[str, str | bytes] | None = None,
    ) -> ExecutionResult:
        return await asyncio.to_thread(self.run_sync, program, tests, limits, files)
