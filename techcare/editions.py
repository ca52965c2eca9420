"""Editions and what each includes: the one table that the client's gates (:mod:`techcare.features`), the license
check (:mod:`techcare.license`) and the backend's license decisions share. A leaf: it imports nothing of TechCare.

| entitlement          | Community | Pro | Pro Business | Enterprise |
|----------------------|-----------|-----|--------------|------------|
| unlimited_repairs    |           |  x  |      x       |     x      |
| unlimited_systems    |           |     |      x       |     x      |
| sensor_mode          |           |     |      x       |     x      |
| shared_learning_db   |           |     |              |     x      |
| team_features        |           |     |              |     x      |

Limits without the entitlement: Community runs at most :data:`COMMUNITY_MONTHLY_REPAIRS` repair steps per calendar
month on one system; Pro covers up to :data:`PRO_MAX_SYSTEMS` machines; Pro Business and Enterprise have no
machine limit of their own (a license may still be issued for a number of machines).
"""

from __future__ import annotations

from typing import Any

__all__ = ["COMMUNITY_MONTHLY_REPAIRS", "EDITIONS", "EDITION_NAMES", "ENTITLEMENTS", "FEATURE_NAMES", "MAX_MACHINES",
           "MONTHLY_REPAIRS", "PRO_MAX_SYSTEMS", "edition_for", "limits"]

EDITIONS = ("community", "pro", "pro_business", "enterprise")
EDITION_NAMES = {"community": "Community", "pro": "Pro", "pro_business": "Pro Business", "enterprise": "Enterprise"}
ENTITLEMENTS: dict[str, tuple[str, ...]] = {
    "community": (),
    "pro": ("unlimited_repairs",),
    "pro_business": ("unlimited_repairs", "unlimited_systems", "sensor_mode"),
    "enterprise": ("unlimited_repairs", "unlimited_systems", "sensor_mode", "shared_learning_db", "team_features"),
}
#: Feature names for messages: (German, English).
FEATURE_NAMES = {
    "unlimited_repairs": ("Unbegrenzte Reparaturen", "Unlimited repairs"),
    "unlimited_systems": ("Unbegrenzte Systeme", "Unlimited systems"),
    "sensor_mode": ("Sensor-Mode", "Sensor mode"),
    "shared_learning_db": ("Shared Learning DB", "Shared learning database"),
    "team_features": ("Team-Features", "Team features"),
}
COMMUNITY_MONTHLY_REPAIRS = 10
PRO_MAX_SYSTEMS = 3
#: Machines an edition covers (``None``: no limit of the edition's own).
MAX_MACHINES: dict[str, int | None] = {"community": 1, "pro": PRO_MAX_SYSTEMS, "pro_business": None,
                                       "enterprise": None}
#: Repair steps per calendar month (``None``: unlimited).
MONTHLY_REPAIRS: dict[str, int | None] = {"community": COMMUNITY_MONTHLY_REPAIRS, "pro": None, "pro_business": None,
                                          "enterprise": None}


def edition_for(feature: str) -> str:
    """The smallest edition that includes ``feature``; :class:`ValueError` naming the known ones otherwise."""
    for edition in EDITIONS:
        if feature in ENTITLEMENTS[edition]:
            return edition
    raise ValueError(f"unknown feature {feature!r}; known: {', '.join(FEATURE_NAMES)}")


def limits(edition: str, max_machines: int | None) -> dict[str, Any]:
    """The limits a lease of ``edition`` carries: the machines it was issued for and the monthly repair steps."""
    return {"max_machines": max_machines, "monthly_repairs": MONTHLY_REPAIRS[edition]}
