"""End to end: replayed Windows/macOS/Linux machines -> report, DataFrame, CLI (--json/--csv/--snapshot), findings;
and a live read-only run on this Linux machine."""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pandas as pd
import pytest

from techcare.diagnosis import driver_findings
from techcare.i18n import set_language
from techcare.system.runner import RecordingRunner, ReplayRunner, decode_output
from techcare.system.snapshot import Snapshot
from techcare.tools.drivers import (
    COLUMNS,
    _linux,
    _macos,
    _windows,
    capture,
    driver_updates,
    drivers,
    inventory,
    main,
    user_database_path,
)

FIX = Path(__file__).parent / "fixtures"


def fx(name: str) -> str:
    return decode_output(FIX.joinpath(name).read_bytes())


def write_user_db(entries: list[dict]) -> None:
    path = user_database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries), encoding="utf-8")


def windows_runner() -> ReplayRunner:
    r = ReplayRunner(platform="windows")
    r.add_command(list(_windows.INVENTORY_ARGV), 0, fx("win_pnpsigneddriver_ps51_de.json"))
    r.add_command(list(_windows.WU_ARGV), 0, fx("win_wu_drivers_ps51.json"))
    return r


def mac_runner() -> ReplayRunner:
    r = ReplayRunner(platform="darwin")
    r.add_command(list(_macos.EXTENSIONS_ARGV), 0, fx("sp_extensions_new.json"))
    r.add_command(list(_macos.SYSEXT_ARGV), 0, fx("systemextensionsctl_list.txt"))
    r.add_command(list(_macos.SOFTWAREUPDATE_ARGV), 0, fx("softwareupdate_catalina.txt"))
    return r


def test_windows_report_matches_product_example():
    write_user_db(
        [
            {
                "hardware_id": "PCI\\VEN_10DE&DEV_2206",
                "name": "NVIDIA GeForce RTX 3080",
                "vendor": "NVIDIA",
                "category": "Graphics",
                "latest_version": "528.49",
                "release_date": "2023-02-08",
                "download_url": "https://www.nvidia.com/Download/index.aspx",
                "notes": "",
                "importance": "CRITICAL",
            },
            {
                "hardware_id": "PCI\\VEN_8086&DEV_15BC",
                "name": "Intel I219-V",
                "vendor": "Intel",
                "category": "Network",
                "latest_version": "12.19.1.37",
                "notes": "current",
            },
        ]
    )
    frame = drivers(runner=windows_runner())
    assert list(frame.columns) == COLUMNS and len(frame) == 7  # 6 installed + Intel MEI offer (no inventory row)
    gpu = frame[frame.device == "NVIDIA GeForce RTX 3080"].iloc[0]
    # the DB says CRITICAL (528.49), Windows Update offers 31.0.15.2849 (== 528.49); both are newer than 512.95
    assert gpu.status == "outdated" and gpu.importance == "CRITICAL" and gpu.installed_version == "31.0.15.1295"
    nic = frame[frame.device.str.startswith("Intel(R) Ethernet")].iloc[0]
    assert nic.status == "current"
    audio = frame[frame.category == "Audio"].iloc[0]
    assert audio.status == "outdated" and audio.source == "windows_update" and audio.importance == "OPTIONAL"
    ahci = frame[frame.driver == "mshdc.inf"].iloc[0]
    assert ahci.status == "no_data"
    stats = frame.attrs["stats"]
    assert stats == {
        "installed": 6,
        "outdated": 2,
        "without_driver": 0,
        "critical": 2,
        "recommended": 0,
        "optional": 1,
        "not_comparable": 0,
    }

    updates = driver_updates(runner=windows_runner())
    assert list(updates.importance) == ["CRITICAL", "CRITICAL", "OPTIONAL"]
    assert updates.iloc[0].source == "windows_update"


def test_windows_findings_for_critical_updates():
    write_user_db(
        [
            {
                "hardware_id": "PCI\\VEN_10DE&DEV_2206",
                "name": "RTX 3080",
                "latest_version": "528.49",
                "importance": "CRITICAL",
            }
        ]
    )
    findings = driver_findings(windows_runner())
    assert [f.area for f in findings] == ["drivers", "drivers"]
    gpu = next(f for f in findings if "2206" in f.check)
    assert gpu.severity == "critical" and gpu.repairs == ["drivers.install_update"]
    params = gpu.repair_params["drivers.install_update"]
    assert params["hardware_id"] == "PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462&REV_A1"
    assert params["source"] in ("windows_update", "custom_db") and params["update_id"]
    assert "RTX 3080" in gpu.summary_en and "Treiber" in gpu.summary_de


def test_findings_never_raise_and_say_why():
    set_language("en")
    user = user_database_path()
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text("[{")
    (finding,) = driver_findings(windows_runner())
    assert finding.severity == "unknown" and "driver_database.json" in finding.summary_en
    user.unlink()
    (finding,) = driver_findings(ReplayRunner(platform="windows"))
    assert finding.severity == "unknown" and "not in the snapshot" in finding.summary_en and "nicht im Snapshot" in finding.summary_de


def test_no_critical_update_gives_ok_finding():
    (finding,) = driver_findings(mac_runner_without_updates())
    assert finding.severity == "ok" and finding.evidence["installed"] == 4


def mac_runner_without_updates() -> ReplayRunner:
    r = mac_runner()
    r._answers.pop(("cmd", tuple(_macos.SOFTWAREUPDATE_ARGV)))
    r.add_command(list(_macos.SOFTWAREUPDATE_ARGV), 0, "Software Update Tool\n\n", "No new software available.\n")
    return r


def test_macos_report():
    write_user_db(
        [
            {
                "hardware_id": "com.paragon-software.filesystems.ntfs",
                "name": "Paragon NTFS",
                "latest_version": "17.0.72",
                "vendor": "Paragon",
            }
        ]
    )
    frame = drivers(runner=mac_runner())
    kext = frame[frame.driver == "com.paragon-software.filesystems.ntfs"].iloc[0]
    assert kext.status == "current"
    available = frame[frame.status == "available"]
    # of the four Apple updates only the T2 firmware is a driver update (the rest: pending updates)
    assert list(available.source) == ["apple"] and list(available.device) == ["BridgeOSUpdateCustomer"]
    assert list(available.importance) == ["CRITICAL"] and list(available.category) == ["Firmware"]


def test_linux_replay_with_fwupd():
    r = ReplayRunner(platform="linux")
    r.add_command(list(_linux.LSPCI), 0, fx("lspci_vmmkn_insights.txt"))
    r.add_command(list(_linux.FWUPD_DEVICES), 0, fx("fwupd_get_devices.json"))
    r.add_command(list(_linux.FWUPD_UPDATES), 0, fx("fwupd_get_devices.json"))
    from techcare.system.runner import Entry, FileResult

    r.add(Entry("file", "/proc/sys/kernel/osrelease", FileResult("/proc/sys/kernel/osrelease", "6.1.0-18-amd64\n")))
    items = inventory(r)
    # no sysfs in this replay: lspci alone (4 PCI devices) + 3 fwupd devices
    assert [i.details.get("slot") for i in items[:4]] == ["00:00.0", "00:01.0", "00:01.1", "00:03.0"]
    assert items[1].installed_version == "6.1.0-18-amd64" and items[0].installed_version is None
    frame = drivers(runner=r)
    colorhug = frame[frame.device == "ColorHug2"].iloc[0]
    assert (colorhug.status, colorhug.installed_version, colorhug.latest_version) == ("outdated", "2.0.6", "2.0.7")
    assert colorhug.install_hint == "fwupdmgr update cf294bf55b333004beb7c41f952c1838c23e1f4a"


def test_linux_sysfs_inventory_replay():
    from techcare.system.runner import Entry, FileResult

    r = ReplayRunner(platform="linux")
    dev = "/sys/bus/pci/devices/0000:01:00.0"
    r.add(Entry("dir", "/sys/bus/pci/devices", ["0000:01:00.0"]))
    for name, value in {
        "vendor": "0x10de",
        "device": "0x2206",
        "subsystem_vendor": "0x1462",
        "subsystem_device": "0x3897",
        "revision": "0xa1",
        "class": "0x030000",
    }.items():
        r.add(Entry("file", f"{dev}/{name}", FileResult(f"{dev}/{name}", value + "\n")))
    r.add(Entry("link", f"{dev}/driver", "../../../bus/pci/drivers/nvidia"))
    r.add(Entry("link", f"{dev}/driver/module", "../../../../module/nvidia"))
    r.add(Entry("file", "/sys/module/nvidia/version", FileResult("/sys/module/nvidia/version", "535.183.01\n")))
    r.add_command(list(_linux.LSPCI), None, "", "lspci: command not found", error="not_found")
    (item,) = [i for i in inventory(r) if i.details.get("bus") == "pci"]
    assert item.hardware_id == "PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462&REV_A1"
    assert (item.driver, item.installed_version, item.category, item.vendor) == (
        "nvidia",
        "535.183.01",
        "Display",
        "NVIDIA",
    )
    assert item.details["version_origin"] == "sysfs"
    # modinfo fallback, then kernel release for in-tree modules
    assert ("cmd", ("modinfo", "-F", "version", "nvidia")) not in r.calls


def _snapshot_file(tmp_path: Path, runner: ReplayRunner) -> Path:
    recorder = RecordingRunner(runner)
    capture(recorder)
    snap = Snapshot(
        platform=runner.platform,
        entries=recorder.entries,
        created="2026-11-28T00:00:00+00:00",
        host={"hostname": "KUNDE-PC", "os": runner.platform},
    )
    path = tmp_path / "kunde.json"
    path.write_text(json.dumps(snap.to_dict()), encoding="utf-8")
    return path


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def test_cli_report_from_snapshot_in_product_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "120")
    write_user_db(
        [
            {
                "hardware_id": "PCI\\VEN_10DE&DEV_2206",
                "name": "NVIDIA GeForce RTX 3080",
                "latest_version": "528.49",
                "importance": "CRITICAL",
            }
        ]
    )
    path = _snapshot_file(tmp_path, windows_runner())
    code, out = run_cli("--snapshot", str(path))
    assert code == 0
    assert "📊 Statistik:" in out and "• Installierte Treiber: 6" in out and "• Veraltete Treiber: 2" in out
    assert "• Kritische Updates: 2" in out and "🔄 VERFÜGBARE UPDATES:" in out
    assert "🔴 1. NVIDIA GeForce RTX 3080" in out
    assert "Aktuell: 512.95 (31.0.15.1295)" in out and "Verfügbar: 528.49 (31.0.15.2849)" in out
    assert "Wichtigkeit: KRITISCH" in out and "Quelle: Windows Update" in out
    assert "Installation: Über Windows Update installieren" in out
    code, out = run_cli("--snapshot", str(path), "--lang", "en")
    assert "Installation: Install via Windows Update" in out and "Current: 512.95" in out


def test_cli_json_and_csv(tmp_path: Path):
    path = _snapshot_file(tmp_path, windows_runner())
    code, out = run_cli("--snapshot", str(path), "--json")
    data = json.loads(out)
    assert code == 0 and data["platform"] == "windows" and data["stats"]["installed"] == 6
    assert {u["source"] for u in data["updates"]} == {"windows_update"}
    # every update names the catalogue repair that installs it
    assert {u["repair"]["action"] for u in data["updates"]} == {"drivers.install_update"}
    assert all(u["repair"]["params"]["update_id"] == u["update_id"] for u in data["updates"])
    code, out = run_cli("--snapshot", str(path), "--csv")
    frame = pd.read_csv(io.StringIO(out))
    assert code == 0 and list(frame.columns) == COLUMNS and len(frame) == 7


def test_cli_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad = tmp_path / "nope.json"
    assert main(["--snapshot", str(bad)]) == 2
    assert "nope.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["--bogus"])
    assert info.value.code == 2


@pytest.mark.live
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads this Linux machine's sysfs")
def test_live_linux_lists_real_pci_devices():
    import os

    assert os.path.isdir("/sys/bus/pci/devices"), "a Linux machine without /sys/bus/pci: the live check cannot run"
    real = sorted(os.listdir("/sys/bus/pci/devices"))
    frame = drivers()
    pci = frame[frame.hardware_id.fillna("").str.startswith("PCI\\")]
    assert len(pci) == len(real) > 0
    for slot in real:
        with open(f"/sys/bus/pci/devices/{slot}/vendor") as fh:
            vendor = fh.read().strip().removeprefix("0x").upper()
        assert any(f"VEN_{vendor}&" in h for h in pci.hardware_id)
    bound = [s for s in real if os.path.islink(f"/sys/bus/pci/devices/{s}/driver")]
    assert (pci.driver != "").sum() == len(bound)


def test_saved_snapshot_carries_the_driver_check(tmp_path: Path):
    """``techcare.save_snapshot`` (and ``techcare snapshot save``) records the driver commands beside the probes,
    so the driver report replays from the file; a snapshot of chosen probes leaves the driver check out."""
    import techcare
    from techcare.system.snapshot import load_snapshot

    full = techcare.save_snapshot(tmp_path / "full.json", runner=windows_runner())
    recorded = {tuple(e.key) for e in full.entries if e.kind == "cmd"}
    assert tuple(_windows.INVENTORY_ARGV) in recorded and tuple(_windows.WU_ARGV) in recorded
    assert driver_updates(snapshot=tmp_path / "full.json").attrs["stats"]["installed"] == 6
    loaded = load_snapshot(tmp_path / "full.json")
    assert drivers(snapshot=loaded).attrs["stats"]["installed"] == 6
    assert techcare.drivers.__module__ == "techcare.tools.drivers"

    partial = techcare.save_snapshot(tmp_path / "metrics.json", runner=windows_runner(), probes=["metrics"])
    assert not any(e.kind == "cmd" and tuple(e.key) == tuple(_windows.INVENTORY_ARGV) for e in partial.entries)


def test_low_level_save_snapshot_runs_only_the_captures_it_is_given(tmp_path: Path):
    from techcare.system.snapshot import save_snapshot

    calls: list[str] = []

    def broken(runner) -> None:
        calls.append(runner.platform)
        raise RuntimeError("a capture that fails must not spoil the snapshot")

    snap = save_snapshot(tmp_path / "s.json", runner=windows_runner(), probes=["metrics"], captures=[capture, broken])
    assert calls == ["windows"]
    assert any(e.kind == "cmd" and tuple(e.key) == tuple(_windows.INVENTORY_ARGV) for e in snap.entries)
    bare = save_snapshot(tmp_path / "bare.json", runner=windows_runner(), probes=["metrics"])
    assert not any(e.kind == "cmd" and tuple(e.key) == tuple(_windows.INVENTORY_ARGV) for e in bare.entries)
