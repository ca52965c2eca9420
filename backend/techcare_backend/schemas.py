"""Request and response bodies (pydantic). One family per entity: ``...Create`` in, ``...Public`` out."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from .sensor_facts import sample_tags, sample_zone

Edition = Literal["community", "pro", "pro_business", "enterprise"]
Role = Literal["admin", "technician", "sensor"]
OsName = Literal["windows", "linux", "darwin"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
HOSTNAME_PATTERN = r"^[^/\x00-\x1f\x7f]+$"
_BAD_HOSTNAME = re.compile(r"[/\x00-\x1f\x7f]")


def _hostname(value: str) -> str:
    if _BAD_HOSTNAME.search(value):
        raise ValueError("a host name must not contain '/' or control characters (its pages and history are "
                         "addressed by name)")
    return value


Hostname = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
                     AfterValidator(_hostname), Field(json_schema_extra={"pattern": HOSTNAME_PATTERN})]
Fingerprint = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=200)]
ActionId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$", max_length=100)]


DATETIME_RANGE = "0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z"
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def as_utc(value: datetime) -> datetime:
    """Naive timestamps are UTC (the product spec sends ``2026-02-17T10:30:00``). ``ValueError`` if the UTC time
    is out of range (``0001-01-01T00:00:00+05:00`` is 31 December of year 0 in UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"date-time out of range once converted to UTC; allowed: {DATETIME_RANGE}") from None


def _iso_only(value: Any) -> Any:
    """Date-times are ISO 8601 text; pydantic would also read a number (``until=0.5``) as unix seconds."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("must be an ISO 8601 date-time such as 2026-02-17T10:30:00Z, not a number")
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(as_utc)]
"""An ISO 8601 date-time, stored in UTC (naive = UTC); numbers and times outside the UTC range are a 422."""


def bad_text(value: Any) -> str | None:
    """Why the strings (and keys) in ``value`` cannot be stored, or ``None``: NUL (PostgreSQL text and JSONB
    refuse it) or a lone UTF-16 surrogate (``"\\ud800"``: not Unicode text, cannot be encoded, hashed or
    stored). ``json.dumps`` (C speed) escapes NUL as \\u0000 and keeps surrogates, so one dump and one encode find
    both (a 1,000-sample batch is checked in milliseconds); the recursive walk only runs when NUL may be there."""
    try:
        dumped = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        dumped = None
    if dumped is not None:
        try:
            dumped.encode("utf-8")
        except UnicodeEncodeError:
            return "text must not contain lone UTF-16 surrogates (such as \\ud800)"
        if "\\u0000" not in dumped:
            return None
    if _walk_nul(value):
        return "text must not contain NUL characters"
    return None


def _has_nul(value: Any) -> bool:
    return bad_text(value) is not None


def _walk_nul(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if depth > 20:
        return False
    if isinstance(value, dict):
        return any(_walk_nul(k, depth + 1) or _walk_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_walk_nul(v, depth + 1) for v in value)
    return False


class NoNul(BaseModel):
    """Refuses NUL characters and lone surrogates anywhere in the input (see :func:`bad_text`)."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        problem = bad_text(data)
        if problem:
            raise ValueError(problem)
        return data


class Strict(NoNul):
    model_config = ConfigDict(extra="forbid")


class ErrorPublic(BaseModel):
    """Every refusal: a machine-readable ``code`` and a ``detail`` for people (German or English by
    ``Accept-Language``)."""

    code: str
    detail: str


class ValidationErrorPublic(ErrorPublic):
    """A 422: ``detail`` names the fields and what is allowed; ``errors`` lists them one by one (pydantic's
    ``loc``/``msg``/``type``, the input echoed); ``message`` repeats ``detail`` for older clients."""

    code: Literal["VALIDATION_ERROR", "TOO_LARGE"] = "VALIDATION_ERROR"
    message: str | None = None
    errors: list[dict[str, Any]] = []


# ---- health -----------------------------------------------------------------------------------------------
class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "error"]
    cache: Literal["ok", "degraded"]
    cache_backend: str
    version: str
    ts: int


# ---- licenses ---------------------------------------------------------------------------------------------
class LicenseCreate(Strict):
    edition: Edition
    organisation: Name = Field(description="organisation id or name (a new name creates the organisation)")
    expires_at: UtcDatetime | None = Field(None, description="in the future; null = never expires")
    max_machines: int | None = Field(None, ge=1, le=100_000,
                                     description="null = the edition's limit (unlimited from Pro Business)")
    max_transfers: int | None = Field(None, ge=0, le=1000)
    auto_activate: bool = True

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= datetime.now(timezone.utc):
            raise ValueError("must be in the future (a license cannot be issued already expired); "
                             "null = never expires")
        return value


class LicenseExtend(Strict):
    expires_at: UtcDatetime | None = Field(description="the new expiry; null = never expires (a time in the past "
                                                       "ends the license now)")


class LicensePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    edition: Edition
    organisation_id: str
    status: Literal["active", "suspended", "revoked"]
    expires_at: datetime | None
    max_machines: int | None
    max_transfers: int
    transfers_used: int
    auto_activate: bool
    key_hint: str
    active_machines: int = 0
    entitlements: list[str] = []
    created_at: datetime
    updated_at: datetime


class LicenseIssued(BaseModel):
    license: LicensePublic
    key: str


class LicenseEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    license_id: str
    type: str
    actor: str
    data: dict[str, Any]
    created_at: datetime


class ValidateRequest(Strict):
    key: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    fingerprint: Fingerprint
    nonce: Annotated[str, StringConstraints(min_length=8, max_length=128)]
    client_version: Annotated[str, StringConstraints(max_length=50)] = ""
    entitlements: list[Annotated[str, StringConstraints(max_length=50)]] = Field(
        default_factory=list, max_length=20, description="entitlements the client needs (scope check)")


class ValidateResponse(BaseModel):
    valid: bool
    code: Literal["VALID", "NOT_FOUND", "SUSPENDED", "REVOKED", "EXPIRED", "FINGERPRINT_SCOPE_MISMATCH",
                  "TOO_MANY_MACHINES", "ENTITLEMENTS_MISSING"]
    detail: str
    ts: int
    lease: str


class ActivateRequest(Strict):
    key: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    fingerprint: Fingerprint
    hostname: Annotated[str, StringConstraints(max_length=255)] | None = None


class MachinePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    license_id: str
    fingerprint: str
    hostname: str | None
    active: bool
    activated_at: datetime
    deactivated_at: datetime | None


class ActivationResult(BaseModel):
    code: Literal["ACTIVATED", "ALREADY_ACTIVE", "DEACTIVATED", "NOT_ACTIVE"]
    machine: MachinePublic | None
    transfers_left: int


class Jwk(BaseModel):
    kty: Literal["OKP"] = "OKP"
    crv: Literal["Ed25519"] = "Ed25519"
    x: str
    kid: str
    alg: Literal["EdDSA"] = "EdDSA"
    use: Literal["sig"] = "sig"


class Jwks(BaseModel):
    keys: list[Jwk]


# ---- organisations, keys, audit ---------------------------------------------------------------------------
class OrganisationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    created_at: datetime


class ApiKeyCreate(Strict):
    name: Name
    role: Role
    technician_name: Name | None = None


class ApiKeyCreated(BaseModel):
    id: str
    key: str
    role: Role
    name: str
    technician_id: str | None = None


class ApiKeyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    role: Role
    prefix: str
    technician_id: str | None
    created_at: datetime
    revoked_at: datetime | None


class MePublic(BaseModel):
    organisation: OrganisationPublic
    key_id: str
    role: Role
    technician: str | None
    edition: Edition | None
    entitlements: list[str]


class TechnicianPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    role: Literal["admin", "technician"]
    created_at: datetime


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    organisation_id: str | None
    actor: str
    action: str
    target_type: str
    target_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    ip: str | None
    created_at: datetime


# ---- monitoring -------------------------------------------------------------------------------------------
Percent = Annotated[float, Field(ge=0, le=100)]


class DiskSample(BaseModel):
    mount: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    total: int = Field(ge=0, le=2**63 - 1)
    used: int = Field(ge=0, le=2**63 - 1)
    free: int = Field(ge=0, le=2**63 - 1)
    percent: Percent


class ServicesSample(BaseModel):
    firewall: Literal["on", "off", "unknown"] = "unknown"
    antivirus: Literal["on", "off", "none", "unknown"] = Field(
        "unknown", description="on/off: the installed products' state; none: no antivirus product found")
    antivirus_products: int | None = Field(None, ge=0, le=1000, description="how many antivirus products the "
                                           "probe found (0 turns antivirus 'off' into 'none')")
    update_service: Literal["ok", "problem", "unknown"] = "unknown"
    failed: list[Annotated[str, StringConstraints(max_length=255)]] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _no_product(self) -> ServicesSample:
        """A sensor reports ``off`` with ``antivirus_products: 0`` when there is no product at all, which is not
        the same finding (the diagnosis: info on Linux, critical elsewhere; see ``crud.antivirus_alert``)."""
        if self.antivirus == "off" and self.antivirus_products == 0:
            self.antivirus = "none"
        return self


class PendingUpdates(BaseModel):
    count: int = Field(ge=0, le=100_000)
    security: int = Field(0, ge=0, le=100_000)


class EventSample(BaseModel):
    time: UtcDatetime | None = None
    level: Annotated[str, StringConstraints(max_length=30)] = ""
    source: Annotated[str, StringConstraints(max_length=255)] = ""
    message: Annotated[str, StringConstraints(max_length=4000)] = ""
    event_id: Annotated[int, Field(ge=-2**63, le=2**63 - 1)] | Annotated[str, StringConstraints(max_length=100)] \
        | None = None


class SmartSample(BaseModel):
    device: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    health: Literal["passed", "warning", "failing", "unknown"] = "unknown"
    model: Annotated[str, StringConstraints(max_length=255)] | None = None
    temperature_c: float | None = Field(None, ge=-50, le=200)


class MetricSampleFields(BaseModel):
    """The fields of a metrics sample, without the per-sample NUL check (a batch checks all its samples at once)."""

    model_config = ConfigDict(extra="ignore")
    sample_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=64,
                                                pattern=r"^[A-Za-z0-9_\-]+$")]
    timestamp: UtcDatetime
    hostname: Hostname
    os: OsName
    cpu_percent: Percent
    ram_percent: Percent
    swap_percent: Percent | None = None
    disks: list[DiskSample] = Field(default_factory=list, max_length=100)
    services: ServicesSample = Field(default_factory=ServicesSample)
    pending_updates: PendingUpdates | None = None
    pending_reboot: bool | None = None
    events: list[EventSample] = Field(default_factory=list, max_length=5)
    smart: list[SmartSample] = Field(default_factory=list, max_length=100)
    dropped_samples: int = Field(0, ge=0, le=2**31 - 1)
    agent_version: Annotated[str, StringConstraints(max_length=50)] | None = None
    uptime_seconds: float | None = Field(None, ge=0, le=1e10)
    # docs/remote-jobs.md §5: cleaned, never refused (an unknown zone or bad tag must not block the sensor's spool)
    timezone: Annotated[str | None, BeforeValidator(sample_zone)] = Field(
        None, description="the host's IANA time zone (schedules run in it); an unknown zone is ignored")
    tags: Annotated[list[str] | None, BeforeValidator(sample_tags)] = Field(
        None, description="the sensor's SENSOR_TAGS (e.g. kunde:baeckerei-mueller); invalid ones are ignored")


class MetricSampleCreate(NoNul, MetricSampleFields):
    """One metrics sample (the product spec's payload); text must not contain NUL."""

    model_config = ConfigDict(extra="ignore")


class SampleAccepted(BaseModel):
    sample_id: str
    status: Literal["created", "duplicate"]


class MetricBatch(BaseModel):
    samples: list[Any] = Field(max_length=1000, description="up to 1,000 samples; each is validated on its own")


class BatchItemResult(BaseModel):
    sample_id: str | None
    status: Literal["created", "duplicate", "error"]
    error: str | None = None


class BatchResult(BaseModel):
    results: list[BatchItemResult]
    created: int
    duplicates: int
    errors: int


class HostPublic(BaseModel):
    hostname: str
    os: str
    last_seen: datetime
    last_sample_at: datetime
    status: Literal["online", "overdue"]
    cpu_percent: float | None
    ram_percent: float | None
    disk_max_percent: float | None
    firewall: str
    antivirus: str
    smart_failing: bool
    pending_updates: int | None
    pending_reboot: bool | None = None
    agent_version: str | None = None


class AlertPublic(BaseModel):
    hostname: str
    rule: Literal["disk_warning", "disk_critical", "smart_failing", "firewall_off", "antivirus_off",
                  "antivirus_missing", "host_overdue"]
    severity: Literal["warning", "critical"]
    message: str
    value: float | str | None = None
    since: datetime


# ---- cases ------------------------------------------------------------------------------------------------
MAX_FINDINGS_BYTES = 64_000


class CaseCreate(Strict):
    symptom: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=4000)]
    language: Literal["de", "en"]
    os: OsName
    findings: list[Any] = Field(default_factory=list, max_length=200,
                                description=f"up to 200 items, at most {MAX_FINDINGS_BYTES} bytes as JSON")
    actions: list[ActionId] = Field(default_factory=list, max_length=50)
    outcome: Literal["success", "failure"]
    technician: Name | None = None
    case_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")] | None = Field(
        default=None, description="client-generated id (e.g. a uuid), unique per organisation: re-sending a case "
                                  "with the same case_id stores nothing and returns the existing case")

    @field_validator("findings")
    @classmethod
    def _findings_size(cls, value: list[Any]) -> list[Any]:
        size = len(json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "replace"))
        if size > MAX_FINDINGS_BYTES:
            raise ValueError(f"findings are {size} bytes as JSON; at most {MAX_FINDINGS_BYTES} are allowed")
        return value


class CasePublic(BaseModel):
    id: int
    case_id: str | None = None
    symptom: str
    language: str
    os: str
    findings: list[Any]
    actions: list[str]
    outcome: str
    technician: str | None
    created_at: datetime


class CaseHit(CasePublic):
    score: float
    relevance: float
    success_rate: float
    times_tried: int


__all__ = [name for name in dir() if name[0].isupper() and name not in ("Any", "Annotated", "Literal")]

