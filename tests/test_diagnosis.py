"""Diagnosis rules on constructed probe results (pure; the per-OS replays live in tests/system)."""

import json
import subprocess
import sys

import pytest

from techcare.diagnosis import Diagnosis, Finding, Thresholds, findings_from_results
from techcare.system import records as R


def ok(name, data):
    return R.ProbeResult(name, "ok", data)


def metrics(*percents, ram=40.0, cpu=10.0, uptime=3600.0):
    disks = [R.DiskUsage(mount=f"/m{i}", total=100, used=int(p), free=100 - int(p), percent=p) for i, p in enumerate(percents)]
    return ok("metrics", R.Metrics(cpu_percent=cpu, ram_percent=ram, disks=disks, uptime_seconds=uptime))


def by_check(findings):
    return {f.check: f for f in findings}


@pytest.mark.parametrize(("percent", "severity"), [(50, "ok"), (90, "warning"), (96.9, "warning"), (97, "critical")])
def test_disk_thresholds(percent, severity):
    f = by_check(findings_from_results({"metrics": metrics(percent)}, "linux"))["disk_usage:/m0"]
    assert f.severity == severity
    assert (f.repairs == []) == (severity == "ok")


def test_thresholds_are_configurable():
    th = Thresholds(disk_warning=50, disk_critical=60)
    assert by_check(findings_from_results({"metrics": metrics(55)}, "linux", th))["disk_usage:/m0"].severity == "warning"


def test_uptime_info_and_ram_warning():
    f = by_check(findings_from_results({"metrics": metrics(10, ram=95, uptime=40 * 86400)}, "windows"))
    assert f["ram"].severity == "warning" and f["uptime"].severity == "info"


def test_windows_firewall_profile_off_proposes_enable_with_profiles():
    fw = R.FirewallStatus(enabled=True, product="Windows Firewall",
                          profiles=[R.FirewallProfile("Domain", True), R.FirewallProfile("Public", False)])
    f = findings_from_results({"firewall": ok("firewall", fw)}, "windows")[0]
    assert f.severity == "critical" and f.repairs == ["win.enable_firewall"]
    assert f.repair_params == {"win.enable_firewall": {"profiles": ["Public"]}}


def test_unknown_probe_is_never_healthy():
    res = R.unknown("smart", "needs_admin", "smartctl needs elevation")
    f = findings_from_results({"smart": res}, "linux")[0]
    assert f.severity == "unknown" and "smartctl needs elevation" in f.summary_en
    assert f.evidence["reason_code"] == "needs_admin"


def test_unsupported_probe_gives_no_finding():
    assert findings_from_results({"smart": R.unsupported("smart", "linux")}, "linux") == []


def test_failed_services_name_the_unit_to_restart():
    res = ok("services", [R.ServiceState("cups.service", "failed")])
    f = findings_from_results({"services": res}, "linux")[0]
    assert f.check == "service:cups.service" and f.repair_params == {"linux.restart_unit": {"unit": "cups.service"}}


def test_antivirus_absent_is_critical_on_windows_info_on_linux():
    res = ok("antivirus", R.AntivirusStatus([]))
    assert findings_from_results({"antivirus": res}, "windows")[0].severity == "critical"
    assert findings_from_results({"antivirus": res}, "linux")[0].severity == "info"


def test_updates_security_and_critical():
    pu = R.PendingUpdates("apt", [R.PackageUpdate("openssl", security=True), R.PackageUpdate("vim")])
    assert findings_from_results({"pending_updates": ok("pending_updates", pu)}, "linux")[0].severity == "warning"
    pu = R.PendingUpdates("windows_update", [R.PackageUpdate("KB1", severity="Critical")])
    f = findings_from_results({"pending_updates": ok("pending_updates", pu)}, "windows")[0]
    assert f.severity == "critical" and f.repairs == ["win.install_updates"]


def test_smart_failing_disk_is_critical():
    res = ok("smart", [R.DiskHealth("/dev/sda", "failing", model="WDC", issues=["SMART overall-health: FAILED"])])
    f = findings_from_results({"smart": res}, "linux")[0]
    assert f.severity == "critical" and "FAILED" in f.summary_en


def test_rule_bug_becomes_unknown_and_keeps_other_findings():
    broken = ok("firewall", object())  # not a FirewallStatus
    out = by_check(findings_from_results({"firewall": broken, "metrics": metrics(10)}, "linux"))
    assert out["firewall"].severity == "unknown" and "disk_usage:/m0" in out


def test_finding_validates_area_and_severity():
    with pytest.raises(ValueError):
        Finding("x", "kitchen", "ok", "", "")
    with pytest.raises(ValueError):
        Finding("x", "metrics", "meh", "", "")


def test_diagnosis_outputs(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    results = {"metrics": metrics(98), "firewall": ok("firewall", R.FirewallStatus(False, "ufw"))}
    d = Diagnosis(host={"hostname": "pc"}, os="linux", items=findings_from_results(results, "linux"), probes=results)
    frame = d.findings
    assert list(frame.columns) == ["check", "area", "severity", "summary", "repairs", "evidence"]
    assert d.worst == "critical" and d.problems[0].severity == "critical"
    assert d.repair_ids()[0] in ("linux.apt_clean", "linux.enable_ufw")
    data = json.loads(d.to_json())
    assert data["host"] == "pc" and data["os"] == "linux"
    assert {"check", "area", "severity", "summary", "evidence", "repairs"} <= set(data["findings"][0])
    assert "<table>" in d._repr_html_() and "Firewall (ufw) is off" in d._repr_html_()


def test_live_diagnose_json_cli():
    out = subprocess.run([sys.executable, "-m", "techcare", "diagnose", "--json"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["os"] == "linux" and data["findings"]
    for finding in data["findings"]:
        assert finding["severity"] in ("ok", "info", "warning", "critical", "unknown")


def test_updates_security_unknown_is_said_not_zero():
    pu = R.PendingUpdates("pacman", [R.PackageUpdate("linux"), R.PackageUpdate("openssl")], security_known=False,
                          detail="pacman keeps no security classification")
    f = findings_from_results({"pending_updates": ok("pending_updates", pu)}, "linux")[0]
    assert f.severity == "warning" and f.evidence["security"] is None and f.evidence["security_known"] is False
    assert f.summary_en == "2 updates pending (security unknown: pacman keeps no security classification): linux, openssl"
    assert "(0 " not in f.summary_de and "Sicherheit unbekannt" in f.summary_de


def test_updates_zypper_patches_are_counted_and_named():
    patches = [R.PackageUpdate("openSUSE-Leap-16.0-112", new_version="1", source="security", security=True,
                               severity="important", summary="Security update for qemu"),
               R.PackageUpdate("openSUSE-Leap-16.0-1126", new_version="1", source="recommended", severity="moderate",
                               summary="Recommended update for zypper")]
    pu = R.PendingUpdates("zypper", [R.PackageUpdate("qemu-guest-agent"), R.PackageUpdate("zypper")], patches=patches)
    f = findings_from_results({"pending_updates": ok("pending_updates", pu)}, "linux")[0]
    assert f.severity == "warning" and f.evidence["security"] == 1 and f.evidence["count"] == 2
    assert f.summary_en == "2 package updates pending; 2 patches needed, 1 of them security: Security update for qemu"
    assert [p["name"] for p in f.evidence["patches"]] == ["openSUSE-Leap-16.0-112", "openSUSE-Leap-16.0-1126"]
    patches[0].severity = "critical"
    assert findings_from_results({"pending_updates": ok("pending_updates", pu)}, "linux")[0].severity == "critical"


def test_updates_only_patches_pending_is_not_ok():
    pu = R.PendingUpdates("zypper", [], patches=[R.PackageUpdate("SUSE-2024-1", source="security", security=True)])
    assert findings_from_results({"pending_updates": ok("pending_updates", pu)}, "linux")[0].severity == "warning"
