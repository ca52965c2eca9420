"""The FastAPI application: ``create_app(settings)``; ``app`` for ``uvicorn techcare_backend.main:app``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from techcare.i18n import tr

from . import __version__
from .api import rawbody
from .api.deps import AppContext, client_ip, get_lang, too_many
from .api.routes import admin, cases, health, licenses, monitoring, org
from .api.routes import changelogs
from .api.routes import jobs
from .api.routes import schedules, tags
from .core.cache import make_cache
from .core.config import BackendSettings, load_backend_settings
from .core.db import make_engine, make_sessionmaker, migrate
from .core.ingest import close_writers
from .core.tcp import ensure_tcp_nodelay
from .core.errors import ApiError

log = logging.getLogger("techcare_backend")

__all__ = ["create_app"]


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def printable(value: Any) -> Any:
    """``value`` (JSON data) with every string made encodable: a lone surrogate such as ``\\ud800`` (which
    cannot be written as UTF-8) is shown as the text of its escape, so an error can echo the input."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable(v) for v in value]
    return value


def validation_body(errors: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    """The documented 422 body (``schemas.ValidationErrorPublic``): ``code``, ``detail`` (one line naming the
    fields and what is allowed, in the caller's language) and ``errors`` (pydantic's list, input echoed)."""
    errors = printable(errors)
    text = tr("Ungültige Anfrage: ", "Invalid request: ", lang) + _validation_message(errors)
    return {"code": "VALIDATION_ERROR", "detail": text, "message": text, "errors": errors}


def allowed_methods(request: Request) -> list[str]:
    """The methods the app answers on the request's path."""
    from fastapi.routing import iter_route_contexts
    from starlette.routing import Match

    methods = set()
    for route in iter_route_contexts(request.app.routes):
        if route.methods and route.route.matches(request.scope)[0] != Match.NONE:
            methods |= set(route.methods)
    return sorted(methods)


def tune_gc() -> None:
    """For a server process, once it is set up: move everything alive now out of the collector's way
    (``gc.freeze``) and collect the youngest generation less often. A batch of 1,000 samples creates some 10,000
    objects; with the default thresholds each batch set off full collections over every object of the process
    (validation took 20 us per sample instead of 7)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 10)


async def maintenance_loop(ctx: AppContext) -> None:
    """The metrics maintenance pass (``core/metrics_maintenance.py``) right after start, then every
    ``METRICS_MAINTENANCE_SECONDS``; in a worker thread, so requests go on meanwhile. Several instances may run the
    loop: the pass's advisory lock lets one work. A failed pass is logged and tried again on the next round."""
    from .core.metrics_maintenance import run_maintenance

    settings = ctx.settings
    loop = asyncio.get_running_loop()
    while True:
        future = loop.run_in_executor(None, lambda: run_maintenance(
            ctx.engine, retention_days=settings.metrics_retention_days,
            rollup_retention_days=settings.metrics_rollup_retention_days))
        try:
            report = await asyncio.shield(future)
            log.info("%s", report.summary("en"))
        except asyncio.CancelledError:
            await asyncio.wait([future], timeout=60)  # a pass in progress finishes before the engine closes
            raise
        except Exception as exc:  # the database may be down for a while; the next round tries again
            log.warning("metrics maintenance failed (%s: %s); next try in %s s", type(exc).__name__, exc,
                        settings.metrics_maintenance_seconds)
        await asyncio.sleep(settings.metrics_maintenance_seconds)


def create_app(settings: BackendSettings | None = None, *, server: bool = False) -> FastAPI:
    """Build the app. Without ``settings`` they are read from the environment (and refused if unsafe). ``server``:
    the app owns its process (``techcare-backend serve``, uvicorn workers), see :func:`tune_gc`."""
    settings = settings or load_backend_settings()
    ensure_tcp_nodelay()  # uvicorn --workers: otherwise every response waits ~40 ms for a delayed ACK
    engine = make_engine(settings.sqlalchemy_url, pool_size=settings.db_pool_size)
    ctx = AppContext(settings=settings, engine=engine, sessionmaker=make_sessionmaker(engine),
                     cache=make_cache(settings.redis_url, settings.redis_prefix))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.should_migrate:
            migrate(settings.sqlalchemy_url)
        mode = "embedded SQLite + in-process cache" if settings.embedded else "PostgreSQL"
        log.info("TechCare backend %s ready (%s, cache: %s)", __version__, mode, ctx.cache.backend)
        if server:
            tune_gc()
        task = (asyncio.create_task(maintenance_loop(ctx), name="metrics-maintenance")
                if settings.metrics_maintenance_seconds else None)
        yield
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await close_writers(ctx)
        ctx.cache.close()
        engine.dispose()

    app = FastAPI(title="TechCare backend", version=__version__, lifespan=lifespan,
                  description="License server, metrics ingestion, shared learning database and teams.")
    app.state.ctx = ctx

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"code": exc.code, "detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = await get_lang(request)
        if request.url.path == "/api/licenses/validate":  # malformed floods count against the IP limit too
            ok, retry = ctx.cache.rate_limit(f"ip:{client_ip(request, ctx)}", settings.rate_limit_ip_per_minute)
            if not ok:
                return await api_error(request, too_many(retry, lang))
        return JSONResponse(validation_body(jsonable_encoder(printable(exc.errors())), lang), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        lang = await get_lang(request)
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):  # undecodable body: malformed, 422
            return JSONResponse(validation_body([{"loc": ["body"], "msg": "not JSON", "type": "json_invalid"}],
                                                lang), status_code=422)
        if exc.status_code == 413:  # a streamed body passed the route's limit (rawbody.BodyLimitMiddleware)
            return rawbody.too_large(rawbody.body_limit(request.url.path), request.method, request.url.path, lang)
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # Allow: every method of the path (a route per method: Starlette names one)
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 401: "UNAUTHORIZED", 403: "FORBIDDEN"}.get(
            exc.status_code, "HTTP_ERROR")
        detail = {404: tr("Nicht gefunden.", "Not found.", lang),
                  405: tr("Methode {m} ist hier nicht erlaubt.", "Method {m} is not allowed here.", lang,
                          m=request.method)}.get(exc.status_code, str(exc.detail))
        return JSONResponse({"code": code, "detail": detail}, status_code=exc.status_code, headers=headers)

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        """The database cannot be reached (restart, network, locked): 503 with Retry-After, so clients (the
        sensor's spool, license checks) retry instead of treating it as an error of their request. A statement
        that exceeds a limit of the database (SQLSTATE class 54, e.g. text too long for a tsvector) is the
        request's fault and would fail again: 422, not retried."""
        lang = await get_lang(request)
        sqlstate = getattr(getattr(exc, "orig", exc), "sqlstate", None) or ""
        if sqlstate.startswith("54"):
            log.warning("request exceeds a database limit on %s %s: %s", request.method, request.url.path, exc)
            return JSONResponse({"code": "TOO_LARGE", "detail": tr(
                "Die Anfrage überschreitet eine Grenze der Datenbank (zu viel Text oder zu viele Werte); bitte "
                "kürzen.", "The request exceeds a limit of the database (too much text or too many values); "
                "please shorten it.", lang)}, status_code=422)
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"code": "DATABASE_UNAVAILABLE", "detail": (
            "Datenbank vorübergehend nicht erreichbar; bitte gleich erneut versuchen." if lang == "de" else
            "The database is unreachable for the moment; please retry shortly.")}, status_code=503,
            headers={"Retry-After": "5"})

    app.add_exception_handler(sqlalchemy.exc.OperationalError, database_unavailable)
    if ctx.engine.dialect.name == "postgresql":
        import psycopg

        app.add_exception_handler(psycopg.OperationalError, database_unavailable)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - last resort
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"code": "INTERNAL_ERROR", "detail": "internal error; see the server log"},
                            status_code=500)

    for module in (health, admin, licenses, org, monitoring, cases):
        app.include_router(module.router)
    app.include_router(changelogs.router)
    app.include_router(jobs.router)
    app.include_router(tags.router)
    app.include_router(schedules.router)
    from .dashboard import router as dashboard_router, static_app  # the web dashboard at /dashboard
    from .dashboard.routes import LoginRequired, login_redirect

    app.add_exception_handler(LoginRequired, login_redirect)  # a page without a session: to the login form

    app.include_router(dashboard_router)
    app.mount("/dashboard/static", static_app, name="dashboard-static")
    app.add_middleware(RejectNulMiddleware)
    app.add_middleware(rawbody.BodyLimitMiddleware)
    rawbody.install_schemas(app)
    return app


class RejectNulMiddleware:
    """422 for NUL characters in the path or query (no database can compare them; PostgreSQL refuses them)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"").lower()
            if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
                accept = dict(scope.get("headers") or ()).get(b"accept-language", b"").strip().lower()
                response = JSONResponse(validation_body(
                    [{"loc": ["query" if "\x00" not in scope.get("path", "") else "path"],
                      "msg": "NUL characters are not allowed in the URL", "type": "value_error"}],
                    "en" if accept.startswith(b"en") else "de"), status_code=422)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def __getattr__(name: str) -> Any:  # ``uvicorn techcare_backend.main:app`` builds the app on first use
    if name == "app":
        global app
        app = create_app(server=True)
        return app
    raise AttributeError(name)
