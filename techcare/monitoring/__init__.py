"""Monitoring: the sensor (``python -m techcare.monitoring.sensor``), its spool, the OS service installer
(``python -m techcare.monitoring.service``) and helpers for notebooks (current sample, history from the backend).
"""

from __future__ import annotations

import html
from typing import Any

__all__ = ["SensorSample", "current_sample", "history", "plot_history"]


class SensorSample(dict):
    """One metrics sample (the backend contract) with a table form for notebooks."""

    def to_frame(self):  # -> pandas.DataFrame
        import pandas as pd

        rows = [{"metric": "cpu_percent", "value": self.get("cpu_percent")},
                {"metric": "ram_percent", "value": self.get("ram_percent")},
                {"metric": "swap_percent", "value": self.get("swap_percent")}]
        rows += [{"metric": f"disk {d['mount']} %", "value": d["percent"]} for d in self.get("disks", [])]
        services = self.get("services") or {}
        rows += [{"metric": key, "value": services.get(key)} for key in ("firewall", "antivirus", "update_service")]
        rows.append({"metric": "failed services", "value": ", ".join(services.get("failed") or []) or "-"})
        updates = self.get("pending_updates")
        rows.append({"metric": "pending updates", "value": "unknown" if updates is None else
                     f"{updates['count']} ({updates['security']} security)"})
        rows.append({"metric": "pending reboot", "value": self.get("pending_reboot")})
        rows += [{"metric": f"SMART {d['device']}", "value": d["health"]} for d in self.get("smart", [])]
        rows.append({"metric": "error events", "value": len(self.get("events") or [])})
        if "timezone" in self:
            rows.append({"metric": "time zone", "value": self.get("timezone")})
        if "tags" in self:
            rows.append({"metric": "tags", "value": ", ".join(self.get("tags") or []) or "-"})
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        title = html.escape(f"{self.get('hostname')} ({self.get('os')}) {self.get('timestamp')}")
        return f"<h4>{title}</h4>" + self.to_frame().to_html(index=False)


def current_sample(runner: Any = None, **kwargs: Any) -> SensorSample:
    """Take one sample of this machine (or of the runner's machine, e.g. a snapshot replay); nothing is sent."""
    from .sensor import Sensor

    sensor = Sensor(runner=runner, persist=False, **kwargs)  # persist=False: no cache, every probe runs
    try:
        return SensorSample(sensor.sample())
    finally:
        sensor.close()


RAW_HISTORY_LIMIT = 10_000  # the backend's largest /metrics page: 7 days at 60 s, 35 days at 300 s
_METRIC_COLUMNS = (("cpu", "cpu_percent"), ("ram", "ram_percent"), ("swap", "swap_percent"),
                   ("disk", "disk_max_percent"))


def history(hostname: str, *, since: str | None = None, until: str | None = None, resolution: str | None = None,
            client: Any = None):
    """A host's history from the backend as a time-indexed DataFrame; ``frame.attrs["resolution"]`` says which kind.

    The backend picks the resolution by the range (``GET .../history``; ``resolution`` = ``raw``, ``hour`` or ``day``
    asks for one): ``raw`` for up to 2 days within raw retention — one row per sample with what the sensor sent
    (CPU, RAM, swap, fullest disk, firewall, antivirus, failed services, updates); ``hour``/``day`` beyond — one
    row per period with the average in ``cpu_percent``, ``ram_percent``, ``swap_percent``, ``disk_max_percent``
    (so :func:`plot_history` draws either), the extremes in ``*_min``/``*_max``, ``samples`` and ``smart_worst``.
    Without ``since`` the raw rows are every sample the backend keeps (the newest 10,000). Rollups are written by the
    backend's maintenance pass every few minutes: a long range holding only samples newer than that (a new host)
    has no rollups yet, and is answered with its raw samples (``resolution`` then says ``raw``)."""
    import pandas as pd

    from ..backend_client import BackendClient

    client = client or BackendClient()
    answer = client.host_history(hostname, since=since, until=until, resolution=resolution)
    chosen = answer.get("resolution") if isinstance(answer, dict) else None
    if chosen not in ("raw", "hour", "day"):
        from ..backend_client import BackendError
        from ..i18n import tr

        raise BackendError(tr("Das Backend hat keinen lesbaren Verlauf geliefert (Auflösung {r!r}).",
                              "The backend answered no readable history (resolution {r!r}).", r=chosen))
    points = answer.get("points") or []
    if chosen != "raw" and not points and resolution is None:
        chosen = "raw"  # no rollups yet: the samples themselves
    if chosen == "raw":
        rows = [_raw_row(s) for s in client.host_metrics(hostname, since=since, until=until, limit=RAW_HISTORY_LIMIT)]
    else:
        rows = [_rollup_row(p) for p in points]
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        frame = frame.sort_values("timestamp").set_index("timestamp")
    frame.attrs["resolution"] = chosen
    return frame


def _raw_row(s: dict[str, Any]) -> dict[str, Any]:
    disks = s.get("disks") or []
    services = s.get("services") or {}
    return {"timestamp": s.get("timestamp"), "cpu_percent": s.get("cpu_percent"),
            "ram_percent": s.get("ram_percent"), "swap_percent": s.get("swap_percent"),
            "disk_max_percent": max((d.get("percent") or 0 for d in disks), default=None),
            "firewall": services.get("firewall"), "antivirus": services.get("antivirus"),
            "failed_services": len(services.get("failed") or []),
            "pending_updates": (s.get("pending_updates") or {}).get("count"),
            "dropped_samples": s.get("dropped_samples", 0), "sample_id": s.get("sample_id")}


def _rollup_row(point: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"timestamp": point.get("t")}
    for key, column in _METRIC_COLUMNS:
        stat = point.get(key) or {}
        row[column] = stat.get("avg")
        row[f"{column}_min"] = stat.get("min")
        row[f"{column}_max"] = stat.get("max")
    row["samples"] = point.get("samples")
    row["smart_worst"] = point.get("smart_worst")
    return row


def plot_history(frame: Any, *, title: str = "") -> Any:
    """Line chart of CPU, RAM and the fullest disk over time (matplotlib)."""
    columns = [c for c in ("cpu_percent", "ram_percent", "disk_max_percent") if c in frame.columns]
    ax = frame[columns].plot(title=title, ylim=(0, 100), ylabel="%")
    return ax
