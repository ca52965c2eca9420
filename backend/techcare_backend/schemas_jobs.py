"""Request and response bodies of remote jobs (``docs/remote-jobs.md`` §3).

The envelope itself is only checked for its *shape* here (:func:`techcare_backend.crud_jobs.parse_envelope`
reads the payload fields the backend routes on); the signature is the hosts' business.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, WithJsonSchema, field_validator

from .schemas import Strict, control_character, name_pattern, trimmed_pattern

__all__ = ["FINAL_STATUSES", "JobCancel", "JobCreate", "JobList", "JobPublic", "JobReport", "JobReported",
           "JobTargetPublic", "SensorJob", "SensorKeyRef", "SensorJobs", "TARGET_STATUSES"]

JobKind = Literal["diagnose", "drivers", "repair", "rollback"]
TargetStatus = Literal["queued", "delivered", "running", "succeeded", "failed", "rolled_back", "refused", "expired",
                       "cancelled"]
TARGET_STATUSES: tuple[str, ...] = TargetStatus.__args__  # type: ignore[attr-defined]
FINAL_STATUSES = frozenset({"succeeded", "failed", "rolled_back", "refused", "expired", "cancelled"})
SummaryStatus = Literal["queued", "running", "done", "partly_failed", "failed", "cancelled", "expired"]
ReportStatus = Literal["running", "succeeded", "failed", "rolled_back", "refused", "expired", "interrupted",
                       "cancelled"]
HostName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Reason = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]

MAX_REPORT_STEPS = 1000
TIME_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$"
JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
NO_NUL = "^[^\\x00]*$"
PAYLOAD_FIELDS = ("v", "job_id", "kind", "hosts", "platform", "steps", "approval", "approved_steps", "plan_fingerprint",
                  "confirm_high_risk", "rollback_of", "not_before", "expires", "issued_at", "signer")
_TEXT = {"type": "string", "pattern": NO_NUL}
_INT = {"type": "integer", "minimum": -(2**53), "maximum": 2**53}
_SCALAR = {"anyOf": [_TEXT, _INT, {"type": "boolean"}, {"type": "null"}]}
_TIME = {"type": "string", "pattern": TIME_PATTERN, "description": "UTC to the second, e.g. 2026-12-02T07:00:00Z"}
#: optional (only when a step is a plugin's action): the plugins a host must have, the same (docs/plugins.md)
OPTIONAL_PAYLOAD_FIELDS = ("plugins",)
PLUGINS_SCHEMA: dict[str, Any] = {
    "type": "array", "maxItems": 100, "description": "plugins whose actions the steps use; a host runs them only when "
    "it has each plugin with this name, version and content hash",
    "items": {"type": "object", "additionalProperties": False, "required": ["name", "version", "sha256", "actions"],
              "properties": {"name": {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,63}$"},
                             "version": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": NO_NUL},
                             "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                             "actions": {"type": "array", "maxItems": 100, "items": _TEXT}}}}
ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["payload", "key_id", "signature"],
    "description": "The signed envelope (`docs/remote-jobs.md` §1) as `techcare.signing.sign_payload` made it; "
                   "stored and served unchanged. Also checked: not_before < expires <= not_before + 30 days, "
                   "expires in the future, at most 256 KiB.",
    "properties": {
        "key_id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        "signature": {"type": "string", "pattern": "^[A-Za-z0-9_-]{86}$", "description": "Ed25519, base64url"},
        "payload": {
            "type": "object", "additionalProperties": False, "required": list(PAYLOAD_FIELDS),
            "properties": {
                "v": {"type": "integer", "enum": [1]},
                "job_id": {"type": "string", "pattern": JOB_ID_PATTERN},
                "kind": {"type": "string", "enum": ["diagnose", "drivers", "repair", "rollback"]},
                "hosts": {"type": "array", "minItems": 1, "maxItems": 1000, "uniqueItems": True,
                          "items": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": NO_NUL}},
                "platform": {"anyOf": [{"type": "string", "enum": ["windows", "darwin", "linux"]}, {"type": "null"}]},
                "steps": {"type": "array", "items": {
                    "type": "object", "required": ["number", "action"], "additionalProperties": False,
                    "properties": {"number": _INT, "action": _TEXT,
                                   "params": {"type": "object", "propertyNames": {"pattern": NO_NUL},
                                              "additionalProperties": {"anyOf": [
                                                  _SCALAR, {"type": "array", "items": _SCALAR}]}}}}},
                "approval": _TEXT,
                "approved_steps": {"type": "array", "items": _INT},
                "plan_fingerprint": _TEXT,
                "plugins": PLUGINS_SCHEMA,
                "confirm_high_risk": {"type": "boolean"},
                "rollback_of": {"anyOf": [{"type": "string", "pattern": JOB_ID_PATTERN}, {"type": "null"}]},
                "not_before": _TIME, "expires": _TIME, "issued_at": _TIME,
                "signer": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": name_pattern(),
                           "description": "the signer's name: no control or format characters (U+202E, ...)"},
            },
            "allOf": [
                {"if": {"properties": {"kind": {"const": "repair"}}, "required": ["kind"]},
                 "then": {"properties": {"steps": {"minItems": 1}, "approval": {"pattern": trimmed_pattern(1)},
                                         "approved_steps": {"minItems": 1}, "plan_fingerprint": {"minLength": 1}}}},
                {"if": {"properties": {"kind": {"const": "rollback"}}, "required": ["kind"]},
                 "then": {"properties": {"rollback_of": {"type": "string"}}}},
            ],
        },
    },
}


class JobCreate(Strict):
    envelope: Annotated[dict[str, Any], WithJsonSchema(ENVELOPE_SCHEMA)] = Field(
        description="the signed envelope `{payload, key_id, signature}`; stored unchanged")

    @field_validator("envelope")
    @classmethod
    def _signer_shown_as_written(cls, value: dict[str, Any]) -> dict[str, Any]:
        """The signer is shown in every list: no control or format characters (a U+202E would show it reversed)."""
        payload = value.get("payload")
        signer = payload.get("signer") if isinstance(payload, dict) else None
        bad = control_character(signer) if isinstance(signer, str) else None
        if bad is not None:
            raise ValueError(f"payload.signer must not contain control or format characters (found {bad}); "
                             "allowed: a name of letters, digits, spaces and punctuation")
        return value


class JobCancel(Strict):
    hosts: Annotated[list[HostName], Field(min_length=1, max_length=1000)] | None = Field(
        None, description="cancel only these hosts' targets (default: all)")


class SensorKeyRef(BaseModel):
    """The sensor key serving a host's jobs (``docs/remote-jobs.md`` §3)."""

    id: str
    name: str
    prefix: str
    pinned: bool = Field(description="created for this host (serves no other)")
    bound_at: datetime


class JobTargetPublic(BaseModel):
    host: str
    status: TargetStatus
    reason: str | None = None
    message: str | None = None
    steps: list[Any] | None = None
    diagnosis: dict[str, Any] | None = Field(None, description="the read-only result: `techcare diagnose --json` "
                                                                "of a diagnose job, the driver report of a drivers "
                                                                "job (left out in lists)")
    delivered_at: datetime | None = None
    updated_at: datetime
    finished_at: datetime | None = None
    cancel_requested: bool = Field(False, description="cancelled by a technician while delivered or running: "
                                                      "the sensor stops before its next step")
    sensor_key: SensorKeyRef | None = Field(None, description="the sensor key that serves this host (only it may "
                                                              "fetch and report; GET /api/jobs/{id} only)")


class JobPublic(BaseModel):
    job_id: str
    kind: JobKind
    created_at: datetime
    created_by: str = Field(description="technician (or key name) whose API key sent the job")
    signer: str = Field(description="the signer's display name from the signed payload")
    key_id: str = Field(description="id of the signing key (the hosts trust keys, not names)")
    hosts: list[str]
    not_before: datetime
    expires: datetime
    approval: str
    plan_fingerprint: str
    platform: str | None = None
    rollback_of: str | None = None
    confirm_high_risk: bool = False
    steps: list[Any]
    status: SummaryStatus
    counts: dict[str, int] = Field(description="targets per status")
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    targets: list[JobTargetPublic]


class JobList(BaseModel):
    jobs: list[JobPublic]
    next_before: datetime | None = Field(None, description="pass as `before` for the next (older) page")


class SensorJob(BaseModel):
    job_id: str
    envelope: dict[str, Any] = Field(description="exactly the stored envelope text")


class SensorOccurrence(BaseModel):
    schedule_id: str
    occurrence: str = Field(description="local start YYYY-MM-DDTHH:MM in the host's zone")
    envelope: dict[str, Any] = Field(description="exactly the stored envelope text of the signed schedule")


class SensorJobs(BaseModel):
    jobs: list[SensorJob]
    cancelled: list[str] = Field(description="job ids of this host that a technician cancelled after delivery")
    occurrences: list[SensorOccurrence] = Field(default_factory=list, description="maintenance occurrences due "
                                                "for this host now, each handed out once (docs/remote-jobs.md §5)")


class JobReport(Strict):
    host: HostName
    status: ReportStatus
    reason: Reason | None = Field(None, description="refusal reason code (`docs/remote-jobs.md` §2) or similar")
    message: Annotated[str, StringConstraints(max_length=4000)] | None = None
    steps: Annotated[list[dict[str, Any]], Field(max_length=MAX_REPORT_STEPS)] | None = Field(
        None, description="every step so far (replaces the previous list)")
    diagnosis: dict[str, Any] | None = Field(None, description="`techcare diagnose --json` (diagnose jobs)")


class JobReported(BaseModel):
    cancel: bool = Field(description="true: a technician cancelled; stop before the next step")
    status: TargetStatus
