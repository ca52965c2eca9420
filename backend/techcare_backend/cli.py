"""``techcare-backend``: serve, migrate, keys generate.

    techcare-backend serve [--host 0.0.0.0] [--port 8000] [--workers 2]
    techcare-backend migrate
    techcare-backend keys generate [--env-file .env]

Configuration errors (unsafe secrets, bad URLs) end with one readable message and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from techcare.errors import TechCareError
from techcare.i18n import tr

__all__ = ["main"]


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .core.config import load_backend_settings
    from .core.db import migrate

    settings = load_backend_settings()
    workers = args.workers
    if settings.embedded and workers > 1:
        print(tr("Eingebetteter Modus (SQLite + prozessinterner Cache): --workers wird auf 1 gesetzt. Für mehrere "
                 "Worker DATABASE_URL und REDIS_URL setzen.",
                 "Embedded mode (SQLite + in-process cache): --workers set to 1. Set DATABASE_URL and REDIS_URL "
                 "for several workers."), file=sys.stderr)
        workers = 1
    if settings.should_migrate:
        migrate(settings.sqlalchemy_url)
    print(tr("TechCare-Backend auf http://{h}:{p} ({mode}); API-Doku unter /docs",
             "TechCare backend on http://{h}:{p} ({mode}); API docs at /docs", h=args.host, p=args.port,
             mode="SQLite" if settings.embedded else "PostgreSQL"), file=sys.stderr)
    if workers > 1:
        uvicorn.run("techcare_backend.main:app", host=args.host, port=args.port, workers=workers,
                    log_level=args.log_level, proxy_headers=True)
    else:
        from .main import create_app

        uvicorn.run(create_app(settings, server=True), host=args.host, port=args.port, log_level=args.log_level,
                    proxy_headers=True)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from .core.config import load_backend_settings
    from .core.db import migrate

    settings = load_backend_settings()
    migrate(settings.sqlalchemy_url, args.revision)
    print(tr("Datenbank ist auf Stand {r}.", "Database is at {r}.", r=args.revision))
    return 0


def _keys(args: argparse.Namespace) -> int:
    from techcare.config import write_env_file

    from .core.config import generate_secrets

    values = generate_secrets()
    if args.env_file:
        write_env_file(args.env_file, values)
        print(tr("Neue Geheimnisse in {p} geschrieben (Modus 0600): {k}.", "New secrets written to {p} (mode 0600): {k}.",
                 p=args.env_file, k=", ".join(values)))
    else:
        for key, value in values.items():
            print(f"{key}={value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="techcare-backend", description=tr(
        "TechCare-Backend: Lizenzserver, Sensor-Messwerte, Shared Learning DB.",
        "TechCare backend: license server, sensor metrics, shared learning database."))
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help=tr("Server starten (uvicorn)", "run the server (uvicorn)"))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(func=_serve)
    mig = sub.add_parser("migrate", help=tr("Datenbank migrieren (alembic upgrade)", "migrate the database"))
    mig.add_argument("--revision", default="head")
    mig.set_defaults(func=_migrate)
    keys = sub.add_parser("keys", help=tr("Schlüssel verwalten", "manage secrets"))
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    gen = keys_sub.add_parser("generate", help=tr("neue Geheimnisse erzeugen", "generate new secrets"))
    gen.add_argument("--env-file", help=tr("in diese .env-Datei schreiben", "write them into this .env file"))
    gen.set_defaults(func=_keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if getattr(args, "workers", 1) < 1 or not (0 <= getattr(args, "port", 0) <= 65535):
        print(tr("--workers muss >= 1 und --port 0..65535 sein.", "--workers must be >= 1 and --port 0..65535."),
              file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except TechCareError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
