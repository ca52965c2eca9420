"""Edition gates: the one place that decides what the current edition may do. Pure gates: they read the license
status in force (:func:`techcare.license.current`) and the edition table (:mod:`techcare.editions`), and write
nothing but the Community repair quota.

The edition comes only from a verified license: ``EDITION`` in the settings says which license to expect, and
without a lease verified online or (for at most 7 days) offline the gates are Community's. See
:mod:`techcare.editions` for the table of editions, entitlements and limits.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .editions import (
    COMMUNITY_MONTHLY_REPAIRS,
    EDITION_NAMES,
    EDITIONS,
    ENTITLEMENTS,
    FEATURE_NAMES,
    PRO_MAX_SYSTEMS,
    edition_for,
)
from .errors import LicenseError
from .i18n import tr

__all__ = ["COMMUNITY_MONTHLY_REPAIRS", "EDITIONS", "ENTITLEMENTS", "PRO_MAX_SYSTEMS", "allowed", "current_edition",
           "edition_for", "entitlements", "record_repairs", "repairs_remaining", "require", "require_repairs"]

def _configured_edition() -> str:
    from .config import get_settings

    return get_settings().edition


def _status() -> Any:
    from .license import current

    return current()


def current_edition() -> str:
    """The edition in force: the verified license's, else Community."""
    status = _status()
    if status.ok and status.edition in EDITIONS:
        return str(status.edition)
    return "community"


def entitlements() -> tuple[str, ...]:
    """What the license in force entitles to (nothing beyond Community without a verified license)."""
    status = _status()
    if status.ok and status.edition in EDITIONS:
        return tuple(str(e) for e in status.entitlements)
    return ENTITLEMENTS["community"]


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
