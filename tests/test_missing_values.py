"""A value that was not measured is never "ok" (issue 20 item 4).

Every probe record type is built healthy, then every field is taken away in turn — set to ``None`` (a null, a
missing field), to text that is no answer, to NaN and to an object of the wrong type — and the findings are
made again. Nothing may raise, and no finding may stay "ok" on a value that is gone: a field the verdict rests on
(``VERDICT``) must turn its finding into something that is not ``ok``; a field that only describes (``DESCRIBES``)
may leave the verdict as it was. Every field of every record must be in one of the two lists, so a new field
fails here until someone decides what its absence means.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from techcare.diagnosis import findings_from_results
from techcare.system import records as R
from techcare.system._common import parse_metrics

MISSING = (None, "garbage", float("nan"), object())


def healthy() -> dict[str, Any]:
    """One healthy record per probe, with every optional value filled in (the verdict of each is ``ok``)."""
    return {
        "metrics": R.Metrics(cpu_percent=12.0, ram_percent=40.0, ram_total=8_000_000_000, ram_available=4_000_000_000,
                             swap_percent=1.0, disks=[R.DiskUsage("/", 100_000_000_000, 50_000_000_000, 50_000_000_000,
                                                                  50.0, device="/dev/sda1", fstype="ext4")],
                             uptime_seconds=3600.0, load_avg=[0.1, 0.2, 0.3], cpu_count=4),
        "firewall": R.FirewallStatus(True, "Windows Firewall", [R.FirewallProfile("Domain", True)], detail="on"),
        "antivirus": R.AntivirusStatus([R.AntivirusProduct("Defender", enabled=True, realtime=True, up_to_date=True,
                                                           signature_age_days=0, detail="fine")]),
        "update_service": R.UpdateServiceStatus("wuauserv", "stopped", "manual", False, "ok"),
        "services": [],
        "pending_updates": R.PendingUpdates("apt", [], detail="", patches=[], security_known=True),
        "pending_reboot": R.PendingReboot(False, []),
        "events": [],
        "smart": [R.DiskHealth("/dev/sda", "passed", model="WDC", serial="1", protocol="ATA", smart_passed=True,
                               temperature_c=30.0, power_on_hours=100, percentage_used=1, failing_attributes=[],
                               issues=[], exit_status=0)],
    }


#: (record type, field) -> what the verdict rests on. Taking one away must not leave its finding "ok".
VERDICT = {
    (R.Metrics, "cpu_percent"): "cpu", (R.Metrics, "ram_percent"): "ram",
    (R.DiskUsage, "percent"): "disk_usage:/", (R.Metrics, "disks"): "disk_usage",   # no drive list: unknown
    (R.FirewallStatus, "enabled"): "firewall", (R.FirewallStatus, "profiles"): None,  # see below
    (R.FirewallProfile, "enabled"): "firewall",
    (R.AntivirusStatus, "products"): "antivirus", (R.AntivirusProduct, "enabled"): "antivirus",
    (R.UpdateServiceStatus, "problem"): "update_service",
    (R.PendingUpdates, "updates"): "pending_updates", (R.PendingUpdates, "patches"): "pending_updates",
    (R.PendingReboot, "required"): "pending_reboot",
    (R.DiskHealth, "health"): "smart:/dev/sda",
}
#: Fields that describe: their absence may leave the verdict as it was (it must still not raise).
DESCRIBES = {
    R.Metrics: {"ram_total", "ram_available", "swap_percent", "uptime_seconds", "load_avg", "cpu_count"},
    R.DiskUsage: {"mount", "total", "used", "free", "device", "fstype"},
    R.FirewallStatus: {"product", "detail"},
    R.FirewallProfile: {"name"},
    R.AntivirusProduct: {"name", "detail", "signature_age_days",
                         # read but not the verdict: the finding says "not read" in its text (checked below)
                         "up_to_date", "realtime"},
    R.UpdateServiceStatus: {"name", "state", "start_type", "detail"},
    R.PendingUpdates: {"manager", "detail", "security_known"},
    R.PendingReboot: {"sources"},
    R.DiskHealth: {"device", "model", "serial", "protocol", "smart_passed", "temperature_c", "power_on_hours",
                   "percentage_used", "failing_attributes", "issues", "exit_status"},
}


def findings(data: dict[str, Any], os_name: str = "windows") -> dict[str, R.Finding]:
    results = {name: R.ProbeResult(name, "ok", value) for name, value in data.items()}
    return {f.check: f for f in findings_from_results(results, os_name)}


def walk(value: Any, path: tuple = ()):
    """Every (path, record, field name) inside ``value`` (records nested in lists and other records)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield path, value, f.name
            yield from walk(getattr(value, f.name), (*path, f.name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from walk(item, (*path, i))


def cases():
    for probe, record in healthy().items():
        for path, owner, name in walk(record):
            for bad in MISSING:
                yield pytest.param(probe, path, type(owner), name, bad,
                                   id=f"{probe}.{'.'.join(map(str, (*path, name)))}={type(bad).__name__}")


def replaced(probe: str, path: tuple, name: str, bad: Any) -> dict[str, Any]:
    data = healthy()
    target = data[probe]
    for step in path:
        target = target[step] if isinstance(step, int) else getattr(target, step)
    setattr(target, name, bad)
    return data


def test_the_healthy_machine_is_all_ok():
    assert {check: f.severity for check, f in findings(healthy()).items()} == {
        "disk_usage:/": "ok", "ram": "ok", "cpu": "ok", "firewall": "ok", "antivirus": "ok", "update_service": "ok",
        "services": "ok", "pending_updates": "ok", "pending_reboot": "ok", "events": "ok", "smart:/dev/sda": "ok"}


def test_every_field_is_classified():
    for _probe, record in healthy().items():
        for _path, owner, name in walk(record):
            assert (type(owner), name) in VERDICT or name in DESCRIBES.get(type(owner), set()), \
                f"{type(owner).__name__}.{name}: decide whether its absence must change the verdict"


@pytest.mark.parametrize(("probe", "path", "owner", "name", "bad"), list(cases()))
def test_a_missing_value_never_leaves_a_finding_ok(probe, path, owner, name, bad):
    out = findings(replaced(probe, path, name, bad))       # never raises: that is half of the test
    for f in out.values():
        json.dumps(f.to_dict(), default=str)                # and every finding can still be shown
    key = (owner, name)
    if key == (R.FirewallStatus, "profiles"):
        return   # no profile list (Linux, macOS) is a valid record; the "enabled" value decides
    if key in VERDICT:
        check = VERDICT[key]
        assert check in out, f"{probe}: finding {check} vanished"
        assert out[check].severity != "ok", (out[check].severity, out[check].summary_en)
        return
    baseline = findings(healthy())   # all ok: a describing field may change a check's name, never add an "ok"
    assert sum(f.severity == "ok" for f in out.values()) <= sum(f.severity == "ok" for f in baseline.values())


@pytest.mark.parametrize("bad", MISSING)
@pytest.mark.parametrize("name", ["up_to_date", "realtime"])
def test_antivirus_says_what_it_did_not_read(name, bad):
    data = healthy()
    setattr(data["antivirus"].products[0], name, bad)
    f = findings(data)["antivirus"]
    assert "unknown" in f.summary_en and "unbekannt" in f.summary_de or "not read" in f.summary_en
    assert f.evidence["signatures_unknown" if name == "up_to_date" else "realtime_unknown"] == ["Defender"]


@pytest.mark.parametrize("bad", MISSING)
def test_an_update_whose_security_flag_is_unreadable_makes_the_security_count_unknown(bad):
    data = healthy()
    data["pending_updates"].updates = [R.PackageUpdate("openssl", "3.0.1", "3.0.2", security=bad)]
    f = findings(data, "linux")["pending_updates"]
    assert f.evidence["security"] is None and f.evidence["security_known"] is False
    assert "security unknown" in f.summary_en and "Sicherheit unbekannt" in f.summary_de
    assert "0 security" not in f.summary_en


# ---- the raw metrics fact (what psutil, snapshots and the capture scripts record), key by key ----------------

FACT = {"cpu_percent": 12.0, "ram_percent": 40.0, "ram_total": 8_000_000_000, "ram_available": 4_000_000_000,
        "swap": {"total": 1, "used": 0, "percent": 1.0}, "uptime_seconds": 3600, "load_avg": [0.1, 0.2, 0.3],
        "cpu_count": 4, "timestamp": 1_700_000_000.0,
        "disks": [{"mount": "/", "device": "/dev/sda1", "fstype": "ext4", "total": 100, "used": 50, "free": 50,
                   "percent": 50.0}]}
FACT_VERDICT = {"cpu_percent": "cpu", "ram_percent": "ram", "disks.percent": "disk_usage:/", "disks": "disk_usage"}


def fact_cases():
    for key in FACT:
        yield key, None
    for key in FACT["disks"][0]:
        yield f"disks.{key}", None


@pytest.mark.parametrize("how", ["removed", *MISSING[:3], "12,5 %", True])
@pytest.mark.parametrize(("key", "_"), list(fact_cases()))
def test_the_metrics_fact_with_a_value_gone(key, _, how):
    raw = json.loads(json.dumps(FACT))
    holder, name = (raw["disks"][0], key.split(".", 1)[1]) if key.startswith("disks.") else (raw, key)
    if how == "removed":
        del holder[name]
    else:
        holder[name] = how
    out = findings({"metrics": parse_metrics(raw)})
    if key in FACT_VERDICT:
        f = out[FACT_VERDICT[key]]
        assert f.severity == "unknown" and "not measured" in f.summary_en and "nicht gemessen" in f.summary_de
        assert "0 %" not in f.summary_en
    else:
        assert all(f.severity == "ok" for f in out.values())


def test_cpu_missing_is_not_cpu_load_zero():
    """The case of the issue: a metrics record whose CPU value is missing was 'CPU load 0 %', severity ok."""
    raw = {k: v for k, v in FACT.items() if k != "cpu_percent"}
    f = findings({"metrics": parse_metrics(raw)})["cpu"]
    assert f.severity == "unknown" and f.evidence["cpu_percent"] is None
    assert f.summary_en == "Unknown: the CPU load was not measured (value missing or unreadable)."


# ---- smartctl's JSON (Linux), every field taken away: never "passed" from what was not read ------------------

def _json_paths(value: Any, path: tuple = ()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from _json_paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:2]):
            yield from _json_paths(item, (*path, i))


SMART_FIXTURES = ("smartctl-nvme-passed.json", "smartctl-ata-failing-now.json", "smartctl-nvme-media-errors.json")


@pytest.mark.parametrize("name", SMART_FIXTURES)
def test_smartctl_json_with_a_field_gone_is_never_passed_by_accident(name):
    from pathlib import Path

    from techcare.system._linux import parse_smartctl

    text = (Path(__file__).parent / "system" / "fixtures" / "linux" / name).read_text(encoding="utf-8")
    original = json.loads(text)
    before = parse_smartctl(text, "/dev/x", 0).health
    for path in _json_paths(original):
        for bad in ("removed", None, "garbage", 1.5, [], {}):
            data = json.loads(text)
            holder = data
            for step in path[:-1]:
                holder = holder[step]
            if bad == "removed":
                del holder[path[-1]]
            else:
                holder[path[-1]] = bad
            after = parse_smartctl(json.dumps(data), "/dev/x", 0)      # never raises
            assert after.health in ("passed", "warning", "failing", "unknown")
            if after.health == "passed":
                assert before == "passed", (path, bad, after.issues)
