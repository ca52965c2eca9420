"""Request and response bodies of tags, maintenance schedules and the maintenance report (``docs/remote-jobs.md``
§5). The signed envelope is checked for its shape by :func:`techcare_backend.crud_schedules.parse_envelope`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, WithJsonSchema

from .schemas import Strict, name_pattern, trimmed_pattern
from .schemas_jobs import JOB_ID_PATTERN, NO_NUL, PLUGINS_SCHEMA
from .sensor_facts import TAG_PATTERN

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


_TEXT = {"type": "string", "pattern": NO_NUL}
_INT = {"type": "integer", "minimum": -(2**53), "maximum": 2**53}
_SCALAR = {"anyOf": [_TEXT, _INT, {"type": "boolean"}, {"type": "null"}]}
# declared here and enforced by crud_schedules (the same constants)
TIME_PATTERN = r"^2[0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$"
DTSTART_PATTERN = r"^2[0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:00$"
RRULE_PATTERN = (r"^FREQ=(DAILY|WEEKLY|MONTHLY)(;(INTERVAL|BYDAY|BYMONTHDAY|BYHOUR|BYMINUTE|BYSETPOS|BYMONTH|COUNT|"
                 r"UNTIL|WKST)=[A-Z0-9,+-]+)*$")
_TIME = {"type": "string", "pattern": TIME_PATTERN, "description": "UTC to the second, e.g. 2026-12-02T07:00:00Z"}
_STEP = {"type": "object", "required": ["number", "action"], "additionalProperties": False,
         "properties": {"number": _INT, "action": _TEXT,
                        "params": {"type": "object", "propertyNames": {"pattern": NO_NUL},
                                   "additionalProperties": {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]}}}}
_VARIANT = {"type": "object", "additionalProperties": False,
            "required": ["steps", "approval", "approved_steps", "plan_fingerprint"],
            "properties": {"steps": {"type": "array", "minItems": 1, "items": _STEP},
                           "approval": {"type": "string", "pattern": trimmed_pattern(1)},
                           "approved_steps": {"type": "array", "minItems": 1, "items": _INT},
                           "plan_fingerprint": {"type": "string", "minLength": 1, "pattern": NO_NUL},
                           "plugins": PLUGINS_SCHEMA}}
SCHEDULE_ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["payload", "key_id", "signature"],
    "description": "The signed schedule (`docs/remote-jobs.md` §5) as `techcare.signing.sign_payload` made it; "
                   "stored and served unchanged. Also checked: the rrule (FREQ=DAILY|WEEKLY|MONTHLY; INTERVAL, "
                   "BYDAY, BYMONTHDAY, BYHOUR, BYMINUTE, BYSETPOS, BYMONTH, COUNT, UNTIL without Z, WKST) has an "
                   "occurrence in the validity and its occurrences are at least window_minutes apart; valid_from < "
                   "valid_until <= valid_from + 400 days, valid_until in the future; at most 256 KiB.",
    "properties": {
        "key_id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        "signature": {"type": "string", "pattern": "^[A-Za-z0-9_-]{86}$", "description": "Ed25519, base64url"},
        "payload": {
            "type": "object", "additionalProperties": False,
            "required": ["v", "kind", "schedule_id", "revision", "name", "tag", "hosts", "variants", "rrule",
                         "dtstart", "window_minutes", "catch_up", "allow_high_risk", "allow_reboot", "valid_from",
                         "valid_until", "issued_at", "signer"],
            "properties": {
                "v": {"type": "integer", "enum": [1]},
                "kind": {"type": "string", "enum": ["schedule"]},
                "schedule_id": {"type": "string", "pattern": JOB_ID_PATTERN},
                "revision": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": name_pattern()},
                "tag": {"anyOf": [{"type": "string", "pattern": TAG_PATTERN}, {"type": "null"}]},
                "hosts": {"type": "array", "minItems": 1, "maxItems": 1000, "uniqueItems": True,
                          "items": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": NO_NUL}},
                "variants": {"type": "object", "minProperties": 1, "additionalProperties": False,
                             "properties": {p: _VARIANT for p in ("windows", "darwin", "linux")}},
                "rrule": {"type": "string", "minLength": 1, "maxLength": 500, "pattern": RRULE_PATTERN,
                          "description": "RFC 5545 RRULE value, FREQ first, e.g. FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;"
                                         "BYMINUTE=0"},
                "dtstart": {"type": "string", "pattern": DTSTART_PATTERN,
                            "description": "naive local time in whole minutes, e.g. 2026-12-06T02:00:00"},
                "window_minutes": {"type": "integer", "minimum": 5, "maximum": 1440},
                "catch_up": {"type": "boolean"}, "allow_high_risk": {"type": "boolean"},
                "allow_reboot": {"type": "boolean"},
                "valid_from": _TIME, "valid_until": _TIME, "issued_at": _TIME,
                "signer": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": name_pattern(),
                           "description": "the signer's name: no control or format characters (U+202E, ...)"},
            },
        },
    },
}


class ScheduleCreate(Strict):
    envelope: Annotated[dict[str, Any], WithJsonSchema(SCHEDULE_ENVELOPE_SCHEMA)] = Field(
        description="the signed envelope `{payload, key_id, signature}` of a schedule (payload.kind `schedule`); "
                    "stored and served unchanged")


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
