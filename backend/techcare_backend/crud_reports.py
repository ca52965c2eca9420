"""The monthly maintenance report's data (``GET /api/reports/maintenance``; shape in ``docs/remote-jobs.md`` §5).

Plain JSON-ready data; ``techcare.fleet.report.render_report(data, lang)`` turns it into Markdown and HTML for the
customer. Past windows without a hand-out or a report are recorded as ``missed`` first, so the report shows every
host's every occurrence, including those of hosts that were off.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import crud_schedules, crud_tags
from .crud import list_hosts
from .dashboard.alerts import alerts
from .models import Host, Job, JobTarget, Organisation, Schedule

__all__ = ["REPORT_VERSION", "maintenance_report", "month_bounds"]

REPORT_VERSION = 1
OPEN_SEVERITIES = ("critical", "error", "warning")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` -> its first moment and the next month's first moment (UTC)."""
    year, mon = int(month[:4]), int(month[5:7])
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _newest_diagnoses(session: Session, organisation_id: str, hosts: list[str]) -> dict[str, tuple[Any, datetime]]:
    """Per host the newest diagnosis a diagnose job brought back: ``{host: (diagnosis, finished_at)}``."""
    out: dict[str, tuple[Any, datetime]] = {}
    rows = session.execute(
        select(JobTarget.hostname, JobTarget.diagnosis, JobTarget.finished_at, JobTarget.updated_at)
        .join(Job, Job.id == JobTarget.job_id)
        .where(JobTarget.organisation_id == organisation_id, JobTarget.hostname.in_(hosts),
               Job.kind == "diagnose", JobTarget.diagnosis.is_not(None))
        .order_by(JobTarget.hostname, JobTarget.updated_at.desc()))
    for host, diagnosis, finished, updated in rows:
        if host not in out:
            out[host] = (diagnosis, finished or updated)
    return out


def _diagnosis_findings(diagnosis: Any) -> list[dict[str, Any]]:
    findings = diagnosis.get("findings") if isinstance(diagnosis, dict) else None
    out = []
    for f in findings if isinstance(findings, list) else []:
        if isinstance(f, dict) and f.get("severity") in OPEN_SEVERITIES:
            out.append({"source": "diagnosis", "check": str(f.get("check", "")), "severity": f["severity"],
                        "summary": str(f.get("summary", ""))})
    return out


def maintenance_report(session: Session, *, organisation_id: str, month: str, tag: str | None, now: datetime,
                       lang: str = "de", disk_warning: float = 85.0, disk_critical: float = 95.0,
                       overdue_after: int = 900) -> dict[str, Any]:
    """The report of ``month`` (``YYYY-MM``) for the hosts of ``tag`` (all hosts when ``None``)."""
    start, end = month_bounds(month)
    fleet = list_hosts(session, organisation_id=organisation_id, overdue_after=overdue_after, now=now)
    if tag is not None:
        tagged = set(crud_tags.hosts_with_tag(session, organisation_id=organisation_id, tag=tag))
        fleet = [h for h in fleet if h.hostname in tagged]
    names = [h.hostname for h in fleet]
    tags = crud_tags.tags_of_hosts(session, organisation_id=organisation_id, hostnames=names)
    zones = dict(session.execute(select(Host.hostname, Host.timezone).where(
        Host.organisation_id == organisation_id, Host.hostname.in_(names))).all()) if names else {}
    schedules = [s for s in session.scalars(select(Schedule).where(Schedule.organisation_id == organisation_id)
                                            .order_by(Schedule.name, Schedule.id))
                 if set(s.hosts) & set(names) and (s.deleted_at is None or s.deleted_at >= start)
                 and s.valid_from < end and s.valid_until >= start]
    per_host: dict[str, list[dict[str, Any]]] = {h: [] for h in names}
    for schedule in schedules:
        for item in crud_schedules.list_occurrences(session, schedule, now=now, since=start, until=end):
            if item["host"] in per_host:
                per_host[item["host"]].append({
                    "schedule_id": schedule.id, "schedule": schedule.name, "occurrence": item["occurrence"],
                    "timezone": item["timezone"], "planned_local": item["planned_local"].isoformat(),
                    "planned_utc": item["planned_utc"].isoformat(), "status": item["status"],
                    "reason": item.get("reason"), "message": item.get("message"), "steps": item.get("steps") or []})
    diagnoses = _newest_diagnoses(session, organisation_id, names) if names else {}
    sample_alerts: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts(fleet, disk_warning=disk_warning, disk_critical=disk_critical, lang=lang):
        sample_alerts.setdefault(alert.hostname, []).append(
            {"source": "sample", "check": alert.rule, "severity": alert.severity, "summary": alert.message})
    totals: Counter[str] = Counter()
    hosts_out = []
    for h in fleet:
        occs = sorted(per_host[h.hostname], key=lambda o: o["planned_utc"])
        counts = Counter(o["status"] for o in occs)
        totals.update(counts)
        diagnosis, diagnosed_at = diagnoses.get(h.hostname, (None, None))
        findings = _diagnosis_findings(diagnosis) + sample_alerts.get(h.hostname, [])
        if h.pending_updates:
            findings.append({"source": "sample", "check": "pending_updates", "severity": "warning",
                             "summary": f"{h.pending_updates} " + ("ausstehende Updates" if lang == "de"
                                                                   else "pending updates")})
        hosts_out.append({
            "host": h.hostname, "os": h.os, "timezone": zones.get(h.hostname) or "UTC",
            "timezone_known": bool(zones.get(h.hostname)), "tags": tags.get(h.hostname, []),
            "status": h.status, "last_seen": h.last_seen.isoformat(), "sample_at": h.last_sample_at.isoformat(),
            "disk_max_percent": h.disk_max_percent, "smart_failing": h.smart_failing,
            "pending_updates": h.pending_updates, "pending_reboot": h.pending_reboot,
            "diagnosis_at": diagnosed_at.isoformat() if diagnosed_at else None,
            "occurrences": occs, "counts": dict(counts), "findings": findings})
    organisation = session.get(Organisation, organisation_id)
    return {
        "v": REPORT_VERSION, "kind": "maintenance_report", "organisation": organisation.name if organisation else "",
        "tag": tag, "month": month, "period": {"from": start.isoformat(), "until": end.isoformat()},
        "generated_at": now.isoformat(timespec="seconds"), "lang": lang,
        "schedules": [{"schedule_id": s.id, "name": s.name, "tag": s.tag, "revision": s.revision, "rrule": s.rrule,
                       "dtstart": s.dtstart, "window_minutes": s.window_minutes, "catch_up": s.catch_up,
                       "allow_high_risk": s.allow_high_risk, "allow_reboot": s.allow_reboot, "signer": s.signer,
                       "platforms": s.platforms,
                       "status": "deleted" if s.deleted_at else "paused" if s.paused_at else
                       "ended" if s.valid_until <= now else "active",
                       "hosts": [h for h in s.hosts if h in per_host]} for s in schedules],
        "hosts": hosts_out,
        "totals": {"hosts": len(hosts_out), "occurrences": sum(totals.values()), **dict(totals)},
    }
