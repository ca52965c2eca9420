"""Schemas of a host's metrics history (``GET /api/monitoring/hosts/{hostname}/history``): raw samples or hourly
or daily rollups, with the resolution the answer has."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Resolution = Literal["raw", "hour", "day"]
SmartState = Literal["passed", "unknown", "warning", "failing"]


class Stat(BaseModel):
    min: float | None = None
    avg: float | None = None
    max: float | None = None


class HistoryPoint(BaseModel):
    t: datetime = Field(description="the sample's time (raw), or the start of the hour/UTC day (rollups)")
    samples: int = Field(description="samples behind the point (1 when raw)")
    cpu: Stat
    ram: Stat
    swap: Stat
    disk: Stat = Field(description="the fullest disk of each sample")
    smart_worst: SmartState | None = Field(None, description="the worst SMART health of the period")


class HostHistory(BaseModel):
    hostname: str
    resolution: Resolution = Field(description="raw: every sample (ranges up to 2 days within raw retention); "
                                               "hour: up to 31 days; day: beyond")
    since: datetime
    until: datetime
    points: list[HistoryPoint]
