"""Edition gates: the one place that decides what the current edition may do.

Editions and entitlements follow the product table:

| entitlement          | Community | Pro | Pro Business | Enterprise |
|----------------------|-----------|-----|--------------|------------|
| unlimited_repairs    |           |  x  |      x       |     x      |
| unlimited_systems    |           |     |      x       |     x      |
| sensor_mode          |           |     |      x       |     x      |
| shared_learning_db   |           |     |              |     x      |
| team_features        |           |     |              |     x      |

Limits without the entitlement: Community runs at most ``COMMUNITY_MONTHLY_REPAIRS`` repair steps per calendar
month on this machine and is for 1 system; Pro covers up to ``PRO_MAX_SYSTEMS`` machines.

The edition comes only from a verified license (``techcare.license``): ``EDITION`` in the settings says which
license to expect, and without a lease verified online or (for at most 7 days) offline the gates are Community's.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import LicenseError
from .i18n import tr

__all__ = ["COMMUNITY_MONTHLY_REPAIRS", "EDITIONS", "ENTITLEMENTS", "PRO_MAX_SYSTEMS", "allowed", "current_edition",
           "edition_for", "entitlements", "record_repairs", "repairs_remaining", "require", "require_repairs"]

EDITIONS = ("community", "pro", "pro_business", "enterprise")
EDITION_NAMES = {"community": "Community", "pro": "Pro", "pro_business": "Pro Business", "enterprise": "Enterprise"}
ENTITLEMENTS: dict[str, tuple[str, ...]] = {
    "community": (),
    "pro": ("unlimited_repairs",),
    "pro_business": ("unlimited_repairs", "unlimited_systems", "sensor_mode"),
    "enterprise": ("unlimited_repairs", "unlimited_systems", "sensor_mode", "shared_learning_db", "team_features"),
}
FEATURE_NAMES = {
    "unlimited_repairs": ("Unbegrenzte Reparaturen", "Unlimited repairs"),
    "unlimited_systems": ("Unbegrenzte Systeme", "Unlimited systems"),
    "sensor_mode": ("Sensor-Mode", "Sensor mode"),
    "shared_learning_db": ("Shared Learning DB", "Shared learning database"),
    "team_features": ("Team-Features", "Team features"),
}
COMMUNITY_MONTHLY_REPAIRS = 10
PRO_MAX_SYSTEMS = 3

# Set by techcare.license after a verification: {"edition": ..., "entitlements": [...]}.
_active_license: dict[str, Any] | None = None
_offline_checked = False


def set_active_license(claims: dict[str, Any] | None) -> None:
    """Called by the license layer with the verified lease claims (or ``None`` to forget them)."""
    global _active_license, _offline_checked
    _active_license = claims
    if claims is None:
        _offline_checked = False


def _configured_edition() -> str:
    from .config import get_settings

    return get_settings().edition


def _claims() -> dict[str, Any] | None:
    """The verified license claims. A licensed ``EDITION`` in the settings alone grants nothing: without a lease
    verified in this process, the cached lease is verified offline once (signature, fingerprint, 7-day budget)."""
    global _offline_checked
    if _active_license is None and not _offline_checked and _configured_edition() != "community":
        _offline_checked = True
        try:
            from .license import check_license

            check_license(online=False)  # sets the active license (community when nothing valid is cached)
        except Exception:  # noqa: BLE001 - no usable lease: fail closed
            pass
    return _active_license


def current_edition() -> str:
    """The edition in force: the verified lease's, else Community."""
    claims = _claims()
    if claims and claims.get("edition") in EDITIONS:
        return str(claims["edition"])
    return "community"


def entitlements() -> tuple[str, ...]:
    claims = _claims()
    if claims and isinstance(claims.get("entitlements"), list):
        return tuple(str(e) for e in claims["entitlements"])
    return ENTITLEMENTS[current_edition()]


def edition_for(feature: str) -> str:
    """The smallest edition that includes ``feature``."""
    for edition in EDITIONS:
        if feature in ENTITLEMENTS[edition]:
            return edition
    raise ValueError(f"unknown feature {feature!r}; known: {', '.join(FEATURE_NAMES)}")


def allowed(feature: str) -> bool:
    edition_for(feature)  # validates the name
    return feature in entitlements()


def require(feature: str) -> None:
    """Raise :class:`LicenseError` naming the edition needed when ``feature`` is not licensed."""
    if allowed(feature):
        return
    need = EDITION_NAMES[edition_for(feature)]
    de, en = FEATURE_NAMES[feature]
    have = current_edition()
    configured = _configured_edition()
    hint = None
    if configured != have and feature in ENTITLEMENTS[configured]:
        hint = tr("EDITION={c} ist eingestellt, aber keine gültige Lizenz geprüft: techcare license (online) ausführen.",
                  "EDITION={c} is configured but no valid license was verified: run techcare license (online).",
                  c=configured)
    raise LicenseError(tr("{f} ist in der Edition {have} nicht enthalten – benötigt wird {need} oder höher.",
                          "{f} is not included in the {have} edition – it needs {need} or higher.",
                          f=tr(de, en), have=EDITION_NAMES[have], need=need), hint=hint)


# ---- Community repair quota ----------------------------------------------------------------------------------

def _usage_file() -> Path:
    from .config import get_settings

    return get_settings().techcare_home / "usage.json"


def _month(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y-%m")


def _read_usage() -> dict[str, int]:
    try:
        data = json.loads(_usage_file().read_text(encoding="utf-8"))
        return {str(k): int(v) for k, v in data.get("repairs", {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def repairs_remaining(now: datetime | None = None) -> int | None:
    """Repair steps left this month, or ``None`` when unlimited."""
    if allowed("unlimited_repairs"):
        return None
    return max(0, COMMUNITY_MONTHLY_REPAIRS - _read_usage().get(_month(now), 0))


def require_repairs(count: int, now: datetime | None = None) -> None:
    """Raise :class:`LicenseError` if ``count`` more repair steps would exceed the monthly limit."""
    left = repairs_remaining(now)
    if left is None or count <= left:
        return
    raise LicenseError(tr("Community-Limit erreicht: noch {left} von {limit} Reparaturschritten in diesem Monat, "
                          "{count} angefragt. Unbegrenzte Reparaturen gibt es ab Pro.",
                          "Community limit reached: {left} of {limit} repair steps left this month, {count} requested. "
                          "Unlimited repairs need Pro or higher.",
                          left=left, limit=COMMUNITY_MONTHLY_REPAIRS, count=count))


def record_repairs(count: int, now: datetime | None = None) -> None:
    """Count ``count`` executed repair steps against this month's quota (atomic file update)."""
    if count <= 0 or allowed("unlimited_repairs"):
        return
    usage = _read_usage()
    month = _month(now)
    usage[month] = usage.get(month, 0) + count
    from ._fs import atomic_write

    atomic_write(_usage_file(), json.dumps({"repairs": usage}))
