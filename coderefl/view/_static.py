"""The page's files, shipped as package data in ``coderefl/view/static/``."""

from __future__ import annotations

from importlib import resources

#: the only files the server hands out besides JSON
STATIC_FILES = ("index.html", "dom.js", "chart.js", "steps.js", "app.js", "style.css")

CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
}


def read_static(name: str) -> bytes:
    if name not in STATIC_FILES:
        raise KeyError(name)
    return resources.files("coderefl.view").joinpath("static", name).read_bytes()


def script_payload(kind: str, data: object) -> bytes:
    """Data wrapped as a script that hands it to the page: the page loads its
    data with ``<script src>``, which works from ``file://`` (``fetch`` does not).
    ``json.dumps`` escapes every non-ASCII character, and ``<``, ``>``, ``&``
    are escaped too, so no ``</script>`` appears even if the text were inlined."""
    import json

    body = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"window.coderefl_load({json.dumps(kind)}, {body});\n".encode("ascii")
