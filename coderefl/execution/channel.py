"""The private channel to a pooled container's runner: the container's own
stdin/stdout through Docker's attach socket.

Docker multiplexes the stream (8-byte frame headers, no TTY); inside it the
runner speaks 4-byte length + JSON. Reads carry a deadline so a silent
container can never hang the host.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

#: how often a waiting recv() asks whether it should stop (see AttachChannel.recv)
POLL_S = 0.25


class ChannelClosed(Exception):
    """The container's stream ended (it died or was removed)."""


class ChannelTimeout(Exception):
    """No answer before the deadline."""


class AttachChannel:
    def __init__(self, client: Any, container_id: str) -> None:
        self._io = client.api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        self._sock: socket.socket = getattr(self._io, "_sock", self._io)
        self._frames = bytearray()  # raw multiplexed bytes not yet demuxed
        self._stdout = bytearray()  # demuxed stdout bytes not yet parsed
        self.stderr = bytearray()   # the runner's own stderr (diagnostics), capped

    def send(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        self._sock.settimeout(30)
        try:
            self._sock.sendall(struct.pack(">I", len(data)) + data)
        except OSError as err:
            raise ChannelClosed(f"cannot write to the sandbox: {err}") from None

    def recv(self, deadline: float, stop: Callable[[], bool] | None = None) -> dict[str, Any]:
        """The next answer, or ChannelTimeout at ``deadline`` (time.monotonic).
        ``stop`` is asked every :data:`POLL_S` while waiting: when it says
        True, ChannelClosed is raised (the pool closed under the run), so no
        thread waits out a long deadline after an interrupt, even one whose
        socket nobody shut down."""
        while True:
            if len(self._stdout) >= 4:
                (size,) = struct.unpack(">I", self._stdout[:4])
                if len(self._stdout) >= 4 + size:
                    body = bytes(self._stdout[4 : 4 + size])
                    del self._stdout[: 4 + size]
                    try:
                        return json.loads(body)
                    except ValueError:
                        raise ChannelClosed("the sandbox answered garbage") from None
            self._pump(deadline, stop)

    def _pump(self, deadline: float, stop: Callable[[], bool] | None) -> None:
        while True:
            if stop is not None and stop():
                raise ChannelClosed("the sandbox was closed while waiting for an answer")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout()
            self._sock.settimeout(min(remaining, POLL_S) if stop is not None else remaining)
            try:
                chunk = self._sock.recv(262144)
                break
            except (socket.timeout, TimeoutError):
                continue
            except OSError as err:
                raise ChannelClosed(f"sandbox stream failed: {err}") from None
        if not chunk:
            raise ChannelClosed("the sandbox container's stream ended")
        self._frames += chunk
        while len(self._frames) >= 8:
            stream, size = self._frames[0], struct.unpack(">I", self._frames[4:8])[0]
            if len(self._frames) < 8 + size:
                break
            payload = self._frames[8 : 8 + size]
            del self._frames[: 8 + size]
            if stream == 1:
                self._stdout += payload
            elif len(self.stderr) < 16384:
                self.stderr += payload[: 16384 - len(self.stderr)]

    def shutdown(self) -> None:
        """Wake a thread blocked in :meth:`recv` (it sees the stream end).
        ``close()`` from another thread does not: the blocked ``recv``
        keeps its file descriptor and waits out its deadline."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # not connected any more

    def close(self) -> None:
        self.shutdown()
        for obj in (self._sock, self._io):
            try:
                obj.close()
            except Exception:
                pass
