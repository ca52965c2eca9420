"""Edition gates: the one place that decides what the current edition may do. Pure gates: they read the license
status in force (:func:`techcare.license.current`) and the edition table (:mod:`techcare.editions`), and write
nothing but the Community repair quota.

The edition comes only from a verified license: ``EDITION`` in the settings says which license to expect, and
without a lease verified online or (for at most 7 days) offline the gates are Community's. See
:mod:`techcare.editions` for the table of editions, entitlements and limits.
"""

from __future__ import annotations

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


def _usage_files() -> list[Path]:
    """The Community quota is kept sealed in two places (``usage.json`` and ``license/usage-copy.json``): a cut or
    deleted file is not a fresh month."""
    main = _usage_file()
    return [main, main.parent / "license" / "usage-copy.json"]


def _months(data: Any) -> dict[str, int] | None:
    repairs = data.get("repairs") if isinstance(data, dict) else None
    if not isinstance(repairs, dict):
        return None
    try:
        return {str(k): int(v) for k, v in repairs.items()}
    except (TypeError, ValueError):
        return None


def _usage(now: datetime | None = None) -> tuple[dict[str, int], list[str]]:
    """Repair steps per month (the highest count of the readable copies) and the damaged copies."""
    from ._sealed import read_copies

    usage: dict[str, int] = {}
    damaged = []
    for copy in read_copies(_usage_files()):
        months = _months(copy.data) if copy.usable else None
        if copy.status == "damaged" or (copy.usable and months is None):
            damaged.append(f"{copy.path}: {copy.problem or 'not a usage record'}")
            continue
        for month, count in (months or {}).items():
            usage[month] = max(usage.get(month, 0), count)
    if damaged and not usage:   # damage is not a fresh month: nothing readable is left to count from
        usage = {_month(now): COMMUNITY_MONTHLY_REPAIRS}
    return usage, damaged


def _read_usage(now: datetime | None = None) -> dict[str, int]:
    return _usage(now)[0]


def repairs_remaining(now: datetime | None = None) -> int | None:
    """Repair steps left this month, or ``None`` when unlimited."""
    if allowed("unlimited_repairs"):
        return None
    return max(0, COMMUNITY_MONTHLY_REPAIRS - _read_usage(now).get(_month(now), 0))


def require_repairs(count: int, now: datetime | None = None) -> None:
    """Raise :class:`LicenseError` if ``count`` more repair steps would exceed the monthly limit."""
    left = repairs_remaining(now)
    if left is None or count <= left:
        return
    usage, damaged = _usage(now)
    if damaged and usage.get(_month(now), 0) >= COMMUNITY_MONTHLY_REPAIRS:
        raise LicenseError(tr("Der Zähler der Community-Reparaturen ist beschädigt ({d}) und keine lesbare Kopie "
                              "bleibt: der Monat gilt als aufgebraucht (kein Neuanfang). Datei wiederherstellen oder "
                              "ab Pro unbegrenzt reparieren.",
                              "The Community repair counter is damaged ({d}) and no readable copy is left: this "
                              "month counts as used up (not a fresh start). Restore the file, or repair without "
                              "limit from Pro.", d="; ".join(damaged)))
    raise LicenseError(tr("Community-Limit erreicht: noch {left} von {limit} Reparaturschritten in diesem Monat, "
                          "{count} angefragt. Unbegrenzte Reparaturen gibt es ab Pro.",
                          "Community limit reached: {left} of {limit} repair steps left this month, {count} requested. "
                          "Unlimited repairs need Pro or higher.",
                          left=left, limit=COMMUNITY_MONTHLY_REPAIRS, count=count))


def record_repairs(count: int, now: datetime | None = None) -> None:
    """Count ``count`` executed repair steps against this month's quota (atomic file update)."""
    if count <= 0 or allowed("unlimited_repairs"):
        return
    from ._sealed import write_copies

    usage = _read_usage(now)
    month = _month(now)
    usage[month] = usage.get(month, 0) + count
    for problem in write_copies(_usage_files(), {"repairs": usage}):   # the steps ran: never fail the run here
        import logging

        logging.getLogger("techcare").warning("%s", tr("Reparaturzähler nicht gespeichert: {p}",
                                                      "repair counter not saved: {p}", p=problem))
