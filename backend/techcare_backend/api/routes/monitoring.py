"""Sensor metrics: ingestion (single and batch, idempotent by sample_id), fleet, history, alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from techcare.i18n import tr

from ... import crud
from ...core.errors import ApiError
from ...schemas import (
    AlertPublic,
    BatchItemResult,
    BatchResult,
    ErrorPublic,
    HostPublic,
    MetricBatch,
    MetricSampleCreate,
    SampleAccepted,
    as_utc,
)
from ..deps import CtxDep, HumanDep, LangDep, Principal, SessionDep, requires

router = APIRouter(prefix="/api/monitoring", tags=["monitoring"])
SensorDep = Annotated[Principal, Depends(requires("sensor_mode"))]


def _seen(ctx: CtxDep, org: str, statuses: list[str], samples: list[MetricSampleCreate]) -> None:
    now = datetime.now().timestamp()
    ctx.cache.set_last_seen(org, {s.hostname: now for status, s in zip(statuses, samples) if status == "created"})


@router.post("/metrics", response_model=SampleAccepted, status_code=201,
             responses={403: {"model": ErrorPublic}})
def ingest(body: MetricSampleCreate, principal: SensorDep, ctx: CtxDep) -> JSONResponse:
    """Store one sample. Re-sending the same ``sample_id`` stores nothing and answers ``duplicate``."""
    # The session is opened here rather than through SessionDep: one thread-pool hop per request instead of three.
    with ctx.sessionmaker() as session:
        [status] = crud.ingest_samples(session, organisation_id=principal.organisation_id, samples=[body])
        session.commit()
    _seen(ctx, principal.organisation_id, [status], [body])
    return JSONResponse({"sample_id": body.sample_id, "status": status}, status_code=201)


def _error_text(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'sample'}: {e['msg']}" for e in exc.errors()[:5])


@router.post("/metrics/batch", response_model=BatchResult, responses={403: {"model": ErrorPublic}})
def ingest_batch(body: MetricBatch, principal: SensorDep, ctx: CtxDep) -> BatchResult:
    """Store up to 1,000 samples; each is validated on its own and reported per sample."""
    results: list[BatchItemResult | None] = []
    valid: list[MetricSampleCreate] = []
    positions: list[int] = []
    for i, raw in enumerate(body.samples):
        try:
            sample = MetricSampleCreate.model_validate(raw)
        except ValidationError as exc:
            sid = raw.get("sample_id") if isinstance(raw, dict) and isinstance(raw.get("sample_id"), str) else None
            results.append(BatchItemResult(sample_id=sid, status="error", error=_error_text(exc)))
            continue
        results.append(None)
        valid.append(sample)
        positions.append(i)
    with ctx.sessionmaker() as session:
        statuses = crud.ingest_samples(session, organisation_id=principal.organisation_id, samples=valid)
        session.commit()
    _seen(ctx, principal.organisation_id, statuses, valid)
    for pos, sample, status in zip(positions, valid, statuses):
        results[pos] = BatchItemResult(sample_id=sample.sample_id, status=status)  # type: ignore[arg-type]
    final = [r for r in results if r is not None]
    return BatchResult(results=final, created=sum(r.status == "created" for r in final),
                       duplicates=sum(r.status == "duplicate" for r in final),
                       errors=sum(r.status == "error" for r in final))


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
