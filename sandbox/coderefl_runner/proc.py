"""Turning a freshly forked process into one of a job's processes.

Every job process (judge, candidate, in-process harness) comes from the
zygote, a process forked before the server read any job, so it starts from a
state that never held another job's data. Here it takes its fds, drops
everything else, and gets its own session, limits and environment.
"""

from __future__ import annotations

import fcntl
import os
import resource
import signal
import sys

PID1 = os.getpid() == 1
RUNNER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the fd numbers every role finds its channels on
OUT_FD, ERR_FD, REPORT_FD, JOB_FD, TO_CANDIDATE_FD, FROM_CANDIDATE_FD = 1, 2, 3, 4, 5, 6
CANDIDATE_IN_FD, CANDIDATE_OUT_FD = 5, 6
#: judge mode's control socket between the judge and the candidate's template (per-test time limits)
CONTROL_FD = 7


def set_dumpable(value: int) -> None:
    """PR_SET_DUMPABLE: 0 keeps other processes of the same user out of this
    one's /proc/PID/{mem,fd,environ} and ptrace."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, value, 0, 0, 0)
    except Exception:
        pass


def set_subreaper() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def take_fds(mapping: dict[int, int]) -> None:
    """Put each received fd on its target number, stdin on /dev/null, and close the rest."""
    high = {target: fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for target, fd in mapping.items()}
    for fd in set(mapping.values()):
        os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    for target, fd in high.items():
        os.dup2(fd, target)
    for fd in range(3, max(mapping, default=2) + 1):  # a low number that is not one of ours
        if fd not in mapping:
            try:
                os.close(fd)
            except OSError:
                pass
    os.closerange(max(mapping, default=2) + 1, 65536)


def detach(*, dumpable: int, oom_score: int = 1000) -> None:
    """What a job process becomes as soon as it exists (it may wait for its job after this):
    its own session, default signals, lower priority, first in line for the OOM killer."""
    os.setsid()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a closed pipe is an OSError, not a silent death
    set_dumpable(dumpable)
    try:  # lower priority than the server, so its deadline fires on time under a fork bomb
        os.nice(10)
    except OSError:
        pass
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:  # die first on OOM, not the server
            fh.write(str(oom_score))
    except OSError:
        pass
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def settle(params: dict, limits: dict, *, cwd: str, path_first: str | None) -> None:
    """Once the job is known: limits, work dir, environment, import path and streams."""
    if params.get("local"):
        local_rlimits(limits)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": cwd, "LANG": "C.UTF-8",
                       "TMPDIR": "/tmp" if params.get("pid1") else cwd, "PYTHONDONTWRITEBYTECODE": "1"})
    sys.dont_write_bytecode = True
    rest = [p for p in sys.path if p and os.path.abspath(p) != RUNNER_DIR]
    sys.path[:] = ([path_first] if path_first else []) + rest
    sys.argv[:] = ["solution.py"]
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(OUT_FD, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    sys.stderr = open(ERR_FD, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    sys.__stdout__, sys.__stderr__, sys.__stdin__ = sys.stdout, sys.stderr, sys.stdin


def local_rlimits(limits: dict) -> None:
    """Best-effort process limits for the unsafe local backend."""
    mem = int(limits.get("memory_mb", 512)) * 1024 * 1024
    for res, val in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_FSIZE, int(limits.get("tmpfs_mb", 64)) * 1024 * 1024),
                     (resource.RLIMIT_CPU, int(float(limits.get("timeout_s", 10)) + 2))):
        try:
            resource.setrlimit(res, (val, val))
        except (ValueError, OSError):
            pass


def flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def report_crash(role: str) -> None:
    """The role's own code broke (not the program's): say so on the job's stderr."""
    import traceback

    try:
        os.write(ERR_FD, ("coderefl %s failure:\n%s" % (role, traceback.format_exc())).encode()[-4000:])
    except BaseException:
        pass
