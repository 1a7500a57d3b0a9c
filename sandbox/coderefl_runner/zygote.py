"""The zygote: where every job process is forked from.

The server forks it once, before it reads any job (or, after a job left
processes behind, starts it as a fresh interpreter), so it never holds a
job's tests, program or answer. Per spawn request (a role, small parameters
and the fds the new process owns, passed over a Unix socket) it forks twice so
the new process is re-parented to the server, which can then wait for it and
read its exit status like any child. The job's data reaches the new process
directly from the server, never through here.

Its own state is watched from outside (:meth:`Zygote.intact`): a job that
stops it, renices it or lowers its limits gets it replaced, not reused.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

from coderefl_runner import proc

_CATCHABLE = [s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD)]


class ZygoteBroken(Exception):
    """The zygote did not answer a spawn request."""


def _roles():
    from coderefl_runner import candidate, inprocess, judge

    return {"judge": judge.main, "candidate": candidate.main, "harness": inprocess.main}


def loop(sock: socket.socket) -> None:
    """The zygote's life: answer spawn requests until the server goes away."""
    proc.set_dumpable(0)
    for sig in _CATCHABLE:
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (OSError, ValueError):
            pass
    keep = sock.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, 65536)
    roles = _roles()
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 1 << 16, 16)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        try:
            request = json.loads(msg)
            procs = [(roles[p["role"]], p.get("params") or {}, int(p["nfds"])) for p in request["procs"]]
            if sum(n for _, _, n in procs) != len(fds):
                raise ValueError("fd count")
        except (ValueError, KeyError, TypeError):
            for fd in fds:
                os.close(fd)
            sock.sendall(b'{"pids": []}')
            continue
        sock.sendall(json.dumps({"pids": _spawn(sock, procs, fds)}).encode())


def _spawn(sock: socket.socket, procs: list, fds: list[int]) -> list[int]:
    """Fork a middle process that forks one process per role and exits at once,
    so each new process is re-parented to the server."""
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            os.close(r)
            pids, at = [], 0
            for role, params, nfds in procs:
                mine = fds[at : at + nfds]
                at += nfds
                pid = os.fork()
                if pid == 0:
                    os.close(w)
                    sock.close()
                    for fd in fds:  # the other process's ends are not ours
                        if fd not in mine:
                            os.close(fd)
                    for sig in _CATCHABLE:
                        try:
                            signal.signal(sig, signal.SIG_DFL)
                        except (OSError, ValueError):
                            pass
                    role(params, mine)
                    os._exit(0)
                pids.append(pid)
            os.write(w, " ".join(map(str, pids)).encode())
        finally:
            os._exit(0)
    os.close(w)
    for fd in fds:
        os.close(fd)
    data = os.read(r, 256)
    os.close(r)
    os.waitpid(middle, 0)  # once it is reaped, the new processes belong to the server
    try:
        return [int(p) for p in data.split()]
    except ValueError:
        return []


class Zygote:
    """The server's handle on its zygote."""

    def __init__(self, fresh: bool = False) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if fresh:  # a new interpreter: nothing of the server's memory comes along
            child.set_inheritable(True)
            pid = os.fork()
            if pid == 0:
                try:
                    os.execv(sys.executable, [sys.executable, "-I", os.path.join(proc.RUNNER_DIR, "runner.py"),
                                              "zygote", str(child.fileno())])
                finally:
                    os._exit(127)
        else:
            pid = os.fork()
            if pid == 0:
                try:
                    parent.close()
                    loop(child)
                finally:
                    os._exit(0)
        child.close()
        self.sock, self.pid = parent, pid
        self.sock.settimeout(10.0)
        self._baseline = None

    def spawn(self, *procs: tuple[str, dict, list[int]]) -> list[int]:
        """Start one process per ``(role, params, fds)``, in one request; their pids."""
        request = {"procs": [{"role": role, "params": params, "nfds": len(fds)} for role, params, fds in procs]}
        fds = [fd for _, _, own in procs for fd in own]
        try:
            socket.send_fds(self.sock, [json.dumps(request).encode()], fds)
            pids = [int(p) for p in json.loads(self.sock.recv(4096)).get("pids", [])]
        except (OSError, ValueError, AttributeError, TypeError) as err:
            raise ZygoteBroken(f"the zygote did not answer: {err}") from None
        if len(pids) != len(procs) or min(pids) <= 0:
            raise ZygoteBroken("the zygote could not start the job's processes")
        if self._baseline is None:
            self._baseline = self._state()
        return pids

    def _state(self):
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{self.pid}/limits", "rb") as fh:
                limits = fh.read()
            with open(f"/proc/{self.pid}/status", "rb") as fh:
                cpus = [line for line in fh.read().splitlines() if line.startswith(b"Cpus_allowed:")]
        except (OSError, IndexError):
            return None
        return fields[0], fields[16], limits, cpus  # state, nice, limits, CPU affinity

    def intact(self) -> bool:
        """Alive, running or sleeping (not stopped), with the priority, limits and CPUs it started with."""
        now = self._state()
        if now is None or now[0] not in (b"R", b"S"):
            return False
        return self._baseline is None or now[1:] == self._baseline[1:]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
