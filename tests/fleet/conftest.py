"""Fixtures for the technician's remote-jobs client.

``jobs_peer`` is an HTTP peer speaking the contract of ``docs/remote-jobs.md`` §3 through ``httpx.MockTransport``:
it keeps what it was sent, so unit tests can read the exact envelope a call produced and answer with hostile or
malformed bodies. The end-to-end tests (``test_fleet_e2e.py``) use the real backend instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

WINDOWS = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "windows11-problems.json"


class JobsPeer:
    """Answers the technician routes from memory. ``override(method, path)`` may return a response instead."""

    def __init__(self) -> None:
        self.hosts: list[dict[str, Any]] = [
            {"hostname": "WS-EMPFANG-01", "os": "windows", "status": "online", "last_seen": "2026-12-02T07:00:00Z"},
            {"hostname": "buero-mac", "os": "darwin", "status": "overdue", "last_seen": "2026-12-01T07:00:00Z"}]
        self.jobs: dict[str, dict[str, Any]] = {}
        self.envelopes: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.override: Callable[[httpx.Request], httpx.Response | None] | None = None

    def job_public(self, envelope: dict[str, Any]) -> dict[str, Any]:
        p = envelope["payload"]
        return {"job_id": p["job_id"], "kind": p["kind"], "created_at": datetime.now(UTC).isoformat(),
                "created_by": "Technician Org", "signer": p["signer"], "key_id": envelope["key_id"],
                "hosts": p["hosts"], "not_before": p["not_before"], "expires": p["expires"],
                "approval": p["approval"], "plan_fingerprint": p["plan_fingerprint"], "steps": p["steps"],
                "platform": p["platform"], "rollback_of": p["rollback_of"],
                "status": "queued",
                "targets": [{"host": h, "status": "queued", "reason": None, "message": None, "steps": [],
                             "diagnosis": None, "updated_at": None} for h in p["hosts"]]}

    def set_target(self, job_id: str, host: str, **fields: Any) -> None:
        for target in self.jobs[job_id]["targets"]:
            if target["host"] == host:
                target.update(fields)
        states = {t["status"] for t in self.jobs[job_id]["targets"]}
        final = {"succeeded", "failed", "refused", "expired", "cancelled", "rolled_back", "interrupted"}
        if not states <= final:
            summary = "running"
        elif states == {"succeeded"}:
            summary = "done"
        else:
            summary = "partly_failed" if "succeeded" in states else "failed"
        self.jobs[job_id]["status"] = summary

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests.append((request.method, path))
        if self.override is not None:
            answer = self.override(request)
            if answer is not None:
                return answer
        if not request.headers.get("authorization", "").startswith("Bearer tck_"):
            return httpx.Response(401, json={"code": "UNAUTHORIZED", "detail": "no key"})
        if path == "/api/monitoring/hosts":
            tag = request.url.params.get("tag")
            return httpx.Response(200, json=[h for h in self.hosts if tag is None or tag in h.get("tags", [])])
        if path == "/api/jobs" and request.method == "POST":
            envelope = json.loads(request.content)["envelope"]
            job_id = envelope["payload"]["job_id"]
            if job_id in self.jobs:
                return httpx.Response(409, json={"code": "CONFLICT", "detail": "job exists"})
            self.envelopes.append(envelope)
            self.jobs[job_id] = self.job_public(envelope)
            return httpx.Response(201, json=self.jobs[job_id])
        if path == "/api/jobs":
            host = request.url.params.get("host")
            jobs = [j for j in reversed(list(self.jobs.values())) if host is None or host in j["hosts"]]
            return httpx.Response(200, json={"jobs": jobs})
        parts = path.split("/")
        if len(parts) >= 4 and parts[:3] == ["", "api", "jobs"]:
            job = self.jobs.get(parts[3])
            if job is None:
                return httpx.Response(404, json={"code": "NOT_FOUND", "detail": f"job {parts[3]} unknown"})
            if parts[4:] == ["cancel"]:
                for target in job["targets"]:
                    if target["status"] in ("queued", "delivered"):
                        target["status"] = "cancelled"
                job["status"] = "cancelled"
            return httpx.Response(200, json=job)
        return httpx.Response(404, json={"code": "NOT_FOUND", "detail": path})


@pytest.fixture
def peer() -> JobsPeer:
    return JobsPeer()


@pytest.fixture
def backend(peer: JobsPeer):
    from techcare.backend_client import BackendClient

    http = httpx.Client(transport=httpx.MockTransport(peer.handle), base_url="http://backend.test")
    client = BackendClient(api_key="tck_technician", client=http, sleep=lambda s: None, retries=2)
    yield client
    http.close()


@pytest.fixture
def windows_plan():
    import techcare

    return techcare.plan(techcare.diagnose(snapshot=WINDOWS))
