"""coderefl's in-sandbox runner: the entry point.

Modes
  ``serve``   long-lived; in a pooled container it is PID 1. Reads jobs as
              4-byte big-endian length + JSON from stdin, answers the same way
              on stdout, one answer per job, forever.
  ``once``    one job from stdin, one answer on stdout (the local backend).
  ``zygote``  internal: a fresh zygote on the socket fd given (see
              coderefl_runner/zygote.py).

The work is in the ``coderefl_runner`` package beside this file; see
docs/sandbox.md for the two isolation modes and what each guarantees.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from coderefl_runner import proc  # noqa: E402
from coderefl_runner.plan import PLAIN_VALUES_PRAGMA, make_plan, wants_plain_values  # noqa: E402,F401
from coderefl_runner.server import Server, decide as judge, decide_from_report  # noqa: E402,F401
from coderefl_runner.wire import parse_report, read_exact  # noqa: E402,F401


def _send(fd: int, obj: dict) -> None:
    data = json.dumps(obj).encode()
    buf = struct.pack(">I", len(data)) + data
    while buf:
        buf = buf[os.write(fd, buf):]


def _failure(message: str) -> dict:
    return {"status": "error", "tests": [{"name": "runner", "status": "error", "message": message}],
            "stdout": "", "stderr": "", "truncated": False, "duration_s": 0.0, "exit_code": None,
            "recycle": True, "clean": False}


def handle(server: Server, job: dict) -> dict:
    if job.get("op", "run") == "ping":
        return {"ok": True, "pid": os.getpid(), "uid": os.getuid(), "python": sys.version.split()[0]}
    try:
        return server.run_job(job)
    except Exception as err:  # the runner itself failed: never a pass
        return _failure(f"runner failure: {type(err).__name__}: {err}")


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else "serve"
    if mode == "zygote":
        from coderefl_runner import zygote

        zygote.loop(socket.socket(fileno=int(argv[2])))
        return 0
    # PID 1 ignores signals it has no handler for; keep it that way (Python
    # installs one for SIGINT) so a job cannot interrupt the server.
    signal.signal(signal.SIGINT, signal.SIG_IGN if proc.PID1 else signal.SIG_DFL)
    if proc.PID1:
        proc.set_dumpable(0)  # no /proc/1/fd, /proc/1/mem or ptrace for the jobs
    else:
        proc.set_subreaper()
    inp, out = os.dup(0), os.dup(1)
    for fd in (inp, out):
        os.set_inheritable(fd, False)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    local = mode == "once" or not proc.PID1
    server = Server(local)  # forks the zygote now, before any job is read
    while True:
        head = read_exact(inp, 4)
        if head is None:
            return 0
        (size,) = struct.unpack(">I", head)
        body = read_exact(inp, size)
        if body is None:
            return 0
        try:
            job = json.loads(body)
        except ValueError:
            _send(out, {"status": "error", "tests": [{"name": "job", "status": "error", "message": "malformed job"}],
                        "recycle": True})
            continue
        answer = handle(server, job)
        answer["id"] = job.get("id")
        _send(out, answer)
        if mode == "once":
            return 0
        server.prepare_next()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
