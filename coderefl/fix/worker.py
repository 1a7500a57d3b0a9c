"""A warm worker for the hook's fast path: pytest already imported.

A clean commit with tests to run spends most of its time starting pytest:
importing it costs about what black's whole hook costs. So, like
``dmypy`` or a Gradle daemon, the first run of ``python -m coderefl.fix``
in a repository leaves a worker behind, and the next runs hand their
work to it:

* the worker is this same interpreter, started with the same flags, the
  same working directory (so the same ``sys.path``) and the same
  ``PYTHON*`` and locale variables (:func:`identity`); its socket is named
  by a checksum of all of them, and it compares the whole identity before
  serving: a run whose interpreter would differ is never served;
* it imports the fast path's modules and pytest, then waits on a Unix
  socket in the fixer's cache folder (a directory only its owner can
  enter; the worker also checks the caller's uid);
* each request is served by a *forked* copy of the worker, which takes the
  caller's standard streams (passed over the socket), working directory,
  environment, umask and arguments, and runs what the caller would have
  run (:func:`coderefl.fix.__main__.run`: the fast path, and the full
  command when a test fails); its exit code goes back to the caller, and
  a Ctrl-C of the caller is passed on to it;
* the worker leaves when it has been idle for ``CODEREFL_FIX_WORKER``
  seconds (default 1800; ``0``: no worker), when its socket or the
  repository's folder is removed, and at the next request after a module
  it imported changed or a folder on its ``sys.path`` gained or lost an
  entry (a ``pip install``, an edit of an editable install): the caller
  then runs the check itself and starts a fresh worker.

No worker is started under CI (``CI`` set), nor without a cache folder
(``CODEREFL_NO_CACHE=1``). Anything that goes wrong on the way (no worker,
a stale one, a refused or broken connection) only means the caller runs
the check itself, as it did before there were workers.

Standard library only, at import: the caller's side must cost nothing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import sys
import zlib
from pathlib import Path

#: default idle time before the worker leaves, s
IDLE_S = 1800.0
#: the worker's own identity (set when it starts serving)
_IDENTITY = ""
#: how often an idle worker checks that its socket and repository are still there, s
CHECK_EVERY_S = 30.0
#: Unix socket paths are limited to 108 bytes on Linux
MAX_SOCKET_PATH = 100
#: environment variables read at interpreter start: a worker serves only callers that agree on them
STARTUP_ENV = ("LANG", "LC_ALL", "LC_CTYPE")


def idle_seconds(env=None) -> float:
    """How long a worker waits for work; 0 when there must be none (CI, or
    ``CODEREFL_FIX_WORKER=0``). A value that is not a number of seconds is
    bad input (:class:`~coderefl.errors.BadInput`), never silently "off"."""
    from coderefl.errors import BadInput

    env = os.environ if env is None else env
    raw = env.get("CODEREFL_FIX_WORKER", "").strip()
    try:
        value = float(raw) if raw else IDLE_S
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise BadInput(f"environment variable CODEREFL_FIX_WORKER={raw!r}: not a number of seconds (0: no worker)")
    if env.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return 0.0
    return value


def identity() -> str:
    """Everything that makes two interpreters run the same Python:
    executable, version, flags, ``sys.path``, start-up variables, user."""
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("PYTHON") or k in STARTUP_ENV)
    path = [os.path.abspath(p or os.curdir) for p in sys.path]  # `python -c`'s "" is the folder it runs in
    parts = [sys.executable, sys.version, repr(tuple(sys.flags)), repr(sys.warnoptions),
             repr(sorted(sys._xoptions.items())), repr(path), repr(env), str(os.getuid()), __file__]
    return "\0".join(parts)


def _name(text: str) -> str:
    """A short file name for ``text``: a name, not a proof (the worker
    compares the whole identity before it serves), and cheaper to compute
    than a hashlib digest (whose import alone costs the hook 4 ms)."""
    data = text.encode()
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def socket_path(cache: Path) -> Path:
    """Where this interpreter's worker listens: in the cache folder, or,
    when that path is too long for a Unix socket, in a folder of this
    user's under the temporary folder, named by both."""
    key = identity()
    path = cache / "fix-worker" / f"{_name(key)}.sock"
    if len(os.fsencode(str(path))) <= MAX_SOCKET_PATH:
        return path
    short = _name(f"{cache}\0{key}")
    return Path(os.environ.get("TMPDIR") or "/tmp", f"coderefl-fix-{os.getuid()}", f"{short}.sock")


def place(argv: list[str]) -> tuple[Path, float] | None:
    """This interpreter's worker socket and idle time, or None when this
    run must have no worker (``CODEREFL_FIX_WORKER=0``, CI, no cache)."""
    idle = idle_seconds()
    if not idle or "--no-cache" in argv:
        return None
    from coderefl.fix.paths import cache_dir

    cache = cache_dir()
    return None if cache is None else (socket_path(cache), idle)


def _private_dir(path: Path) -> bool:
    """The folder exists, is ours and only we can enter it (made so when new)."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


# ---------------------------------------------------------------- the caller's side

def request(path: Path, argv: list[str]) -> int | None:
    """Hand this run to the worker at ``path``: its exit code, or None when
    no worker served it (nothing has run: the caller runs it itself)."""
    if not _private_dir(path.parent):
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(2.0)
        conn.connect(str(path))
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        msg = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": _umask(), "identity": identity()}
        socket.send_fds(conn, [json.dumps(msg).encode() + b"\n"], [0, 1, 2])
        conn.settimeout(None)
        reader = conn.makefile("rb")
        first = _reply(reader)
        if first is None or "pid" not in first:
            return None  # stale, or it broke before running anything
        try:
            done = _reply(reader)
        except KeyboardInterrupt:
            _interrupt(first["pid"])
            done = _reply(reader)
        if done is None or "code" not in done:
            # the served run died under way: what it printed is on our streams already
            print("coderefl fix: the warm worker stopped before answering; checking here", file=sys.stderr)
            return None
        return int(done["code"])
    except (OSError, ValueError):
        return None
    finally:
        conn.close()


def _reply(reader) -> dict | None:
    line = reader.readline()
    if not line:
        return None
    doc = json.loads(line)
    return doc if isinstance(doc, dict) else None


def _interrupt(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGINT)
    except (ProcessLookupError, PermissionError):
        pass


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def start(path: Path, idle_s: float) -> None:
    """Start a worker for this interpreter, detached, for the next run.
    Best effort: a failure to start only means the next run checks itself."""
    import importlib.util

    if importlib.util.find_spec("pytest") is None or not _private_dir(path.parent):
        return  # without pytest the tests run in the sandbox: nothing to keep warm
    import subprocess

    cmd = [sys.executable, *subprocess._args_from_interpreter_flags(), "-m", "coderefl.fix.worker",
           str(path), str(idle_s)]
    try:
        subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    except OSError:
        pass


# ---------------------------------------------------------------- the worker's side

def _watched() -> dict[str, object]:
    """What a fresh interpreter's imports depend on: the (mtime, size) of
    every loaded module's file, and the names in every folder on
    ``sys.path`` (not counting hidden entries and ``__pycache__``, which
    tools create as they run)."""
    out: dict[str, object] = {}
    for m in list(sys.modules.values()):
        name = getattr(m, "__file__", None)
        if name:
            out[name] = _mark(name)
    for folder in sys.path:
        out[f"dir:{folder}"] = _names(folder or os.curdir)
    return out


def _mark(name: str) -> tuple[int, int] | None:
    try:
        st = os.stat(name)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _names(folder: str) -> frozenset[str] | None:
    try:
        return frozenset(n for n in os.listdir(folder) if not n.startswith(".") and n != "__pycache__")
    except OSError:
        return None


def _stale(seen: dict[str, object]) -> bool:
    return any((_names(key[4:] or os.curdir) if key.startswith("dir:") else _mark(key)) != mark
               for key, mark in seen.items())


def serve(path: Path, idle_s: float) -> None:
    """Listen at ``path`` until idle for ``idle_s`` seconds, or stale."""
    import fcntl
    import gc

    from coderefl.fix.paths import cache_dir

    cache = cache_dir()
    if cache is None or path != socket_path(cache) or not _private_dir(path.parent):
        return  # started under another interpreter than the one that asked: serve nobody
    import time

    lock = open(path.with_suffix(".lock"), "w")  # noqa: SIM115 - held for the worker's life
    for _ in range(20):  # a stale worker may still be leaving
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            time.sleep(0.1)
    else:
        lock.close()
        return  # another worker holds it
    import importlib

    import _pytest.config
    import pytest  # noqa: F401 - what the fast path runs, imported once here

    import coderefl.fix.check  # noqa: F401
    import coderefl.fix.hook  # noqa: F401

    for name in _pytest.config.default_plugins:  # imported by every run; registered only by the runs that ask
        try:
            importlib.import_module(f"_pytest.{name}")
        except ImportError:
            pass

    global _IDENTITY
    _IDENTITY = identity()
    seen = _watched()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fresh = path.with_suffix(".new")
    fresh.unlink(missing_ok=True)
    listener.bind(str(fresh))
    os.chmod(fresh, 0o600)
    listener.listen(16)
    os.replace(fresh, path)  # the name appears only once it listens: a caller never finds it refusing
    mine = path.stat().st_ino
    listener.settimeout(min(idle_s, CHECK_EVERY_S))
    signal.signal(signal.SIGCHLD, lambda *_: _reap())
    gc.freeze()
    last = time.monotonic()
    home = os.getcwd()
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                if time.monotonic() - last >= idle_s or not _still_at(path, mine) or not os.path.isdir(home):
                    return  # idle, its socket or the repository it serves was removed
                continue
            except InterruptedError:
                continue
            last = time.monotonic()
            with conn:
                if not _same_user(conn):
                    continue
                if _stale(seen):
                    return  # the caller sees no answer and checks itself (and starts a fresh worker)
                if os.fork() == 0:  # pragma: no cover - the served run (measured through its caller)
                    listener.close()
                    lock.close()  # the lock stays the worker's: a served run still exiting must not hold it
                    _serve_one(conn)
    finally:
        listener.close()
        if _still_at(path, mine):
            path.unlink(missing_ok=True)
        lock.close()


def _still_at(path: Path, inode: int) -> bool:
    try:
        return path.stat().st_ino == inode
    except OSError:
        return False


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _same_user(conn: socket.socket) -> bool:
    import struct

    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return False
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def _exit_code(value) -> int:
    """What an interpreter exits with for ``sys.exit(value)``."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)
    return 1


def _exit_functions() -> None:
    """Run the ``atexit`` functions now: the fork ends with ``os._exit``
    (a normal exit would run the worker's own clean-up and remove its
    socket), so this is where they get their turn."""
    import atexit

    try:
        atexit._run_exitfuncs()
    except Exception:  # noqa: BLE001 - atexit itself reports and goes on
        pass


def _serve_one(conn: socket.socket) -> None:  # pragma: no cover - runs in the forked copy
    """Become the caller: its streams, folder, environment, umask and
    arguments; run the fast path; answer with the exit code."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setpgid(0, 0)
        conn.settimeout(10.0)
        data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
        while not data.endswith(b"\n"):
            more = conn.recv(1 << 20)
            if not more:
                os._exit(1)
            data += more
        msg = json.loads(data)
        if msg.get("identity") != _IDENTITY:
            os._exit(0)  # another interpreter whose name collided: no answer, it checks itself
        for fd, target in zip(fds, (0, 1, 2)):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdout.reconfigure(line_buffering=os.isatty(1))
        os.chdir(msg["cwd"])
        os.environ.clear()
        os.environ.update(msg["env"])
        os.umask(int(msg["umask"]))
        sys.argv = [sys.argv[0], *msg["argv"]]
        conn.settimeout(None)
        conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        from coderefl.fix.__main__ import run

        try:
            run(list(msg["argv"]))  # exits
        except KeyboardInterrupt:
            code = 130
        except SystemExit as err:
            code = _exit_code(err.code)
        _exit_functions()  # what the run registered (the sandbox pool's last clean-up), as at a normal exit
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        conn.sendall(json.dumps({"code": code}).encode() + b"\n")
    except BaseException:  # noqa: BLE001 - the caller sees no code and checks itself
        pass
    finally:
        os._exit(0)


if __name__ == "__main__":  # python -m coderefl.fix.worker SOCKET IDLE_S
    serve(Path(sys.argv[1]), float(sys.argv[2]))
