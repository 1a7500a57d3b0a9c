"""The hardened Docker backend: a warm pool of pre-started containers.

Each container runs the trusted runner as PID 1 in server mode; one job at a
time travels over the container's attach stream, and each job gets a fresh
process and work dir inside it. A container is recycled (removed, replaced)
after a timeout, a kill, a limit hit, an unclean job or ``max_uses`` jobs.

Threading, not asyncio, holds the state: the docker SDK blocks anyway, and a
pool started in one event loop must work in another (``asyncio.run(start())``
then use in a fresh loop). Every ``run`` hops to the sub-pool's own thread
pool, whose size equals its container count, so 64 concurrent runs simply
queue there.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import queue
import socket
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from coderefl.errors import SandboxUnavailable
from coderefl.execution.base import Sandbox, register_backend
from coderefl.execution.channel import AttachChannel, ChannelClosed, ChannelTimeout
from coderefl.execution.hardening import LABEL_OWNER_HOST, LABEL_OWNER_PID, container_kwargs, container_key
from coderefl.execution.image import docker_client, ensure_image
from coderefl.execution.jobs import error_result, make_job, to_result
from coderefl.records import ExecutionResult, Limits

_LIVE_POOLS: "weakref.WeakSet[DockerPoolSandbox]" = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for pool in list(_LIVE_POOLS):
        pool.close_sync()


atexit.register(_close_all_at_exit)


def kill_now(timeout_s: float = 5.0) -> int:
    """Remove every sandbox container this process started, at once, from
    any thread (a second Ctrl-C): wake the runs waiting on them, then
    force-remove them by their owner label, in parallel, waiting at most
    ``timeout_s``. Returns how many were found."""
    pools = list(_LIVE_POOLS)
    clients = {id(p.client): p.client for p in pools if p.client is not None}
    for pool in pools:
        pool.closed = True
        for sub in list(pool._pools.values()):
            for c in list(sub.live):
                c.channel.shutdown()
    end = time.monotonic() + timeout_s
    found = 0
    while True:  # until none is left: a removal another thread started counts only once it is done
        doomed = [c for client in clients.values() for c in _own_containers(client)]
        found = max(found, len(doomed))
        if not doomed or time.monotonic() >= end:
            return found
        threads = [threading.Thread(target=_force_remove, args=(c,), daemon=True) for c in doomed]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
        time.sleep(0.1)


def _own_containers(client: Any) -> list[Any]:
    """This process's sandbox containers, by their owner labels."""
    mine = [f"{LABEL_OWNER_PID}={os.getpid()}", f"{LABEL_OWNER_HOST}={socket.gethostname()}"]
    try:
        return client.containers.list(all=True, filters={"label": mine}, ignore_removed=True)
    except Exception:
        return []  # the engine is gone: nothing left to remove through it


def _force_remove(container: Any, wait_s: float = 10.0) -> None:
    """Remove ``container``; when another thread's removal is under way
    (409), wait until it is done, so "removed" means gone."""
    try:
        container.remove(force=True)
        return
    except Exception as err:  # noqa: BLE001 - gone already, or being removed
        if getattr(getattr(err, "response", None), "status_code", None) != 409:
            return  # gone already; `coderefl sandbox prune` catches the rest
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        try:
            container.reload()
        except Exception:
            return  # gone
        time.sleep(0.05)


def _prune_orphans() -> None:
    """Best effort: remove containers left by crashed runs (owner pid gone)."""
    try:
        from coderefl.execution.maintenance import prune

        prune()
    except Exception:
        pass


class _Container:
    """One pooled container and its channel."""

    def __init__(self, client: Any, image: str, limits: Limits, ready_timeout: float) -> None:
        self.uses = 0
        self.container = client.containers.create(**container_kwargs(image, limits))
        self.id = self.container.id
        try:
            self.channel = AttachChannel(client, self.id)
            self.container.start()
            self.channel.send({"op": "ping", "id": "ping"})
            answer = self.channel.recv(time.monotonic() + ready_timeout)
            if not answer.get("ok"):
                raise SandboxUnavailable(f"sandbox runner did not start: {answer}")
        except Exception:
            self.remove()
            raise

    def request(self, job: dict[str, Any], deadline: float, stop: Callable[[], bool] | None = None) -> dict[str, Any]:
        self.uses += 1
        self.channel.send(job)
        return self.channel.recv(deadline, stop)

    def remove(self) -> None:
        ch = getattr(self, "channel", None)
        if ch is not None:
            ch.close()
        _force_remove(self.container)


class _SubPool:
    """Containers sharing one set of container-level limits."""

    def __init__(self, owner: "DockerPoolSandbox", limits: Limits, size: int) -> None:
        self.owner, self.limits, self.size = owner, limits, size
        self.idle: queue.Queue[_Container] = queue.Queue()
        self.live: set[_Container] = set()
        self.pending = 0
        self.lock = threading.Lock()
        self.executor = ThreadPoolExecutor(size, thread_name_prefix="coderefl-sandbox")
        self.inflight = 0  # runs submitted and not finished (guarded by owner._lock)
        self.last_used = time.monotonic()
        #: threads removing a retired container and starting its replacement (joined by close)
        self.retiring: set[threading.Thread] = set()

    # -- container lifecycle ----------------------------------------------
    def _new(self) -> _Container:
        c = _Container(self.owner.client, self.owner.image, self.limits, self.owner.ready_timeout)
        with self.lock:
            if self.owner.closed:
                c.remove()
                raise SandboxUnavailable("the sandbox is closed")
            self.live.add(c)
        return c

    def fill(self) -> None:
        """Start the missing containers in parallel; raise if none can start."""
        with self.lock:
            missing = self.size - len(self.live) - self.pending
            self.pending += max(missing, 0)
        if missing <= 0:
            return
        errors: list[BaseException] = []

        def one() -> None:
            try:
                self.idle.put(self._new())
            except BaseException as err:  # noqa: BLE001 - collected and re-raised below
                errors.append(err)
            finally:
                with self.lock:
                    self.pending -= 1

        threads = [threading.Thread(target=one, daemon=True) for _ in range(missing)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors and not self.live:
            err = errors[0]
            if isinstance(err, SandboxUnavailable):
                raise err
            raise SandboxUnavailable(f"cannot start sandbox containers: {type(err).__name__}: {err}") from None

    def _retire(self, c: _Container) -> None:
        """Remove ``c`` and start its replacement, off the caller's thread."""
        with self.lock:
            self.live.discard(c)
            replace = not self.owner.closed
            if replace:
                self.pending += 1

        def work() -> None:
            new = None
            try:
                c.remove()
                if replace and not self.owner.closed:
                    new = self._new()  # removes what it made if the pool closed meanwhile
            except BaseException:  # noqa: BLE001 - a later take() retries inline
                new = None
            finally:
                with self.lock:
                    if replace:
                        self.pending -= 1
                    self.retiring.discard(threading.current_thread())
            if new is not None:
                self.idle.put(new)

        t = threading.Thread(target=work, daemon=True)
        with self.lock:
            self.retiring.add(t)
        t.start()

    def _take(self) -> _Container:
        while True:
            if self.owner.closed:
                raise SandboxUnavailable("the sandbox is closed")
            try:
                return self.idle.get(timeout=0.5)
            except queue.Empty:
                pass
            with self.lock:
                short = len(self.live) + self.pending < self.size
                if short:
                    self.pending += 1
            if short:
                try:
                    return self._new()
                finally:
                    with self.lock:
                        self.pending -= 1

    # -- one execution ----------------------------------------------------
    def execute(self, job: dict[str, Any], limits: Limits) -> ExecutionResult:
        c = self._take()
        started = time.monotonic()
        # The runner enforces the timeout itself; the host deadline only
        # catches a container that stopped answering at all.
        deadline = started + limits.timeout_s + self.owner.grace_s
        try:
            answer = c.request(job, deadline, stop=lambda: self.owner.closed)
        except ChannelTimeout:
            self._retire(c)
            return error_result(
                f"no answer within {limits.timeout_s:g}s; the container was killed",
                status="timeout", duration_s=time.monotonic() - started, name="time limit")
        except ChannelClosed as err:
            self._retire(c)
            if self.owner.closed:
                raise SandboxUnavailable("the sandbox was closed during the run") from None
            return error_result(
                f"the sandbox container died during the run ({err}); a memory or process limit is the usual cause",
                duration_s=time.monotonic() - started)
        except BaseException:
            self._retire(c)
            raise
        if answer.get("id") != job["id"]:
            self._retire(c)
            return error_result("the sandbox answered for another job; container recycled")
        if answer.get("recycle") or not answer.get("clean", False) or c.uses >= self.owner.max_uses:
            self._retire(c)
        else:
            self.idle.put(c)
        return to_result(answer)

    def close(self) -> None:
        """Remove every container, busy ones included, and wait until they
        are gone (no container outlives the pool). Runs blocked waiting for
        an answer wake at once: their channel is shut down first."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        with self.lock:
            doomed = list(self.live)
            self.live.clear()
            retiring = list(self.retiring)
        for c in doomed:
            c.channel.shutdown()  # a worker in recv() sees the stream end now, not at its deadline
        threads = [threading.Thread(target=c.remove, daemon=True) for c in doomed]
        for t in threads:
            t.start()
        end = time.monotonic() + 30
        for t in threads + retiring:
            t.join(timeout=max(0.0, end - time.monotonic()))
        while time.monotonic() < end:  # runs woken above retire their containers too: wait for those
            with self.lock:
                late = list(self.retiring)
            if not late:
                return
            for t in late:
                t.join(timeout=max(0.0, end - time.monotonic()))


@register_backend("docker")
class DockerPoolSandbox(Sandbox):
    """Warm pool of hardened containers (see module docstring).

    ``pool_size`` containers are kept per distinct container-level limits
    (memory, pids, cpus, tmpfs); the pool for ``limits`` starts with
    ``start()``, others on first use. ``max_uses`` jobs per container, then
    it is replaced. At most ``max_subpools`` sub-pools live at once (the
    least recently used idle one is closed). ``grace_s`` is how long past the time limit the host waits
    for the runner's own timeout verdict before killing the container.
    """

    isolated = True

    def __init__(
        self,
        limits: Limits | None = None,
        pool_size: int = 2,
        max_uses: int = 200,
        image: str | None = None,
        grace_s: float = 3.0,
        ready_timeout: float = 30.0,
        max_subpools: int = 4,
    ) -> None:
        super().__init__(limits)
        self.pool_size = max(1, int(pool_size))
        self.max_uses = max(1, int(max_uses))
        self.image = image
        self.grace_s = grace_s
        self.ready_timeout = ready_timeout
        self.max_subpools = max(1, int(max_subpools))
        self.client: Any = None
        self.closed = False
        self._pools: dict[tuple, _SubPool] = {}
        self._lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------
    def start_sync(self) -> None:
        with self._lock:
            if self.closed:
                raise SandboxUnavailable("the sandbox is closed")
            if self.client is None:
                self.client = docker_client()
                self.image = self.image or ensure_image(self.client)
                _LIVE_POOLS.add(self)
                threading.Thread(target=_prune_orphans, daemon=True).start()
        self._subpool(self.limits).fill()

    async def start(self) -> None:
        await asyncio.to_thread(self.start_sync)

    def close_sync(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            pools = list(self._pools.values())
            self._pools.clear()
        for p in pools:
            p.close()
        _LIVE_POOLS.discard(self)

    async def close(self) -> None:
        await asyncio.to_thread(self.close_sync)

    def _subpool(self, limits: Limits) -> _SubPool:
        """The sub-pool for these container-level limits, created on first
        use. Beyond ``max_subpools`` the least recently used idle one (never
        the pool's own) is closed, so odd limits cannot pile up containers."""
        key = container_key(limits)
        evicted = None
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = _SubPool(self, limits, self.pool_size)
                if len(self._pools) > self.max_subpools:
                    own = container_key(self.limits)
                    idle = [p for k, p in self._pools.items() if k not in (own, key) and p.inflight == 0]
                    if idle:
                        evicted = min(idle, key=lambda p: p.last_used)
                        del self._pools[container_key(evicted.limits)]
            pool.last_used = time.monotonic()
        if evicted is not None:
            evicted.close()
        return pool

    # -- running ----------------------------------------------------------
    def run_sync(
        self,
        program: str,
        tests: str | None = None,
        limits: Limits | None = None,
        files: Mapping[str, str | bytes] | None = None,
    ) -> ExecutionResult:
        limits = limits or self.limits
        job = make_job(program, tests, limits, files)
        if self.client is None:
            self.start_sync()
        if self.closed:
            raise SandboxUnavailable("the sandbox is closed")
        pool = self._claim(limits)
        try:
            return pool.execute(job, limits)
        finally:
            self._release(pool)

    def _claim(self, limits: Limits) -> _SubPool:
        pool = self._subpool(limits)
        with self._lock:
            pool.inflight += 1
        return pool

    def _release(self, pool: _SubPool) -> None:
        with self._lock:
            pool.inflight -= 1

    async def run(
        self,
        program: str,
        tests: str | None = None,
        limits: Limits | None = None,
        files: Mapping[str, str | bytes] | None = None,
    ) -> ExecutionResult:
        limits = limits or self.limits
        job = make_job(program, tests, limits, files)
        if self.client is None:
            await self.start()
        if self.closed:
            raise SandboxUnavailable("the sandbox is closed")
        pool = self._claim(limits)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool.executor, pool.execute, job, limits)
        except RuntimeError as err:  # executor shut down by close()
            raise SandboxUnavailable(f"the sandbox is closed ({err})") from None
        finally:
            self._release(pool)
