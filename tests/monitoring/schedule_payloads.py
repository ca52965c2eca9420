"""Signed maintenance-schedule payloads for the host tests (the shape of docs/remote-jobs.md §5)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from techcare import repairs

HOST = "WS-EMPFANG-01"  # the host name of the Windows snapshot the simulated PC replays
LOW_RISK = [{"action": "win.restart_service", "params": {"name": "Spooler"}},
            {"action": "win.restart_service", "params": {"name": "Audiosrv"}}]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def variant(actions: list[dict] | None = None, *, platform: str = "windows", approval: str | None = None) -> dict:
    """The repair fields of a plan made of ``actions`` (a restore point is put first where the catalogue asks)."""
    plan = repairs.Plan.from_actions(actions or LOW_RISK, platform=platform)
    ok = repairs.parse_approval(approval or f"GO REPAIR: 1-{len(plan.steps)}", plan)
    return {"steps": [{"number": s.number, "action": s.action_id, "params": dict(s.params)} for s in plan.steps],
            "approval": ok.text, "approved_steps": list(ok.steps), "plan_fingerprint": plan.fingerprint()}


def schedule(**over) -> dict:
    """Every Sunday 02:00 host-local time, a two-hour window, valid for December 2026 to November 2027."""
    p = {"v": 1, "kind": "schedule", "schedule_id": uuid.uuid4().hex, "revision": 1,
         "name": "Wochenwartung Bäckerei Müller", "tag": "kunde:baeckerei-mueller", "hosts": [HOST],
         "variants": {"windows": variant()}, "rrule": "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0",
         "dtstart": "2026-12-06T02:00:00", "window_minutes": 120, "catch_up": False, "allow_high_risk": False,
         "allow_reboot": False, "valid_from": "2026-12-01T00:00:00Z", "valid_until": "2027-11-30T00:00:00Z",
         "issued_at": "2026-12-01T00:00:00Z", "signer": "Anna Technikerin"}
    p.update(over)
    return p


def delivered(key, p: dict, occurrence: str) -> dict:
    """One item of the sensor fetch answer's ``occurrences``."""
    return {"schedule_id": p["schedule_id"], "occurrence": occurrence, "envelope": key.sign(p)}
