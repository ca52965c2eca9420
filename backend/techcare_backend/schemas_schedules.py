"""Request and response bodies of tags, maintenance schedules and the maintenance report (``docs/remote-jobs.md``
§5). The signed envelope is checked for its shape by :func:`techcare_backend.crud_schedules.parse_envelope`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from .sensor_facts import TAG_PATTERN
from .schemas import Strict

__all__ = ["OCCURRENCE_STATUSES", "OccurrencePublic", "OccurrenceReport", "OccurrenceReported", "ScheduleCreate",
           "ScheduleList", "SchedulePublic", "TagHosts", "TagHostsChanged", "TagPublic"]

HostName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Tag = Annotated[str, StringConstraints(pattern=TAG_PATTERN)]
Reason = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
OccurrenceStatus = Literal["pending", "delivered", "running", "ran", "failed", "skipped", "missed"]
OCCURRENCE_STATUSES: tuple[str, ...] = OccurrenceStatus.__args__  # type: ignore[attr-defined]
MAX_REPORT_STEPS = 1000


class TagHosts(Strict):
    hosts: Annotated[list[HostName], Field(min_length=1, max_length=1000)]


class TagPublic(BaseModel):
    tag: str
    hosts: list[str]


class TagHostsChanged(BaseModel):
    tag: str
    changed: list[str] = Field(description="hosts that got (POST) or lost (DELETE) the tag; the others had it "
                                           "already (POST) or did not have it (DELETE)")
    hosts: list[str] = Field(description="every host with the tag now")


class ScheduleCreate(Strict):
    envelope: dict[str, Any] = Field(description="the signed envelope `{payload, key_id, signature}` of a schedule "
                                                 "(payload.kind `schedule`); stored and served unchanged")


class NextOccurrence(BaseModel):
    host: str
    occurrence: str = Field(description="local start YYYY-MM-DDTHH:MM in the host's zone")
    planned_local: datetime = Field(description="the local start with its UTC offset")
    planned_utc: datetime
    timezone: str
    timezone_known: bool = Field(description="false: the host has not reported its zone; UTC is used")


class SchedulePublic(BaseModel):
    schedule_id: str
    revision: int
    name: str
    tag: str | None = None
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
    created_at: datetime
    created_by: str
    updated_at: datetime
    status: Literal["active", "paused", "ended", "deleted"]
    paused_at: datetime | None = None
    paused_by: str | None = None
    deleted_at: datetime | None = None
    counts: dict[str, int] = Field(description="recorded occurrences per status")
    next: list[NextOccurrence] = Field(description="each host's next occurrence (none when paused or ended)")


class ScheduleList(BaseModel):
    schedules: list[SchedulePublic]


class OccurrencePublic(BaseModel):
    schedule_id: str
    host: str
    occurrence: str = Field(description="local start YYYY-MM-DDTHH:MM in the host's zone")
    timezone: str
    timezone_known: bool = Field(description="false: the host has not reported its zone; computed in UTC")
    planned_local: datetime
    planned_utc: datetime
    window_end_utc: datetime
    status: OccurrenceStatus
    reason: str | None = None
    message: str | None = None
    steps: list[Any] | None = None
    delivered_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    changelog: list[str] = Field(default_factory=list, description="links of the changelog sessions the steps "
                                                                    "name (GET /api/changelogs/{session})")


class OccurrenceList(BaseModel):
    schedule_id: str
    since: datetime
    until: datetime
    occurrences: list[OccurrencePublic]


class OccurrenceReport(Strict):
    host: HostName
    status: Literal["running", "ran", "failed", "skipped"]
    reason: Reason | None = Field(None, description="refusal reason (docs/remote-jobs.md §2, §5 Host) or similar")
    message: Annotated[str, StringConstraints(max_length=4000)] | None = None
    steps: Annotated[list[dict[str, Any]], Field(max_length=MAX_REPORT_STEPS)] | None = Field(
        None, description="every step so far (replaces the previous list)")


class OccurrenceReported(BaseModel):
    status: OccurrenceStatus
