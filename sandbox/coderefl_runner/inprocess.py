"""In-process mode: the tests and the program in one process, as pytest runs them.

For tests that need the program's objects themselves (its classes, generators,
callbacks; a user's tests file that imports the module; a repository's tests).
The process still starts clean (from the zygote: no other job's data in its
memory), the plan is reported before the program is imported, and builtins are
restored around every test, but a program that sets out to forge its own
verdict can: this mode guarantees isolation from other jobs and from the host,
not an unforgeable verdict. Hidden benchmark tests never run here.
"""

from __future__ import annotations

import builtins
import json
import os
import sys
import types

from coderefl_runner import proc
from coderefl_runner.harness import describe_exc, srepr, start
from coderefl_runner.wire import recv_msg


def main(params: dict, fds: list[int]) -> None:
    out_w, err_w, report_w, job_r = fds
    proc.take_fds({proc.OUT_FD: out_w, proc.ERR_FD: err_w, proc.REPORT_FD: report_w, proc.JOB_FD: job_r})
    proc.detach(dumpable=1)
    exit_ = os._exit  # the program may replace os._exit; this reference stays
    try:
        job = json.loads(recv_msg(proc.JOB_FD, 64 * 1024 * 1024))
        os.close(proc.JOB_FD)
        jobdir = job["jobdir"]
        proc.settle(params, job["limits"], cwd=jobdir, path_first=jobdir)
        run(job, jobdir)
    except BaseException:
        proc.report_crash("harness")
        exit_(70)
    exit_(0)


def run(job: dict, jobdir: str) -> None:
    harness = start(job.get("tests"), job["nonce"])  # everything compiled before the program runs
    if harness is None:
        return
    send, flush, modtype, modules = harness.send, proc.flush_std, types.ModuleType, sys.modules
    path = os.path.join(jobdir, "solution.py")
    try:
        with open(path, encoding="utf-8") as fh:
            code = compile(fh.read(), path, "exec")
    except BaseException as err:
        send("import", 0, "error", "solution does not compile: " + describe_exc(err))
        send("done", 0, "passed", "")
        return
    module = modtype("solution")
    module.__file__ = path
    modules["solution"] = module
    try:
        exec(code, module.__dict__)
    except BaseException as err:
        harness.restore_builtins()
        if isinstance(err, SystemExit):
            msg = "solution called sys.exit(%s) while being imported" % srepr(err.code)
        else:
            msg = "solution raised while being imported: " + describe_exc(err)
        send("import", 0, "error", msg)
        send("done", 0, "passed", "")
        return
    harness.restore_builtins()
    send("import", 0, "passed", "")
    modules["solution"] = module  # also undoes a program that swapped the module out
    # the module is reachable as ``solution`` unless the program defines that name itself
    ns: dict = {"solution": module}
    ns.update({k: v for k, v in module.__dict__.items() if not (k.startswith("__") and k.endswith("__"))})
    ns.update({"__name__": "tests", "__file__": os.path.join(jobdir, "tests.py"), "__builtins__": builtins})
    harness.run(ns)
    flush()
    send("done", 0, "passed", "")
