"""The local web server of ``coderefl view``: one static page and three JSON routes.

Standard library only (``http.server``). It binds to loopback unless told
otherwise, serves nothing but the page's own files (a fixed list) and data
read from the run folders it was given, and sends a Content-Security-Policy
that forbids inline script, so even a rendering bug could not make text
from a trajectory run in the page.

Routes::

    GET /                         the page
    GET /static/NAME              the page's scripts and style (coderefl/view/static/)
    GET /api/overview             every run: summary, records, comparison, plots
    GET /api/stamp                the runs' results.jsonl stamps (the page polls this)
    GET /api/trajectory?run=I&task=ID&sample=S   one problem x sample

and the same data as scripts (``/data/overview.js``, ``/data/stamp.js``,
``/data/trajectory.js?...``): the page loads its data with ``<script src>``
in both modes, so the page served here and the one ``--out`` writes for
``file://`` are the same code.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from coderefl.errors import BadInput
from coderefl.view._data import RunSource, overview, trajectory_view
from coderefl.view._static import CONTENT_TYPES, STATIC_FILES, read_static, script_payload

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}

CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'"


class ViewServer:
    """Serves the page for some runs. ``start()`` returns at once (a thread);
    ``serve_forever()`` blocks. Either way, ``close()`` stops it."""

    def __init__(self, sources: Sequence[RunSource], host: str = "127.0.0.1", port: int = 8765) -> None:
        self.sources = list(sources)
        self._overview_lock = threading.Lock()
        self._overview: tuple[Any, bytes] | None = None
        handler = type("Handler", (_Handler,), {"view": self})
        try:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise BadInput(f"port {port} on {host} is in use; pick another with --port") from None
            raise BadInput(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
        self.httpd.daemon_threads = True
        self.loopback = ipaddress.ip_address(self.httpd.server_address[0]).is_loopback
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}/"

    def stamps(self) -> list[list[int]]:
        return [list(s.stamp()) for s in self.sources]

    def overview_data(self) -> dict[str, Any]:
        """The overview, recomputed only when a results.jsonl changed."""
        with self._overview_lock:
            key = self.stamps()
            if self._overview is None or self._overview[0] != key:
                data = overview(self.sources)
                for i, run in enumerate(data["runs"]):
                    for row in run["records"]:
                        row["ref"] = "data/trajectory.js?" + urlencode({"run": i, "task": row["task_id"], "sample": row["sample"]})
                data["live"] = True
                self._overview = (key, data)
            return self._overview[1]

    def start(self) -> "ViewServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> "ViewServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    view: ViewServer
    server_version = "coderefl-view"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the CLI prints the URL only
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

    def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
        self.do_GET()

    def _host_allowed(self) -> bool:
        """Bound to loopback, answer only requests addressed to loopback names:
        a web page elsewhere cannot read the runs through DNS rebinding."""
        if not self.view.loopback:
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        name = host[1:].split("]")[0] if host.startswith("[") else host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return name in LOOPBACK_NAMES

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if not self._host_allowed():
            self._json(403, {"error": "this server answers requests for localhost only"})
            return
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        try:
            if path in ("/", "/index.html"):
                self._send(200, read_static("index.html"), CONTENT_TYPES["html"])
            elif path.startswith("/static/") and path[len("/static/"):] in STATIC_FILES:
                name = path[len("/static/"):]
                self._send(200, read_static(name), CONTENT_TYPES[name.rsplit(".", 1)[-1]])
            elif path == "/api/overview":
                self._json(200, self.view.overview_data())
            elif path == "/api/stamp":
                self._json(200, {"stamps": self.view.stamps()})
            elif path == "/api/trajectory":
                self._trajectory(query, script=False)
            elif path == "/data/overview.js":
                self._send(200, script_payload("overview", self.view.overview_data()), CONTENT_TYPES["js"])
            elif path == "/data/stamp.js":
                self._send(200, script_payload("stamp", {"stamps": self.view.stamps()}), CONTENT_TYPES["js"])
            elif path == "/data/trajectory.js":
                self._trajectory(query, script=True)
            else:
                self._json(404, {"error": f"no route {path}"})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _trajectory(self, query: dict[str, list[str]], *, script: bool) -> None:
        try:
            run = int(query["run"][0])
            task = query["task"][0]
            sample = int(query.get("sample", ["0"])[0])
            source = self.view.sources[run]
            if run < 0:
                raise IndexError(run)
        except (KeyError, ValueError, IndexError):
            self._json(400, {"error": "need run=INDEX, task=ID and sample=N"})
            return
        data = trajectory_view(source, task, sample)
        if data is None:
            self._json(404, {"error": f"{source.name} has no record for {task} sample {sample}"})
            return
        data["run_index"] = run
        if script:
            self._send(200, script_payload("trajectory", data), CONTENT_TYPES["js"])
        else:
            self._json(200, data)
