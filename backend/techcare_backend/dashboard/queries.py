"""The dashboard's read queries. The fleet page reads the ``hosts`` table (one row per host holding the values of
its newest sample, kept current by ingestion): one page query plus one aggregate, whatever the fleet size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from ..crud import metrics
from ..models import Case, CaseStat, Host, HostTag
from .alerts import ANTIVIRUS_ALERTS, ANTIVIRUS_INFO_ONLY

__all__ = ["RANGES", "SORTS", "FleetPage", "fleet_page", "host_series", "recent_cases"]

SORTS = {"hostname": Host.hostname, "cpu": Host.cpu_percent, "ram": Host.ram_percent,
         "disk": Host.disk_max_percent, "last_seen": Host.last_seen, "updates": Host.pending_updates}
STATUSES = ("all", "online", "overdue", "problems")
RANGES = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(hours=24),
          "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90), "365d": timedelta(days=365)}
MAX_POINTS = 720


@dataclass
class FleetPage:
    rows: list[dict[str, Any]]
    counts: dict[str, int]
    total_matching: int
    page: int
    pages: int
    per_page: int


def antivirus_alerting() -> Any:
    """SQL: the host's antivirus state raises an alert (``alerts.antivirus_alert``, the same table)."""
    return and_(Host.antivirus.in_(sorted(ANTIVIRUS_ALERTS)),
                *[~and_(Host.os == os_name, Host.antivirus == state) for os_name, state in sorted(ANTIVIRUS_INFO_ONLY)])


def _in_org(organisation_id: str, tag: str | None) -> Any:
    """SQL: the organisation's hosts, only those carrying ``tag`` when given."""
    org = Host.organisation_id == organisation_id
    if tag is None:
        return org
    return and_(org, Host.hostname.in_(select(HostTag.hostname).where(HostTag.organisation_id == organisation_id,
                                                                      HostTag.tag == tag)))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def fleet_page(db: Session, *, organisation_id: str, overdue_after: int, disk_warning: float, status: str = "all",
               q: str = "", sort: str = "hostname", desc: bool = False, page: int = 1, per_page: int = 100,
               now: datetime | None = None, tag: str | None = None) -> FleetPage:
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=overdue_after)
    org = _in_org(organisation_id, tag)
    overdue = Host.last_seen < cutoff
    problem = or_(overdue, Host.smart_failing.is_(True), Host.firewall == "off", antivirus_alerting(),
                  Host.disk_max_percent >= disk_warning)

    def count_if(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    agg = db.execute(select(func.count(), count_if(overdue), count_if(Host.smart_failing.is_(True)),
                            count_if(Host.firewall == "off"), count_if(antivirus_alerting()),
                            count_if(Host.disk_max_percent >= disk_warning), count_if(Host.pending_updates > 0),
                            count_if(problem)).where(org)).one()
    counts = dict(zip(("total", "overdue", "smart_failing", "firewall_off", "antivirus_off", "disk_warning",
                       "pending_updates", "problems"), (int(v or 0) for v in agg)))
    counts["online"] = counts["total"] - counts["overdue"]

    where = [org]
    if status == "online":
        where.append(Host.last_seen >= cutoff)
    elif status == "overdue":
        where.append(overdue)
    elif status == "problems":
        where.append(problem)
    if q:
        where.append(Host.hostname.ilike(f"%{_escape_like(q)}%", escape="\\"))
    cond = and_(*where)
    if status == "all" and not q:
        matching = counts["total"]
    else:
        matching = int(db.execute(select(func.count()).select_from(Host).where(cond)).scalar_one())
    pages = max(1, -(-matching // per_page))
    page = min(max(1, page), pages)
    column = SORTS.get(sort, Host.hostname)
    order = [column.desc().nulls_last() if desc else column.asc().nulls_last()]
    if column is not Host.hostname:
        order.append(Host.hostname.asc())
    result = db.execute(select(Host.hostname, Host.os, Host.last_seen, Host.cpu_percent, Host.ram_percent,
                               Host.disk_max_percent, Host.firewall, Host.antivirus, Host.smart_failing,
                               Host.pending_updates).where(cond).order_by(*order)
                        .offset((page - 1) * per_page).limit(per_page)).all()
    rows = []
    for r in result:
        seen = r.last_seen if r.last_seen.tzinfo else r.last_seen.replace(tzinfo=UTC)
        rows.append({"hostname": r.hostname, "os": r.os, "last_seen": seen,
                     "status": "overdue" if seen < cutoff else "online", "cpu_percent": r.cpu_percent,
                     "ram_percent": r.ram_percent, "disk_max_percent": r.disk_max_percent, "firewall": r.firewall,
                     "antivirus": r.antivirus, "smart_failing": bool(r.smart_failing),
                     "pending_updates": r.pending_updates,
                     "disk_warning": r.disk_max_percent is not None and r.disk_max_percent >= disk_warning})
    return FleetPage(rows=rows, counts=counts, total_matching=matching, page=page, pages=pages, per_page=per_page)


def host_row(db: Session, *, organisation_id: str, hostname: str) -> Host | None:
    return db.get(Host, (organisation_id, hostname))


def host_series(db: Session, *, organisation_id: str, hostname: str, since: datetime,
                until: datetime | None = None, max_points: int = MAX_POINTS, retention_days: int = 30,
                now: datetime | None = None) -> dict[str, Any]:
    """CPU, RAM, swap and fullest-disk history of a host as parallel arrays (unix seconds) at the resolution the
    range calls for (``crud.host_history``: raw samples for short ranges, hourly or daily rollups' averages for
    long ones; ``resolution`` says which), averaged into at most ``max_points`` buckets."""
    now = now or datetime.now(UTC)
    history = metrics.host_history(db, organisation_id=organisation_id, hostname=hostname, since=since,
                                   until=until or now, retention_days=retention_days, now=now)
    points: list[tuple[Any, ...]] = [
        (p["t"].timestamp(), p["cpu"]["avg"], p["ram"]["avg"], p["swap"]["avg"], p["disk"]["avg"])
        for p in history["points"]]
    names = ("t", "cpu", "ram", "swap", "disk")
    if len(points) > max_points:
        start, end = points[0][0], points[-1][0]
        width = (end - start) / max_points or 1.0
        buckets: dict[int, list[tuple[Any, ...]]] = {}
        for p in points:
            buckets.setdefault(min(max_points - 1, int((p[0] - start) / width)), []).append(p)
        merged = []
        for _, group in sorted(buckets.items()):
            row: list[Any] = [group[-1][0]]
            for col in range(1, 5):
                vals = [g[col] for g in group if g[col] is not None]
                row.append(round(sum(vals) / len(vals), 2) if vals else None)
            merged.append(tuple(row))
        points = merged
    series: dict[str, Any] = {n: [p[i] for p in points] for i, n in enumerate(names)}
    series["samples"] = sum(p["samples"] for p in history["points"])
    series["resolution"] = history["resolution"]
    return series


def recent_cases(db: Session, *, organisation_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The organisation's newest cases with the success rate of their set of actions."""
    rows = db.execute(select(Case, CaseStat.successes, CaseStat.failures)
                      .outerjoin(CaseStat, and_(CaseStat.organisation_id == Case.organisation_id,
                                                CaseStat.actions_key == Case.actions_key))
                      .where(Case.organisation_id == organisation_id)
                      .order_by(Case.created_at.desc(), Case.id.desc()).limit(limit)).all()
    out = []
    for c, successes, failures in rows:
        total = (successes or 0) + (failures or 0)
        out.append({"id": c.id, "symptom": c.symptom, "language": c.language, "os": c.os, "actions": c.actions,
                    "outcome": c.outcome, "technician": c.technician, "created_at": c.created_at,
                    "success_rate": (successes or 0) / total if total else None, "uses": total})
    return out


def alert_hosts(db: Session, *, organisation_id: str, overdue_after: int, disk_warning: float,
                cached_seen: dict[str, float] | None = None, now: datetime | None = None,
                tag: str | None = None) -> list[Any]:
    """Only the hosts that match an alert rule (as ``HostPublic`` for ``alerts.alerts``), filtered in SQL so a large
    healthy fleet costs nothing. The cache's last-seen times can only make a host newer, so a host that is not
    overdue by the database is not overdue at all; hosts overdue by the database are re-checked against it."""
    from ..schemas import HostPublic

    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=overdue_after)
    rows = db.execute(select(Host.hostname, Host.os, Host.last_seen, Host.last_sample_at, Host.cpu_percent,
                             Host.ram_percent, Host.disk_max_percent, Host.firewall, Host.antivirus,
                             Host.smart_failing, Host.pending_updates)
                      .where(_in_org(organisation_id, tag),
                             or_(Host.last_seen < cutoff, Host.smart_failing.is_(True), Host.firewall == "off",
                                 antivirus_alerting(), Host.disk_max_percent >= disk_warning))
                      .order_by(Host.hostname)).all()
    out = []
    for r in rows:
        seen = r.last_seen if r.last_seen.tzinfo else r.last_seen.replace(tzinfo=UTC)
        if cached_seen and r.hostname in cached_seen:
            seen = max(seen, datetime.fromtimestamp(cached_seen[r.hostname], UTC))
        sample_at = r.last_sample_at if r.last_sample_at.tzinfo else r.last_sample_at.replace(tzinfo=UTC)
        out.append(HostPublic(hostname=r.hostname, os=r.os, last_seen=seen, last_sample_at=sample_at,
                              status="overdue" if (now - seen).total_seconds() > overdue_after else "online",
                              cpu_percent=r.cpu_percent, ram_percent=r.ram_percent,
                              disk_max_percent=r.disk_max_percent, firewall=r.firewall, antivirus=r.antivirus,
                              smart_failing=bool(r.smart_failing), pending_updates=r.pending_updates))
    return out
