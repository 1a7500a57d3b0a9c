"""``coderefl view --out DIR``: the page and its data as static files.

The result opens from disk (``file://``) or any web server: the page reads
``data/overview.js`` and, when a problem is opened, that problem's
``data/t/RUN/TASK__sN.js``, each a script that hands its JSON to the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from coderefl.atomic import atomic_write_bytes
from coderefl.errors import BadInput
from coderefl.view._data import RunSource, overview, trajectory_view
from coderefl.view._static import STATIC_FILES, read_static, script_payload


def trajectory_ref(run_index: int, source: RunSource, task_id: str, sample: int) -> str:
    """Where the exported page finds one trajectory, relative to index.html."""
    return f"data/t/{run_index}/{source.store.trajectory_path(task_id, sample).stem}.js"


def export_static(sources: Sequence[RunSource], out: str | Path) -> dict[str, int | Path]:
    """Write index.html, static/, data/overview.js and one script per trajectory."""
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise BadInput(f"{root} exists and is not a folder")
    try:
        (root / "static").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"cannot create {root}: {err.strerror or err}") from None
    for name in STATIC_FILES:
        target = root / name if name == "index.html" else root / "static" / name
        _write(target, read_static(name))
    data = overview(sources)
    written = 0
    for i, (src, run) in enumerate(zip(sources, data["runs"])):
        folder = root / "data" / "t" / str(i)
        folder.mkdir(parents=True, exist_ok=True)
        for row in run["records"]:
            row["ref"] = trajectory_ref(i, src, row["task_id"], row["sample"])
            view = trajectory_view(src, row["task_id"], row["sample"])
            if view is None:
                continue
            view["run_index"] = i
            _write(root / row["ref"], script_payload("trajectory", view))
            written += 1
    data["static"] = True
    _write(root / "data" / "overview.js", script_payload("overview", data))
    return {"index": root / "index.html", "trajectories": written}


def _write(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data, mode=0o644)  # readable by a web server that shares it
