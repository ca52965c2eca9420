"""TechCare backend: license server, metrics ingestion, shared learning database and teams (FastAPI).

Run it with ``techcare-backend serve`` (embedded SQLite + in-process cache when ``DATABASE_URL`` /
``REDIS_URL`` are unset) or against PostgreSQL + Redis in production. ``techcare_backend.testing`` starts a
live local backend for tests and notebooks.
"""

from __future__ import annotations

try:
    from techcare._version import __version__
except Exception:  # pragma: no cover - the client package is always installed next to the backend
    __version__ = "0.0.0"

__all__ = ["__version__"]
