"""Remote jobs (``docs/remote-jobs.md`` §3): technicians queue signed jobs for their hosts, sensors fetch and report.

Technician routes need an admin or technician key and Pro Business or higher (``unlimited_systems``); sensor
routes need a sensor key of the same organisation. The backend stores the envelope and serves it unchanged; it
never verifies signatures (the hosts do).

A sensor's ``GET /api/sensor/jobs?wait=N`` is held on the event loop (no thread) until a job for its host is
queued or cancelled or ``N`` seconds pass: one :class:`asyncio.Event` per waiting (organisation, host), woken in
process by the route that queued the job and, across instances, through ``Cache.wake_jobs`` (Redis pub/sub).
A woken poll whose client has gone (sensor restarted, connection cut) claims nothing; when the server stops, held
polls are answered at once, empty (:func:`release_held_polls`, called by ``techcare-backend serve``).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy.exc
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from techcare.i18n import tr

from ... import crud_bindings, crud_jobs, crud_schedules
from ...core.errors import ApiError
from ...schemas import ErrorPublic, UtcDatetime
from ...schemas_jobs import (
    TARGET_STATUSES,
    JobCancel,
    JobCreate,
    JobList,
    JobPublic,
    JobReport,
    JobReported,
    SensorJobs,
    SensorKeyRef,
)
from .tags import TagQuery
from ..deps import (
    AppContext,
    CtxDep,
    LangDep,
    Principal,
    SensorDep,
    SessionDep,
    acheck_host,
    aorg_entitlements,
    check_entitlement,
    check_host,
    client_ip,
    requires,
)

router = APIRouter(tags=["jobs"])
FEATURE = "unlimited_systems"  # remote jobs are multi-system work: Pro Business and higher
MAX_WAIT = 30
MAX_RESULT_BYTES = 1024 * 1024  # steps + diagnosis of one report (the default request body limit, too)
JobIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")]
HostQuery = Annotated[str, Query(min_length=1, max_length=255, description="host name as the sensor reports it")]
ERRORS = {401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}}


def _now() -> datetime:
    return datetime.now(UTC)


async def _technician(principal: Annotated[Principal, Depends(requires(FEATURE))], lang: LangDep) -> Principal:
    if principal.role not in ("admin", "technician"):
        raise ApiError(403, "FORBIDDEN", tr(
            "Fernaufträge legen nur Techniker- oder Admin-Schlüssel an und sehen nur sie; Sensor-Schlüssel holen "
            "Aufträge nur ab.", "Only technician or admin keys create and see remote jobs; sensor keys only fetch "
            "them.", lang))
    return principal


TechnicianDep = Annotated[Principal, Depends(_technician)]


async def _sensor(principal: SensorDep, ctx: CtxDep, lang: LangDep) -> Principal:
    check_entitlement(await aorg_entitlements(ctx, principal.organisation_id), FEATURE, lang)
    return principal


JobSensorDep = Annotated[Principal, Depends(_sensor)]


def _not_found(job_id: str, lang: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", tr("Auftrag {j} gibt es in Ihrer Organisation nicht.",
                                         "Job {j} does not exist in your organisation.", lang, j=job_id))


# ---- technicians ------------------------------------------------------------------------------------------------
@router.post("/api/jobs", response_model=JobPublic, status_code=201,
             responses={**ERRORS, 404: {"model": ErrorPublic, "description": "hosts the organisation never saw"},
                        409: {"model": ErrorPublic, "description": "the job_id exists"},
                        422: {"model": ErrorPublic, "description": "malformed envelope or payload"}})
def create_job(body: JobCreate, principal: TechnicianDep, session: SessionDep, ctx: CtxDep, lang: LangDep,
               request: Request) -> JobPublic:
    """Queue a signed job for its hosts. The envelope is stored as it is and handed to each host's sensor, which
    verifies the signature against its pinned keys; the backend checks its shape and fields (the schema below plus
    the time window: ``not_before < expires <= not_before + 30 days``, ``expires`` in the future), after looking
    up the job id (409) and the hosts (404)."""
    now = _now()
    try:
        route = crud_jobs.route_fields(body.envelope)
    except crud_jobs.JobInvalid as exc:
        raise ApiError(422, "INVALID_JOB", tr(exc.de, exc.en, lang, **exc.fmt)) from None
    try:
        job = crud_jobs.create_job(session, organisation_id=principal.organisation_id, route=route,
                                   created_by=principal.technician or principal.name,
                                   created_by_key=principal.key_id, actor=principal.actor,
                                   ip=client_ip(request, ctx), now=now)
        public = crud_jobs.load_public(session, job=job)
        session.commit()
    except crud_jobs.JobInvalid as exc:  # the content, checked once the job id and the hosts are known
        raise ApiError(422, "INVALID_JOB", tr(exc.de, exc.en, lang, **exc.fmt)) from None
    except crud_jobs.JobConflict:
        raise ApiError(409, "JOB_EXISTS", tr("Auftrag {j} gibt es schon; jeder Auftrag braucht eine neue job_id.",
                                             "Job {j} exists already; every job needs a new job_id.", lang,
                                             j=route.job_id)) from None
    except crud_jobs.JobNotFound as exc:
        if exc.what == "rollback_of":
            raise ApiError(404, "NOT_FOUND", tr(
                "rollback_of: Auftrag {j} gibt es in Ihrer Organisation nicht.",
                "rollback_of: job {j} does not exist in your organisation.", lang, j=exc.names[0])) from None
        raise ApiError(404, "UNKNOWN_HOSTS", tr(
            "Diese Rechner haben Ihrer Organisation nie Messwerte gesendet: {h}. Namen wie in der Flotte "
            "(GET /api/monitoring/hosts).", "These hosts never sent a sample to your organisation: {h}. Use the "
            "names of the fleet (GET /api/monitoring/hosts).", lang,
            h=", ".join(exc.names[:20]) + (f" (+{len(exc.names) - 20})" if len(exc.names) > 20 else ""))) from None
    except sqlalchemy.exc.IntegrityError:  # the same job_id sent twice at the same moment
        session.rollback()
        raise ApiError(409, "JOB_EXISTS", tr("Auftrag {j} gibt es schon.", "Job {j} exists already.", lang,
                                             j=route.job_id)) from None
    ctx.cache.wake_jobs(principal.organisation_id, route.hosts)
    return public


@router.get("/api/jobs", response_model=JobList, responses=ERRORS)
def list_jobs(principal: TechnicianDep, session: SessionDep,
              host: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
              status: Annotated[str | None, Query(pattern="^(" + "|".join(TARGET_STATUSES) + ")$",
                                                  description="jobs with a target in this status")] = None,
              limit: Annotated[int, Query(ge=1, le=200)] = 50,
              before: Annotated[UtcDatetime | None, Query(description="only jobs created before (paging; "
                                                                      "ISO 8601, naive = UTC)")] = None,
              tag: TagQuery = None) -> JobList:
    """The organisation's jobs, newest first (targets without ``diagnosis``: get the job for it); ``tag``: jobs
    with a target carrying it."""
    jobs = crud_jobs.list_jobs(session, organisation_id=principal.organisation_id, now=_now(), host=host,
                               status=status, limit=limit, before=before, tag=tag)
    session.commit()  # expired targets
    return JobList(jobs=jobs, next_before=jobs[-1].created_at if len(jobs) == limit else None)


@router.get("/api/jobs/{job_id}", response_model=JobPublic, responses={**ERRORS, 404: {"model": ErrorPublic}})
def get_job(job_id: JobIdPath, principal: TechnicianDep, session: SessionDep, lang: LangDep,
            host: Annotated[str | None, Query(min_length=1, max_length=255, description=(
                "only this host's target (a large job's diagnoses one at a time)"))] = None) -> JobPublic:
    """One job with every host's status, steps and (diagnose jobs) diagnosis; with ``host`` only that target.
    ``sensor_key``: the sensor key that serves the host (``docs/remote-jobs.md`` §3)."""
    crud_jobs.expire_overdue(session, organisation_id=principal.organisation_id, now=_now(), job_id=job_id)
    job = crud_jobs.get_job(session, organisation_id=principal.organisation_id, job_id=job_id)
    if job is None:
        raise _not_found(job_id, lang)
    public = crud_jobs.load_public(session, job=job)
    session.commit()
    if host is not None:
        public.targets = [t for t in public.targets if t.host == host]
        if not public.targets:
            raise ApiError(404, "NOT_FOUND", tr("{h} ist kein Ziel von Auftrag {j}.", "{h} is not a target of job {j}.",
                                                lang, h=host, j=job_id))
    bound = crud_bindings.bindings_for(session, organisation_id=principal.organisation_id,
                                       hostnames=[t.host for t in public.targets])
    for target in public.targets:
        if target.host in bound:
            b = bound[target.host]
            target.sensor_key = SensorKeyRef(id=b.key_id, name=b.key_name, prefix=b.key_prefix, pinned=b.pinned,
                                             bound_at=b.bound_at)
    return public


@router.post("/api/jobs/{job_id}/cancel", response_model=JobPublic,
             responses={**ERRORS, 404: {"model": ErrorPublic},
                        409: {"model": ErrorPublic, "description": "every selected target is already final"}})
def cancel_job(job_id: JobIdPath, principal: TechnicianDep, session: SessionDep, ctx: CtxDep, lang: LangDep,
               request: Request, body: JobCancel | None = None) -> JobPublic:
    """Cancel the job (or ``hosts`` of it): queued targets end at once, a delivered or running one stops before
    its next step. Needs no signature: it only stops work."""
    try:
        job, notify = crud_jobs.cancel_job(session, organisation_id=principal.organisation_id, job_id=job_id,
                                           hosts=body.hosts if body else None, actor=principal.actor,
                                           by=principal.technician or principal.name, now=_now(),
                                           ip=client_ip(request, ctx))
        public = crud_jobs.load_public(session, job=job)
        session.commit()
    except crud_jobs.JobNotFound as exc:
        if exc.what == "job":
            raise _not_found(job_id, lang) from None
        raise ApiError(404, "NOT_FOUND", tr("Diese Rechner sind keine Ziele von Auftrag {j}: {h}.",
                                            "These hosts are not targets of job {j}: {h}.", lang, j=job_id,
                                            h=", ".join(exc.names[:20]))) from None
    except crud_jobs.JobConflict as exc:
        raise ApiError(409, "JOB_FINISHED", tr("Nichts abzubrechen: die Ziele sind schon abgeschlossen ({s}).",
                                               "Nothing to cancel: the targets are already final ({s}).", lang,
                                               s=exc.status)) from None
    if notify:
        ctx.cache.wake_jobs(principal.organisation_id, notify)
    return public


# ---- sensors ----------------------------------------------------------------------------------------------------
class JobWaiters:
    """Sensors waiting for jobs, per (organisation, host): one shared :class:`asyncio.Event` each, replaced when it
    fires. A waiter registers *before* it looks into the database, so a job committed after that look wakes it."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: dict[tuple[str, str], list[Any]] = {}  # key -> [event, number of waiters]
        self.stopping = False  # the server is stopping: answer at once, hold nothing
        _ALL_WAITERS.add(self)

    def acquire(self, key: tuple[str, str]) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # the app runs on a new loop (restarted): old events belong to the old one
            self._loop, self._events, self.stopping = loop, {}, False
        entry = self._events.get(key)
        if entry is None:
            entry = self._events[key] = [asyncio.Event(), 0]
        entry[1] += 1
        return entry[0]

    def release(self, key: tuple[str, str], event: asyncio.Event) -> None:
        entry = self._events.get(key)
        if entry is not None and entry[0] is event:
            entry[1] -= 1
            if entry[1] <= 0:
                del self._events[key]

    def _wake(self, organisation_id: str, hostnames: list[str]) -> None:
        for host in hostnames:
            entry = self._events.pop((organisation_id, host), None)
            if entry is not None:
                entry[0].set()

    def wake(self, organisation_id: str, hostnames: list[str]) -> None:
        """From any thread (a route in the thread pool, the Redis subscription)."""
        loop = self._loop
        if loop is None or loop.is_closed() or not any((organisation_id, h) in self._events for h in hostnames):
            return
        try:
            loop.call_soon_threadsafe(self._wake, organisation_id, list(hostnames))
        except RuntimeError:  # the loop closed meanwhile
            pass

    def waiting(self) -> int:
        return sum(entry[1] for entry in self._events.values())

    def stop(self) -> int:
        """The server is stopping: wake every held poll (it answers empty) and hold no new one. On the app's event
        loop. Returns the number of polls woken."""
        if self._loop is None:  # nothing held yet: a poll arriving now must not reset the flag (see acquire)
            self._loop = asyncio.get_running_loop()
        self.stopping = True
        woken = self.waiting()
        events, self._events = self._events, {}
        for entry in events.values():
            entry[0].set()
        return woken


_ALL_WAITERS: weakref.WeakSet[JobWaiters] = weakref.WeakSet()


def release_held_polls() -> int:
    """Answer every sensor long-poll held in this process now, empty, and hold no new ones (the server is stopping:
    the sensors ask again, another instance or after the restart, instead of waiting out the graceful-shutdown
    time). Call it on the event loop serving the app. Returns the number of polls released."""
    loop = asyncio.get_running_loop()
    return sum(waiters.stop() for waiters in list(_ALL_WAITERS) if waiters._loop in (None, loop))


def waiters_for(request: Request) -> JobWaiters:
    state = request.app.state
    waiters = getattr(state, "job_waiters", None)
    if waiters is None:
        waiters = state.job_waiters = JobWaiters()
        state.ctx.cache.on_jobs(waiters.wake)
    return waiters


def _claim(ctx: AppContext, organisation_id: str, host: str, due: crud_schedules.DueIndex | None = None
           ) -> tuple[list[tuple[str, str]], list[str], list[tuple[str, str, str]]]:
    now = _now()
    # maintenance schedules (docs/remote-jobs.md §5): in memory unless an occurrence is due
    occurrences = due.due(ctx.sessionmaker, organisation_id, host, now) if due is not None else []
    with ctx.sessionmaker() as session:
        if not crud_jobs.has_pending(session, organisation_id=organisation_id, hostname=host, now=now):
            return [], [], occurrences
        jobs, cancelled = crud_jobs.claim_due(session, organisation_id=organisation_id, hostname=host, now=now)
        session.commit()
    return jobs, cancelled, occurrences


def _sensor_body(jobs: list[tuple[str, str]], cancelled: list[str],
                 occurrences: list[tuple[str, str, str]] = ()) -> bytes:  # type: ignore[assignment]
    """The answer with each envelope's stored text spliced in as it is (not parsed and re-serialised)."""
    items = ",".join('{"job_id":' + json.dumps(job_id) + ',"envelope":' + envelope + "}" for job_id, envelope in jobs)
    occs = ",".join('{"schedule_id":' + json.dumps(sid) + ',"occurrence":' + json.dumps(key) + ',"envelope":'
                    + envelope + "}" for sid, key, envelope in occurrences)
    return ('{"jobs":[' + items + '],"cancelled":' + json.dumps(cancelled) + ',"occurrences":[' + occs
            + "]}").encode("utf-8")


@router.get("/api/sensor/jobs", response_model=SensorJobs,
            responses={**ERRORS, 422: {"model": ErrorPublic, "description": f"wait above {MAX_WAIT} s"}})
async def fetch_jobs(request: Request, principal: JobSensorDep, ctx: CtxDep, host: HostQuery, lang: LangDep,
                     wait: Annotated[int, Query(ge=0, le=MAX_WAIT, description="seconds to hold the request while "
                                                "nothing is due (long-poll)")] = 0) -> Response:
    """The host's due jobs (they become ``delivered``), the ids of delivered jobs a technician cancelled and its
    due maintenance occurrences (``occurrences``, each handed out once; ``docs/remote-jobs.md`` §5).

    Due: queued, ``not_before`` at most 5 minutes ahead, not expired. With ``wait`` and nothing due the request is
    held until a job for this host is queued (any backend instance) or ``wait`` seconds pass. A host that never
    sent a sample simply gets nothing. Only the sensor key serving ``host`` may fetch (the first to ask binds it;
    403 ``HOST_BOUND`` for any other, ``docs/remote-jobs.md`` §3)."""
    await acheck_host(ctx, principal, host, lang, what="fetch", ip=client_ip(request, ctx))
    waiters = waiters_for(request)
    key = (principal.organisation_id, host)
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        event = waiters.acquire(key)
        try:
            jobs, cancelled, occurrences = await run_in_threadpool(_claim, ctx, principal.organisation_id, host,
                                                                   crud_schedules.due_index(request.app.state))
            remaining = deadline - asyncio.get_running_loop().time()
            if jobs or cancelled or occurrences or remaining <= 0 or waiters.stopping:
                return Response(_sensor_body(jobs, cancelled, occurrences), media_type="application/json")
            try:
                async with asyncio.timeout(remaining):
                    await event.wait()
            except TimeoutError:
                return Response(_sensor_body([], []), media_type="application/json")
            except asyncio.CancelledError:
                # the server is stopping (uvicorn cancels requests still held after its graceful-shutdown time):
                # "nothing now" instead of an error; the sensor asks again, another instance or after the restart
                return Response(_sensor_body([], []), media_type="application/json")
            if waiters.stopping or await request.is_disconnected():
                # woken for a client that has gone (sensor restarted, connection cut) or by the server stopping:
                # claim nothing, so the job stays queued for the sensor's next fetch (a claim here would mark it
                # delivered to nobody)
                return Response(_sensor_body([], []), media_type="application/json")
        finally:
            waiters.release(key, event)


@router.post("/api/sensor/jobs/{job_id}/report", response_model=JobReported,
             responses={**ERRORS, 404: {"model": ErrorPublic, "description": "no such job for this host"},
                        409: {"model": ErrorPublic, "description": "the target is final already"},
                        422: {"model": ErrorPublic}})
def report(job_id: JobIdPath, body: JobReport, principal: JobSensorDep, session: SessionDep,
           lang: LangDep, ctx: CtxDep, request: Request) -> JobReported:
    """Progress (``running`` with the steps so far) or the result of a job on ``host``. The answer's ``cancel``
    is true when a technician cancelled: stop before the next step and report ``cancelled``. ``interrupted`` is
    stored as ``failed`` with reason ``interrupted``. Final states are final (409 after)."""
    size = len(json.dumps(body.steps or [], default=str)) + len(json.dumps(body.diagnosis or {}, default=str))
    if size > MAX_RESULT_BYTES:
        raise ApiError(422, "VALIDATION_ERROR", tr(
            "steps und diagnosis zusammen sind größer als {m} Bytes.",
            "steps and diagnosis together are larger than {m} bytes.", lang, m=MAX_RESULT_BYTES))
    check_host(ctx, principal, [body.host], lang, what="report", ip=client_ip(request, ctx))  # 403 HOST_BOUND
    try:
        target = crud_jobs.record_report(session, organisation_id=principal.organisation_id, job_id=job_id,
                                         hostname=body.host, status=body.status, reason=body.reason,
                                         message=body.message, steps=body.steps, diagnosis=body.diagnosis,
                                         now=_now())
        answer = JobReported(cancel=target.cancel_requested_at is not None, status=target.status)
        session.commit()
    except crud_jobs.JobNotFound:
        raise ApiError(404, "NOT_FOUND", tr("Auftrag {j} hat kein Ziel {h} in Ihrer Organisation.",
                                            "Job {j} has no target {h} in your organisation.", lang, j=job_id,
                                            h=body.host)) from None
    except crud_jobs.JobConflict as exc:
        raise ApiError(409, "JOB_FINAL", tr("Auftrag {j} ist auf {h} schon abgeschlossen ({s}); Meldungen danach "
                                            "werden nicht angenommen.", "Job {j} is already final on {h} ({s}); "
                                            "later reports are not accepted.", lang, j=job_id, h=body.host,
                                            s=exc.status)) from None
    return answer
