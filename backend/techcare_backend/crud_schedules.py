"""Maintenance schedules in the database: store a signed schedule, decide when an occurrence is due on a host, hand
it out once, record what happened on every host (``docs/remote-jobs.md`` §5).

Like a job, the envelope is stored as JSON text and served unchanged; the backend only reads the fields it routes
on. It decides *when to deliver* (the host decides whether it is really due): in the host's reported zone
(``hosts.timezone``; UTC until one is reported), an occurrence is due from its start to the end of its window, or
with ``catch_up`` until the next occurrence starts. The occurrence row ``(schedule_id, hostname, occurrence)`` is
the claim: inserted with ``ON CONFLICT DO NOTHING``, so however often a host checks in and however many backend
instances serve it, an occurrence is handed out once. A window that passed without a hand-out or without a report
becomes a ``missed`` row (reason ``not_fetched`` / ``no_report``): nothing is skipped silently.

The check-in's hot path is :class:`DueIndex` (in memory per process: schedules per host, each schedule's next
occurrences per zone); the database is touched only when an occurrence is due or a window was missed.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from techcare.signing import MAX_ENVELOPE_BYTES, canonical_json

from .crud import add_audit
from .crud_jobs import JOB_ID, KEY_ID, PLATFORMS, SIGNATURE, JobInvalid, check_plugins
from .models import Host, HostTag, Schedule, ScheduleOccurrence
from .schemas import control_character
from .schemas_schedules import DTSTART_PATTERN, RRULE_PATTERN, TIME_PATTERN
from .sensor_facts import valid_tag
from .recurrence import Occurrence, Rule, RuleInvalid, check_rule, parse_dtstart, zone_for

__all__ = ["MAX_VALIDITY", "PAYLOAD_FIELDS", "DueIndex", "ParsedSchedule", "ScheduleConflict", "ScheduleNotFound",
           "ScheduleRoute", "ScheduleValidity", "create_schedule", "due_index", "get_schedule", "list_occurrences", "list_schedules",
           "materialize", "parse_envelope", "record_report", "route_fields", "rule_of", "schedule_public",
           "set_state", "unreported"]

MAX_HOSTS = 1000
MAX_REVISION = 1_000_000
MAX_VALIDITY = timedelta(days=400)
MIN_WINDOW, MAX_WINDOW = 5, 1440
FINAL = frozenset({"ran", "failed", "skipped"})
OCCURRENCE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$")
SCHEDULE_TIME, DTSTART, RRULE = re.compile(TIME_PATTERN), re.compile(DTSTART_PATTERN), re.compile(RRULE_PATTERN)


class ScheduleValidity(JobInvalid):
    """The payload has the declared shape, but its timing cannot work: 409 with :attr:`code`
    ``SCHEDULE_RECURRENCE`` (the rrule or dtstart cannot be evaluated, or occurrences come closer than the window)
    or ``SCHEDULE_VALIDITY`` (the validity ended, runs backwards, is over 400 days or holds no occurrence), like a
    license that expired before it was issued. A payload that does not have the declared shape is a 422."""

    def __init__(self, de: str, en: str, code: str = "SCHEDULE_VALIDITY", **fmt: Any) -> None:
        super().__init__(de, en, **fmt)
        self.code = code


class ScheduleNotFound(LookupError):
    def __init__(self, what: str, names: Sequence[str] = ()) -> None:
        super().__init__(what)
        self.what, self.names = what, list(names)


class ScheduleConflict(RuntimeError):
    def __init__(self, what: str, detail: str = "") -> None:
        super().__init__(what)
        self.what, self.detail = what, detail


@dataclass(frozen=True)
class ParsedSchedule:
    schedule_id: str
    revision: int
    name: str
    tag: str | None
    hosts: list[str]
    platforms: list[str]
    rrule: str
    dtstart: str
    window_minutes: int
    catch_up: bool
    allow_high_risk: bool
    allow_reboot: bool
    valid_from: datetime
    valid_until: datetime
    signer: str
    key_id: str
    text: str


# ---- the envelope -----------------------------------------------------------------------------------------------
def _time(payload: dict[str, Any], name: str) -> datetime:
    value = payload.get(name)
    if not isinstance(value, str) or not SCHEDULE_TIME.fullmatch(value):
        raise JobInvalid("payload.{n}={v!r}: erwartet UTC in Sekunden mit „Z“ (Jahr 2000-2999), z.B. "
                         "2026-12-02T07:00:00Z.", "payload.{n}={v!r}: expected UTC to the second with 'Z' (year "
                         "2000-2999), e.g. 2026-12-02T07:00:00Z.",
                         n=name, v=value if isinstance(value, (str, int, type(None))) else type(value).__name__)
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise ScheduleValidity("payload.{n}={v!r} ist kein gültiges Datum.", "payload.{n}={v!r} is not a valid "
                               "date.", n=name, v=value) from None


def _flag(payload: dict[str, Any], name: str) -> bool:
    value = payload.get(name)
    if not isinstance(value, bool):
        raise JobInvalid("payload.{n} fehlt oder ist nicht true/false.", "payload.{n} is missing or not true/false.",
                         n=name)
    return value


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _variant(platform: str, variant: Any) -> None:
    where = f"payload.variants.{platform}"
    if not isinstance(variant, dict) or set(variant) - {"plugins"} != set(VARIANT_FIELDS):
        raise JobInvalid("{w} muss ein Objekt mit genau {a} sein (dazu optional plugins).",
                         "{w} must be an object with exactly {a} (and optionally plugins).", w=where,
                         a=", ".join(VARIANT_FIELDS))
    steps = variant.get("steps")
    if not isinstance(steps, list) or not steps or any(
            not isinstance(s, dict) or not _int(s.get("number")) or not isinstance(s.get("action"), str)
            or not isinstance(s.get("params", {}), dict) for s in steps):
        raise JobInvalid("{w}.steps: mindestens ein Schritt, jeder mit number (Zahl), action (Text) und params "
                         "(Objekt).", "{w}.steps: at least one step, each with number (integer), action (text) and "
                         "params (object).", w=where)
    approval, approved, fingerprint = (variant.get("approval"), variant.get("approved_steps"),
                                       variant.get("plan_fingerprint"))
    if not isinstance(approval, str) or not approval.strip():
        raise JobInvalid("{w}.approval: die Freigabe des Technikers („GO REPAIR: ...“) fehlt.",
                         "{w}.approval: the technician's approval ('GO REPAIR: ...') is missing.", w=where)
    if not isinstance(approved, list) or not approved or not all(_int(n) for n in approved):
        raise JobInvalid("{w}.approved_steps: erwartet eine nicht leere Liste von Schrittnummern.",
                         "{w}.approved_steps: expected a non-empty list of step numbers.", w=where)
    if not isinstance(fingerprint, str) or not fingerprint:
        raise JobInvalid("{w}.plan_fingerprint fehlt.", "{w}.plan_fingerprint is missing.", w=where)
    check_plugins(variant, where)  # optional: the plugins whose actions the steps use (docs/plugins.md)


PAYLOAD_FIELDS = ("v", "kind", "schedule_id", "revision", "name", "tag", "hosts", "variants", "rrule", "dtstart",
                  "window_minutes", "catch_up", "allow_high_risk", "allow_reboot", "valid_from", "valid_until",
                  "issued_at", "signer")
VARIANT_FIELDS = ("steps", "approval", "approved_steps", "plan_fingerprint")


@dataclass(frozen=True)
class ScheduleRoute:
    """Who and what a schedule is about, read before its content is checked: its id, revision and hosts."""

    schedule_id: str
    revision: int
    hosts: list[str]
    envelope: dict[str, Any]  # with whole numbers written as 172.0 read as 172 (their canonical, signed form)


def _whole(value: Any) -> Any:
    """``value`` with floats that are whole numbers (JSON ``172.0``) as integers: JSON does not tell them apart and
    the signed canonical form has only integers, so the signature covers the same bytes either way."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    if isinstance(value, list):
        return [_whole(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    return value


def route_fields(envelope: Any) -> ScheduleRoute:
    """The envelope's shape, the payload's fields, ``schedule_id``, ``revision`` and ``hosts``, or
    :class:`JobInvalid`. The rest of the payload is :func:`parse_envelope`'s, after the organisation's hosts were
    looked up."""
    if not isinstance(envelope, dict) or set(envelope) != {"payload", "key_id", "signature"}:
        keys = sorted(envelope) if isinstance(envelope, dict) else type(envelope).__name__
        raise JobInvalid("envelope muss genau payload, key_id und signature enthalten (hat: {k}).",
                         "envelope must have exactly payload, key_id and signature (has: {k}).", k=keys)
    payload, key_id, signature = envelope["payload"], envelope["key_id"], envelope["signature"]
    if not isinstance(key_id, str) or not KEY_ID.fullmatch(key_id):
        raise JobInvalid("envelope.key_id: erwartet 16 Hex-Zeichen (klein), wie techcare.signing sie vergibt.",
                         "envelope.key_id: expected 16 lowercase hex digits, as techcare.signing makes them.")
    if not isinstance(signature, str) or not SIGNATURE.fullmatch(signature):
        raise JobInvalid("envelope.signature: erwartet eine Ed25519-Signatur in base64url (86 Zeichen).",
                         "envelope.signature: expected an Ed25519 signature in base64url (86 characters).")
    if not isinstance(payload, dict):
        raise JobInvalid("envelope.payload muss ein JSON-Objekt sein.", "envelope.payload must be a JSON object.")
    payload = _whole(payload)
    envelope = {**envelope, "payload": payload}
    unknown = sorted(str(k) for k in payload if k not in PAYLOAD_FIELDS)
    missing = [k for k in PAYLOAD_FIELDS if k not in payload]
    if unknown or missing:
        raise JobInvalid("payload: unbekannte Felder {u}, fehlende Felder {m} (erwartet: {a}).",
                         "payload: unknown fields {u}, missing fields {m} (expected: {a}).", u=unknown[:10] or "-",
                         m=missing or "-", a=", ".join(PAYLOAD_FIELDS))
    if payload.get("v") != 1 or isinstance(payload.get("v"), bool):
        raise JobInvalid("payload.v={v!r}: diese Version wird nicht unterstützt (erlaubt: 1).",
                         "payload.v={v!r}: this version is not supported (allowed: 1).", v=payload.get("v"))
    if payload.get("kind") != "schedule":
        raise JobInvalid("payload.kind={v!r}: ein Wartungsplan hat kind „schedule“ (Aufträge: POST /api/jobs).",
                         "payload.kind={v!r}: a maintenance schedule has kind 'schedule' (jobs: POST /api/jobs).",
                         v=payload.get("kind") if isinstance(payload.get("kind"), str) else None)
    schedule_id = payload.get("schedule_id")
    if not isinstance(schedule_id, str) or not JOB_ID.fullmatch(schedule_id):
        raise JobInvalid("payload.schedule_id: erwartet 32 Hex-Zeichen (klein), z.B. uuid.uuid4().hex.",
                         "payload.schedule_id: expected 32 lowercase hex digits, e.g. uuid.uuid4().hex.")
    revision = payload.get("revision")
    if not _int(revision) or not 1 <= revision <= MAX_REVISION:
        raise JobInvalid("payload.revision: erwartet eine ganze Zahl von 1 bis {m}.",
                         "payload.revision: expected an integer from 1 to {m}.", m=MAX_REVISION)
    hosts = payload.get("hosts")
    if not isinstance(hosts, list) or not 1 <= len(hosts) <= MAX_HOSTS or any(
            not isinstance(h, str) or not 1 <= len(h) <= 255 for h in hosts):
        raise JobInvalid("payload.hosts: erwartet eine Liste mit 1 bis {m} Rechnernamen (beim Signieren aus dem Tag "
                         "aufgelöst).", "payload.hosts: expected a list of 1 to {m} host names (resolved from the tag "
                         "when signing).", m=MAX_HOSTS)
    doubled = sorted(h for h, n in Counter(hosts).items() if n > 1)
    if doubled:
        raise JobInvalid("payload.hosts nennt Rechner mehrfach: {h}.", "payload.hosts names hosts twice: {h}.",
                         h=", ".join(doubled[:10]))
    return ScheduleRoute(schedule_id=schedule_id, revision=revision, hosts=list(hosts), envelope=envelope)


def _shown_as_written(field: str, value: str) -> None:
    """Names shown in every list (schedule name, signer) carry no control or format characters: a U+202E would
    show them reversed."""
    if (bad := control_character(value)) is not None:
        raise JobInvalid("{f} enthält ein Steuer- oder Formatzeichen ({c}); erlaubt: ein Name aus Buchstaben, Ziffern, "
                         "Leerzeichen und Satzzeichen.", "{f} contains a control or format character ({c}); allowed: a "
                         "name of letters, digits, spaces and punctuation.", f=field, c=bad)


def parse_envelope(envelope: Any, *, now: datetime) -> ParsedSchedule:
    """All fields of a signed schedule (``docs/remote-jobs.md`` §5), or :class:`JobInvalid` naming the field and
    what is allowed. The signature is the hosts' business."""
    route = route_fields(envelope)
    envelope = route.envelope
    payload, key_id = envelope["payload"], envelope["key_id"]
    schedule_id, revision, hosts = route.schedule_id, route.revision, route.hosts
    try:
        canonical_json(payload)
    except ValueError as exc:
        raise JobInvalid("envelope.payload ist nicht signierbar: {e}.", "envelope.payload cannot be signed: {e}.",
                         e=exc) from None
    text = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    if len(text.encode("utf-8")) > MAX_ENVELOPE_BYTES:
        raise JobInvalid("Der Umschlag ist größer als {m} Bytes.", "The envelope is larger than {m} bytes.",
                         m=MAX_ENVELOPE_BYTES)
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise JobInvalid("payload.name: erwartet einen Namen mit 1 bis 200 Zeichen.",
                         "payload.name: expected a name of 1 to 200 characters.")
    _shown_as_written("payload.name", name)
    tag = payload.get("tag")
    if tag is not None and not valid_tag(tag):
        raise JobInvalid("payload.tag={v!r}: erwartet null oder ein Tag wie kunde:baeckerei-mueller (klein, a-z 0-9 "
                         "_ . -, höchstens ein „:“).", "payload.tag={v!r}: expected null or a tag such as "
                         "kunde:baeckerei-mueller (lowercase, a-z 0-9 _ . -, at most one ':').",
                         v=tag if isinstance(tag, str) else type(tag).__name__)
    variants = payload.get("variants")
    if not isinstance(variants, dict) or not variants or any(p not in PLATFORMS for p in variants):
        raise JobInvalid("payload.variants: erwartet ein Objekt mit einer Variante je Plattform ({a}).",
                         "payload.variants: expected an object with one variant per platform ({a}).",
                         a=", ".join(PLATFORMS))
    for platform, variant in variants.items():
        _variant(platform, variant)
    window = payload.get("window_minutes")
    if not _int(window) or not MIN_WINDOW <= window <= MAX_WINDOW:
        raise JobInvalid("payload.window_minutes: erwartet {lo} bis {hi} Minuten.",
                         "payload.window_minutes: expected {lo} to {hi} minutes.", lo=MIN_WINDOW, hi=MAX_WINDOW)
    catch_up, high_risk, reboot = _flag(payload, "catch_up"), _flag(payload, "allow_high_risk"), \
        _flag(payload, "allow_reboot")
    valid_from, valid_until = _time(payload, "valid_from"), _time(payload, "valid_until")
    _time(payload, "issued_at")
    signer = payload.get("signer")
    if not isinstance(signer, str) or not signer.strip() or len(signer) > 200:
        raise JobInvalid("payload.signer: erwartet einen Namen mit 1 bis 200 Zeichen.",
                         "payload.signer: expected a name of 1 to 200 characters.")
    _shown_as_written("payload.signer", signer)
    rrule_text, dtstart_text = payload.get("rrule"), payload.get("dtstart")
    if not isinstance(dtstart_text, str) or not DTSTART.fullmatch(dtstart_text):
        raise JobInvalid("payload.dtstart={v!r}: erwartet eine Ortszeit ohne Zone in ganzen Minuten (Jahr 2000-2999), "
                         "z.B. 2026-12-06T02:00:00.", "payload.dtstart={v!r}: expected a local time without zone in "
                         "whole minutes (year 2000-2999), e.g. 2026-12-06T02:00:00.",
                         v=dtstart_text if isinstance(dtstart_text, str) else type(dtstart_text).__name__)
    if not isinstance(rrule_text, str) or len(rrule_text) > 500 or not RRULE.fullmatch(rrule_text):
        raise JobInvalid("payload.rrule={v!r}: erwartet eine RRULE, die mit FREQ=DAILY, WEEKLY oder MONTHLY beginnt, "
                         "danach Teile wie ;BYDAY=SU;BYHOUR=2;BYMINUTE=0 (erlaubt: INTERVAL, BYDAY, BYMONTHDAY, "
                         "BYHOUR, BYMINUTE, BYSETPOS, BYMONTH, COUNT, UNTIL, WKST).", "payload.rrule={v!r}: expected "
                         "an RRULE starting with FREQ=DAILY, WEEKLY or MONTHLY, then parts such as "
                         ";BYDAY=SU;BYHOUR=2;BYMINUTE=0 (allowed: INTERVAL, BYDAY, BYMONTHDAY, BYHOUR, BYMINUTE, "
                         "BYSETPOS, BYMONTH, COUNT, UNTIL, WKST).",
                         v=rrule_text[:100] if isinstance(rrule_text, str) else type(rrule_text).__name__)
    try:
        rule = Rule(text=rrule_text, dtstart=parse_dtstart(dtstart_text), window=timedelta(minutes=window),
                    valid_from=valid_from, valid_until=valid_until)
        check_rule(rule, min_gap=timedelta(minutes=window))
    except RuleInvalid as exc:
        raise ScheduleValidity(exc.de, exc.en, code="SCHEDULE_RECURRENCE", **exc.fmt) from None
    # when: the validity against itself and the clock (409, see ScheduleValidity)
    if valid_until <= valid_from:
        raise ScheduleValidity("payload.valid_until muss nach payload.valid_from liegen.",
                               "payload.valid_until must be after payload.valid_from.")
    if valid_until - valid_from > MAX_VALIDITY:
        raise ScheduleValidity("Ein Wartungsplan gilt höchstens 400 Tage (valid_until - valid_from ist {d}).",
                               "A schedule is valid for at most 400 days (valid_until - valid_from is {d}).",
                               d=valid_until - valid_from)
    if valid_until <= now:
        raise ScheduleValidity("payload.valid_until={v} liegt in der Vergangenheit.",
                               "payload.valid_until={v} is in the past.", v=payload["valid_until"])
    if not rule.between("UTC", valid_from - timedelta(days=1), valid_until):
        raise ScheduleValidity("payload.rrule: zwischen valid_from und valid_until liegt kein Termin.",
                               "payload.rrule: there is no occurrence between valid_from and valid_until.")
    return ParsedSchedule(
        schedule_id=schedule_id, revision=revision, name=name.strip(), tag=tag, hosts=list(hosts),
        platforms=sorted(variants), rrule=payload["rrule"], dtstart=payload["dtstart"], window_minutes=window,
        catch_up=catch_up, allow_high_risk=high_risk, allow_reboot=reboot, valid_from=valid_from,
        valid_until=valid_until, signer=signer, key_id=key_id, text=text)


_RULES: dict[tuple[str, int], Rule] = {}
_RULES_LOCK = threading.Lock()


def rule_of(schedule: Schedule) -> Rule:
    """The schedule's :class:`~techcare_backend.recurrence.Rule` (cached per schedule and revision)."""
    key = (schedule.id, schedule.revision)
    rule = _RULES.get(key)
    if rule is None:
        rule = Rule(text=schedule.rrule, dtstart=parse_dtstart(schedule.dtstart),
                    window=timedelta(minutes=schedule.window_minutes), valid_from=schedule.valid_from,
                    valid_until=schedule.valid_until)
        with _RULES_LOCK:
            if len(_RULES) > 20_000:
                _RULES.clear()
            _RULES[key] = rule
    return rule


def effective_from(schedule: Schedule) -> datetime:
    """Occurrences count from here: the validity's start, or when the backend first got the schedule (an
    occurrence whose window had ended before is not the backend's to report)."""
    return max(schedule.valid_from, schedule.created_at - timedelta(minutes=schedule.window_minutes))


# ---- technicians ------------------------------------------------------------------------------------------------
def get_schedule(session: Session, *, organisation_id: str, schedule_id: str,
                 include_deleted: bool = False) -> Schedule | None:
    schedule = session.get(Schedule, schedule_id) if JOB_ID.fullmatch(schedule_id or "") else None
    if schedule is None or schedule.organisation_id != organisation_id:
        return None
    if schedule.deleted_at is not None and not include_deleted:
        return None
    return schedule


def create_schedule(session: Session, *, organisation_id: str, envelope: Any, created_by: str, actor: str,
                    now: datetime, ip: str | None = None) -> tuple[Schedule, bool, ParsedSchedule]:
    """Store a new schedule or a newer revision of one; ``(schedule, created, parsed)``. First who and what:
    :class:`JobInvalid` for a malformed envelope, :class:`ScheduleConflict` ``revision`` for a revision not above
    the stored one (``exists`` for an id of another organisation or a deleted one), :class:`ScheduleNotFound`
    ``hosts`` naming hosts the organisation never saw; then the content (:func:`parse_envelope`, 422)."""
    route = route_fields(envelope)
    schedule = session.get(Schedule, route.schedule_id, with_for_update=True)
    if schedule is not None:
        if schedule.organisation_id != organisation_id or schedule.deleted_at is not None:
            raise ScheduleConflict("exists")
        if route.revision <= schedule.revision:
            raise ScheduleConflict("revision", str(schedule.revision))
    known = set(session.scalars(select(Host.hostname).where(Host.organisation_id == organisation_id,
                                                            Host.hostname.in_(route.hosts))))
    unknown = [h for h in route.hosts if h not in known]
    if unknown:
        raise ScheduleNotFound("hosts", unknown)
    parsed = parse_envelope(envelope, now=now)
    fields = dict(revision=parsed.revision, name=parsed.name[:200], tag=parsed.tag, hosts=sorted(parsed.hosts),
                  platforms=parsed.platforms, rrule=parsed.rrule, dtstart=parsed.dtstart,
                  window_minutes=parsed.window_minutes, catch_up=parsed.catch_up,
                  allow_high_risk=parsed.allow_high_risk, allow_reboot=parsed.allow_reboot,
                  valid_from=parsed.valid_from, valid_until=parsed.valid_until, signer=parsed.signer[:200],
                  key_id=parsed.key_id, envelope=parsed.text, updated_at=now)
    if schedule is not None:
        before = {"revision": schedule.revision, "hosts": schedule.hosts[:50], "rrule": schedule.rrule,
                  "window_minutes": schedule.window_minutes}
        for name, value in fields.items():
            setattr(schedule, name, value)
        created = False
    else:
        before = None
        schedule = Schedule(id=parsed.schedule_id, organisation_id=organisation_id, created_at=now,
                            created_by=created_by[:200], **fields)
        session.add(schedule)
        created = True
    add_audit(session, organisation_id=organisation_id, actor=actor,
              action="schedule.create" if created else "schedule.revise", target_type="schedule",
              target_id=parsed.schedule_id, before=before,
              after={"revision": parsed.revision, "name": parsed.name, "tag": parsed.tag, "hosts": parsed.hosts[:50],
                     "host_count": len(parsed.hosts), "rrule": parsed.rrule, "dtstart": parsed.dtstart,
                     "window_minutes": parsed.window_minutes, "catch_up": parsed.catch_up,
                     "allow_high_risk": parsed.allow_high_risk, "allow_reboot": parsed.allow_reboot,
                     "signer": parsed.signer, "key_id": parsed.key_id}, ip=ip)
    session.flush()
    return schedule, created, parsed


def _skipped_while_paused(session: Session, schedule: Schedule, *, now: datetime) -> None:
    """At a resume: the occurrences that can no longer be handed out and fell into the pause are recorded as
    ``skipped`` (reason ``paused``), so they show as what they were and are not taken for missed ones."""
    assert schedule.paused_at is not None
    rule = rule_of(schedule)
    zones = _zones(session, schedule.organisation_id, schedule.hosts)
    rows = []
    for host in schedule.hosts:
        zone = zones.get(host)
        until = min(_superseded_before(schedule, rule, zone, now), schedule.valid_until + timedelta(seconds=1))
        since = max(schedule.paused_at, effective_from(schedule))
        if since < until:
            rows += [{"schedule_id": schedule.id, "organisation_id": schedule.organisation_id, "hostname": host,
                      "occurrence": o.key, "timezone": zone or "UTC", "revision": schedule.revision,
                      "planned_utc": o.start, "status": "skipped", "reason": "paused", "updated_at": now,
                      "finished_at": now} for o in rule.between(zone, since, until)]
    for i in range(0, len(rows), 500):
        session.execute(_insert(session).values(rows[i:i + 500]).on_conflict_do_nothing(
            index_elements=["schedule_id", "hostname", "occurrence"]))


def set_state(session: Session, *, organisation_id: str, schedule_id: str, action: str, actor: str, by: str,
              now: datetime, ip: str | None = None) -> Schedule:
    """``pause``, ``resume`` or ``delete`` (no signature needed: they only stop work). :class:`ScheduleNotFound`
    for an unknown schedule, :class:`ScheduleConflict` ``state`` when it is already in that state."""
    schedule = get_schedule(session, organisation_id=organisation_id, schedule_id=schedule_id)
    if schedule is None:
        raise ScheduleNotFound("schedule", [schedule_id])
    before = {"paused_at": schedule.paused_at.isoformat() if schedule.paused_at else None}
    if action == "pause":
        if schedule.paused_at is not None:
            raise ScheduleConflict("state", "paused")
        schedule.paused_at, schedule.paused_by = now, by[:200]
    elif action == "resume":
        if schedule.paused_at is None:
            raise ScheduleConflict("state", "active")
        _skipped_while_paused(session, schedule, now=now)
        schedule.paused_at, schedule.paused_by = None, None
    elif action == "delete":
        schedule.deleted_at = now
    else:  # pragma: no cover - the routes pass one of the three
        raise ValueError(action)
    schedule.updated_at = now
    add_audit(session, organisation_id=organisation_id, actor=actor, action=f"schedule.{action}",
              target_type="schedule", target_id=schedule.id, before=before,
              after={"paused_at": schedule.paused_at.isoformat() if schedule.paused_at else None,
                     "deleted_at": schedule.deleted_at.isoformat() if schedule.deleted_at else None}, ip=ip)
    session.flush()
    return schedule


def _zones(session: Session, organisation_id: str, hostnames: Sequence[str]) -> dict[str, str | None]:
    return dict(session.execute(select(Host.hostname, Host.timezone).where(
        Host.organisation_id == organisation_id, Host.hostname.in_(list(hostnames)))).all())


def _status(schedule: Schedule, now: datetime) -> str:
    if schedule.deleted_at is not None:
        return "deleted"
    if schedule.paused_at is not None:
        return "paused"
    return "ended" if schedule.valid_until <= now else "active"


def schedule_public(session: Session, schedule: Schedule, *, now: datetime,
                    zones: dict[str, str | None] | None = None) -> dict[str, Any]:
    zones = zones if zones is not None else _zones(session, schedule.organisation_id, schedule.hosts)
    counts = dict(session.execute(select(ScheduleOccurrence.status, func.count()).where(
        ScheduleOccurrence.schedule_id == schedule.id).group_by(ScheduleOccurrence.status)).all())
    status = _status(schedule, now)
    upcoming = []
    if status == "active":
        rule = rule_of(schedule)
        for host in schedule.hosts:
            zone = zones.get(host)
            current, nxt = rule.near(zone, now)
            occ = current if current is not None and now < current.start + rule.window else nxt
            if occ is not None:
                upcoming.append({"host": host, "occurrence": occ.key, "planned_local": occ.local,
                                 "planned_utc": occ.start, "timezone": zone or "UTC", "timezone_known": bool(zone)})
    return {"schedule_id": schedule.id, "revision": schedule.revision, "name": schedule.name, "tag": schedule.tag,
            "hosts": schedule.hosts, "platforms": schedule.platforms, "rrule": schedule.rrule,
            "dtstart": schedule.dtstart, "window_minutes": schedule.window_minutes, "catch_up": schedule.catch_up,
            "allow_high_risk": schedule.allow_high_risk, "allow_reboot": schedule.allow_reboot,
            "valid_from": schedule.valid_from, "valid_until": schedule.valid_until, "signer": schedule.signer,
            "key_id": schedule.key_id, "created_at": schedule.created_at, "created_by": schedule.created_by,
            "updated_at": schedule.updated_at, "status": status, "paused_at": schedule.paused_at,
            "paused_by": schedule.paused_by, "deleted_at": schedule.deleted_at, "counts": counts, "next": upcoming}


def list_schedules(session: Session, *, organisation_id: str, now: datetime, tag: str | None = None,
                   host: str | None = None) -> list[dict[str, Any]]:
    """The organisation's schedules (not deleted), by name. ``tag``: schedules made for that tag or naming a host
    that carries it; ``host``: schedules naming the host."""
    schedules = list(session.scalars(select(Schedule).where(Schedule.organisation_id == organisation_id,
                                                            Schedule.deleted_at.is_(None))
                                     .order_by(Schedule.name, Schedule.id)))
    if tag is not None:
        tagged = set(session.scalars(select(HostTag.hostname).where(HostTag.organisation_id == organisation_id,
                                                                    HostTag.tag == tag)))
        schedules = [s for s in schedules if s.tag == tag or tagged.intersection(s.hosts)]
    if host is not None:
        schedules = [s for s in schedules if host in s.hosts]
    zones = _zones(session, organisation_id, sorted({h for s in schedules for h in s.hosts}))
    return [schedule_public(session, s, now=now, zones=zones) for s in schedules]


# ---- occurrences ------------------------------------------------------------------------------------------------
def _insert(session: Session) -> Any:
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(
        ScheduleOccurrence)


def _superseded_before(schedule: Schedule, rule: Rule, zone: str | None, now: datetime) -> datetime:
    """Occurrences starting before this moment can no longer be handed out: without catch-up, their window ended;
    with catch-up, a later occurrence has started."""
    if schedule.catch_up:
        current, _ = rule.near(zone, now)
        return current.start if current is not None else now
    return now - rule.window


def materialize(session: Session, schedule: Schedule, *, hostname: str, zone: str | None, now: datetime,
                since: datetime | None = None) -> int:
    """Record every occurrence of ``hostname`` that can no longer be handed out and has no row as ``missed``
    (``not_fetched``), and every delivered one that got no report in time as ``missed`` (``no_report``). From
    ``since`` (default: when the schedule took effect). Returns the number of rows written."""
    rule = rule_of(schedule)
    start = max(since or effective_from(schedule), effective_from(schedule))
    until = min(_superseded_before(schedule, rule, zone, now), schedule.valid_until + timedelta(seconds=1))
    if schedule.paused_at is not None:  # nothing is missed while paused (nor after a deletion)
        until = min(until, schedule.paused_at)
    if schedule.deleted_at is not None:
        until = min(until, schedule.deleted_at)
    written = 0
    if start < until:
        occs = rule.between(zone, start, until)
        if occs:  # only the windows without a row: most calls (listings, reports) find them all recorded already
            have = set(session.scalars(select(ScheduleOccurrence.occurrence).where(
                ScheduleOccurrence.schedule_id == schedule.id, ScheduleOccurrence.hostname == hostname,
                ScheduleOccurrence.planned_utc >= occs[0].start - timedelta(days=1),  # a day's slack: rows of
                ScheduleOccurrence.planned_utc <= occs[-1].start + timedelta(days=1))))  # an earlier zone match by key
            occs = [o for o in occs if o.key not in have]
        if occs:
            rows = [{"schedule_id": schedule.id, "organisation_id": schedule.organisation_id, "hostname": hostname,
                     "occurrence": o.key, "timezone": zone or "UTC", "revision": schedule.revision,
                     "planned_utc": o.start, "status": "missed", "reason": "not_fetched", "updated_at": now}
                    for o in occs]
            for i in range(0, len(rows), 500):
                result = session.execute(_insert(session).values(rows[i:i + 500]).on_conflict_do_nothing(
                    index_elements=["schedule_id", "hostname", "occurrence"]))
                written += max(result.rowcount or 0, 0)
    return written + unreported(session, schedule.id, hostname=hostname,
                                before=_superseded_before(schedule, rule, zone, now), now=now)


def unreported(session: Session, schedule_id: str, *, hostname: str, before: datetime, now: datetime) -> int:
    """Handed-out occurrences starting before ``before`` that got no report become ``missed`` (``no_report``)."""
    late = session.execute(update(ScheduleOccurrence).where(
        ScheduleOccurrence.schedule_id == schedule_id, ScheduleOccurrence.hostname == hostname,
        ScheduleOccurrence.status == "delivered", ScheduleOccurrence.planned_utc < before)
        .values(status="missed", reason="no_report", updated_at=now)
        .execution_options(synchronize_session=False))
    return late.rowcount or 0


def claim(session: Session, schedule_id: str, revision: int, *, organisation_id: str, hostname: str,
          occ: Occurrence, zone: str | None, now: datetime) -> bool:
    """Hand occurrence ``occ`` to ``hostname``: insert its row as ``delivered`` unless it exists (any instance,
    any earlier check-in) or the schedule is no longer active at ``revision``. True if this call claimed it."""
    active = select(Schedule.id).where(Schedule.id == schedule_id, Schedule.organisation_id == organisation_id,
                                       Schedule.revision == revision, Schedule.paused_at.is_(None),
                                       Schedule.deleted_at.is_(None), Schedule.valid_until > now)
    values = {"schedule_id": schedule_id, "organisation_id": organisation_id, "hostname": hostname,
              "occurrence": occ.key, "timezone": zone or "UTC", "revision": revision, "planned_utc": occ.start,
              "status": "delivered", "delivered_at": now, "updated_at": now}
    cols = list(values)

    source = select(*[literal(values[c], type_=ScheduleOccurrence.__table__.c[c].type).label(c) for c in cols]) \
        .where(exists(active))
    inserted = session.execute(_insert(session).from_select(cols, source).on_conflict_do_nothing(
        index_elements=["schedule_id", "hostname", "occurrence"]).returning(ScheduleOccurrence.id)).first()
    return inserted is not None


def occurrence_handed_out(session: Session, *, organisation_id: str, schedule_id: str, occurrence: str) -> bool:
    """True when occurrence ``occurrence`` of ``schedule_id`` was handed to a host of the organisation (a sensor may
    then upload the changelog of its steps)."""
    return session.scalar(select(ScheduleOccurrence.id).where(
        ScheduleOccurrence.organisation_id == organisation_id, ScheduleOccurrence.schedule_id == schedule_id,
        ScheduleOccurrence.occurrence == occurrence).limit(1)) is not None


def _rows(session: Session, schedule_id: str, hosts: Sequence[str], since: datetime,
          until: datetime) -> dict[tuple[str, str], ScheduleOccurrence]:
    return {(r.hostname, r.occurrence): r for r in session.scalars(select(ScheduleOccurrence).where(
        ScheduleOccurrence.schedule_id == schedule_id, ScheduleOccurrence.hostname.in_(list(hosts)),
        ScheduleOccurrence.planned_utc >= since, ScheduleOccurrence.planned_utc < until))}


def _sessions(steps: list[Any] | None) -> list[str]:
    out = []
    for step in steps or []:
        session_id = step.get("session") if isinstance(step, dict) else None
        if isinstance(session_id, str) and session_id and f"/api/changelogs/{session_id}" not in out:
            out.append(f"/api/changelogs/{session_id}")
    return out


def occurrence_public(schedule: Schedule, rule: Rule, host: str, zone: str | None, occ: Occurrence,
                      row: ScheduleOccurrence | None) -> dict[str, Any]:
    local = occ.local if row is None or row.timezone == (zone or "UTC") else occ.start.astimezone(
        zone_for(row.timezone))
    out: dict[str, Any] = {"schedule_id": schedule.id, "host": host, "occurrence": occ.key,
                           "timezone": zone or "UTC", "timezone_known": bool(zone), "planned_local": local,
                           "planned_utc": occ.start, "window_end_utc": occ.start + rule.window, "status": "pending",
                           "reason": None, "message": None, "steps": None, "delivered_at": None, "updated_at": None,
                           "finished_at": None, "changelog": []}
    if row is not None:
        out.update(status=row.status, reason=row.reason, message=row.message, steps=row.steps,
                   delivered_at=row.delivered_at, updated_at=row.updated_at, finished_at=row.finished_at,
                   changelog=_sessions(row.steps), timezone=row.timezone, timezone_known=row.timezone != "UTC"
                   or bool(zone))
    return out


def list_occurrences(session: Session, schedule: Schedule, *, now: datetime, since: datetime, until: datetime,
                     host: str | None = None) -> list[dict[str, Any]]:
    """Per host and occurrence starting in ``[since, until)``: planned local and UTC time, status (``pending`` for
    those not handed out yet), reason, steps and changelog links. Past windows without a hand-out or a report are
    recorded as ``missed`` first (:func:`materialize`). Sorted by time, then host."""
    hosts = [host] if host is not None else list(schedule.hosts)
    zones = _zones(session, schedule.organisation_id, hosts)
    for h in hosts:
        materialize(session, schedule, hostname=h, zone=zones.get(h), now=now)
    session.flush()
    rule = rule_of(schedule)
    rows = _rows(session, schedule.id, hosts, since - timedelta(days=1), until + timedelta(days=1))
    out = []
    stop = min(until, schedule.deleted_at or until, schedule.paused_at or until)
    for h in hosts:
        zone = zones.get(h)
        seen = set()
        for occ in rule.between(zone, max(since, effective_from(schedule)), stop):
            seen.add(occ.key)
            out.append(occurrence_public(schedule, rule, h, zone, occ, rows.get((h, occ.key))))
        for (rh, key), row in rows.items():  # rows computed in another zone (the host moved) or after a pause
            if rh == h and key not in seen and since <= row.planned_utc < until:
                occ = Occurrence(start=row.planned_utc, key=key, local=row.planned_utc.astimezone(
                    zone_for(row.timezone)))
                out.append(occurrence_public(schedule, rule, h, row.timezone, occ, row))
    out.sort(key=lambda o: (o["planned_utc"], o["host"]))
    return out


def record_report(session: Session, *, organisation_id: str, schedule_id: str, occurrence: str, hostname: str,
                  status: str, reason: str | None, message: str | None, steps: list[Any] | None,
                  now: datetime) -> ScheduleOccurrence:
    """A host's progress or result of an occurrence. A refused or not-run occurrence is ``skipped`` with the
    host's reason. A report may replace ``missed`` (the host ran it and could only report later), never a final
    state (:class:`ScheduleConflict` ``final``). :class:`ScheduleNotFound` when the occurrence was never handed
    to this host."""
    if not OCCURRENCE.fullmatch(occurrence):
        raise ScheduleNotFound("occurrence", [occurrence])
    row = session.execute(select(ScheduleOccurrence).where(
        ScheduleOccurrence.schedule_id == schedule_id, ScheduleOccurrence.hostname == hostname,
        ScheduleOccurrence.occurrence == occurrence, ScheduleOccurrence.organisation_id == organisation_id)
        .with_for_update()).scalar_one_or_none()
    if row is None:
        raise ScheduleNotFound("occurrence", [occurrence])
    if row.status in FINAL:
        raise ScheduleConflict("final", row.status)
    row.status = status
    row.reason = reason if reason is not None else (None if status in ("running", "ran") else row.reason)
    if message is not None:
        row.message = message
    if steps is not None:
        row.steps = steps
    if row.delivered_at is None:
        row.delivered_at = now
    row.updated_at = now
    if status in FINAL:
        row.finished_at = now
    session.flush()
    return row


# ---- the check-in's hot path ------------------------------------------------------------------------------------
@dataclass
class _Entry:
    schedule_id: str
    revision: int
    rule: Rule
    catch_up: bool
    effective_from: datetime
    valid_until: datetime
    envelope: str  # the stored text of this revision (the claim checks the revision is still current)


@dataclass
class _OrgIndex:
    loaded: float  # time.monotonic() of the load
    checked: float  # of the last freshness check
    version: tuple[Any, ...]
    by_host: dict[str, list[_Entry]]
    zones: dict[str, str | None]
    handled: dict[tuple[str, str], datetime] = field(default_factory=dict)  # (schedule, host) -> newest start done


class DueIndex:
    """Per process: which occurrences are due for a host at its check-in, with the database touched only when one
    is (or a window was missed).

    Per organisation it keeps the active schedules by host (with each schedule's :class:`Rule`, which caches the
    next occurrences per zone), the hosts' zones, and per (schedule, host) the newest occurrence already recorded.
    Freshness: this process's changes invalidate at once (:meth:`invalidate`); changes made through another
    instance are seen within :data:`CHECK_SECONDS` (a one-row version query) and zones within
    :data:`RELOAD_SECONDS`. Whatever the index believes, the claim itself re-checks in the database that the
    schedule is active at that revision, so a paused or deleted schedule is never handed out."""

    CHECK_SECONDS = 5.0
    RELOAD_SECONDS = 120.0

    def __init__(self) -> None:
        self._orgs: dict[str, _OrgIndex] = {}
        self._lock = threading.Lock()

    def invalidate(self, organisation_id: str) -> None:
        with self._lock:
            self._orgs.pop(organisation_id, None)

    def set_zone(self, organisation_id: str, hostname: str, zone: str | None) -> None:
        index = self._orgs.get(organisation_id)
        if index is not None and index.zones.get(hostname) != zone and hostname in index.by_host:
            self.invalidate(organisation_id)

    @staticmethod
    def _version(session: Session, organisation_id: str) -> tuple[Any, ...]:
        return tuple(session.execute(select(func.count(), func.max(Schedule.updated_at)).where(
            Schedule.organisation_id == organisation_id)).one())

    def _load(self, session: Session, organisation_id: str) -> _OrgIndex:
        version = self._version(session, organisation_id)
        schedules = session.scalars(select(Schedule).where(Schedule.organisation_id == organisation_id,
                                                           Schedule.paused_at.is_(None),
                                                           Schedule.deleted_at.is_(None))).all()
        by_host: dict[str, list[_Entry]] = {}
        for s in schedules:
            entry = _Entry(schedule_id=s.id, revision=s.revision, rule=rule_of(s), catch_up=s.catch_up,
                           effective_from=effective_from(s), valid_until=s.valid_until, envelope=s.envelope)
            for host in s.hosts:
                by_host.setdefault(host, []).append(entry)
        zones = dict(session.execute(select(Host.hostname, Host.timezone).where(
            Host.organisation_id == organisation_id, Host.timezone.is_not(None))).all()) if by_host else {}
        handled: dict[tuple[str, str], datetime] = {}
        if by_host:
            for sid, host, newest in session.execute(
                    select(ScheduleOccurrence.schedule_id, ScheduleOccurrence.hostname,
                           func.max(ScheduleOccurrence.planned_utc))
                    .where(ScheduleOccurrence.organisation_id == organisation_id,
                           ScheduleOccurrence.schedule_id.in_([s.id for s in schedules]))
                    .group_by(ScheduleOccurrence.schedule_id, ScheduleOccurrence.hostname)):
                handled[(sid, host)] = newest
        now = time.monotonic()
        return _OrgIndex(loaded=now, checked=now, version=version, by_host=by_host, zones=zones, handled=handled)

    def _index(self, sessionmaker: Any, organisation_id: str) -> _OrgIndex:
        index = self._orgs.get(organisation_id)
        now = time.monotonic()
        if index is not None and now - index.checked < self.CHECK_SECONDS:
            return index
        with sessionmaker() as session:
            if index is not None and now - index.loaded < self.RELOAD_SECONDS \
                    and self._version(session, organisation_id) == index.version:
                index.checked = now
                return index
            index = self._load(session, organisation_id)
        with self._lock:
            self._orgs[organisation_id] = index
        return index

    def due(self, sessionmaker: Any, organisation_id: str, hostname: str,
            now: datetime) -> list[tuple[str, str, str]]:
        """Hand ``hostname`` its due occurrences: ``[(schedule_id, occurrence, envelope text)]``. Also records
        the host's missed occurrences when it checks in after a window it did not fetch."""
        index = self._index(sessionmaker, organisation_id)
        entries = index.by_host.get(hostname)
        if not entries:
            return []
        zone = index.zones.get(hostname)
        work = []
        for entry in entries:
            current, _ = entry.rule.near(zone, now)
            if current is None or current.start < entry.effective_from:
                continue
            done = index.handled.get((entry.schedule_id, hostname))
            if done is not None and done >= current.start:
                continue  # recorded already (handed out, missed, or reported)
            work.append((entry, current, done))
        if not work:
            return []
        out = []
        stale = False
        with sessionmaker() as session:
            for entry, current, done in work:
                window_end = current.start + entry.rule.window
                deliver = (now < window_end or entry.catch_up) and now <= entry.valid_until
                since = done + timedelta(seconds=1) if done is not None else entry.effective_from
                # earlier occurrences without a row (the host was off), or this one when its window is over
                missed = entry.rule.between(zone, since, current.start if deliver else window_end)
                if missed:
                    schedule = session.get(Schedule, entry.schedule_id)
                    if schedule is None or schedule.revision != entry.revision or schedule.paused_at is not None \
                            or schedule.deleted_at is not None:
                        stale = True
                        continue
                    materialize(session, schedule, hostname=hostname, zone=zone, now=now, since=since)
                elif done is not None:  # the previous one, handed out and never reported?
                    unreported(session, entry.schedule_id, hostname=hostname,
                               before=current.start if entry.catch_up else now - entry.rule.window, now=now)
                if deliver:
                    if claim(session, entry.schedule_id, entry.revision, organisation_id=organisation_id,
                             hostname=hostname, occ=current, zone=zone, now=now):
                        out.append((entry.schedule_id, current.key, entry.envelope))
                    elif not missed and session.execute(select(func.count()).select_from(ScheduleOccurrence).where(
                            ScheduleOccurrence.schedule_id == entry.schedule_id,
                            ScheduleOccurrence.hostname == hostname,
                            ScheduleOccurrence.occurrence == current.key)).scalar_one() == 0:
                        stale = True  # not claimed and no row: the schedule changed (paused, deleted, revised)
                        session.commit()
                        continue
                session.commit()
                index.handled[(entry.schedule_id, hostname)] = current.start
        if stale:
            self.invalidate(organisation_id)
        return out


def due_index(state: Any) -> DueIndex:
    """The :class:`DueIndex` of an app (``app.state``), made on first use."""
    index = getattr(state, "schedule_index", None)
    if index is None:
        index = state.schedule_index = DueIndex()
    return index
