"""Host tags (``docs/remote-jobs.md`` §5 "Tags"): groups such as ``kunde:baeckerei-mueller`` to filter and route by.

Technicians add and remove tags (``source = technician``); a sensor reports its ``SENSOR_TAGS`` in its samples and
the backend keeps exactly that set as the host's ``sensor`` tags (never touching a technician's). Tags only route:
a signed job or schedule names its hosts itself, so nothing here can make a host run anything.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .crud import add_audit
from .models import Host, HostTag
from .sensor_facts import MAX_TAGS_PER_HOST, TAG_PATTERN, clean_tags, valid_tag

__all__ = ["MAX_TAGS_PER_HOST", "TAG_PATTERN", "SensorFacts", "TagError", "add_tags", "clean_tags", "host_tags",
           "hosts_with_tag", "list_tags", "remove_tags", "sync_sensor_facts", "tags_of_hosts", "valid_tag"]


class TagError(ValueError):
    def __init__(self, what: str, names: Sequence[str] = ()) -> None:
        super().__init__(what)
        self.what, self.names = what, list(names)


def _insert(session: Session) -> Any:
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(HostTag)


def hosts_with_tag(session: Session, *, organisation_id: str, tag: str) -> list[str]:
    return list(session.scalars(select(HostTag.hostname).where(HostTag.organisation_id == organisation_id,
                                                               HostTag.tag == tag).order_by(HostTag.hostname)))


def host_tags(session: Session, *, organisation_id: str, hostname: str) -> list[HostTag]:
    return list(session.scalars(select(HostTag).where(HostTag.organisation_id == organisation_id,
                                                      HostTag.hostname == hostname).order_by(HostTag.tag)))


def tags_of_hosts(session: Session, *, organisation_id: str,
                  hostnames: Sequence[str] | None = None) -> dict[str, list[str]]:
    """``{hostname: [tags]}`` for the organisation's hosts (all, or ``hostnames``)."""
    stmt = select(HostTag.hostname, HostTag.tag).where(HostTag.organisation_id == organisation_id)
    if hostnames is not None:
        stmt = stmt.where(HostTag.hostname.in_(list(hostnames)))
    out: dict[str, list[str]] = {}
    for host, tag in session.execute(stmt.order_by(HostTag.hostname, HostTag.tag)):
        out.setdefault(host, []).append(tag)
    return out


def list_tags(session: Session, *, organisation_id: str) -> list[dict[str, Any]]:
    """``[{tag, hosts: [...]}]`` sorted by tag."""
    out: dict[str, list[str]] = {}
    for host, tag in session.execute(select(HostTag.hostname, HostTag.tag).where(
            HostTag.organisation_id == organisation_id).order_by(HostTag.tag, HostTag.hostname)):
        out.setdefault(tag, []).append(host)
    return [{"tag": t, "hosts": h} for t, h in out.items()]


def add_tags(session: Session, *, organisation_id: str, tag: str, hosts: Sequence[str], actor: str, by: str,
             now: datetime, ip: str | None = None) -> list[str]:
    """Tag ``hosts`` (known hosts of the organisation) with ``tag`` as a technician's tag; returns the hosts that
    did not have it. :class:`TagError` ``unknown_hosts`` / ``too_many`` naming the hosts."""
    hosts = sorted(set(hosts))
    known = set(session.scalars(select(Host.hostname).where(Host.organisation_id == organisation_id,
                                                            Host.hostname.in_(hosts))))
    unknown = [h for h in hosts if h not in known]
    if unknown:
        raise TagError("unknown_hosts", unknown)
    current = tags_of_hosts(session, organisation_id=organisation_id, hostnames=hosts)
    full = [h for h in hosts if tag not in current.get(h, []) and len(current.get(h, [])) >= MAX_TAGS_PER_HOST]
    if full:
        raise TagError("too_many", full)
    added = [h for h in hosts if tag not in current.get(h, [])]
    ins = _insert(session)
    session.execute(ins.values([{"organisation_id": organisation_id, "hostname": h, "tag": tag,
                                 "source": "technician", "created_at": now, "created_by": by[:200]} for h in hosts])
                    .on_conflict_do_update(index_elements=["organisation_id", "hostname", "tag"],
                                           set_={"source": "technician"}))
    add_audit(session, organisation_id=organisation_id, actor=actor, action="tag.add", target_type="tag",
              target_id=tag[:64], after={"tag": tag, "hosts": hosts[:100], "added": added[:100]}, ip=ip)
    session.flush()
    return added


def remove_tags(session: Session, *, organisation_id: str, tag: str, hosts: Sequence[str], actor: str,
                now: datetime, ip: str | None = None) -> list[str]:
    """Remove ``tag`` from ``hosts``; returns the hosts that had it. A tag the host's sensor reports
    (``SENSOR_TAGS``) cannot be removed here: :class:`TagError` ``sensor_tag`` naming the hosts (change the
    sensor's setting instead; it would come back with the next sample otherwise)."""
    hosts = sorted(set(hosts))
    rows = list(session.scalars(select(HostTag).where(HostTag.organisation_id == organisation_id,
                                                      HostTag.tag == tag, HostTag.hostname.in_(hosts))))
    from_sensor = [r.hostname for r in rows if r.source == "sensor"]
    if from_sensor:
        raise TagError("sensor_tag", from_sensor)
    removed = [r.hostname for r in rows]
    if removed:
        session.execute(delete(HostTag).where(HostTag.organisation_id == organisation_id, HostTag.tag == tag,
                                              HostTag.hostname.in_(removed)))
    add_audit(session, organisation_id=organisation_id, actor=actor, action="tag.remove", target_type="tag",
              target_id=tag[:64], before={"tag": tag, "hosts": removed[:100]}, after={"hosts": []}, ip=ip)
    session.flush()
    return removed


def sync_sensor_facts(session: Session, *, organisation_id: str, hostname: str, timezone: str | None,
                      tags: list[str] | None, now: datetime) -> None:
    """What a host's sensor reports about itself: its time zone (``hosts.timezone``) and, when ``tags`` is not
    ``None``, exactly these as its ``sensor`` tags (others of source ``sensor`` are removed; a technician's tag is
    never touched). Audited when the tags change."""
    if timezone is not None:
        session.execute(update(Host).where(Host.organisation_id == organisation_id, Host.hostname == hostname,
                                           Host.timezone.is_distinct_from(timezone)).values(timezone=timezone))
    if tags is None:
        return
    rows = {r.tag: r for r in host_tags(session, organisation_id=organisation_id, hostname=hostname)}
    stale = [t for t, r in rows.items() if r.source == "sensor" and t not in tags]
    new = [t for t in tags if t not in rows]
    room = MAX_TAGS_PER_HOST - (len(rows) - len(stale))
    new = new[:max(room, 0)]
    if stale:
        session.execute(delete(HostTag).where(HostTag.organisation_id == organisation_id,
                                              HostTag.hostname == hostname, HostTag.tag.in_(stale),
                                              HostTag.source == "sensor"))
    if new:
        session.execute(_insert(session).values([{"organisation_id": organisation_id, "hostname": hostname,
                                                  "tag": t, "source": "sensor", "created_at": now,
                                                  "created_by": "sensor"} for t in new])
                        .on_conflict_do_nothing(index_elements=["organisation_id", "hostname", "tag"]))
    if stale or new:
        add_audit(session, organisation_id=organisation_id, actor=f"sensor:{hostname}"[:255], action="tag.sensor",
                  target_type="host", target_id=hostname[:64], before={"tags": stale}, after={"tags": new})


class SensorFacts:
    """Per process: the time zone and tags each host's sensor reported last, so that :func:`sync_sensor_facts`
    runs only when they change (the ingest hot path stays one statement). Every instance syncs once per host after
    its start; the database is the truth."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], tuple[str | None, tuple[str, ...] | None]] = {}
        self._lock = threading.Lock()

    def changed(self, organisation_id: str, samples: Sequence[Any]) -> list[tuple[str, str | None, list[str] | None]]:
        """``[(hostname, timezone, tags)]`` of the hosts whose reported facts differ from what this process
        synced (the newest sample per host counts). Marks them as synced: call :meth:`forget` if writing fails."""
        newest: dict[str, Any] = {}
        for s in samples:
            if getattr(s, "timezone", None) is None and getattr(s, "tags", None) is None:
                continue
            best = newest.get(s.hostname)
            if best is None or s.timestamp >= best.timestamp:
                newest[s.hostname] = s
        out = []
        with self._lock:
            for host, s in newest.items():
                facts = (s.timezone, tuple(s.tags) if s.tags is not None else None)
                key = (organisation_id, host)
                if self._seen.get(key) != facts:
                    self._seen[key] = facts
                    out.append((host, s.timezone, list(s.tags) if s.tags is not None else None))
        return out

    def forget(self, organisation_id: str, hostnames: Iterable[str]) -> None:
        with self._lock:
            for host in hostnames:
                self._seen.pop((organisation_id, host), None)
