"""The server side of a job: start its processes, watch the clock, collect the
report, clean up, and decide the verdict.

Judge mode starts two processes from the zygote: the judge (tests, report
channel) and the candidate (the program), joined by a pipe pair. In-process
mode starts one (the harness, which runs both). The server alone decides the
verdict, from the report of the process that holds the tests: the tests it
expected (the plan record, sent before any program ran), one record per test
in order, then ``done``; a report that is incomplete, malformed or out of order
is ``error``, never ``passed``; exit codes and output never count.
"""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import socket
import stat
import time

from coderefl_runner import proc
from coderefl_runner.plan import MAX_TESTS_BYTES, wants_plain_values
from coderefl_runner.wire import parse_report
from coderefl_runner.zygote import Zygote, ZygoteBroken

WORK_ROOT = os.environ.get("CODEREFL_WORK_ROOT", "/work")
MAX_REPORT_BYTES = 16 * 1024 * 1024
#: how long cleaning up after a job may take before the container is recycled instead
WIPE_SECONDS = 2.0
DIED = "the program's process died during the call"


class Capture:
    """A capped byte buffer: keeps the first ``cap`` bytes, counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap, self.data, self.dropped = cap, bytearray(), 0

    def add(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", "replace")


class Server:
    """One server per container (or per local run): its zygote, and the processes
    of the next job, started while the server waits for it."""

    def __init__(self, local: bool) -> None:
        self.local = local
        self.zygote = Zygote()
        self.jobs = 0
        self.params = {"local": local, "pid1": proc.PID1}
        self.spare: Processes | None = None
        self.last_isolation = "judge"

    # -- one job -------------------------------------------------------------
    def run_job(self, job: dict) -> dict:
        t0 = time.monotonic()
        limits = job.get("limits") or {}
        tests = job.get("tests")
        if tests is not None and not isinstance(tests, str):
            return _result("error", [_outcome("tests file", "error", "tests must be text")], t0)
        if tests is not None and len(tests) > MAX_TESTS_BYTES:
            return _result("error", [_outcome("tests file", "error", "the tests file is %d characters; the limit is %d"
                                              % (len(tests), MAX_TESTS_BYTES))], t0)
        isolation = self.last_isolation = choose_isolation(job)
        self.jobs += 1
        nonce = os.urandom(8).hex()
        root = WORK_ROOT if proc.PID1 else job.get("work_root", WORK_ROOT)
        jobdir = os.path.join(root, f"job-{os.getpid()}-{self.jobs}-{nonce[:6]}")
        problem = _write_workdir(jobdir, job)
        if problem is not None:
            _wipe_tree(jobdir, time.monotonic() + WIPE_SECONDS)
            return _result("error", [_outcome("files", "error", problem)], t0)
        payload = json.dumps({"tests": tests, "nonce": nonce, "jobdir": jobdir, "judge_dir": root,
                              "limits": limits}).encode()
        try:
            procs = self._take_spare(isolation) or Processes(self.zygote, isolation, self.params)
        except ZygoteBroken as err:
            self._replace_zygote()
            res = _result("error", [_outcome("runner", "error", f"runner failure: {err}")], t0)
            res["recycle"] = True
            return res
        run = JobRun(procs, payload)
        run.wait(float(limits.get("timeout_s", 10.0)), int(limits.get("output_bytes", 64 * 1024)))
        clean = self._clean_up(run, jobdir)
        verdict, outcomes = decide_from_report(run.report, nonce, run.timed_out, run.exit_code(), run.overflow)
        if run.candidate_died():  # say how: the judge only saw the pipe close
            how = _how_it_ended(os.waitstatus_to_exitcode(run.candidate_code)).replace(" before the tests finished", "")
            for o in outcomes:
                if DIED in o["message"]:
                    o["message"] += " (%s)" % how
        res = _result(verdict, outcomes, t0, run.out, run.err, run.exit_code())
        res["duration_s"] = round(run.ran_for, 4)
        res["clean"] = clean
        res["isolation"] = isolation
        code = run.exit_code()
        res["recycle"] = (not clean) or run.timed_out or (code is not None and code < 0)
        return res

    def prepare_next(self) -> None:
        """Start the next job's processes now (same mode as the last job), so a
        job does not wait for them. They hold nothing until their job arrives."""
        if self.spare is None:
            try:
                self.spare = Processes(self.zygote, self.last_isolation, self.params)
            except ZygoteBroken:
                self._replace_zygote()

    def _take_spare(self, isolation: str) -> "Processes | None":
        spare, self.spare = self.spare, None
        if spare is not None and spare.isolation == isolation and spare.alive():
            return spare
        if spare is not None:
            spare.discard()
        return None

    def _clean_up(self, run: "JobRun", jobdir: str) -> bool:
        deadline = time.monotonic() + WIPE_SECONDS
        clean = run.kill_leftovers(self.zygote.pid, deadline)
        if not clean or not self.zygote.intact():
            clean = kill_everything(self.zygote.pid, deadline) and clean
            self._replace_zygote()
        if proc.PID1:
            clean = _wipe(WORK_ROOT, deadline) and clean
            clean = _wipe("/tmp", deadline) and clean
            clean = _wipe("/dev/shm", deadline) and clean
            clean = clean and _ipc_clean()
        else:
            _wipe_tree(jobdir, deadline)
        return clean

    def _replace_zygote(self) -> None:
        if self.spare is not None:
            self.spare.discard()
            self.spare = None
        self.zygote.close()
        self.zygote = Zygote(fresh=True)


class Processes:
    """A job's processes, started from the zygote, and the server's ends of their pipes."""

    def __init__(self, zygote: Zygote, isolation: str, params: dict) -> None:
        self.isolation = isolation
        self.candidate: int | None = None
        report_r, report_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        job_r, job_w = os.pipe()
        theirs = [out_w, err_w, report_w, job_r]
        try:
            if isolation == "judge":
                to_cand_r, to_cand_w = os.pipe()
                from_cand_r, from_cand_w = os.pipe()
                ctl_judge, ctl_cand = (s.detach() for s in socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM))
                theirs += [to_cand_r, to_cand_w, from_cand_r, from_cand_w, ctl_judge, ctl_cand]
                self.candidate, self.main = zygote.spawn(
                    ("candidate", params, [out_w, err_w, to_cand_r, from_cand_w, ctl_cand]),
                    ("judge", params, [out_w, err_w, report_w, job_r, to_cand_w, from_cand_r, ctl_judge]))
                self.pids = [self.candidate, self.main]
            else:
                (self.main,) = zygote.spawn(("harness", params, [out_w, err_w, report_w, job_r]))
                self.pids = [self.main]
        except ZygoteBroken:
            for fd in theirs + [report_r, out_r, err_r, job_w]:
                os.close(fd)
            raise
        for fd in theirs:
            os.close(fd)
        self.fds = (report_r, out_r, err_r)
        self.job_w = job_w

    def alive(self) -> bool:
        """Every process is there and waiting (not stopped, not a zombie)."""
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat", "rb") as fh:
                    if fh.read().rsplit(b")", 1)[1].split()[0] not in (b"R", b"S"):
                        return False
            except (OSError, IndexError):
                return False
        return True

    def discard(self) -> None:
        for pid in self.pids:
            _kill(pid)
        for fd in (*self.fds, self.job_w):
            os.close(fd)


class JobRun:
    """One job on its processes: the clock, their report and both outputs."""

    def __init__(self, procs: Processes, payload: bytes) -> None:
        self.pids, self.main, self.candidate = procs.pids, procs.main, procs.candidate
        self.candidate_code = None
        self.fds = procs.fds
        self.job_w, self.payload = procs.job_w, memoryview(len(payload).to_bytes(4, "big") + payload)
        os.set_blocking(self.job_w, False)
        self.main_status = None
        self.timed_out = False
        self.ran_for = 0.0

    def wait(self, timeout: float, out_cap: int) -> None:
        """Until the main process exits or the time limit; collects its report and both outputs."""
        report_r, out_r, err_r = self.fds
        self.out, self.err, self.report_cap = Capture(out_cap), Capture(out_cap), Capture(MAX_REPORT_BYTES)
        readers = {out_r: self.out, err_r: self.err, report_r: self.report_cap}
        try:
            pidfd = os.pidfd_open(self.main)
        except (AttributeError, OSError):
            pidfd = None  # older kernels: poll waitpid every 20 ms instead
        start = time.monotonic()
        deadline = start + timeout
        while True:
            now = time.monotonic()
            if now >= deadline:
                self.timed_out = True
                break
            wait = deadline - now if pidfd is not None else min(deadline - now, 0.02)
            writers = [self.job_w] if self.job_w is not None else []
            ready, writable, _ = select.select(list(readers) + ([pidfd] if pidfd is not None else []), writers, [], wait)
            if writable:
                self._feed()
            for fd in ready:
                if fd == pidfd:
                    continue
                chunk = os.read(fd, 65536)
                if chunk:
                    readers[fd].add(chunk)
                else:
                    del readers[fd]
            if pidfd is not None and pidfd in ready:
                _, self.main_status = os.waitpid(self.main, 0)
                break
            if pidfd is None:
                done, code = os.waitpid(self.main, os.WNOHANG)
                if done == self.main:
                    self.main_status = code
                    break
        self.ran_for = time.monotonic() - start
        if pidfd is not None:
            os.close(pidfd)
        self._close_job_pipe()
        if self.main_status is None:  # timed out: stop it first, so its status is ours to read
            self.main_status = _kill(self.main)
        if self.candidate is not None:
            self.candidate_code = _kill(self.candidate)
        self._leftover_readers = readers

    def _feed(self) -> None:
        try:
            n = os.write(self.job_w, self.payload[:65536])
            self.payload = self.payload[n:]
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.payload = self.payload[:0]
        if not self.payload:
            self._close_job_pipe()

    def _close_job_pipe(self) -> None:
        if self.job_w is not None:
            os.close(self.job_w)
            self.job_w = None

    def kill_leftovers(self, zygote_pid: int, deadline: float) -> bool:
        """Kill every process of the job's sessions (each job process leads one; a
        worker has a group of its own in its candidate's session); True when no
        process but the server and the zygote is left."""
        sessions = set(self.pids)
        while time.monotonic() < deadline:
            members = _in_sessions(sessions)
            if not members:
                break
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            _reap()
        _reap()
        # every writer is dead now: drain what is left without blocking
        for fd, cap in list(self._leftover_readers.items()):
            os.set_blocking(fd, False)
            try:
                while True:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break
                    cap.add(chunk)
            except (BlockingIOError, OSError):
                pass
        for fd in self.fds:
            os.close(fd)
        return not _others(zygote_pid)

    @property
    def report(self) -> bytes:
        return bytes(self.report_cap.data)

    @property
    def overflow(self) -> bool:
        return self.report_cap.dropped > 0

    def exit_code(self) -> int | None:
        return None if self.main_status is None else os.waitstatus_to_exitcode(self.main_status)

    def candidate_died(self) -> bool:
        return self.candidate_code is not None and os.waitstatus_to_exitcode(self.candidate_code) < 0


def choose_isolation(job: dict) -> str:
    """``judge`` or ``in-process``: as asked, or (``auto``) judge mode for
    tests that carry the plain-values line."""
    asked = job.get("isolation") or "auto"
    tests = job.get("tests")
    if tests is None:
        return "in-process"  # nothing to judge: just run the program
    if asked in ("judge", "in-process"):
        return asked
    return "judge" if wants_plain_values(tests) else "in-process"


def _write_workdir(jobdir: str, job: dict) -> str | None:
    try:
        os.makedirs(jobdir, mode=0o700)
        _write_file(os.path.join(jobdir, "solution.py"), job.get("program", ""))
        # The tests are never written to the work dir: the program must not read them off the disk.
        for name, content in (job.get("files") or {}).items():
            rel = _safe_relpath(name)
            if rel is None:
                return f"bad extra file name {name!r}"
            _write_file(os.path.join(jobdir, rel), content)
    except OSError as err:
        return f"cannot write the work dir: {err}"
    return None


def _write_file(path: str, content) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(content, dict):  # bytes from the host travel base64-encoded
        data = base64.b64decode(content.get("b64", ""))
    else:
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    with open(path, "wb") as fh:
        fh.write(data)


def _safe_relpath(name: str) -> str | None:
    norm = os.path.normpath(name)
    if os.path.isabs(norm) or norm.startswith("..") or norm in (".", "solution.py", "tests.py"):
        return None
    return norm


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


def _kill(pid: int):
    """SIGKILL ``pid`` and return its wait status (None when it was already reaped)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _others(zygote_pid: int) -> list[int]:
    """Processes of the job left running: in the container every process but
    us and the zygote; locally our children (we are their subreaper) but the zygote."""
    me = os.getpid()
    if proc.PID1:
        return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (me, zygote_pid)]
    return [p for p in _children_of(me) if p != zygote_pid]


def _in_sessions(sessions: set[int]) -> list[int]:
    """Live (not zombie) processes whose session is one of ``sessions``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != b"Z" and int(fields[3]) in sessions:
            found.append(int(entry))
    return found


def _children_of(parent: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                data = fh.read()
            ppid = int(data[data.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent:
            kids.append(int(entry))
    return kids


def kill_everything(zygote_pid: int, deadline: float) -> bool:
    """Kill every process the job left; True when none remains.

    As PID 1 of the container, ``kill(-1, SIGKILL)`` reaches every process of
    the sandbox except ourselves (the zygote too: it is replaced afterwards),
    including ``setsid`` daemons; repeating it catches anything forked mid-kill.
    Locally that call would hit the user's whole session, so we kill each
    process re-parented to us (a child subreaper) and its group.
    """
    while True:
        if proc.PID1:
            try:
                os.kill(-1, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            _reap()
            left = _others(-1)
        else:
            for pid in _others(zygote_pid):
                for kill in (os.killpg, os.kill):
                    try:
                        kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            _reap()
            left = _others(zygote_pid)
        if not left:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)


# ---------------------------------------------------------------------------
# Files and IPC
# ---------------------------------------------------------------------------


def _wipe(path: str, deadline: float) -> bool:
    """Empty ``path`` (a tmpfs the job could write), fixing permissions the
    job took away; False when something stays or the deadline passes."""
    try:
        entries = os.listdir(path)
    except OSError:
        return True
    ok = True
    for entry in entries:
        ok = _wipe_tree(os.path.join(path, entry), deadline) and ok
    return ok


def _wipe_tree(top: str, deadline: float) -> bool:
    try:
        st = os.lstat(top)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        try:
            os.unlink(top)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            return False
    stack = [top]
    while stack:
        if time.monotonic() > deadline:
            return False
        d = stack[-1]
        try:
            os.chmod(d, 0o700)  # a directory chmod'ed to 000 by the job is still ours to open
            entries = list(os.scandir(d))
        except FileNotFoundError:
            stack.pop()
            continue
        except OSError:
            return False
        subdirs = []
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    subdirs.append(e.path)
                else:
                    os.unlink(e.path)
            except FileNotFoundError:
                pass
            except OSError:
                return False
        if subdirs:
            stack.extend(subdirs)
            continue
        try:
            os.rmdir(d)
        except FileNotFoundError:
            pass
        except OSError:
            return False
        stack.pop()
    return True


def _ipc_clean() -> bool:
    """SysV IPC objects and POSIX queues outlive processes: any left means the
    container must be recycled."""
    for name in ("shm", "sem", "msg"):
        try:
            with open(f"/proc/sysvipc/{name}") as fh:
                if len(fh.read().strip().splitlines()) > 1:
                    return False
        except OSError:
            pass
    try:
        if os.listdir("/dev/mqueue"):
            return False
    except OSError:
        pass
    return True


# ---------------------------------------------------------------------------
# The verdict
# ---------------------------------------------------------------------------


def _outcome(name: str, status: str, message: str = "") -> dict:
    return {"name": name, "status": status, "message": message}


def _result(status: str, tests: list[dict], t0: float, out: Capture | None = None, err: Capture | None = None,
            exit_code: int | None = None) -> dict:
    return {
        "status": status,
        "tests": tests,
        "stdout": out.text() if out else "",
        "stderr": err.text() if err else "",
        "truncated": bool((out and out.dropped) or (err and err.dropped)),
        "duration_s": round(time.monotonic() - t0, 4),
        "exit_code": exit_code,
    }


def _how_it_ended(exit_code: int | None) -> str:
    if exit_code is None:
        return "the program ended without a report"
    if exit_code < 0:
        sig = -exit_code
        try:
            sname = signal.Signals(sig).name
        except ValueError:
            sname = f"signal {sig}"
        hint = " (memory limit?)" if sig == signal.SIGKILL else ""
        return f"the process was killed by {sname}{hint} before the tests finished"
    return f"the process exited with code {exit_code} before the tests finished (sys.exit/os._exit in the program?)"


def decide_from_report(data: bytes, nonce: str, timed_out: bool, exit_code: int | None,
                       overflow: bool) -> tuple[str, list[dict]]:
    """The verdict from a whole report: its first record is the plan (the test
    names, parsed before any program ran), the rest goes to :func:`decide`."""
    nl = data.find(b"\n")
    try:
        size = int(data[:nl].split(b" ")[5]) if nl >= 0 else -1
    except (IndexError, ValueError):
        size = -1
    head = parse_report(data[: nl + 1 + size], nonce) if size >= 0 else None
    if head and head[0][0] == "plan":
        rest = data[nl + 1 + size :]
        _, _, status, message = head[0]
        if status != "passed":
            return "error", [_outcome("tests file", "error", message)]
        try:
            names = json.loads(message)
        except ValueError:
            names = None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return "error", [_outcome("report", "error", "the test report was malformed or forged")]
        return decide(names, rest, nonce, timed_out, exit_code, not names, overflow)
    if not data:
        if timed_out:
            return "timeout", [_outcome("tests file", "timeout", "timed out before the tests were read")]
        return "error", [_outcome("runner", "error", _how_it_ended(exit_code).replace("program", "runner"))]
    return "error", [_outcome("report", "error", "the test report was malformed or forged")]


def decide(names: list[str], data: bytes, nonce: str, timed_out: bool, exit_code: int | None,
           import_only: bool, overflow: bool) -> tuple[str, list[dict]]:
    """The verdict, from the expected tests and the report only.

    ``passed`` needs: a clean import, one record per expected test in order,
    every one passed, and the final ``done`` record, with nothing after it.
    """
    records = parse_report(data, nonce)
    if records is None or overflow:
        return "error", [_outcome("report", "error", "the test report was malformed or forged")] + [
            _outcome(n, "skipped") for n in names]
    outcomes: list[dict] = []
    done = bool(records) and records[-1][0] == "done"
    body = records[:-1] if done else records
    if any(r[0] in ("done", "plan") for r in body):
        return "error", [_outcome("report", "error", "the test report was malformed or forged")]
    if not body or body[0][0] != "import":
        if timed_out:
            return "timeout", [_outcome("import solution", "timeout", "timed out while importing the solution")] + [
                _outcome(n, "skipped") for n in names]
        return "error", [_outcome("import solution", "error", _how_it_ended(exit_code))] + [
            _outcome(n, "skipped") for n in names]
    imp = body[0]
    if imp[2] != "passed":
        return "error", [_outcome("import solution", "error", imp[3])] + [_outcome(n, "skipped") for n in names]
    expected = 0
    setup_failed = None
    for kind, index, status, message in body[1:]:
        if kind == "setup" and status == "error" and setup_failed is None:
            setup_failed = message
            continue
        if kind != "test" or index != expected or expected >= len(names) or setup_failed:
            return "error", [_outcome("report", "error", "the test report was out of order or forged")] + [
                _outcome(n, "skipped") for n in names]
        outcomes.append(_outcome(names[index], status, message))
        expected += 1
    missing = names[expected:]
    if setup_failed is not None:
        outcomes.append(_outcome("tests file setup", "error", setup_failed))
        outcomes += [_outcome(n, "skipped", "not run: tests file setup failed") for n in missing]
        return "error", outcomes
    if missing:
        if timed_out:
            outcomes.append(_outcome(missing[0], "timeout", "still running at the time limit"))
            outcomes += [_outcome(n, "skipped", "not run: time limit") for n in missing[1:]]
            return "timeout", outcomes
        outcomes.append(_outcome(missing[0], "error", _how_it_ended(exit_code)))
        outcomes += [_outcome(n, "skipped", "not run") for n in missing[1:]]
        return "error", outcomes
    if not done:
        if timed_out:
            return "timeout", outcomes
        return "error", outcomes + [_outcome("harness", "error", _how_it_ended(exit_code))]
    if timed_out:
        return "timeout", outcomes
    if all(o["status"] == "passed" for o in outcomes):
        return "passed", outcomes
    return "failed", outcomes
