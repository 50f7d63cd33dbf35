"""A read-only dashboard of the control plane: HTML pages over the read side.

``mount(app)`` is the one line the app factory needs. The pages read what the
JSON API reads (queries.reader) and write nothing; the import-linter contract
of the read side covers this package.
"""

from __future__ import annotations

from fastapi import FastAPI

from leviathan_control_plane.dashboard.routes import install


def mount(app: FastAPI) -> None:
    """Serve the dashboard under ``/dashboard`` on ``app``."""
    install(app)
