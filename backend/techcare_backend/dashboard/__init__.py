"""The web dashboard at ``/dashboard``: server-rendered fleet overview, alerts, host history charts, repair
changelogs and cases of the logged-in organisation. Static files (incl. the vendored uPlot) are served from the
package, so it works in closed customer networks. See :mod:`.session` for login and cookies."""

from .routes import router, static_app
from . import maintenance  # noqa: E402,F401 - registers the maintenance and tag pages on the router

__all__ = ["router", "static_app"]
