"""Ctrl-C and SIGTERM: the first stops cleanly and promptly, the second forces.

Why a handler of our own rather than asyncio's: ``asyncio.run`` cancels the
main task on the first Ctrl-C and raises at the second, but only for SIGINT,
and a second Ctrl-C during clean-up would leave sandbox containers behind.
Here both signals behave alike: the first cancels the command's main task
(its ``finally`` blocks write partial results and remove the containers;
blocked sandbox runs wake at once, see ``DockerPoolSandbox.close``), or
raises KeyboardInterrupt outside an event loop; the second removes this
process's containers at once and exits 130 without waiting for anything.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_state: dict[str, Any] = {"signals": 0, "main": None}


def _handler(signum: int, frame: object) -> None:  # noqa: ARG001
    _state["signals"] += 1
    if _state["signals"] > 1:
        force_exit()
    main = _state["main"]
    loop = asyncio.events._get_running_loop()  # the main thread's loop, if it is running one
    if main is not None and loop is not None and not main.done():
        # through the loop's self-pipe: a plain cancel() would wait for select() to time out
        loop.call_soon_threadsafe(main.cancel)  # clean-up runs in the task's finally blocks
        _state["cancelled"] = True
        return
    raise KeyboardInterrupt


#: the longest a forced stop spends removing containers (a slow Docker engine cannot hold it longer)
FORCE_WAIT_S = 5.0


def force_exit() -> None:
    """The second signal: remove this process's sandbox containers (at most
    :data:`FORCE_WAIT_S`, whatever the engine does) and leave now."""
    try:
        sys.stderr.write("coderefl: stopping now (second interrupt); removing sandbox containers\n")
        sys.stderr.flush()
        if "coderefl.execution.docker_pool" in sys.modules:
            from coderefl.execution.docker_pool import kill_now

            worker = threading.Thread(target=kill_now, args=(FORCE_WAIT_S - 0.5,), daemon=True)
            worker.start()
            worker.join(FORCE_WAIT_S)
    finally:
        os._exit(130)


def sigterm_as_interrupt() -> None:
    """Install the two-stage handler for SIGINT and SIGTERM (main thread
    only; elsewhere, e.g. under a test runner's worker, it does nothing)."""
    _state.update(signals=0, main=None, cancelled=False)
    try:
        signal.signal(signal.SIGINT, _handler)
        signal.signal(signal.SIGTERM, _handler)
    except ValueError:  # not the main thread
        pass


def run_interruptible(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` under the two-stage handler: the first signal
    cancels ``coro`` (raising KeyboardInterrupt here once it has cleaned up)."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    sigterm_as_interrupt()

    async def main() -> T:
        _state["main"] = asyncio.current_task()
        return await coro

    try:
        result = asyncio.run(main())
    except asyncio.CancelledError:
        if _state.get("cancelled"):
            raise KeyboardInterrupt from None
        raise
    finally:
        _state["main"] = None
    # not interrupted: the caller (a test runner, a script) gets its own handlers back;
    # after an interrupt ours stay, so a second signal during the exit still forces
    if not _state["signals"]:
        for sig, handler in before.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, TypeError):
                pass
    return result
