"""Sensor metrics: ingestion (single and batch, idempotent by sample_id), fleet, history, alerts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from techcare.i18n import tr

from ... import crud, crud_tags
from ...core.errors import ApiError
from ...core.ingest import writer_for
from ...dashboard import alerts as alert_rules
from ...schemas import (
    AlertPublic,
    BatchResult,
    ErrorPublic,
    HostPublic,
    MetricBatch,
    MetricSampleCreate,
    MetricSampleFields,
    SampleAccepted,
    UtcDatetime,
    bad_text,
)
from ...schemas_metrics import HostHistory, Resolution
from .. import rawbody
from .tags import TagQuery, record_sensor_facts
from ..deps import (
    AppContext,
    CtxDep,
    HumanDep,
    LangDep,
    Principal,
    SessionDep,
    aorg_entitlements,
    authorize,
    check_entitlement,
    get_lang,
    principal_for,
    unauthorized,
)

router = APIRouter(prefix="/api/monitoring", tags=["monitoring"])


class _BatchFields(BaseModel):
    samples: list[MetricSampleFields] = Field(max_length=1000)


def _seen(ctx: AppContext, org: str, statuses: list[str], samples: Sequence[MetricSampleFields]) -> None:
    now = datetime.now().timestamp()
    ctx.cache.set_last_seen(org, {s.hostname: now for status, s in zip(statuses, samples) if status == "created"})


def _store_sqlite(ctx: AppContext, organisation_id: str, samples: Sequence[MetricSampleFields]) -> list[str]:
    with ctx.sessionmaker() as session:
        statuses = crud.ingest_samples(session, organisation_id=organisation_id, samples=samples)
        session.commit()
    _seen(ctx, organisation_id, statuses, samples)
    return statuses


async def _store(ctx: AppContext, organisation_id: str, samples: Sequence[MetricSampleFields]) -> list[str]:
    """PostgreSQL: through the process's group-commit writer (``core.ingest``); SQLite: a session in the thread
    pool. Either way committed before this returns."""
    if not samples:
        return []
    if ctx.engine.dialect.name == "postgresql":
        return await writer_for(ctx).write(organisation_id, samples, [s.model_dump_json() for s in samples])
    return await run_in_threadpool(_store_sqlite, ctx, organisation_id, samples)


async def _sensor(request: Request, ctx: AppContext, lang: str) -> Principal:
    """The caller's API key, and its organisation must hold sensor mode (401 / 403 as the other routes)."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise unauthorized(lang)
    principal = authorize(request, await principal_for(ctx, key.strip(), lang), lang)
    check_entitlement(await aorg_entitlements(ctx, principal.organisation_id), "sensor_mode", lang)
    return principal


@router.post("/metrics", response_model=SampleAccepted, status_code=201,
             responses={401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}},
             openapi_extra=rawbody.json_body(MetricSampleCreate, bearer=True))
async def ingest(request: Request) -> JSONResponse:
    """Store one sample. Re-sending the same ``sample_id`` stores nothing and answers ``duplicate``.

    Needs sensor mode (Pro Business and higher). The body is validated from the raw bytes (``api.rawbody``)."""
    ctx: AppContext = request.app.state.ctx
    lang = await get_lang(request)
    principal = await _sensor(request, ctx, lang)
    body = await request.body()
    sample = rawbody.parse(body, MetricSampleCreate if b"\\u0000" in body else MetricSampleFields)
    [status] = await _store(ctx, principal.organisation_id, [sample])
    await record_sensor_facts(request, principal.organisation_id, [sample])
    return JSONResponse({"sample_id": sample.sample_id, "status": status}, status_code=201)


def _error_text(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'sample'}: {e['msg']}" for e in exc.errors()[:5])


def _validate_batch(raw_samples: list[Any]) -> tuple[list[dict[str, Any] | None], list[MetricSampleFields],
                                                     list[int]]:
    """Each sample on its own (the slow path, when the batch as a whole did not validate), so every error is
    reported with its sample."""
    results: list[dict[str, Any] | None] = []
    valid, positions = [], []
    for i, raw in enumerate(raw_samples):
        try:
            sample = MetricSampleCreate.model_validate(raw)
        except ValidationError as exc:
            sid = raw.get("sample_id") if isinstance(raw, dict) and isinstance(raw.get("sample_id"), str) else None
            if sid is not None and (len(sid) > 64 or bad_text(sid)):  # not echoed: it is not a usable id
                sid = None
            results.append({"sample_id": sid, "status": "error", "error": _error_text(exc)})
            continue
        results.append(None)
        valid.append(sample)
        positions.append(i)
    return results, valid, positions


def _parse_batch(body: bytes) -> tuple[list[dict[str, Any] | None], list[MetricSampleFields], list[int]]:
    """All samples in one validation of the raw bytes when the batch is clean (the common case; NUL can only come
    as the escape ``\\u0000``, looked for in the bytes); otherwise sample by sample."""
    if b"\\u0000" not in body:
        try:
            valid = _BatchFields.model_validate_json(body).samples
            return [None] * len(valid), valid, list(range(len(valid)))
        except ValidationError:
            pass
    envelope = rawbody.parse(body, MetricBatch)  # a broken envelope (not JSON, > 1,000 samples) is a 422
    return _validate_batch(envelope.samples)  # (a lone surrogate: read by Python's json, refused per sample)


@router.post("/metrics/batch", response_model=BatchResult,
             responses={401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}},
             openapi_extra=rawbody.json_body(MetricBatch, bearer=True))
async def ingest_batch(request: Request) -> JSONResponse:
    """Store up to 1,000 samples; each is validated on its own and reported per sample."""
    ctx: AppContext = request.app.state.ctx
    lang = await get_lang(request)
    principal = await _sensor(request, ctx, lang)
    results, valid, positions = _parse_batch(await request.body())
    statuses = await _store(ctx, principal.organisation_id, valid)
    await record_sensor_facts(request, principal.organisation_id, valid)
    for pos, sample, status in zip(positions, valid, statuses):
        results[pos] = {"sample_id": sample.sample_id, "status": status}
    counts = Counter(r["status"] for r in results if r is not None)
    return JSONResponse({"results": results, "created": counts["created"], "duplicates": counts["duplicate"],
                         "errors": counts["error"]})


def _hosts(principal: Principal, session: SessionDep, ctx: CtxDep, tag: str | None = None) -> list[HostPublic]:
    hosts = crud.list_hosts(session, organisation_id=principal.organisation_id,
                            overdue_after=ctx.settings.host_overdue_seconds,
                            cached_seen=ctx.cache.get_last_seen(principal.organisation_id))
    if tag is not None:  # ?tag=: the hosts carrying it (docs/remote-jobs.md §5)
        tagged = set(crud_tags.hosts_with_tag(session, organisation_id=principal.organisation_id, tag=tag))
        hosts = [h for h in hosts if h.hostname in tagged]
    return hosts


@router.get("/hosts", response_model=list[HostPublic])
def hosts(principal: HumanDep, session: SessionDep, ctx: CtxDep, tag: TagQuery = None) -> list[HostPublic]:
    """The fleet: last seen, last values and status (``overdue`` after HOST_OVERDUE_SECONDS without samples);
    ``tag``: only the hosts carrying it."""
    return _hosts(principal, session, ctx, tag)


@router.get("/hosts/{hostname:path}/metrics", response_model=list[MetricSampleCreate],
            responses={404: {"model": ErrorPublic}})
def host_metrics(hostname: str, principal: HumanDep, session: SessionDep, lang: LangDep,
                 since: Annotated[UtcDatetime | None, Query(description="ISO 8601; naive = UTC")] = None,
                 until: Annotated[UtcDatetime | None, Query(description="ISO 8601; naive = UTC")] = None,
                 limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> list[dict]:
    """A host's samples between ``since`` and ``until`` (ISO timestamps, naive = UTC), oldest first, as the sensor
    sent them; samples are kept METRICS_RETENTION_DAYS (``/history`` reaches further, from rollups). The host
    name may contain ``/`` (hosts stored before names were checked stay readable)."""
    if not crud.host_exists(session, organisation_id=principal.organisation_id, hostname=hostname):
        raise ApiError(404, "NOT_FOUND", tr("Host {h} ist unbekannt.", "Host {h} is unknown.", lang, h=hostname))
    return crud.host_metrics(session, organisation_id=principal.organisation_id, hostname=hostname,
                             since=since, until=until, limit=limit)


@router.get("/hosts/{hostname:path}/history", response_model=HostHistory, responses={404: {"model": ErrorPublic}})
def host_history(hostname: str, principal: HumanDep, session: SessionDep, ctx: CtxDep, lang: LangDep,
                 since: Annotated[UtcDatetime | None, Query(description="ISO 8601; default: 24 h before until")] = None,
                 until: Annotated[UtcDatetime | None, Query(description="ISO 8601; default: now")] = None,
                 resolution: Annotated[Resolution | None, Query(
                     description="raw, hour or day; default: chosen by the range")] = None) -> dict[str, Any]:
    """A host's CPU, RAM, swap and fullest-disk history (min/avg/max) and worst SMART state, oldest first. The range
    decides the ``resolution`` unless one is asked: raw samples up to 2 days (within METRICS_RETENTION_DAYS),
    hourly rollups up to 31 days, daily rollups beyond (kept METRICS_ROLLUP_RETENTION_DAYS). A range whose
    ``since`` is not before ``until`` holds no time and answers no points (as ``/metrics`` does)."""
    now = datetime.now(UTC)
    until = until or now
    if since is None:  # 24 hours before until (from the earliest time there is, for an until in year 1)
        earliest = datetime.min.replace(tzinfo=UTC)
        since = until - timedelta(hours=24) if until - earliest > timedelta(hours=24) else earliest
    if not crud.host_exists(session, organisation_id=principal.organisation_id, hostname=hostname):
        raise ApiError(404, "NOT_FOUND", tr("Host {h} ist unbekannt.", "Host {h} is unknown.", lang, h=hostname))
    return crud.host_history(session, organisation_id=principal.organisation_id, hostname=hostname, since=since,
                             until=until, resolution=resolution, now=now,
                             retention_days=ctx.settings.metrics_retention_days)


@router.get("/alerts", response_model=list[AlertPublic])
def alerts(principal: HumanDep, session: SessionDep, ctx: CtxDep, lang: LangDep,
           tag: TagQuery = None) -> list[AlertPublic]:
    """Active alerts: disk warning/critical, SMART failing, firewall or antivirus off, host overdue; ``tag``: of
    the hosts carrying it."""
    return alert_rules.alerts(_hosts(principal, session, ctx, tag), disk_warning=ctx.settings.disk_warning_percent,
                              disk_critical=ctx.settings.disk_critical_percent, lang=lang)
