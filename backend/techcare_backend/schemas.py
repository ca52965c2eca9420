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
    PlainValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from pydantic_core import core_schema

from .sensor_facts import sample_tags, sample_zone

Edition = Literal["community", "pro", "pro_business", "enterprise"]
Role = Literal["admin", "technician", "sensor"]
OsName = Literal["windows", "linux", "darwin"]
# Python's whitespace (``str.isspace``, what ``str.strip`` removes), spelled out so that pydantic, Python's ``re`` and
# the ECMA regexes of the OpenAPI document (schemathesis, other clients) all read the patterns below the same way.
WS = "\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
NO_NUL_PATTERN = "^[^\\x00]*$"


def _format_ranges() -> str:
    """The BMP's format characters (Unicode category Cf: U+202E right-to-left override, U+200B zero width space,
    U+FEFF, ...) as a regex class body (``\\uXXXX`` escapes, read alike by Python and ECMA regexes)."""
    import unicodedata

    ranges: list[list[int]] = []
    for code in range(0x80, 0x10000):
        if unicodedata.category(chr(code)) == "Cf":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


# Control (Cc) and format (Cf) characters: invisible, or they reorder what is shown (a signer "Anna\u202eqqq" reads
# backwards in every list). ``CONTROL`` includes all of them; ``CONTROL_NO_WS`` leaves out tab, line feed, vertical
# tab, form feed and carriage return (ordinary whitespace). Format characters outside the BMP (emoji tag
# sequences) are allowed: a regex class cannot name them alike for Python and ECMA.
CONTROL_NO_WS = "\\x00-\\x08\\x0e-\\x1f\\x7f-\\x9f" + _format_ranges()
CONTROL = "\\x00-\\x1f\\x7f-\\x9f" + _format_ranges()
_CONTROL_NO_WS = re.compile(f"[{CONTROL_NO_WS}]")


def control_character(value: str, *, whitespace_ok: bool = True) -> str | None:
    """The first control or format character of ``value`` as ``U+XXXX``, else ``None`` (ordinary whitespace counts
    only with ``whitespace_ok=False``)."""
    found = (_CONTROL_NO_WS if whitespace_ok else _BAD_CONTROL).search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def name_pattern() -> str:
    """The regex of a display name (a job's or schedule's ``signer``): at least one character besides whitespace,
    no control or format characters except ordinary whitespace."""
    plain_ws = "\\t-\\r\\x20\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"  # WS less Cc
    return f"^[{plain_ws}]*[^{WS}{CONTROL_NO_WS}][^{CONTROL_NO_WS}]*$"


def trimmed_pattern(min_length: int) -> str:
    """The regex of text without NUL that has at least ``min_length`` characters once stripped at both ends."""
    ch, solid, ws = "[^\\x00]", f"[^{WS}\\x00]", f"[{WS}]"
    if min_length <= 0:
        return f"^{ch}*$"
    if min_length == 1:
        return f"^{ws}*{solid}{ch}*$"
    return f"^{ws}*{solid}{ch}{{{min_length - 2},}}{solid}{ws}*$"


def trimmed(min_length: int, max_length: int) -> Any:
    """Text of at most ``max_length`` characters as sent, stored without whitespace at its ends, of which at least
    ``min_length`` remain; no NUL. (The declared pattern says the same, so generated clients and fuzzers agree.)"""

    def check(value: str) -> str:
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        value = value.strip()
        if len(value) < min_length:
            raise ValueError(f"needs at least {min_length} characters besides the spaces at its ends")
        return value

    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(check),
                     Field(json_schema_extra={"pattern": trimmed_pattern(min_length), "minLength": min_length})]


class _WholeNumber:
    """Pydantic metadata: a whole number from ``ge`` to ``le``; see :func:`int_in`."""

    def __init__(self, ge: int, le: int) -> None:
        self.ge, self.le = ge, le

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        def whole(value: float) -> int:
            if not (value.is_integer() and self.ge <= value <= self.le):
                raise ValueError("not a whole number in range")  # replaced by the union's one error below
            return int(value)

        return core_schema.union_schema(
            [core_schema.int_schema(strict=True, ge=self.ge, le=self.le),
             core_schema.no_info_after_validator_function(whole, core_schema.float_schema(strict=True))],
            mode="left_to_right", custom_error_type="whole_number",
            custom_error_message=f"must be a whole number from {self.ge} to {self.le} (not true, not text)")

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.ge, "maximum": self.le}


def int_in(ge: int, le: int) -> Any:
    """A whole number from ``ge`` to ``le``: a JSON integer (checked inside pydantic-core without a Python call: a
    batch sample holds seven), or a number without a fraction (``2.0``, read as 2); never ``true`` or ``"2"``. One
    error names the rule; the JSON schema says ``integer`` with its bounds (also inside ``X | None``)."""
    return Annotated[int, _WholeNumber(ge, le)]


MAX_EXACT_INT = 2**53 - 1  # the largest integer every JSON parser reads exactly (a double); 9 PB as bytes
Float = Annotated[float, Field(strict=True)]  # a JSON number; not true, not "1.5"
Bool = Annotated[bool, Field(strict=True)]  # true or false; not 1, not "yes"
Name = trimmed(1, 200)
HOSTNAME_PATTERN = (f"^[^{WS}/{CONTROL}](?:[^/{CONTROL}]*[^{WS}/{CONTROL}])?$")
_BAD_CONTROL = re.compile(f"[{CONTROL}]")


_good_hostnames: dict[str, None] = {}  # names that passed (a batch repeats its sensor's name up to 1,000 times)


def _hostname(value: str) -> str:
    if value in _good_hostnames:
        return value
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    if "/" in value:
        raise ValueError("a host name must not contain '/' (its pages and history are addressed by name)")
    bad = control_character(value, whitespace_ok=False)
    if bad is not None:
        raise ValueError(f"a host name must not contain control or format characters ({bad}; allowed: letters, "
                         "digits, '-', '.', '_', spaces inside)")
    if value != value.strip():
        raise ValueError("a host name must not start or end with whitespace")
    if len(_good_hostnames) >= 4096:
        _good_hostnames.clear()
    _good_hostnames[value] = None
    return value


Hostname = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_hostname),
                     Field(json_schema_extra={"pattern": HOSTNAME_PATTERN})]
Fingerprint = trimmed(8, 200)
ActionId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$", max_length=100)]


DATETIME_RANGE = "0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z"
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def as_utc(value: datetime) -> datetime:
    """Naive timestamps are UTC (the product spec sends ``2026-02-17T10:30:00``). ``ValueError`` if the UTC time
    is out of range (``0001-01-01T00:00:00+05:00`` is 31 December of year 0 in UTC)."""
    tz = value.tzinfo
    if tz is None:
        return value.replace(tzinfo=timezone.utc)
    # Two per sample of a batch: the common "...Z" is kept as pydantic made it (a fixed zero offset, UTC already;
    # replace()/astimezone() would build a new datetime for nothing, ~1 us each).
    offset = tz.utcoffset(value)
    if not offset:
        return value
    try:
        return (value.replace(tzinfo=None) - offset).replace(tzinfo=timezone.utc)
    except OverflowError:
        raise ValueError(f"date-time out of range once converted to UTC; allowed: {DATETIME_RANGE}") from None


def _iso_only(value: Any) -> Any:
    """Date-times are ISO 8601 text; pydantic would also read a number (``until=0.5``) as unix seconds."""
    if isinstance(value, str):
        if len(value) > 4 and value[4] == "-":  # 2026-...: the common case, no regex
            return value
        if _NUMBER.fullmatch(value):
            raise ValueError("must be an ISO 8601 date-time such as 2026-02-17T10:30:00Z, not a number")
    elif isinstance(value, (int, float)):
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
    """Refuses NUL characters and lone surrogates in the fields it keeps (see :func:`bad_text`); ignored extra
    fields may hold anything, they are not stored."""

    @model_validator(mode="after")
    def _no_nul(self) -> Any:
        problem = bad_text(self.model_dump(mode="json"))
        if problem:
            raise ValueError(problem)
        return self


class Strict(BaseModel):
    """Unknown fields are refused, and NUL characters and lone surrogates anywhere in the input."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        problem = bad_text(data)
        if problem:
            raise ValueError(problem)
        return data


class ErrorPublic(BaseModel):
    """Every refusal: a machine-readable ``code`` and a ``detail`` for people (German or English by
    ``Accept-Language``)."""

    code: str
    detail: str


class ValidationErrorPublic(ErrorPublic):
    """A 422: ``detail`` names the fields and what is allowed; ``errors`` lists them one by one (pydantic's
    ``loc``/``msg``/``type``, the input echoed); ``message`` repeats ``detail`` for older clients."""

    code: str = Field("VALIDATION_ERROR", description="VALIDATION_ERROR, or a more specific code of the route")
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
def _edition_caps() -> dict[str, Any]:
    """JSON schema: ``max_machines`` within the edition's limit (``crud.check_max_machines`` enforces it)."""
    from techcare.editions import MAX_MACHINES

    return {"allOf": [{"if": {"properties": {"edition": {"const": edition}}, "required": ["edition"]},
                       "then": {"properties": {"max_machines": {"anyOf": [
                           {"type": "integer", "minimum": 1, "maximum": cap}, {"type": "null"}]}}}}
                      for edition, cap in MAX_MACHINES.items() if cap is not None]}


class LicenseCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_edition_caps())
    edition: Edition
    organisation: Name = Field(description="organisation id or name (a new name creates the organisation)")
    expires_at: UtcDatetime | None = Field(None, description="in the future (a time already past: 409 "
                                                              "EXPIRES_IN_PAST); null = never expires")
    max_machines: int_in(1, 100_000) | None = Field(  # type: ignore[valid-type]
        None, description="null = the edition's limit (unlimited from Pro Business)")
    max_transfers: int_in(0, 1000) | None = None  # type: ignore[valid-type]
    auto_activate: Bool = True


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
    model_config = ConfigDict(extra="forbid", json_schema_extra={  # declared as _hostname_for_sensors enforces it
        "if": {"properties": {"role": {"const": "sensor"}}, "required": ["role"]},
        "else": {"properties": {"hostname": {"type": "null"}}}})
    name: Name
    role: Role
    technician_name: Name | None = None
    hostname: Hostname | None = Field(None, description=(
        "sensor keys only: the host this key serves; it is bound to the key at once and the key serves no other "
        "host (docs/remote-jobs.md §3)"))

    @model_validator(mode="after")
    def _hostname_for_sensors(self) -> ApiKeyCreate:
        if self.hostname is not None and self.role != "sensor":
            raise ValueError("hostname is allowed only for sensor keys (role: sensor)")
        return self


class ApiKeyCreated(BaseModel):
    id: str
    key: str
    role: Role
    name: str
    technician_id: str | None = None
    hostname: str | None = Field(None, description="the host this sensor key serves (created with hostname)")


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
Percent = Annotated[float, Field(ge=0, le=100, strict=True)]


class DiskSample(BaseModel):
    mount: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    total: int_in(0, MAX_EXACT_INT)  # type: ignore[valid-type]
    used: int_in(0, MAX_EXACT_INT)  # type: ignore[valid-type]
    free: int_in(0, MAX_EXACT_INT)  # type: ignore[valid-type]
    percent: Percent


class ServicesSample(BaseModel):
    firewall: Literal["on", "off", "unknown"] = "unknown"
    antivirus: Literal["on", "off", "none", "unknown"] = Field(
        "unknown", description="on/off: the installed products' state; none: no antivirus product found")
    antivirus_products: int_in(0, 1000) | None = Field(  # type: ignore[valid-type]
        None, description="how many antivirus products the probe found (0 turns antivirus 'off' into 'none')")
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
    count: int_in(0, 100_000)  # type: ignore[valid-type]
    security: int_in(0, 100_000) | None = Field(  # type: ignore[valid-type]
        0, description="null: the package manager cannot tell security updates apart (pacman, apk, a failed "
                       "advisory read); not measured, not 0")


class EventSample(BaseModel):
    time: UtcDatetime | None = None
    level: Annotated[str, StringConstraints(max_length=30)] = ""
    source: Annotated[str, StringConstraints(max_length=255)] = ""
    message: Annotated[str, StringConstraints(max_length=4000)] = ""
    event_id: int_in(-MAX_EXACT_INT, MAX_EXACT_INT) | Annotated[  # type: ignore[valid-type]
        str, StringConstraints(max_length=100)] | None = None


class SmartSample(BaseModel):
    device: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    health: Literal["passed", "warning", "failing", "unknown"] = "unknown"
    model: Annotated[str, StringConstraints(max_length=255)] | None = None
    temperature_c: Annotated[Float, Field(ge=-50, le=200)] | None = None


class MetricSampleFields(BaseModel):
    """The fields of a metrics sample, without the per-sample NUL check (a batch checks all its samples at once)."""

    model_config = ConfigDict(extra="ignore")
    sample_id: Annotated[str, StringConstraints(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
    timestamp: UtcDatetime
    hostname: Hostname
    os: OsName
    cpu_percent: Percent
    ram_percent: Percent
    swap_percent: Percent | None = None
    disks: list[DiskSample] = Field(default_factory=list, max_length=100)
    services: ServicesSample = Field(default_factory=ServicesSample)
    pending_updates: PendingUpdates | None = None
    pending_reboot: Bool | None = None
    events: list[EventSample] = Field(default_factory=list, max_length=5)
    smart: list[SmartSample] = Field(default_factory=list, max_length=100)
    dropped_samples: int_in(0, 2**31 - 1) = 0  # type: ignore[valid-type]
    agent_version: Annotated[str, StringConstraints(max_length=50)] | None = None
    uptime_seconds: Annotated[Float, Field(ge=0, le=1e10)] | None = None
    # docs/remote-jobs.md §5: cleaned, never refused (an unknown zone or bad tag must not block the sensor's spool)
    timezone: Annotated[str | None, PlainValidator(sample_zone), WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": NO_NUL_PATTERN}, {"type": "null"}],
         "description": "the host's IANA time zone, e.g. Europe/Berlin (schedules run in it); a zone this server "
                        "does not know is ignored, the sample is stored"})] = None
    tags: Annotated[list[str] | None, PlainValidator(sample_tags), WithJsonSchema(
        {"anyOf": [{"type": "array", "items": {"type": "string", "pattern": NO_NUL_PATTERN}},
                   {"type": "string", "pattern": NO_NUL_PATTERN}, {"type": "null"}],
         "description": "the sensor's SENSOR_TAGS, e.g. [\"kunde:baeckerei-mueller\"] (or one comma-separated "
                        "text); texts that are not valid tags are ignored, the sample is stored"})] = None


class MetricSampleCreate(NoNul, MetricSampleFields):
    """One metrics sample (the product spec's payload); text must not contain NUL."""

    model_config = ConfigDict(extra="ignore")


class SampleAccepted(BaseModel):
    sample_id: str
    status: Literal["created", "duplicate"]


class MetricBatch(BaseModel):
    samples: list[Any] = Field(max_length=1000, description="up to 1,000 samples; each is validated on its own",
                               json_schema_extra={"items": {"description": "a sample (MetricSampleCreate); an "
                                                            "invalid one is reported in its result, not refused"}})


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
    symptom: trimmed(3, 4000)  # type: ignore[valid-type]
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

