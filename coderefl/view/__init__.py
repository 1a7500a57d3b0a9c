"""``coderefl view``: browse runs and trajectories in a web page.

The page (plain HTML, CSS and JS in ``static/``, no build step) is served by
a small standard-library server bound to loopback (:class:`ViewServer`), or
written with its data as static files that open from disk
(:func:`export_static`). Every figure comes from coderefl's own summary and
report code (:func:`overview`); the page only lays the data out, and puts
every model-written string in as text, never as markup.
"""

from coderefl.view._data import RunSource, open_runs, overview, trajectory_view
from coderefl.view._export import export_static
from coderefl.view._server import ViewServer

__all__ = ["RunSource", "ViewServer", "export_static", "open_runs", "overview", "trajectory_view"]
