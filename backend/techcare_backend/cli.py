"""``techcare-backend``: serve, migrate, keys generate, keys create, org create.

    techcare-backend serve [--host 0.0.0.0] [--port 8000] [--workers 2]
    techcare-backend migrate
    techcare-backend keys generate [--env-file .env]
    techcare-backend keys create --org ID --role sensor [--hostname H] [--name NAME] [--env-file FILE]
    techcare-backend org create NAME [--edition enterprise] [--technician NAME] [--env-file FILE]

``org create`` issues a license for an organisation (a new name creates it) and an API key for one technician,
straight in the database the server uses (no admin token needed: whoever can read the server's configuration is
its administrator). The keys are shown once; with ``--env-file`` they are written there (mode 0600) as
``EDITION``/``LICENSE_KEY``/``TECHCARE_API_KEY``/``TECHNICIAN_NAME`` instead of printed — ``scripts/start`` uses this for the local
backend's organisation and hands the file to the setup wizard as its defaults. ``keys create`` adds an API key to
an organisation (its id or name) the same way: a sensor key per monitored host (``--hostname``: the key serves
only that host's remote jobs), another technician's or an admin's key; shown once or written as
``TECHCARE_API_KEY`` into ``--env-file``.

``serve`` stops promptly: at a stop (SIGTERM/SIGINT) sensor long-polls held by the server are answered at once
(empty; the sensors ask again, another instance or after the restart) and requests still running after
:data:`GRACEFUL_SHUTDOWN` seconds are cancelled, instead of waiting up to 30 s for every held long-poll.

Configuration errors (unsafe secrets, bad URLs) end with one readable message and exit status 2. Without the
``server`` extra (``pip install 'techcare[server]'``) the server commands say so instead of a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys

from techcare.errors import TechCareError
from techcare.i18n import tr

__all__ = ["GRACEFUL_SHUTDOWN", "SERVER_MODULES", "main"]

#: Top-level modules of the ``server`` extra (pyproject.toml); a missing one means the extra is not installed.
SERVER_MODULES = frozenset({"fastapi", "starlette", "uvicorn", "alembic", "psycopg", "redis", "snowballstemmer",
                            "jinja2", "httptools", "uvloop", "sqlalchemy"})


#: seconds ``serve`` lets running requests finish at a stop before it cancels them (held long-polls are answered
#: at once anyway; a cancelled long-poll answers empty as well)
GRACEFUL_SHUTDOWN = 5
#: uvicorn's HTTP protocol for ``serve`` (import string: the workers of ``--workers N`` load it themselves)
HTTP_PROTOCOL = "techcare_backend.cli:ReleasingHTTPProtocol"


def _releasing_protocol() -> type:
    """uvicorn's HTTP protocol (httptools or h11, as uvicorn picks it) that releases the held long-polls of its
    process when the server begins to shut down (uvicorn calls ``shutdown()`` on every open connection then)."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    from .api.routes.jobs import release_held_polls

    class ReleasingHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        def shutdown(self) -> None:
            release_held_polls()
            super().shutdown()

    ReleasingHTTPProtocol.__module__, ReleasingHTTPProtocol.__qualname__ = __name__, "ReleasingHTTPProtocol"
    return ReleasingHTTPProtocol


def __getattr__(name: str) -> object:  # the protocol class is built on first use: it needs the server extra
    if name == "ReleasingHTTPProtocol":
        cls = _releasing_protocol()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _missing_extra(exc: ModuleNotFoundError) -> str:
    return tr("Das Backend braucht das Extra \"server\" (Modul {m} fehlt). Installieren mit:\n"
              "  pip install 'techcare[server]'\n"
              "(in diesem Repository: scripts/setup-venv server)",
              "The backend needs the \"server\" extra (module {m} is missing). Install it with:\n"
              "  pip install 'techcare[server]'\n"
              "(in this repository: scripts/setup-venv server)", m=exc.name)


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
    options: dict[str, object] = {"host": args.host, "port": args.port, "log_level": args.log_level,
                                  "proxy_headers": True, "http": HTTP_PROTOCOL,
                                  "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN}
    if workers > 1:
        uvicorn.run("techcare_backend.main:app", workers=workers, **options)  # type: ignore[arg-type]
    else:
        from .main import create_app

        uvicorn.run(create_app(settings, server=True), **options)  # type: ignore[arg-type]
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from .core.config import load_backend_settings
    from .core.db import migrate

    settings = load_backend_settings()
    migrate(settings.sqlalchemy_url, args.revision)
    print(tr("Datenbank ist auf Stand {r}.", "Database is at {r}.", r=args.revision))
    return 0


def _maintenance(args: argparse.Namespace) -> int:
    """One metrics maintenance pass (rollups, partitions, retention). Exit 0: done; 3: skipped, another instance
    holds the lock; 1: the database failed (the message says what to do); 2: a setting is wrong."""
    from sqlalchemy.exc import SQLAlchemyError

    from .core.config import load_backend_settings
    from .core.db import make_engine, migrate
    from .core.metrics_maintenance import run_maintenance

    settings = load_backend_settings()
    engine = make_engine(settings.sqlalchemy_url, pool_size=2)
    try:
        if settings.should_migrate:  # the embedded default migrates itself, as serve and org create do
            migrate(settings.sqlalchemy_url)
        report = run_maintenance(engine, retention_days=settings.metrics_retention_days,
                                 rollup_retention_days=settings.metrics_rollup_retention_days)
    except SQLAlchemyError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(tr("Wartung fehlgeschlagen: {e}. Ist die Datenbank erreichbar und migriert "
                 "(`techcare-backend migrate`)?", "Maintenance failed: {e}. Is the database reachable and migrated "
                 "(`techcare-backend migrate`)?", e=first[:300]), file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(report.summary())
    return 0 if report.ran else 3


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


def _keys_create(args: argparse.Namespace) -> int:
    from pydantic import ValidationError
    from sqlalchemy import select

    from techcare.config import write_env_file

    from . import crud, crud_bindings
    from .core.config import load_backend_settings
    from .core.db import make_engine, make_sessionmaker, migrate
    from .models import Organisation
    from .schemas import ApiKeyCreate

    name = args.name or (f"sensor {args.hostname}" if args.hostname else f"{args.role} key")
    try:
        body = ApiKeyCreate(name=name, role=args.role, hostname=args.hostname,
                            technician_name=args.technician if args.role != "sensor" else None)
    except ValidationError as exc:
        print(tr("Ungültige Angabe: {p}", "Invalid value: {p}", p="; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or 'hostname'}: {e['msg']}" for e in exc.errors())),
              file=sys.stderr)
        return 2
    settings = load_backend_settings()
    if settings.should_migrate:
        migrate(settings.sqlalchemy_url)
    engine = make_engine(settings.sqlalchemy_url, pool_size=1)
    try:
        with make_sessionmaker(engine)() as session:
            org = session.get(Organisation, args.org) or session.scalar(
                select(Organisation).where(Organisation.name == args.org))
            if org is None:
                print(tr("Organisation {o} gibt es nicht (ID oder Name wie bei 'org create').",
                         "Organisation {o} does not exist (its id or name as 'org create' showed it).", o=args.org),
                      file=sys.stderr)
                return 2
            row, api_key = crud.create_api_key(session, organisation_id=org.id, name=body.name, role=body.role,
                                               technician_name=body.technician_name, actor="cli")
            if body.hostname is not None:
                crud_bindings.bind_at_creation(session, organisation_id=org.id, hostname=body.hostname,
                                               key_id=row.id, actor="cli")
            session.commit()
            org_name, key_id = org.name, row.id
    finally:
        engine.dispose()
    what = tr("Sensor-Schlüssel für {h}", "sensor key for {h}", h=body.hostname) if body.hostname else \
        tr("Schlüssel ({r})", "key ({r})", r=body.role)
    if args.env_file:
        write_env_file(args.env_file, {"TECHCARE_API_KEY": api_key})
        print(tr("Organisation {o}: {w} {id} als TECHCARE_API_KEY in {p} geschrieben (Modus 0600).",
                 "Organisation {o}: {w} {id} written to {p} as TECHCARE_API_KEY (mode 0600).", o=org_name, w=what,
                 id=key_id, p=args.env_file))
    else:
        print(tr("Organisation {o}: {w} {id} – wird nur jetzt angezeigt:",
                 "Organisation {o}: {w} {id} – shown only now:", o=org_name, w=what, id=key_id))
        print(f"TECHCARE_API_KEY={api_key}")
    if body.role == "sensor":
        print(tr("Die .env des Sensors braucht außerdem BACKEND_URL, LICENSE_KEY, EDITION (Pro Business oder "
                 "höher) und REMOTE_JOBS=on (backend/README.md, \"Remote jobs\").",
                 "The sensor's .env also needs BACKEND_URL, LICENSE_KEY, EDITION (Pro Business or higher) and "
                 "REMOTE_JOBS=on (backend/README.md, \"Remote jobs\")."), file=sys.stderr)
    return 0


def _org_create(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from techcare.config import write_env_file

    from . import crud
    from .core.config import load_backend_settings
    from .core.db import make_engine, make_sessionmaker, migrate
    from .schemas import LicenseCreate

    technician = (args.technician or "").strip() or args.name.strip()
    for label, value in ((tr("Der Organisationsname", "The organisation name"), args.name),
                         (tr("Der Technikername", "The technician name"), technician)):
        if not 1 <= len(value.strip()) <= 200 or any(ch in value for ch in "\r\n\x00"):
            print(tr("{l} {v!r} ist ungültig. Erlaubt: 1 bis 200 Zeichen, eine Zeile.",
                     "{l} {v!r} is not valid. Allowed: 1 to 200 characters, one line.", l=label, v=value),
                  file=sys.stderr)
            return 2
    try:
        data = LicenseCreate(edition=args.edition, organisation=args.name)
    except ValidationError as exc:  # pragma: no cover - the name and edition are checked above
        print(tr("Ungültige Angabe: {p}", "Invalid value: {p}", p="; ".join(
            f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())), file=sys.stderr)
        return 2
    settings = load_backend_settings()
    if settings.should_migrate:
        migrate(settings.sqlalchemy_url)
    engine = make_engine(settings.sqlalchemy_url, pool_size=1)
    try:
        with make_sessionmaker(engine)() as session:
            lic, license_key = crud.create_license(session, data=data, secret=settings.key_secret_bytes, actor="cli",
                                                   default_transfers=settings.max_transfers)
            row, api_key = crud.create_api_key(session, organisation_id=lic.organisation_id,
                                               name=f"{technician} (techcare-backend org create)", role="technician",
                                               technician_name=technician, actor="cli")
            session.commit()
            org_id = lic.organisation_id
    finally:
        engine.dispose()
    if args.env_file:
        write_env_file(args.env_file, {"EDITION": args.edition, "LICENSE_KEY": license_key,
                                       "TECHCARE_API_KEY": api_key, "TECHNICIAN_NAME": technician})
        print(tr("Organisation {o} ({id}): Lizenz {e} und Techniker-Schlüssel für {t} in {p} geschrieben (Modus 0600).",
                 "Organisation {o} ({id}): license {e} and technician key for {t} written to {p} (mode 0600).",
                 o=args.name, id=org_id, e=args.edition, t=technician, p=args.env_file))
    else:
        print(tr("Organisation {o} ({id}) – die Schlüssel werden nur jetzt angezeigt:",
                 "Organisation {o} ({id}) – the keys are shown only now:", o=args.name, id=org_id))
        print(f"LICENSE_KEY={license_key}")
        print(f"TECHCARE_API_KEY={api_key}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from techcare.i18n_argparse import Parser  # argparse's own words (usage, errors) in the active language too

    parser = Parser(prog="techcare-backend", description=tr(
        "TechCare-Backend: Lizenzserver, Sensor-Messwerte, Shared Learning DB.",
        "TechCare backend: license server, sensor metrics, shared learning database."))
    sub = parser.add_subparsers(dest="command", required=True, title=tr("Befehle", "commands"),
                                metavar="COMMAND")
    serve = sub.add_parser("serve", help=tr("Server starten (uvicorn)", "run the server (uvicorn)"))
    serve.add_argument("--host", default="127.0.0.1", help=tr("Adresse, auf der der Server lauscht (Standard: "
                                                                "127.0.0.1)", "address to listen on (default: "
                                                                "127.0.0.1)"))
    serve.add_argument("--port", type=int, default=8000, help=tr("Port (Standard: 8000)", "port (default: 8000)"))
    serve.add_argument("--workers", type=int, default=1, help=tr(
        "uvicorn-Worker-Prozesse (Standard: 1; mehrere nur mit DATABASE_URL und REDIS_URL)",
        "uvicorn worker processes (default: 1; several only with DATABASE_URL and REDIS_URL)"))
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                       help=tr("Protokollstufe (Standard: info)", "log level (default: info)"))
    serve.set_defaults(func=_serve)
    mig = sub.add_parser("migrate", help=tr("Datenbank migrieren (alembic upgrade)", "migrate the database"))
    mig.add_argument("--revision", default="head", help=tr("Ziel-Revision (Standard: head, die neueste)",
                                                            "target revision (default: head, the newest)"))
    mig.set_defaults(func=_migrate)
    maint = sub.add_parser("maintenance", help=tr(
        "einen Wartungslauf der Messwerte ausführen (Rollups, Partitionen, Aufbewahrung; für cron)",
        "run one metrics maintenance pass (rollups, partitions, retention; for cron)"))
    maint.set_defaults(func=_maintenance)
    keys = sub.add_parser("keys", help=tr("Schlüssel verwalten", "manage secrets"))
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, title=tr("Befehle", "commands"),
                                   metavar="COMMAND")
    gen = keys_sub.add_parser("generate", help=tr("neue Geheimnisse erzeugen", "generate new secrets"))
    gen.add_argument("--env-file", help=tr("in diese .env-Datei schreiben", "write them into this .env file"))
    gen.set_defaults(func=_keys)
    kcreate = keys_sub.add_parser("create", help=tr("API-Schlüssel für eine Organisation anlegen (z. B. einen "
                                                    "Sensor-Schlüssel je Rechner)", "create an API key for an "
                                                    "organisation (e.g. a sensor key per host)"))
    kcreate.add_argument("--org", required=True, help=tr("ID oder Name der Organisation",
                                                         "the organisation's id or name"))
    kcreate.add_argument("--role", required=True, choices=["sensor", "technician", "admin"],
                         help=tr("Rolle des Schlüssels", "the key's role"))
    kcreate.add_argument("--hostname", help=tr("nur Sensor: der Rechner, den der Schlüssel bedient (nur ihn)",
                                               "sensor only: the host the key serves (and no other)"))
    kcreate.add_argument("--name", help=tr("Anzeigename des Schlüssels", "the key's display name"))
    kcreate.add_argument("--technician", help=tr("Techniker/Admin: Name des Technikers (Standard: --name)",
                                                 "technician/admin: the technician's name (default: --name)"))
    kcreate.add_argument("--env-file", help=tr("als TECHCARE_API_KEY in diese Datei schreiben statt anzeigen (0600)",
                                               "write it into this file as TECHCARE_API_KEY instead of printing "
                                               "it (0600)"))
    kcreate.set_defaults(func=_keys_create)
    org = sub.add_parser("org", help=tr("Organisationen verwalten", "manage organisations"))
    org_sub = org.add_subparsers(dest="org_command", required=True, title=tr("Befehle", "commands"),
                                 metavar="COMMAND")
    create = org_sub.add_parser("create", help=tr("Organisation mit Lizenz und Techniker-Schlüssel anlegen",
                                                  "create an organisation with a license and a technician key"))
    create.add_argument("name", help=tr("Name der Organisation (ein vorhandener Name bekommt eine weitere Lizenz)",
                                        "organisation name (an existing name gets another license)"))
    create.add_argument("--edition", default="enterprise", choices=["community", "pro", "pro_business", "enterprise"],
                        help=tr("Edition der Lizenz (Standard: enterprise)", "the license's edition (default: "
                                "enterprise)"))
    create.add_argument("--technician", help=tr("Name des Technikers für den API-Schlüssel (Standard: der "
                                                "Organisationsname)", "technician name for the API key (default: "
                                                "the organisation name)"))
    create.add_argument("--env-file", help=tr("Schlüssel in diese Datei schreiben statt sie anzuzeigen (0600)",
                                              "write the keys into this file instead of printing them (0600)"))
    create.set_defaults(func=_org_create)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # alembic 1.16+ logs "setup plugin ..." seven times before every migration: noise, not progress
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
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
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in SERVER_MODULES:
            raise
        print(_missing_extra(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
