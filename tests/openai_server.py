"""A scripted, deterministic OpenAI-compatible HTTP server for tests.

Why a real server: the model client's behaviour that matters (retries,
Retry-After, timeouts, n-sampling top-up, usage, error mapping) lives in
the HTTP path of the official ``openai`` client. Mocking the client would
test nothing of that, so tests talk real HTTP to this server on 127.0.0.1.

Stdlib only. Serves ``POST /v1/chat/completions``, ``POST /v1/completions``
and ``GET /v1/models``. Replies come from a FIFO queue first, then from a
handler called with the request body; both may inject failures (status
codes with headers, delays, dropped connections, malformed JSON, fewer
choices than asked for, empty or null content, an HTML page or any raw
body, a body cut off halfway). :func:`refused_url` is an address where
nothing listens.

Usage::

    with ScriptedServer() as srv:
        srv.queue(Reply(status=429, headers={"Retry-After": "0.1"}), "```python\\ndef f(): ...```")
        ...  # point the client at srv.base_url
        assert len(srv.requests) == 2
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union

DEFAULT_TEXT = "```python\ndef f():\n    return 1\n```"


@dataclass
class Reply:
    """One scripted answer, or one injected failure."""

    texts: list[str] | None = None  # one per choice; None -> handler/queue default
    status: int = 200  # non-200 -> OpenAI-style error JSON body
    headers: dict[str, str] = field(default_factory=dict)  # e.g. {"Retry-After": "1"}
    delay_s: float = 0.0  # sleep before answering (timeout tests)
    drop: bool = False  # close the connection without answering
    malformed: bool = False  # 200 with a body that is not JSON
    max_choices: int | None = None  # return at most this many choices even if n is larger
    finish_reason: str = "stop"
    error_message: str | None = None  # the error body's message for a non-200 reply
    #: a 200 whose body is exactly these bytes (an HTML page, ``null``, ...), sent as ``content_type``
    raw: bytes | None = None
    content_type: str = "application/json"
    cut_body: bool = False  # send the headers and half the body, then close the connection
    null_content: bool = False  # every choice's content (or text) is JSON null
    #: set for a plain-str reply: repeat the one text to fill ``n``
    repeat: bool = field(default=False, repr=False)


ReplyLike = Union[Reply, str, "list[str]"]
Handler = Callable[[dict], ReplyLike]


def count_tokens(text: str) -> int:
    """The server's deterministic 'tokenizer': whitespace-separated words."""
    return len(text.split())


def _prompt_text(body: dict) -> str:
    if "messages" in body:
        return "\n".join(str(m.get("content") or "") for m in body.get("messages") or [])
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        return "\n".join(str(p) for p in prompt)
    return str(prompt)


def _matchable_text(body: dict) -> str:
    """The last user message plus any system message (or the raw prompt)."""
    if "messages" not in body:
        return _prompt_text(body)
    msgs = body.get("messages") or []
    parts = [str(m.get("content") or "") for m in msgs if m.get("role") == "system"]
    users = [str(m.get("content") or "") for m in msgs if m.get("role") == "user"]
    if users:
        parts.append(users[-1])
    return "\n".join(parts)


def rules(*pairs: tuple[str, ReplyLike], fallback: ReplyLike = DEFAULT_TEXT) -> Handler:
    """A handler answering by substring: the first ``(needle, reply)`` whose
    needle occurs in the last user message or the system message wins."""

    def handler(body: dict) -> ReplyLike:
        text = _matchable_text(body)
        for needle, reply in pairs:
            if needle in text:
                return reply
        return fallback

    return handler


def _as_reply(value: ReplyLike | None) -> Reply:
    if value is None:
        return Reply()
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply(texts=[value], repeat=True)
    if isinstance(value, (list, tuple)):
        return Reply(texts=list(value))
    raise TypeError(f"a scripted reply must be Reply, str or list[str], not {type(value).__name__}")


def _apply_stop(text: str, stop: Any) -> str:
    if not stop:
        return text
    stops = [stop] if isinstance(stop, str) else list(stop)
    cut = len(text)
    for s in stops:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


def refused_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens: connections are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/v1"


class _Server(ThreadingHTTPServer):
    # the stdlib's listen backlog of 5 drops connections when many clients
    # connect at once (a scheduler with 64 problems in flight)
    request_queue_size = 1024


class ScriptedServer:
    """An OpenAI-compatible server whose answers the test scripts."""

    def __init__(
        self,
        handler: Handler | None = None,
        models: Sequence[str] = ("scripted-model",),
        api_key: str | None = None,
        latency_s: float = 0.0,
    ) -> None:
        self.handler: Handler | None = handler
        self.models = list(models)
        self.api_key = api_key
        self.latency_s = latency_s
        self.requests: list[dict] = []
        #: exceptions raised by the handler (each answered with a 500)
        self.handler_errors: list[Exception] = []
        self._queue: deque[ReplyLike] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # ------------------------------------------------------------------ control

    def queue(self, *replies: ReplyLike) -> None:
        """Answer the next requests with these, in order, before the handler."""
        with self._lock:
            self._queue.extend(replies)

    def start(self) -> "ScriptedServer":
        if self._httpd is not None:
            return self
        server = self

        class _Handler(_RequestHandler):
            scripted = server

        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self._stopping.clear()
        self.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping in a delay
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    def _record(self, path: str, body: dict) -> None:
        with self._lock:
            self.requests.append({**body, "_path": path})

    def _next_reply(self, body: dict) -> Reply:
        with self._lock:
            queued = self._queue.popleft() if self._queue else None
        reply = _as_reply(queued) if queued is not None else self._from_handler(body)
        if reply.texts is None and reply.status == 200 and not reply.drop and not reply.malformed and reply.raw is None:
            default = self._from_handler(body)
            reply = Reply(**{**reply.__dict__, "texts": default.texts or [DEFAULT_TEXT], "repeat": default.repeat})
        return reply

    def _from_handler(self, body: dict) -> Reply:
        if self.handler is None:
            return Reply(texts=[DEFAULT_TEXT], repeat=True)
        reply = _as_reply(self.handler(body))
        if reply.texts is None and reply.status == 200:
            reply.texts, reply.repeat = [DEFAULT_TEXT], True
        return reply

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


def _error_body(status: int, message: str, etype: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


class _RequestHandler(BaseHTTPRequestHandler):
    scripted: ScriptedServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between headers and body

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep tests quiet
        pass

    # --------------------------------------------------------------- helpers

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._send_raw(status, data, headers)

    def _send_raw(
        self, status: int, data: bytes, headers: dict[str, str] | None = None,
        content_type: str = "application/json", cut: bool = False,
    ) -> None:
        """Send ``data``; with ``cut``, announce all of it, send half and hang up."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data[: len(data) // 2] if cut else data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True  # the client gave up (timeout test)
        if cut:
            self._drop()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _authorized(self) -> bool:
        key = self.scripted.api_key
        if key is None:
            return True
        if self.headers.get("Authorization", "") == f"Bearer {key}":
            return True
        self._send_json(
            401,
            _error_body(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
        )
        return False

    def _read_body(self) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send_json(400, _error_body(400, "request body is not JSON", "invalid_request_error"))
            return None
        return body if isinstance(body, dict) else {}

    # --------------------------------------------------------------- routes

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        path = self.path.split("?")[0].rstrip("/")
        if path != "/v1/models":
            self._send_json(404, _error_body(404, f"no route {path}", "invalid_request_error"))
            return
        self.scripted._record(path, {})
        if not self._authorized():
            return
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "scripted"} for m in self.scripted.models]
        self._send_json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        path = self.path.split("?")[0].rstrip("/")
        body = self._read_body()
        if body is None:
            return
        if path == "/v1/chat/completions":
            kind = "chat"
        elif path == "/v1/completions":
            kind = "text"
        else:
            self._send_json(404, _error_body(404, f"no route {path}", "invalid_request_error"))
            return
        srv = self.scripted
        srv._record(path, body)
        if not self._authorized():
            return
        model = body.get("model")
        if model not in srv.models:
            self._send_json(
                404,
                _error_body(404, f"The model `{model}` does not exist.", "invalid_request_error", "model_not_found"),
            )
            return
        try:
            reply = srv._next_reply(body)
        except Exception as err:  # a broken test handler: say so instead of dropping the connection
            srv.handler_errors.append(err)
            self._send_json(500, _error_body(500, f"scripted handler raised {type(err).__name__}: {err}", "server_error"))
            return
        srv._sleep(srv.latency_s + reply.delay_s)
        if reply.drop:
            self._drop()
            return
        if reply.malformed:
            self._send_raw(200, b'{"id": "broken", "choices": [ {"mess', reply.headers)
            return
        if reply.raw is not None:
            self._send_raw(200, reply.raw, reply.headers, content_type=reply.content_type, cut=reply.cut_body)
            return
        if reply.status != 200:
            etype = {429: "rate_limit_error", 401: "invalid_request_error"}.get(reply.status, "server_error")
            if 400 <= reply.status < 500 and reply.status != 429:
                etype = "invalid_request_error"
            message = reply.error_message or f"scripted error {reply.status}"
            self._send_json(reply.status, _error_body(reply.status, message, etype), reply.headers)
            return
        data = json.dumps(self._completion(kind, body, reply)).encode()
        self._send_raw(200, data, reply.headers, cut=reply.cut_body)

    def _completion(self, kind: str, body: dict, reply: Reply) -> dict:
        n = int(body.get("n") or 1)
        texts = list(reply.texts or [DEFAULT_TEXT])
        if reply.repeat and len(texts) == 1 and n > 1:
            texts = texts * n
        if reply.max_choices is not None:
            texts = texts[: reply.max_choices]
        texts = [_apply_stop(t, body.get("stop")) for t in texts]
        prompt_tokens = count_tokens(_prompt_text(body))
        completion_tokens = sum(count_tokens(t) for t in texts)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        created = int(time.time())
        with self.scripted._lock:
            rid = f"scripted-{len(self.scripted.requests)}"
        content = (lambda t: None) if reply.null_content else (lambda t: t)
        if kind == "chat":
            choices = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": content(t)},
                    "finish_reason": reply.finish_reason,
                    "logprobs": None,
                }
                for i, t in enumerate(texts)
            ]
            obj = "chat.completion"
        else:
            choices = [
                {"index": i, "text": content(t), "finish_reason": reply.finish_reason, "logprobs": None}
                for i, t in enumerate(texts)
            ]
            obj = "text_completion"
        return {"id": rid, "object": obj, "created": created, "model": body.get("model"), "choices": choices, "usage": usage}


if __name__ == "__main__":  # manual use: python -m tests.openai_server
    with ScriptedServer() as _srv:
        print(_srv.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
