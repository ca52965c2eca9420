"""Remote jobs in the database: store a signed envelope, hand it to its hosts, record what they report.

The backend routes jobs and keeps their status; it never verifies signatures (the hosts do, ``techcare.signing``).
So it checks the envelope's *shape* and the payload fields it routes on (:func:`parse_envelope`), stores the
envelope's JSON text once and serves exactly that text to the hosts (:func:`claim_due`): a job altered in the
database reaches the host altered, and the host refuses it.

Per host (``job_targets``): ``queued -> delivered -> running -> succeeded | failed | rolled_back | refused |
expired | cancelled``. Final states never change again. A technician's cancel ends queued targets at once and asks
delivered or running ones to stop (``cancel_requested_at``; the sensor learns it from its next fetch or report).
A delivered target the host sent no report on within :data:`REDELIVER_AFTER` is handed out again at the host's
next fetch (the answer carrying it may never have arrived; the host reports ``running`` as soon as it accepts a
job, and a job id it already took is never run twice there).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import Session

from techcare.signing import MAX_ENVELOPE_BYTES, canonical_json

from .crud import add_audit
from .models import ChangelogEntry, Host, HostTag, Job, JobTarget
from .schemas_jobs import (FINAL_STATUSES, OPTIONAL_PAYLOAD_FIELDS, PAYLOAD_FIELDS, TIME_PATTERN, JobPublic,
                          JobTargetPublic)

__all__ = ["CLOCK_SKEW", "JobConflict", "JobInvalid", "JobNotFound", "JobRoute", "MAX_FETCH", "MAX_HOSTS",
           "MAX_LIFETIME", "REDELIVER_AFTER", "ParsedJob", "cancel_job", "claim_due", "create_job", "expire_overdue",
           "get_job", "has_pending", "host_jobs", "job_changelog_sessions", "job_public", "list_jobs", "parse_content",
           "parse_envelope", "record_report", "route_fields", "summary_status"]

MAX_HOSTS = 1000
MAX_HOST_LENGTH = 255
MAX_LIFETIME = timedelta(days=30)
NO_REPORT_GRACE = timedelta(days=1)  # a delivered job the host never reported on is given up this long after expiry
CLOCK_SKEW = timedelta(minutes=5)  # a job is handed out this long before its not_before (the hosts allow it too)
MAX_FETCH = 10  # envelopes per sensor fetch (up to 256 KiB each); the rest comes with the next one
#: a delivered target without any report this long after its delivery is due again for the same host: the answer
#: may have been lost (the connection dropped while it was sent). The sensor reports ``running`` right after it
#: accepted a job (signature checked, plan rebuilt: seconds) and fetches again only after it went through the whole
#: answer, so a sensor that got the job has reported long before it asks again.
REDELIVER_AFTER = timedelta(seconds=60)
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
KEY_ID = re.compile(r"^[0-9a-f]{16}$")
SIGNATURE = re.compile(r"^[A-Za-z0-9_-]{86}$")  # Ed25519: 64 bytes, base64url without padding
TIME = re.compile(TIME_PATTERN)
KINDS = ("diagnose", "drivers", "repair", "rollback")
PLATFORMS = ("windows", "darwin", "linux")
ACTIVE = ("queued", "delivered", "running")


class JobInvalid(ValueError):
    """The envelope or its payload cannot be routed; ``de`` / ``en`` say what is wrong and what is allowed."""

    def __init__(self, de: str, en: str, **fmt: Any) -> None:
        super().__init__(en.format(**fmt))
        self.de, self.en, self.fmt = de, en, fmt


class JobNotFound(LookupError):
    def __init__(self, what: str, names: Sequence[str] = ()) -> None:
        super().__init__(what)
        self.what, self.names = what, list(names)


class JobConflict(RuntimeError):
    def __init__(self, what: str, status: str = "") -> None:
        super().__init__(what)
        self.what, self.status = what, status


@dataclass(frozen=True)
class JobRoute:
    """What the backend needs to find a job's targets (:func:`route_fields`): checked before anything else."""

    job_id: str
    hosts: list[str]
    rollback_of: str | None
    envelope: dict[str, Any]


@dataclass(frozen=True)
class ParsedJob:
    job_id: str
    kind: str
    hosts: list[str]
    not_before: datetime
    expires: datetime
    signer: str
    key_id: str
    rollback_of: str | None
    text: str  # the envelope's JSON text as stored and served


# ---- the envelope -----------------------------------------------------------------------------------------------
def _time(payload: dict[str, Any], name: str) -> datetime:
    value = payload.get(name)
    if not isinstance(value, str) or not TIME.fullmatch(value):
        raise JobInvalid("payload.{n}={v!r}: erwartet UTC in Sekunden mit „Z“, z.B. 2026-12-02T07:00:00Z.",
                         "payload.{n}={v!r}: expected UTC to the second with 'Z', e.g. 2026-12-02T07:00:00Z.",
                         n=name, v=value if isinstance(value, (str, int, type(None))) else type(value).__name__)
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise JobInvalid("payload.{n}={v!r} ist kein gültiges Datum.", "payload.{n}={v!r} is not a valid date.",
                         n=name, v=value) from None


def _typed(payload: dict[str, Any], name: str, kind: type | tuple[type, ...], what_de: str, what_en: str) -> Any:
    value = payload.get(name)
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        value = None  # True is an int in Python, never in the contract
    if not isinstance(value, kind):
        raise JobInvalid("payload.{n} fehlt oder hat den falschen Typ (erwartet: {wd}).",
                         "payload.{n} is missing or of the wrong type (expected: {we}).", n=name, wd=what_de,
                         we=what_en)
    return value


def _param_value(value: Any) -> bool:
    """A catalogue parameter: text, an integer, true/false, null, or a list of these (``repairs.Param`` kinds)."""
    scalar = (str, int, bool, type(None))
    return isinstance(value, scalar) or (isinstance(value, list) and all(isinstance(v, scalar) for v in value))


def parse_envelope(envelope: Any, *, now: datetime) -> ParsedJob:
    """A signed envelope checked completely (``docs/remote-jobs.md`` §1): :func:`route_fields`, then
    :func:`parse_content`. Raises :class:`JobInvalid` naming the field and what is allowed."""
    return parse_content(route_fields(envelope), now=now)


def route_fields(envelope: Any) -> JobRoute:
    """The envelope's shape and the fields that find its targets, or :class:`JobInvalid`: the envelope is
    ``{payload, key_id, signature}`` (``key_id`` 16 hex, ``signature`` 86 base64url), the payload an object with
    ``job_id`` (32 hex), ``hosts`` (1..1000 distinct names of 1..255 characters) and ``rollback_of`` (null or 32
    hex). :func:`create_job` then looks the job id and the hosts up before :func:`parse_content` checks the rest."""
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
    job_id = payload.get("job_id")
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise JobInvalid("payload.job_id: erwartet 32 Hex-Zeichen (klein), z.B. uuid.uuid4().hex.",
                         "payload.job_id: expected 32 lowercase hex digits, e.g. uuid.uuid4().hex.")
    hosts = payload.get("hosts")
    if not isinstance(hosts, list) or not 1 <= len(hosts) <= MAX_HOSTS:
        raise JobInvalid("payload.hosts: erwartet eine Liste mit 1 bis {m} Rechnernamen.",
                         "payload.hosts: expected a list of 1 to {m} host names.", m=MAX_HOSTS)
    for host in hosts:
        if not isinstance(host, str) or not 1 <= len(host) <= MAX_HOST_LENGTH:
            raise JobInvalid("payload.hosts: {v!r} ist kein Rechnername (Text mit 1 bis {m} Zeichen).",
                             "payload.hosts: {v!r} is not a host name (text of 1 to {m} characters).",
                             v=host if isinstance(host, str) else type(host).__name__, m=MAX_HOST_LENGTH)
    doubled = sorted(h for h, n in Counter(hosts).items() if n > 1)
    if doubled:
        raise JobInvalid("payload.hosts nennt Rechner mehrfach: {h}.", "payload.hosts names hosts twice: {h}.",
                         h=", ".join(doubled[:10]))
    rollback_of = payload.get("rollback_of")
    if rollback_of is not None and (not isinstance(rollback_of, str) or not JOB_ID.fullmatch(rollback_of)):
        raise JobInvalid("payload.rollback_of: erwartet die job_id (32 Hex-Zeichen) des rückgängig zu machenden "
                         "Auftrags oder null.", "payload.rollback_of: expected the job_id (32 hex digits) of the "
                         "job to undo, or null.")
    return JobRoute(job_id=job_id, hosts=list(hosts), rollback_of=rollback_of, envelope=envelope)


def check_plugins(container: dict[str, Any], where: str) -> None:
    """``plugins`` (optional): ``[{"name", "version", "sha256", "actions"}]`` as :data:`PLUGINS_SCHEMA` declares."""
    if "plugins" not in container:
        return
    value = container["plugins"]
    fields = {"name", "version", "sha256", "actions"}
    if not isinstance(value, list) or len(value) > 100 or not all(
            isinstance(p, dict) and set(p) == fields and isinstance(p["name"], str)
            and re.fullmatch(r"[a-z][a-z0-9_-]{0,63}", p["name"]) and isinstance(p["version"], str)
            and 0 < len(p["version"]) <= 64 and "\x00" not in p["version"] and isinstance(p["sha256"], str)
            and re.fullmatch(r"[0-9a-f]{64}", p["sha256"])
            and isinstance(p["actions"], list) and len(p["actions"]) <= 100
            and all(isinstance(a, str) and "\x00" not in a for a in p["actions"]) for p in value):
        raise JobInvalid("{w}.plugins: erwartet eine Liste von {{name, version, sha256 (64 Hex), actions}}.",
                         "{w}.plugins: expected a list of {{name, version, sha256 (64 hex), actions}}.", w=where)


def parse_content(route: JobRoute, *, now: datetime) -> ParsedJob:
    """The rest of the payload, or :class:`JobInvalid`: no floats anywhere (a signed payload has one canonical
    form), at most 256 KiB; ``v`` 1; ``kind``; ``not_before`` / ``expires`` / ``issued_at`` as
    ``2026-12-02T07:00:00Z`` with ``not_before < expires <= not_before + 30 days`` and ``expires`` after ``now``;
    the types of the other fields (a repair has steps, an approval, approved steps and a plan fingerprint; a
    rollback names the job it undoes; parameters are text, integers, true/false or lists of these)."""
    envelope, job_id = route.envelope, route.job_id
    payload = envelope["payload"]
    unknown = sorted(set(payload) - set(PAYLOAD_FIELDS) - set(OPTIONAL_PAYLOAD_FIELDS))
    if unknown:
        raise JobInvalid("payload: unbekannte Felder {f} (erlaubt: {a}).", "payload: unknown fields {f} (allowed: {a}).",
                         f=", ".join(map(repr, unknown[:10])), a=", ".join(PAYLOAD_FIELDS + OPTIONAL_PAYLOAD_FIELDS))
    check_plugins(payload, "payload")
    try:
        canonical_json(payload)
    except ValueError as exc:
        raise JobInvalid("envelope.payload ist nicht signierbar: {e}.", "envelope.payload cannot be signed: {e}.",
                         e=exc) from None
    text_value = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    if len(text_value.encode("utf-8")) > MAX_ENVELOPE_BYTES:
        raise JobInvalid("Der Umschlag ist größer als {m} Bytes.", "The envelope is larger than {m} bytes.",
                         m=MAX_ENVELOPE_BYTES)
    if payload.get("v") != 1 or isinstance(payload.get("v"), bool):
        raise JobInvalid("payload.v={v!r}: diese Version wird nicht unterstützt (erlaubt: 1).",
                         "payload.v={v!r}: this version is not supported (allowed: 1).", v=payload.get("v"))
    kind = payload.get("kind")
    if kind not in KINDS:
        raise JobInvalid("payload.kind={v!r}: erlaubt sind {a}.", "payload.kind={v!r}: allowed are {a}.",
                         v=kind if isinstance(kind, str) else type(kind).__name__, a=", ".join(KINDS))
    not_before, expires = _time(payload, "not_before"), _time(payload, "expires")
    _time(payload, "issued_at")
    if expires <= not_before:
        raise JobInvalid("payload.expires muss nach payload.not_before liegen.",
                         "payload.expires must be after payload.not_before.")
    if expires - not_before > MAX_LIFETIME:
        raise JobInvalid("Ein Auftrag gilt höchstens 30 Tage (expires - not_before ist {d}).",
                         "A job is valid for at most 30 days (expires - not_before is {d}).", d=expires - not_before)
    if expires <= now:
        raise JobInvalid("payload.expires={v} liegt in der Vergangenheit.", "payload.expires={v} is in the past.",
                         v=payload["expires"])
    signer = _typed(payload, "signer", str, "Text", "text")
    if not signer.strip() or len(signer) > 200:
        raise JobInvalid("payload.signer: erwartet einen Namen mit 1 bis 200 Zeichen.",
                         "payload.signer: expected a name of 1 to 200 characters.")
    platform = payload.get("platform", "missing")
    if platform is not None and platform not in PLATFORMS:
        raise JobInvalid("payload.platform={v!r}: erlaubt sind {a} oder null.",
                         "payload.platform={v!r}: allowed are {a} or null.", v=platform, a=", ".join(PLATFORMS))
    steps = _typed(payload, "steps", list, "Liste", "a list")
    for step in steps:
        if not isinstance(step, dict) or not isinstance(step.get("number"), int) \
                or isinstance(step.get("number"), bool) or not isinstance(step.get("action"), str) \
                or not isinstance(step.get("params", {}), dict) or set(step) - {"number", "action", "params"}:
            raise JobInvalid("payload.steps: jeder Schritt hat genau number (Zahl), action (Text) und params (Objekt).",
                             "payload.steps: every step has exactly number (integer), action (text) and params "
                             "(object).")
        for name, value in step.get("params", {}).items():
            if not _param_value(value):
                raise JobInvalid("payload.steps: Parameter {p} von Schritt {n} ist weder Text, Zahl, true/false noch "
                                 "eine Liste davon.", "payload.steps: parameter {p} of step {n} is not text, an "
                                 "integer, true/false or a list of these.", p=name, n=step["number"])
    approval = _typed(payload, "approval", str, "Text", "text")
    approved = _typed(payload, "approved_steps", list, "Liste von Zahlen", "a list of integers")
    if any(not isinstance(n, int) or isinstance(n, bool) for n in approved):
        raise JobInvalid("payload.approved_steps: nur Schrittnummern (Zahlen) erlaubt.",
                         "payload.approved_steps: only step numbers (integers) are allowed.")
    fingerprint = _typed(payload, "plan_fingerprint", str, "Text", "text")
    _typed(payload, "confirm_high_risk", bool, "true/false", "true/false")
    if "rollback_of" not in payload:
        raise JobInvalid("payload.rollback_of fehlt (null, außer bei einem Rückgängig-Auftrag).",
                         "payload.rollback_of is missing (null unless the job is a rollback).")
    if kind == "repair" and (not steps or not approval.strip() or not approved or not fingerprint):
        raise JobInvalid("Ein Reparaturauftrag braucht steps, approval („GO REPAIR: ...“), approved_steps und "
                         "plan_fingerprint.", "A repair job needs steps, approval ('GO REPAIR: ...'), approved_steps "
                         "and plan_fingerprint.")
    if kind == "rollback" and route.rollback_of is None:
        raise JobInvalid("Ein Rückgängig-Auftrag braucht payload.rollback_of (die job_id des Auftrags).",
                         "A rollback job needs payload.rollback_of (the job_id of the job to undo).")
    if kind == "rollback" and route.rollback_of == job_id:
        raise JobInvalid("Ein Auftrag kann sich nicht selbst rückgängig machen.", "A job cannot roll itself back.")
    return ParsedJob(job_id=job_id, kind=kind, hosts=route.hosts, not_before=not_before, expires=expires,
                     signer=signer, key_id=envelope["key_id"], rollback_of=route.rollback_of, text=text_value)


def _payload(job: Job) -> dict[str, Any]:
    """The stored payload for display; an envelope damaged in the database shows as empty, never as an error."""
    try:
        payload = json.loads(job.envelope)["payload"]
    except (ValueError, TypeError, KeyError):
        return {}
    return payload if isinstance(payload, dict) else {}


# ---- technicians ------------------------------------------------------------------------------------------------
def create_job(session: Session, *, organisation_id: str, route: JobRoute, created_by: str, created_by_key: str,
               actor: str, ip: str | None = None, now: datetime) -> Job:
    """Store a job with one queued target per host. First who and what: :class:`JobConflict` if the job id exists
    (in any organisation), :class:`JobNotFound` naming the hosts the organisation never saw (or an unknown
    rollback_of); then the content (:func:`parse_content`, :class:`JobInvalid`)."""
    if session.get(Job, route.job_id) is not None:
        raise JobConflict("job_id")
    known = set(session.scalars(select(Host.hostname).where(Host.organisation_id == organisation_id,
                                                            Host.hostname.in_(route.hosts))).all())
    unknown = [h for h in route.hosts if h not in known]
    if unknown:
        raise JobNotFound("hosts", unknown)
    if route.rollback_of is not None and get_job(session, organisation_id=organisation_id,
                                                 job_id=route.rollback_of) is None:
        raise JobNotFound("rollback_of", [route.rollback_of])
    parsed = parse_content(route, now=now)
    job = Job(id=parsed.job_id, organisation_id=organisation_id, kind=parsed.kind, created_at=now,
              created_by=created_by[:200], created_by_key=created_by_key, signer=parsed.signer[:200],
              key_id=parsed.key_id, not_before=parsed.not_before, expires=parsed.expires,
              host_count=len(parsed.hosts), envelope=parsed.text)
    session.add(job)
    session.flush()
    session.add_all([JobTarget(job_id=job.id, hostname=h, organisation_id=organisation_id, status="queued",
                               updated_at=now) for h in parsed.hosts])
    add_audit(session, organisation_id=organisation_id, actor=actor, action="job.create", target_type="job",
              target_id=job.id, after={"kind": parsed.kind, "hosts": parsed.hosts[:50], "host_count": len(parsed.hosts),
                                       "signer": parsed.signer, "key_id": parsed.key_id,
                                       "not_before": parsed.not_before.isoformat(),
                                       "expires": parsed.expires.isoformat(), "rollback_of": parsed.rollback_of},
              ip=ip)
    session.flush()
    return job


def get_job(session: Session, *, organisation_id: str, job_id: str) -> Job | None:
    job = session.get(Job, job_id) if JOB_ID.fullmatch(job_id or "") else None
    return job if job is not None and job.organisation_id == organisation_id else None


def _targets(session: Session, job_ids: Sequence[str]) -> dict[str, list[JobTarget]]:
    out: dict[str, list[JobTarget]] = {j: [] for j in job_ids}
    if job_ids:
        for target in session.scalars(select(JobTarget).where(JobTarget.job_id.in_(job_ids))
                                      .order_by(JobTarget.job_id, JobTarget.hostname)):
            out[target.job_id].append(target)
    return out


def expire_overdue(session: Session, *, organisation_id: str, now: datetime, hostname: str | None = None,
                   job_id: str | None = None) -> int:
    """Queued targets whose job expired become ``expired``; delivered ones a technician cancelled become
    ``cancelled`` once the job expired (the host can no longer start them); delivered ones the host never reported
    on become ``expired`` (reason ``no_report``) a day after the job expired. Returns the number changed."""
    changed = 0
    rules = (("queued", "expired", None, now), ("delivered", "cancelled", None, now),
             ("delivered", "expired", "no_report", now - NO_REPORT_GRACE))
    for status, new, reason, cutoff in rules:
        stmt = (update(JobTarget).where(
            JobTarget.organisation_id == organisation_id, JobTarget.status == status,
            JobTarget.job_id.in_(select(Job.id).where(Job.organisation_id == organisation_id, Job.expires <= cutoff)))
            .values(status=new, updated_at=now, finished_at=now).execution_options(synchronize_session=False))
        if new == "cancelled":
            stmt = stmt.where(JobTarget.cancel_requested_at.is_not(None))
        if reason is not None:
            stmt = stmt.values(reason=reason)
        if hostname is not None:
            stmt = stmt.where(JobTarget.hostname == hostname)
        if job_id is not None:
            stmt = stmt.where(JobTarget.job_id == job_id)
        changed += session.execute(stmt).rowcount or 0
    return changed


def summary_status(statuses: Iterable[str], kind: str | None = None) -> str:
    """One word for a job: ``queued`` (no host started or finished it yet), ``running``, ``done`` (every host that
    ran it succeeded), ``partly_failed``, ``failed``, ``expired`` or ``cancelled``.

    What a host's ``rolled_back`` means depends on the job's ``kind``: a ``rollback`` job reports it when it undid
    the completed steps of ``rollback_of`` — its success (it reports ``failed`` with ``undo_failed`` /
    ``not_run_here`` otherwise). For any other kind it means the host took the job's changes back, so the job did
    not take effect there: a failure (the executor reports a repair whose failed step was undone automatically as
    ``failed`` with reason ``step_failed``)."""
    counts = Counter(statuses)
    active = counts["queued"] + counts["delivered"] + counts["running"]
    total = sum(counts.values())
    if active:
        return "queued" if counts["queued"] + counts["delivered"] == total else "running"
    rolled_back_ok = kind == "rollback"
    good = counts["succeeded"] + (counts["rolled_back"] if rolled_back_ok else 0)
    bad = counts["failed"] + (0 if rolled_back_ok else counts["rolled_back"]) + counts["refused"]
    if good:
        return "partly_failed" if bad or counts["expired"] else "done"
    if bad:
        return "failed"
    return "expired" if counts["expired"] else "cancelled"


def _target_public(target: JobTarget, *, with_diagnosis: bool) -> JobTargetPublic:
    return JobTargetPublic(host=target.hostname, status=target.status, reason=target.reason, message=target.message,
                           steps=target.steps, diagnosis=target.diagnosis if with_diagnosis else None,
                           delivered_at=target.delivered_at, updated_at=target.updated_at,
                           finished_at=target.finished_at, cancel_requested=target.cancel_requested_at is not None)


def job_public(job: Job, targets: Sequence[JobTarget], *, with_diagnosis: bool = True) -> JobPublic:
    payload = _payload(job)

    def text_field(name: str) -> str:
        value = payload.get(name)
        return value if isinstance(value, str) else ""

    steps = payload.get("steps")
    rollback_of = payload.get("rollback_of")
    platform = payload.get("platform")
    return JobPublic(
        job_id=job.id, kind=job.kind, created_at=job.created_at, created_by=job.created_by, signer=job.signer,
        key_id=job.key_id, hosts=[t.hostname for t in targets], not_before=job.not_before, expires=job.expires,
        approval=text_field("approval"), plan_fingerprint=text_field("plan_fingerprint"),
        platform=platform if isinstance(platform, str) else None,
        rollback_of=rollback_of if isinstance(rollback_of, str) else None,
        confirm_high_risk=payload.get("confirm_high_risk") is True, steps=steps if isinstance(steps, list) else [],
        status=summary_status((t.status for t in targets), job.kind), counts=dict(Counter(t.status for t in targets)),
        cancelled_at=job.cancelled_at, cancelled_by=job.cancelled_by,
        targets=[_target_public(t, with_diagnosis=with_diagnosis) for t in targets])


def load_public(session: Session, *, job: Job) -> JobPublic:
    return job_public(job, _targets(session, [job.id])[job.id])


def list_jobs(session: Session, *, organisation_id: str, now: datetime, host: str | None = None,
              status: str | None = None, limit: int = 50, before: datetime | None = None,
              tag: str | None = None) -> list[JobPublic]:
    """The organisation's jobs, newest first; ``host`` / ``status`` / ``tag`` keep jobs with such a target
    (``status`` of that host's target when both are given; ``tag``: a target carrying it). Targets come without
    ``diagnosis`` (see :func:`get_job`)."""
    expire_overdue(session, organisation_id=organisation_id, now=now, hostname=host)
    stmt = select(Job).where(Job.organisation_id == organisation_id)
    if host is not None or status is not None or tag is not None:
        cond = [JobTarget.job_id == Job.id]
        if tag is not None:
            cond.append(JobTarget.hostname.in_(select(HostTag.hostname).where(
                HostTag.organisation_id == organisation_id, HostTag.tag == tag)))
        if host is not None:
            cond.append(JobTarget.hostname == host)
        if status is not None:
            cond.append(JobTarget.status == status)
        stmt = stmt.where(exists().where(and_(*cond)))
    if before is not None:
        stmt = stmt.where(Job.created_at < before)
    jobs = session.scalars(stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)).all()
    targets = _targets(session, [j.id for j in jobs])
    return [job_public(j, targets[j.id], with_diagnosis=False) for j in jobs]


def cancel_job(session: Session, *, organisation_id: str, job_id: str, hosts: Sequence[str] | None, actor: str,
               by: str, now: datetime, ip: str | None = None) -> tuple[Job, list[str]]:
    """Cancel the job's unfinished targets (all, or ``hosts``): queued ones at once, delivered or running ones are
    asked to stop. Returns the job and the hosts whose sensor must be told (delivered or running).

    :class:`JobNotFound` for an unknown job or hosts that are not targets of it, :class:`JobConflict` when every
    selected target is already final."""
    job = get_job(session, organisation_id=organisation_id, job_id=job_id)
    if job is None:
        raise JobNotFound("job", [job_id])
    expire_overdue(session, organisation_id=organisation_id, now=now, job_id=job_id)
    targets = {t.hostname: t for t in session.scalars(select(JobTarget).where(JobTarget.job_id == job.id)
                                                      .with_for_update())}
    if hosts is not None:
        missing = [h for h in hosts if h not in targets]
        if missing:
            raise JobNotFound("targets", missing)
    chosen = [targets[h] for h in (hosts if hosts is not None else sorted(targets))]
    active = [t for t in chosen if t.status in ACTIVE]
    if not active:
        raise JobConflict("final", ", ".join(sorted({t.status for t in chosen})))
    before = Counter(t.status for t in chosen)
    notify = []
    for target in active:
        if target.cancel_requested_at is None:
            target.cancel_requested_at = now
        if target.status == "queued":
            target.status, target.finished_at = "cancelled", now
        else:
            notify.append(target.hostname)
        target.updated_at = now
    if hosts is None or all(t.status not in ACTIVE or t.cancel_requested_at is not None for t in targets.values()):
        job.cancelled_at = job.cancelled_at or now
        job.cancelled_by = job.cancelled_by or by[:200]
    add_audit(session, organisation_id=organisation_id, actor=actor, action="job.cancel", target_type="job",
              target_id=job.id, before=dict(before), after={"status": dict(Counter(t.status for t in chosen)),
                                                            "hosts": [t.hostname for t in active][:50],
                                                            "stopping": notify[:50]}, ip=ip)
    session.flush()
    return job, notify


# ---- sensors ----------------------------------------------------------------------------------------------------
def _due(now: datetime, redeliver_after: timedelta) -> Any:
    """The condition on a target (joined with its job) that :func:`claim_due` hands out: queued, or delivered
    without any report for ``redeliver_after`` and not cancelled; in either case ``not_before`` at most
    :data:`CLOCK_SKEW` ahead and not expired."""
    return (((JobTarget.status == "queued")
             | ((JobTarget.status == "delivered") & (JobTarget.delivered_at <= now - redeliver_after)
                & JobTarget.cancel_requested_at.is_(None)))
            & (Job.not_before <= now + CLOCK_SKEW) & (Job.expires > now))


def claim_due(session: Session, *, organisation_id: str, hostname: str, now: datetime,
              limit: int = MAX_FETCH, redeliver_after: timedelta = REDELIVER_AFTER
              ) -> tuple[list[tuple[str, str]], list[str]]:
    """Hand the host its due jobs: ``([(job_id, envelope text), ...], [cancelled job ids])``.

    Due: target ``queued`` — or ``delivered`` with no report for ``redeliver_after`` (the answer that carried it
    may have been lost) and not cancelled — ``not_before <= now + 5 min``, not expired; they become ``delivered``
    (``delivered_at`` = now). Each claim is exclusive: PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` and
    re-checks the condition on the locked row (a report that came first wins), SQLite serialises writers. Cancel
    notices for delivered or running targets are handed out once as well."""
    expire_overdue(session, organisation_id=organisation_id, now=now, hostname=hostname)
    due_now = _due(now, redeliver_after)
    due = (select(JobTarget.job_id).join(Job, Job.id == JobTarget.job_id)
           .where(JobTarget.organisation_id == organisation_id, JobTarget.hostname == hostname, due_now)
           .order_by(Job.not_before, Job.created_at, Job.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(of=JobTarget, skip_locked=True)
    claimed = session.execute(
        update(JobTarget).where(JobTarget.organisation_id == organisation_id, JobTarget.hostname == hostname,
                                JobTarget.job_id.in_(due.scalar_subquery()),
                                (JobTarget.status == "queued")
                                | ((JobTarget.status == "delivered")
                                   & (JobTarget.delivered_at <= now - redeliver_after)
                                   & JobTarget.cancel_requested_at.is_(None)))
        .values(status="delivered", delivered_at=now, updated_at=now)
        .returning(JobTarget.job_id).execution_options(synchronize_session=False)).scalars().all()
    jobs: list[tuple[str, str]] = []
    if claimed:
        rows = dict(session.execute(select(Job.id, Job.envelope).where(Job.id.in_(claimed))).all())
        order = session.execute(select(Job.id).where(Job.id.in_(claimed))
                                .order_by(Job.not_before, Job.created_at, Job.id)).scalars().all()
        jobs = [(job_id, rows[job_id]) for job_id in order]
    cancelled = session.execute(
        update(JobTarget).where(JobTarget.organisation_id == organisation_id, JobTarget.hostname == hostname,
                                JobTarget.status.in_(("delivered", "running")),
                                JobTarget.cancel_requested_at.is_not(None), JobTarget.cancel_notified_at.is_(None))
        .values(cancel_notified_at=now).returning(JobTarget.job_id)
        .execution_options(synchronize_session=False)).scalars().all()
    return jobs, sorted(cancelled)


def has_pending(session: Session, *, organisation_id: str, hostname: str, now: datetime,
                redeliver_after: timedelta = REDELIVER_AFTER) -> bool:
    """Cheap read-only check: does :func:`claim_due` have anything to do for the host (a due job, one to hand out
    again, an expired one to mark, a cancel notice)? Keeps an idle sensor's poll from taking the database's write
    lock."""
    return session.execute(select(func.count()).select_from(JobTarget).join(Job, Job.id == JobTarget.job_id).where(
        JobTarget.organisation_id == organisation_id, JobTarget.hostname == hostname,
        _due(now, redeliver_after)
        | ((JobTarget.status == "queued") & (Job.expires <= now))
        | (JobTarget.status.in_(("delivered", "running")) & JobTarget.cancel_requested_at.is_not(None)
           & JobTarget.cancel_notified_at.is_(None)))).scalar_one() > 0


def record_report(session: Session, *, organisation_id: str, job_id: str, hostname: str, status: str,
                  reason: str | None, message: str | None, steps: list[Any] | None,
                  diagnosis: dict[str, Any] | None, now: datetime) -> JobTarget:
    """A sensor's progress or result for its target. ``interrupted`` is stored as ``failed`` (reason
    ``interrupted`` unless given). :class:`JobNotFound` if the host is no target of such a job of the
    organisation; :class:`JobConflict` once the target is final."""
    target = session.execute(select(JobTarget).where(
        JobTarget.job_id == job_id, JobTarget.hostname == hostname,
        JobTarget.organisation_id == organisation_id).with_for_update()).scalar_one_or_none()
    if target is None:
        raise JobNotFound("target", [hostname])
    if target.status in FINAL_STATUSES:
        raise JobConflict("final", target.status)
    if status == "interrupted":
        status, reason = "failed", reason or "interrupted"
    target.status = status
    if reason is not None:
        target.reason = reason
    if message is not None:
        target.message = message
    if steps is not None:
        target.steps = steps
    if diagnosis is not None:
        target.diagnosis = diagnosis
    if target.delivered_at is None:
        target.delivered_at = now
    target.updated_at = now
    if status in FINAL_STATUSES:
        target.finished_at = now
    session.flush()
    return target


# ---- dashboard / links ------------------------------------------------------------------------------------------
def host_jobs(session: Session, *, organisation_id: str, hostname: str, now: datetime,
              limit: int = 20) -> list[tuple[Job, JobTarget]]:
    """The host's newest jobs with its own target of each."""
    expire_overdue(session, organisation_id=organisation_id, now=now, hostname=hostname)
    return [tuple(row) for row in session.execute(  # type: ignore[misc]
        select(Job, JobTarget).join(JobTarget, JobTarget.job_id == Job.id)
        .where(JobTarget.organisation_id == organisation_id, JobTarget.hostname == hostname)
        .order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)).all()]


def job_changelog_sessions(session: Session, *, organisation_id: str, job_id: str) -> list[dict[str, Any]]:
    """The uploaded changelog sessions of a job: ``[{"session", "host", "entries"}]``."""
    rows = session.execute(
        select(ChangelogEntry.session, func.max(ChangelogEntry.host), func.count(ChangelogEntry.id))
        .where(ChangelogEntry.organisation_id == organisation_id, ChangelogEntry.job_id == job_id)
        .group_by(ChangelogEntry.session).order_by(ChangelogEntry.session)).all()
    return [{"session": s, "host": h, "entries": n} for s, h, n in rows]


def job_exists(session: Session, *, organisation_id: str, job_id: str) -> bool:
    return get_job(session, organisation_id=organisation_id, job_id=job_id) is not None

