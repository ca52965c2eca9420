"""Sensor metrics: ingestion (single and batch, idempotent by sample_id), fleet, history, alerts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from techcare.i18n import tr

from ... import crud
from ...core.db import run_idempotent
from ...core.errors import ApiError
from ...schemas import (
    AlertPublic,
    BatchResult,
    ErrorPublic,
    HostPublic,
    MetricBatch,
    MetricSampleCreate,
    MetricSampleFields,
    SampleAccepted,
    _has_nul,
    as_utc,
)
from ..deps import (
    AppContext,
    CtxDep,
    HumanDep,
    LangDep,
    Principal,
    SessionDep,
    requires,
)

router = APIRouter(prefix="/api/monitoring", tags=["monitoring"])
SensorDep = Annotated[Principal, Depends(requires("sensor_mode"))]


def _seen(ctx: AppContext, org: str, statuses: list[str], samples: Sequence[MetricSampleFields]) -> None:
    now = datetime.now().timestamp()
    ctx.cache.set_last_seen(org, {s.hostname: now for status, s in zip(statuses, samples) if status == "created"})


def _store(ctx: AppContext, organisation_id: str, samples: Sequence[MetricSampleFields]) -> list[str]:
    """Insert and commit; PostgreSQL through plain psycopg on a pooled connection (the hot path), SQLite through
    a session. Either way one thread-pool hop per request (sync route)."""
    if ctx.engine.dialect.name == "postgresql":
        pooled = ctx.engine.raw_connection()
        try:
            raw = pooled.driver_connection
            statuses = crud.ingest_samples_pg(raw, organisation_id=organisation_id, samples=samples)
            raw.commit()
        except BaseException:
            pooled.rollback()
            raise
        finally:
            pooled.close()
        return statuses
    with ctx.sessionmaker() as session:
        statuses = crud.ingest_samples(session, organisation_id=organisation_id, samples=samples)
        session.commit()
    return statuses


@router.post("/metrics", response_model=SampleAccepted, status_code=201,
             responses={403: {"model": ErrorPublic}})
async def ingest(body: MetricSampleCreate, principal: SensorDep, ctx: CtxDep) -> JSONResponse:
    """Store one sample. Re-sending the same ``sample_id`` stores nothing and answers ``duplicate``."""
    if ctx.engine.dialect.name == "postgresql":
        # on the event loop: async psycopg in autocommit, one prepared statement (sample + host), one round trip
        async def work(raw: Any) -> str:
            return await crud.aingest_one_pg(raw, organisation_id=principal.organisation_id, sample=body)

        status = await run_idempotent(ctx.engine, work)
    else:
        [status] = await run_in_threadpool(_store, ctx, principal.organisation_id, [body])
    if status == "created":
        await ctx.cache.aset_last_seen(principal.organisation_id, {body.hostname: datetime.now().timestamp()})
    return JSONResponse({"sample_id": body.sample_id, "status": status}, status_code=201)


def _error_text(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'sample'}: {e['msg']}" for e in exc.errors()[:5])


_BATCH = TypeAdapter(list[MetricSampleFields])


def _validate_batch(raw_samples: list[Any]) -> tuple[list[dict[str, Any] | None], list[MetricSampleFields],
                                                     list[int]]:
    """All samples in one validation call when the batch is clean (the common case: NUL checked once for the
    whole batch); otherwise each sample on its own, so every error is reported with its sample."""
    if not _has_nul(raw_samples):
        try:
            valid = _BATCH.validate_python(raw_samples)
            return [None] * len(valid), valid, list(range(len(valid)))
        except ValidationError:
            pass
    results: list[dict[str, Any] | None] = []
    valid, positions = [], []
    for i, raw in enumerate(raw_samples):
        try:
            sample = MetricSampleCreate.model_validate(raw)
        except ValidationError as exc:
            sid = raw.get("sample_id") if isinstance(raw, dict) and isinstance(raw.get("sample_id"), str) else None
            results.append({"sample_id": sid, "status": "error", "error": _error_text(exc)})
            continue
        results.append(None)
        valid.append(sample)
        positions.append(i)
    return results, valid, positions


@router.post("/metrics/batch", response_model=BatchResult, responses={403: {"model": ErrorPublic}})
def ingest_batch(body: MetricBatch, principal: SensorDep, ctx: CtxDep) -> JSONResponse:
    """Store up to 1,000 samples; each is validated on its own and reported per sample."""
    results, valid, positions = _validate_batch(body.samples)
    statuses = _store(ctx, principal.organisation_id, valid)
    _seen(ctx, principal.organisation_id, statuses, valid)
    for pos, sample, status in zip(positions, valid, statuses):
        results[pos] = {"sample_id": sample.sample_id, "status": status}
    counts = Counter(r["status"] for r in results if r is not None)
    return JSONResponse({"results": results, "created": counts["created"], "duplicates": counts["duplicate"],
                         "errors": counts["error"]})


def _hosts(principal: Principal, session: SessionDep, ctx: CtxDep) -> list[HostPublic]:
    return crud.list_hosts(session, organisation_id=principal.organisation_id,
                           overdue_after=ctx.settings.host_overdue_seconds,
                           cached_seen=ctx.cache.get_last_seen(principal.organisation_id))


@router.get("/hosts", response_model=list[HostPublic])
def hosts(principal: HumanDep, session: SessionDep, ctx: CtxDep) -> list[HostPublic]:
    """The fleet: last seen, last values and status (``overdue`` after HOST_OVERDUE_SECONDS without samples)."""
    return _hosts(principal, session, ctx)


@router.get("/hosts/{hostname}/metrics", response_model=list[MetricSampleCreate],
            responses={404: {"model": ErrorPublic}})
def host_metrics(hostname: str, principal: HumanDep, session: SessionDep, lang: LangDep,
                 since: datetime | None = None, until: datetime | None = None,
                 limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> list[dict]:
    """A host's samples between ``since`` and ``until`` (ISO timestamps, naive = UTC), oldest first."""
    if not crud.host_exists(session, organisation_id=principal.organisation_id, hostname=hostname):
        raise ApiError(404, "NOT_FOUND", tr("Host {h} ist unbekannt.", "Host {h} is unknown.", lang, h=hostname))
    return crud.host_metrics(session, organisation_id=principal.organisation_id, hostname=hostname,
                             since=as_utc(since) if since else None, until=as_utc(until) if until else None,
                             limit=limit)


@router.get("/alerts", response_model=list[AlertPublic])
def alerts(principal: HumanDep, session: SessionDep, ctx: CtxDep, lang: LangDep) -> list[AlertPublic]:
    """Active alerts: disk warning/critical, SMART failing, firewall or antivirus off, host overdue."""
    return crud.alerts(_hosts(principal, session, ctx), disk_warning=ctx.settings.disk_warning_percent,
                       disk_critical=ctx.settings.disk_critical_percent, lang=lang)
