"""Framing shared by every process of the runner.

* Messages: 4-byte big-endian length + bytes, on plain fds (host <-> server,
  server -> judge, judge <-> candidate).
* Report records, judge -> server only: ``R <nonce> <kind> <index> <status>
  <size>\\n<message>``. The server parses them strictly (:func:`parse_report`).
"""

from __future__ import annotations

import json
import os
import select
import struct
import time

REPORT_FD = 3
MESSAGE_CHARS = 2000
#: a test record's message: MESSAGE_CHARS of its own, plus a runtime trace when asked for
RECORD_CHARS = 6200
STATUSES = ("passed", "failed", "error", "skipped", "timeout")
_STATUS_SET = frozenset(STATUSES)


class Closed(Exception):
    """The other end of a pipe is gone."""


def read_exact(fd: int, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, min(n - len(buf), 1 << 20))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def send_msg(fd: int, data: bytes) -> None:
    write_all(fd, struct.pack(">I", len(data)) + data)


def recv_msg(fd: int, limit: int) -> bytes:
    """One message, or Closed at end of stream; a message over ``limit`` bytes is Closed too."""
    head = read_exact(fd, 4)
    if head is None:
        raise Closed("end of stream")
    (size,) = struct.unpack(">I", head)
    if size > limit:
        raise Closed("a message of %d bytes is over the %d-byte limit" % (size, limit))
    body = read_exact(fd, size)
    if body is None:
        raise Closed("end of stream")
    return body


def write_by(fd: int, data: bytes, deadline: float) -> None:
    """``write_all`` that gives up at ``deadline`` (time.monotonic) with TimeoutError."""
    view = memoryview(data)
    while view:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([], [fd], [], left)[1]:
            raise TimeoutError
        view = view[os.write(fd, view[:65536]):]


def read_exact_by(fd: int, n: int, deadline: float) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(n - len(buf), 1 << 20))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def recv_msg_by(fd: int, limit: int, deadline: float) -> bytes:
    """``recv_msg`` that gives up at ``deadline`` with TimeoutError."""
    head = read_exact_by(fd, 4, deadline)
    if head is None:
        raise Closed("end of stream")
    (size,) = struct.unpack(">I", head)
    if size > limit:
        raise Closed("a message of %d bytes is over the %d-byte limit" % (size, limit))
    body = read_exact_by(fd, size, deadline)
    if body is None:
        raise Closed("end of stream")
    return body


def send_json(fd: int, obj: object) -> None:
    send_msg(fd, json.dumps(obj).encode())


def report_record(nonce: str, kind: str, index: int, status: str, message: str) -> bytes:
    """One record; a test's message is cut at RECORD_CHARS, the plan (the test names) never is."""
    try:
        data = (message if kind == "plan" else message[:RECORD_CHARS]).encode("utf-8", "replace")
    except Exception:
        data = b"<unprintable message>"
    return ("R %s %s %d %s %d\n" % (nonce, kind, index, status, len(data))).encode() + data


def parse_report(data: bytes, nonce: str) -> list[tuple[str, int, str, str]] | None:
    """Strictly parse the framed records; None when anything is malformed."""
    records = []
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            return None
        parts = data[pos:nl].split(b" ")
        if len(parts) != 6 or parts[0] != b"R" or parts[1].decode("ascii", "replace") != nonce:
            return None
        try:
            kind = parts[2].decode("ascii")
            index, status, size = int(parts[3]), parts[4].decode("ascii"), int(parts[5])
        except (UnicodeDecodeError, ValueError):
            return None
        if status not in _STATUS_SET or size < 0 or nl + 1 + size > len(data):
            return None
        message = data[nl + 1 : nl + 1 + size].decode("utf-8", "replace")
        records.append((kind, index, status, message))
        pos = nl + 1 + size
    return records
