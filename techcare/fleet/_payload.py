"""The signed payload of a remote job (``docs/remote-jobs.md`` §1), built and checked on the technician's machine.

Pure functions: no network, no settings. :func:`build_payload` refuses locally everything a host would refuse
for a reason the technician can fix here (bad approval, high-risk steps without confirmation, a time window the
backend or the host rejects), so a job only leaves this machine when it can run.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ..errors import TechCareError
from ..i18n import tr

if TYPE_CHECKING:  # pragma: no cover
    from ..repairs import Plan

__all__ = ["DEFAULT_LIFETIME", "KINDS", "MAX_HOSTS", "MAX_LIFETIME", "FleetError", "build_payload", "iso_utc",
           "normalise_hosts", "parse_time"]

PAYLOAD_VERSION = 1
KINDS = ("diagnose", "drivers", "repair", "rollback")
MAX_HOSTS = 1000
MAX_HOST_LENGTH = 255
DEFAULT_LIFETIME = timedelta(hours=24)
MAX_LIFETIME = timedelta(days=30)
JOB_ID = re.compile(r"^[0-9a-f]{32}$")


class FleetError(TechCareError):
    """Remote work could not be prepared, sent or followed. The message names the problem and what to do."""


def iso_utc(moment: datetime) -> str:
    """``2026-12-02T07:00:00Z``: UTC, whole seconds (the contract's time format)."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any, name: str, *, base: datetime | None = None) -> datetime:
    """A point in time from an aware ``datetime``, an ISO-8601 text with zone (``...Z`` / ``+01:00``) or, when
    ``base`` is given, a ``timedelta`` after it. A time without zone is refused (it would be read differently on
    the technician's machine, the backend and the host)."""
    if isinstance(value, timedelta) and base is not None:
        return base + value
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise FleetError(tr("{n}={v!r} ist keine Zeitangabe. Erlaubt: ISO-8601 mit Zone, z.B. "
                                "2026-12-02T07:00:00Z, ein datetime mit tzinfo{d}.",
                                "{n}={v!r} is not a time. Allowed: ISO-8601 with a zone, e.g. 2026-12-02T07:00:00Z, "
                                "a datetime with tzinfo{d}.", n=name, v=value,
                                d=tr(" oder eine timedelta", " or a timedelta") if base else "")) from None
    if not isinstance(value, datetime):
        raise FleetError(tr("{n} muss ein datetime mit Zone oder ISO-Text sein, nicht {t}.",
                            "{n} must be a datetime with a zone or ISO text, not {t}.", n=name, t=type(value).__name__))
    if value.tzinfo is None or value.utcoffset() is None:
        raise FleetError(tr("{n}={v} hat keine Zeitzone. Bitte mit Zone angeben, z.B. datetime.now(UTC) oder "
                            "„…Z“.", "{n}={v} has no time zone. Give one, e.g. datetime.now(UTC) or '...Z'.",
                            n=name, v=value.isoformat()))
    return value.astimezone(timezone.utc).replace(microsecond=0)


def normalise_hosts(hosts: str | Iterable[str] | None) -> list[str]:
    """Host names as given (one or many), without duplicates, in order; 1..1000 non-empty names."""
    if hosts is None:
        raise FleetError(tr("Kein Zielrechner genannt. Beispiel: hosts=[\"kasse-01\"] (Namen wie in fleet.hosts()).",
                            "No target host given. Example: hosts=[\"kasse-01\"] (names as in fleet.hosts())."))
    items = [hosts] if isinstance(hosts, str) else list(hosts)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_HOST_LENGTH:
            raise FleetError(tr("Ungültiger Rechnername {v!r}: erwartet Text mit 1 bis {m} Zeichen, wie in "
                                "fleet.hosts().", "Invalid host name {v!r}: expected text of 1 to {m} characters, as "
                                "in fleet.hosts().", v=item, m=MAX_HOST_LENGTH))
        if item not in out:
            out.append(item)
    if not out:
        raise FleetError(tr("Die Liste der Zielrechner ist leer.", "The list of target hosts is empty."))
    if len(out) > MAX_HOSTS:
        raise FleetError(tr("{n} Zielrechner in einem Auftrag; erlaubt sind höchstens {m}.",
                            "{n} target hosts in one job; at most {m} are allowed.", n=len(out), m=MAX_HOSTS))
    return out


def _days(span: Any) -> str:
    """A length of time in days, plainly ("30,5 Tage" / "30.5 days"), not timedelta's "30 days, 12:00:00"."""
    days = f"{span.total_seconds() / 86400:.1f}".removesuffix(".0")
    return tr("{d} Tage", "{e} days", d=days.replace(".", ","), e=days)


def _window(not_before: Any, expires: Any, now: datetime) -> tuple[datetime, datetime]:
    start = now if not_before is None else parse_time(not_before, "not_before")
    end = start + DEFAULT_LIFETIME if expires is None else parse_time(expires, "expires", base=start)
    if end <= start:
        raise FleetError(tr("expires ({e}) liegt nicht nach not_before ({s}).",
                            "expires ({e}) is not after not_before ({s}).", e=iso_utc(end), s=iso_utc(start)))
    if end - start > MAX_LIFETIME:
        raise FleetError(tr("Ein Auftrag gilt höchstens 30 Tage (expires ≤ not_before + 30 Tage); hier {d}.",
                            "A job is valid for at most 30 days (expires ≤ not_before + 30 days); here {d}.",
                            d=_days(end - start)))
    if end <= now:
        raise FleetError(tr("expires ({e}) liegt in der Vergangenheit.", "expires ({e}) is in the past.",
                            e=iso_utc(end)))
    return start, end


def _repair_fields(plan: Plan, approval: str, confirm_high_risk: bool) -> dict[str, Any]:
    from ..repairs import parse_approval

    if not isinstance(approval, str):
        raise FleetError(tr("Die Freigabe muss Text sein, z.B. \"GO REPAIR: 1,2\".",
                            "The approval must be text, e.g. \"GO REPAIR: 1,2\"."))
    approved = parse_approval(approval, plan)  # ApprovalError with the repairs' own message
    risky = [n for n in approved.steps if plan.steps[n - 1].risk == "high"]
    if risky and not confirm_high_risk:
        raise FleetError(tr("Schritt {s} ist hochriskant: der Rechner führt ihn nur aus, wenn der Auftrag die "
                            "Bestätigung trägt (confirm_high_risk=True bzw. --confirm).",
                            "Step {s} is high-risk: the host runs it only when the job carries the confirmation "
                            "(confirm_high_risk=True or --confirm).", s=", ".join(map(str, risky))))
    fields = {"platform": plan.platform,
              "steps": [{"number": s.number, "action": s.action_id, "params": dict(s.params)} for s in plan.steps],
              "approval": approved.text, "approved_steps": list(approved.steps),
              "plan_fingerprint": plan.fingerprint()}
    from ..plugins._manager import identities

    named = identities([s.action_id for s in plan.steps])  # a plugin's actions run only where it is the same
    if named:
        fields["plugins"] = named
    return fields


def build_payload(kind: str, hosts: Sequence[str], *, signer: str, plan: Plan | None = None, approval: str = "",
                  confirm_high_risk: bool = False, rollback_of: str | None = None, platform: str | None = None,
                  not_before: Any = None, expires: Any = None, now: datetime | None = None,
                  job_id: str | None = None) -> dict[str, Any]:
    """The payload of ``docs/remote-jobs.md`` §1 for ``kind`` (diagnose | drivers | repair | rollback).

    repair: ``plan`` and ``approval`` (parsed against the plan: a bad approval raises the repairs'
    :class:`~techcare.errors.ApprovalError`); rollback: ``rollback_of`` (a job id) and the hosts' ``platform``.
    ``not_before`` defaults to now, ``expires`` to 24 hours after ``not_before`` (a ``timedelta`` counts from it).
    """
    if kind not in KINDS:
        raise FleetError(tr("Unbekannte Auftragsart {k!r}. Erlaubt: {a}.", "Unknown job kind {k!r}. Allowed: {a}.",
                            k=kind, a=", ".join(KINDS)))
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    start, end = _window(not_before, expires, now)
    payload: dict[str, Any] = {
        "v": PAYLOAD_VERSION, "job_id": job_id or uuid.uuid4().hex, "kind": kind, "hosts": normalise_hosts(hosts),
        "platform": None, "steps": [], "approval": "", "approved_steps": [], "plan_fingerprint": "",
        "confirm_high_risk": bool(confirm_high_risk), "rollback_of": None, "not_before": iso_utc(start),
        "expires": iso_utc(end), "issued_at": iso_utc(now), "signer": str(signer or "")[:200]}
    if kind == "repair":
        if plan is None:
            raise FleetError(tr("Ein Reparaturauftrag braucht einen Plan (techcare.plan(d)).",
                                "A repair job needs a plan (techcare.plan(d))."))
        payload.update(_repair_fields(plan, approval, confirm_high_risk))
    elif kind == "rollback":
        if not isinstance(rollback_of, str) or not JOB_ID.match(rollback_of):
            raise FleetError(tr("rollback_of muss die Auftragsnummer (32 Hex-Zeichen) eines Reparaturauftrags sein, "
                                "nicht {v!r}.", "rollback_of must be the id (32 hex digits) of a repair job, not {v!r}.",
                                v=rollback_of))
        payload["rollback_of"] = rollback_of
        payload["platform"] = platform
    return payload
