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


def history(hostname: str, *, since: str | None = None, until: str | None = None, client: Any = None):
    """The samples the backend holds for ``hostname`` as a DataFrame (one row per sample, time-indexed)."""
    import pandas as pd

    from ..backend_client import BackendClient

    client = client or BackendClient()
    samples = client.host_metrics(hostname, since=since, until=until)
    rows = []
    for s in samples:
        disks = s.get("disks") or []
        rows.append({"timestamp": pd.to_datetime(s.get("timestamp"), utc=True), "cpu_percent": s.get("cpu_percent"),
                     "ram_percent": s.get("ram_percent"), "swap_percent": s.get("swap_percent"),
                     "disk_max_percent": max((d.get("percent") or 0 for d in disks), default=None),
                     "firewall": (s.get("services") or {}).get("firewall"),
                     "antivirus": (s.get("services") or {}).get("antivirus"),
                     "failed_services": len((s.get("services") or {}).get("failed") or []),
                     "pending_updates": (s.get("pending_updates") or {}).get("count"),
                     "dropped_samples": s.get("dropped_samples", 0), "sample_id": s.get("sample_id")})
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.sort_values("timestamp").set_index("timestamp")
    return frame


def plot_history(frame: Any, *, title: str = "") -> Any:
    """Line chart of CPU, RAM and the fullest disk over time (matplotlib)."""
    columns = [c for c in ("cpu_percent", "ram_percent", "disk_max_percent") if c in frame.columns]
    ax = frame[columns].plot(title=title, ylim=(0, 100), ylabel="%")
    return ax
