"""Signed-job payloads for the executor tests (the shape of docs/remote-jobs.md §1)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from techcare import repairs
from techcare.diagnosis import diagnose
from techcare.monitoring.simulated import SimulatedPC

SNAPSHOTS = Path(__file__).parents[1] / "system" / "fixtures" / "snapshots"
WINDOWS = SNAPSHOTS / "windows11-problems.json"
HOST = "WS-EMPFANG-01"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def payload(kind: str = "diagnose", **over) -> dict:
    now = time.time()
    p = {"v": 1, "job_id": uuid.uuid4().hex, "kind": kind, "hosts": [HOST], "platform": None, "steps": [],
         "approval": "", "approved_steps": [], "plan_fingerprint": "", "confirm_high_risk": False,
         "rollback_of": None, "not_before": iso(now - 60), "expires": iso(now + 3600), "issued_at": iso(now - 60),
         "signer": "Anna Technikerin"}
    p.update(over)
    return p


def repair_payload(pc: SimulatedPC, approval: str = "GO REPAIR: 1-4", **over) -> dict:
    """A repair job for the plan the technician would see for ``pc`` (diagnosis of the replayed PC)."""
    plan = repairs.plan(diagnose(runner=pc.runner()))
    ok = repairs.parse_approval(approval, plan)
    fields = {"platform": plan.platform, "approval": ok.text, "approved_steps": list(ok.steps),
              "steps": [{"number": s.number, "action": s.action_id, "params": dict(s.params)} for s in plan.steps],
              "plan_fingerprint": plan.fingerprint()}
    fields.update(over)
    return payload("repair", **fields)
