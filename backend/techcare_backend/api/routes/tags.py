"""Host tags (``docs/remote-jobs.md`` §5): groups of hosts (``kunde:baeckerei-mueller``) to filter and route by.

Technician or admin keys; Pro Business and higher (``sensor_mode``: the fleet is made of sensor hosts);
organisation-scoped; every change audited. Tags never authorise anything (a signed job or schedule names its
hosts).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from techcare.i18n import tr

from ... import crud_tags
from ...core.errors import ApiError
from ...schemas import ErrorPublic
from ...schemas_schedules import TagHosts, TagHostsChanged, TagPublic
from ..deps import CtxDep, LangDep, Principal, SessionDep, client_ip, requires

log = logging.getLogger("techcare_backend.tags")
router = APIRouter(tags=["tags"])
FEATURE = "sensor_mode"
TagPath = Annotated[str, Path(pattern=crud_tags.TAG_PATTERN, max_length=127,
                              description="`name` or `kind:name`, lowercase (e.g. kunde:baeckerei-mueller)")]
TagQuery = Annotated[str | None, Query(pattern=crud_tags.TAG_PATTERN, max_length=127,
                                       description="only hosts carrying this tag (e.g. kunde:baeckerei-mueller)")]
ERRORS = {401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}}


def _facts(state: Any) -> crud_tags.SensorFacts:
    facts = getattr(state, "sensor_facts", None)
    if facts is None:
        facts = state.sensor_facts = crud_tags.SensorFacts()
    return facts


def _sync_facts(request: Request, organisation_id: str, changed: list[tuple[str, str | None, list[str] | None]]
                ) -> None:
    ctx = request.app.state.ctx
    now = datetime.now(UTC)
    with ctx.sessionmaker() as session:
        for host, zone, tags in changed:
            crud_tags.sync_sensor_facts(session, organisation_id=organisation_id, hostname=host, timezone=zone,
                                        tags=tags, now=now)
        session.commit()
    index = getattr(request.app.state, "schedule_index", None)
    if index is not None:
        for host, zone, _ in changed:
            if zone is not None:
                index.set_zone(organisation_id, host, zone)


async def record_sensor_facts(request: Request, organisation_id: str, samples: Sequence[Any]) -> None:
    """After samples are stored: the time zone and tags their sensors report, written only when they changed
    since this process last saw them (one dictionary lookup per sample otherwise)."""
    if not samples:
        return
    facts = _facts(request.app.state)
    changed = facts.changed(organisation_id, samples)
    if changed:
        try:
            await run_in_threadpool(_sync_facts, request, organisation_id, changed)
        except Exception:  # noqa: BLE001 - the samples are stored; the facts are written with the next one
            log.warning("could not record the time zone / tags of %d hosts", len(changed), exc_info=True)
            facts.forget(organisation_id, [c[0] for c in changed])


async def _technician(principal: Annotated[Principal, Depends(requires(FEATURE))], lang: LangDep) -> Principal:
    if principal.role not in ("admin", "technician"):
        raise ApiError(403, "FORBIDDEN", tr("Tags setzen und lesen nur Techniker- oder Admin-Schlüssel.",
                                            "Only technician or admin keys set and read tags.", lang))
    return principal


TechnicianDep = Annotated[Principal, Depends(_technician)]


@router.get("/api/tags", response_model=list[TagPublic], responses=ERRORS)
def list_tags(principal: TechnicianDep, session: SessionDep) -> list[dict]:
    """Every tag of the organisation with its hosts."""
    return crud_tags.list_tags(session, organisation_id=principal.organisation_id)


@router.post("/api/tags/{tag}/hosts", response_model=TagHostsChanged, responses={
    **ERRORS, 404: {"model": ErrorPublic, "description": "hosts the organisation never saw"},
    409: {"model": ErrorPublic, "description": "a host has 32 tags already"}})
def add_hosts(tag: TagPath, body: TagHosts, principal: TechnicianDep, session: SessionDep, ctx: CtxDep,
              lang: LangDep, request: Request) -> TagHostsChanged:
    """Give ``hosts`` the tag (a technician's tag: a sensor never removes it)."""
    try:
        added = crud_tags.add_tags(session, organisation_id=principal.organisation_id, tag=tag, hosts=body.hosts,
                                   actor=principal.actor, by=principal.technician or principal.name,
                                   now=datetime.now(UTC), ip=client_ip(request, ctx))
        hosts = crud_tags.hosts_with_tag(session, organisation_id=principal.organisation_id, tag=tag)
        session.commit()
    except crud_tags.TagError as exc:
        names = ", ".join(exc.names[:20])
        if exc.what == "unknown_hosts":
            raise ApiError(404, "UNKNOWN_HOSTS", tr(
                "Diese Rechner haben Ihrer Organisation nie Messwerte gesendet: {h}.",
                "These hosts never sent a sample to your organisation: {h}.", lang, h=names)) from None
        raise ApiError(409, "TOO_MANY_TAGS", tr("Diese Rechner haben schon {m} Tags: {h}.",
                                                "These hosts have {m} tags already: {h}.", lang,
                                                m=crud_tags.MAX_TAGS_PER_HOST, h=names)) from None
    return TagHostsChanged(tag=tag, changed=added, hosts=hosts)


@router.delete("/api/tags/{tag}/hosts", response_model=TagHostsChanged, responses={
    **ERRORS, 409: {"model": ErrorPublic, "description": "the tag comes from the host's sensor (SENSOR_TAGS)"}})
def remove_hosts(tag: TagPath, body: TagHosts, principal: TechnicianDep, session: SessionDep, ctx: CtxDep,
                 lang: LangDep, request: Request) -> TagHostsChanged:
    """Take the tag from ``hosts``. A tag the host's sensor reports is refused (409 ``SENSOR_TAG``): change
    ``SENSOR_TAGS`` on the host instead."""
    try:
        removed = crud_tags.remove_tags(session, organisation_id=principal.organisation_id, tag=tag,
                                        hosts=body.hosts, actor=principal.actor, now=datetime.now(UTC),
                                        ip=client_ip(request, ctx))
        hosts = crud_tags.hosts_with_tag(session, organisation_id=principal.organisation_id, tag=tag)
        session.commit()
    except crud_tags.TagError as exc:
        raise ApiError(409, "SENSOR_TAG", tr(
            "Der Sensor dieser Rechner meldet das Tag {t} selbst (SENSOR_TAGS): {h}. Dort ändern, sonst kommt es "
            "mit dem nächsten Messwert zurück.", "The sensor of these hosts reports the tag {t} itself (SENSOR_TAGS): "
            "{h}. Change it there; otherwise it comes back with the next sample.", lang, t=tag,
            h=", ".join(exc.names[:20]))) from None
    return TagHostsChanged(tag=tag, changed=removed, hosts=hosts)
