"""Which sensor key serves which host (``docs/remote-jobs.md`` §3, "Sensor keys and hosts").

A host's remote jobs are served by one sensor key: the first job fetch, report or job-linked changelog upload for
the host binds it to the calling key (or an admin creates the key with ``hostname``: then the key is *pinned* and
serves only that host). Afterwards only the bound key may fetch, report and upload for the host; any other key
gets :class:`HostBound` (the routes answer 403 ``HOST_BOUND``, audited). A binding to a key that has been revoked
no longer counts: the next sensor key to ask takes the host over (rotating a host's key, recovering a reinstalled
PC). Metrics are never bound (a sample names its host; the fleet lists every host that sent one).

The check on the sensor's hot path (every long-poll) is :meth:`BindingCache.allowed` (in process, no I/O) and,
on a miss, one primary-key lookup (:func:`claim`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy.exc
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .crud import add_audit
from .models import ApiKey, HostSensorKey, JobTarget, ScheduleOccurrence, utcnow

__all__ = ["BindingCache", "HostBound", "bind_at_creation", "bindings_for", "claim", "claim_any", "job_hosts",
           "occurrence_hosts", "record_refusal"]


class HostBound(Exception):
    """The key may not act for ``hostname``: it is served by the key ``bound_prefix`` (``reason="bound"``) or the
    calling key is pinned to another host ``pinned_to`` (``reason="pinned"``)."""

    def __init__(self, hostname: str, *, reason: str, bound_prefix: str | None = None,
                 pinned_to: str | None = None) -> None:
        super().__init__(hostname)
        self.hostname, self.reason, self.bound_prefix, self.pinned_to = hostname, reason, bound_prefix, pinned_to


@dataclass(frozen=True)
class Binding:
    key_id: str
    key_name: str
    key_prefix: str
    pinned: bool
    bound_at: Any


def _active_key(session: Session, organisation_id: str, key_id: str) -> ApiKey | None:
    key = session.get(ApiKey, key_id)
    if key is None or key.organisation_id != organisation_id or key.revoked_at is not None:
        return None
    return key


def _claim_once(session: Session, *, organisation_id: str, hostname: str, key_id: str, actor: str,
                ip: str | None) -> bool:
    row = session.get(HostSensorKey, (organisation_id, hostname))
    if row is not None and row.key_id == key_id:
        return False
    if row is not None:
        holder = _active_key(session, organisation_id, row.key_id)
        if holder is not None:
            raise HostBound(hostname, reason="bound", bound_prefix=holder.prefix)
    pinned = session.scalar(select(HostSensorKey.hostname).where(
        HostSensorKey.key_id == key_id, HostSensorKey.pinned.is_(True),
        HostSensorKey.organisation_id == organisation_id, HostSensorKey.hostname != hostname).limit(1))
    if pinned is not None:
        raise HostBound(hostname, reason="pinned", pinned_to=pinned)
    now = utcnow()
    if row is None:
        session.add(HostSensorKey(organisation_id=organisation_id, hostname=hostname, key_id=key_id, pinned=False,
                                  bound_at=now))
        session.flush()  # IntegrityError: another key bound the host at the same moment (the caller retries)
        before = None
    else:  # taking over from a revoked key; only if nobody else did meanwhile
        before = {"key_id": row.key_id}
        done = session.execute(update(HostSensorKey).where(
            HostSensorKey.organisation_id == organisation_id, HostSensorKey.hostname == hostname,
            HostSensorKey.key_id == row.key_id).values(key_id=key_id, pinned=False, bound_at=now)
            .execution_options(synchronize_session=False))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise _Retry
    add_audit(session, organisation_id=organisation_id, actor=actor, action="host.bind_sensor_key",
              target_type="host", target_id=hostname[:64], before=before,
              after={"hostname": hostname, "key_id": key_id}, ip=ip)
    return True


class _Retry(Exception):
    pass


def claim(sessionmaker: Callable[[], Session], *, organisation_id: str, hostname: str, key_id: str, actor: str,
          ip: str | None = None) -> bool:
    """Let sensor key ``key_id`` act for ``hostname``, binding the host to it when it has no binding (or one to a
    revoked key). ``True`` if it was bound now; :class:`HostBound` if another key serves it. Commits."""
    for _attempt in range(3):
        with sessionmaker() as session:
            try:
                bound = _claim_once(session, organisation_id=organisation_id, hostname=hostname, key_id=key_id,
                                    actor=actor, ip=ip)
                session.commit()
                return bound
            except (sqlalchemy.exc.IntegrityError, _Retry):
                session.rollback()  # a concurrent bind won: look again
    with sessionmaker() as session:  # still racing after three looks: answer from what is stored now
        row = session.get(HostSensorKey, (organisation_id, hostname))
        if row is not None and row.key_id == key_id:
            return False
        raise HostBound(hostname, reason="bound")


def claim_any(sessionmaker: Callable[[], Session], *, organisation_id: str, hostnames: Sequence[str], key_id: str,
              actor: str, ip: str | None = None) -> None:
    """For uploads linked to a job or occurrence of ``hostnames``: the key must serve one of them. A key bound to
    none of them may bind the host only when there is exactly one; else :class:`HostBound` (for the first)."""
    if not hostnames:
        return
    with sessionmaker() as session:
        if session.scalar(select(HostSensorKey.hostname).where(
                HostSensorKey.organisation_id == organisation_id, HostSensorKey.key_id == key_id,
                HostSensorKey.hostname.in_(list(hostnames))).limit(1)) is not None:
            return
    if len(hostnames) == 1:
        claim(sessionmaker, organisation_id=organisation_id, hostname=hostnames[0], key_id=key_id, actor=actor, ip=ip)
        return
    raise HostBound(sorted(hostnames)[0], reason="bound")


def record_refusal(sessionmaker: Callable[[], Session], *, organisation_id: str, exc: HostBound, key_id: str,
                   actor: str, what: str, ip: str | None = None) -> None:
    """Write the refused attempt to the audit log (its own transaction)."""
    with sessionmaker() as session:
        add_audit(session, organisation_id=organisation_id, actor=actor, action="host.bound_refused",
                  target_type="host", target_id=exc.hostname[:64], after={
                      "hostname": exc.hostname, "key_id": key_id, "what": what, "reason": exc.reason,
                      "pinned_to": exc.pinned_to}, ip=ip)
        session.commit()


def bind_at_creation(session: Session, *, organisation_id: str, hostname: str, key_id: str, actor: str,
                     ip: str | None = None) -> None:
    """An admin created sensor key ``key_id`` for ``hostname``: bind (pin) the host to it, replacing any binding
    (the admin's choice; audited with the key it replaced). Not committed."""
    row = session.get(HostSensorKey, (organisation_id, hostname))
    before = {"key_id": row.key_id} if row is not None else None
    if row is None:
        session.add(HostSensorKey(organisation_id=organisation_id, hostname=hostname, key_id=key_id, pinned=True,
                                  bound_at=utcnow()))
    else:
        row.key_id, row.pinned, row.bound_at = key_id, True, utcnow()
    session.flush()
    add_audit(session, organisation_id=organisation_id, actor=actor, action="host.bind_sensor_key",
              target_type="host", target_id=hostname[:64], before=before,
              after={"hostname": hostname, "key_id": key_id, "pinned": True}, ip=ip)


def bindings_for(session: Session, *, organisation_id: str, hostnames: Sequence[str]) -> dict[str, Binding]:
    """The hosts' bindings that count (to keys not revoked), by host name."""
    if not hostnames:
        return {}
    rows = session.execute(select(HostSensorKey, ApiKey).join(ApiKey, ApiKey.id == HostSensorKey.key_id).where(
        HostSensorKey.organisation_id == organisation_id, HostSensorKey.hostname.in_(list(hostnames)),
        ApiKey.revoked_at.is_(None))).all()
    return {b.hostname: Binding(key_id=k.id, key_name=k.name, key_prefix=k.prefix, pinned=b.pinned,
                                bound_at=b.bound_at) for b, k in rows}


def job_hosts(session: Session, *, organisation_id: str, job_id: str) -> list[str]:
    return list(session.scalars(select(JobTarget.hostname).where(JobTarget.organisation_id == organisation_id,
                                                                 JobTarget.job_id == job_id)))


def occurrence_hosts(session: Session, *, organisation_id: str, schedule_id: str, occurrence: str) -> list[str]:
    return list(session.scalars(select(ScheduleOccurrence.hostname).where(
        ScheduleOccurrence.organisation_id == organisation_id, ScheduleOccurrence.schedule_id == schedule_id,
        ScheduleOccurrence.occurrence == occurrence).distinct()))


REFUSAL_AUDIT_SECONDS = 60.0


class BindingCache:
    """Positive answers only, per process: "key K serves host H of organisation O" for ``ttl`` seconds. A stale
    entry is harmless: a revoked key no longer authenticates, and a host an admin gave another key is refused to
    the old one at the latest after ``ttl`` (like a cached principal)."""

    MAX_ENTRIES = 100_000

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, str], tuple[str, float]] = {}
        self._refused: dict[tuple[str, str, str, str], float] = {}

    def first_refusal(self, organisation_id: str, hostname: str, key_id: str, what: str,
                      every: float = REFUSAL_AUDIT_SECONDS) -> bool:
        """True if this refusal was not seen in the last ``every`` seconds in this process (then it is audited)."""
        now, key = time.monotonic(), (organisation_id, hostname, key_id, what)
        if self._refused.get(key, -every) > now - every:
            return False
        if len(self._refused) >= self.MAX_ENTRIES:
            self._refused.clear()
        self._refused[key] = now
        return True

    def allowed(self, organisation_id: str, hostname: str, key_id: str) -> bool:
        entry = self._entries.get((organisation_id, hostname))
        return entry is not None and entry[0] == key_id and entry[1] > time.monotonic()

    def remember(self, organisation_id: str, hostname: str, key_id: str) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        # spread over the last quarter of ttl: sensors that connected together do not all look again together
        self._entries[(organisation_id, hostname)] = (key_id, time.monotonic() + self.ttl * random.uniform(0.75, 1))
