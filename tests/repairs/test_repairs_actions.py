"""Every catalogue action: argv produced, parameter validation, dry-run text, and replayed runs (success, failure,
verification fails) through the replaying runner — Windows and macOS included. Outputs are the tools' real texts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from techcare import config
from techcare.errors import RepairError
from techcare.repairs._windows import RESTORE_POINT_QUERY
from techcare.repairs import (
    Plan,
    Step,
    actions,
    get_action,
    parse_approval,
    read_entries,
)
from techcare.repairs._model import ps_command
from techcare.repairs._model import shell_word
from techcare.tools.drivers._macos import EXTENSIONS_ARGV as MAC_KEXTS

UFW = Path(__file__).parents[1] / "system" / "fixtures" / "linux"  # real recorded ufw outputs
PY = [sys.executable, "-m", "techcare.repairs._fsops"]
MP = "C:\\Program Files\\Windows Defender\\MpCmdRun.exe"
RP_QUERY = ps_command(RESTORE_POINT_QUERY)
MP_STATUS = ps_command("Get-MpComputerStatus | Select-Object AntivirusSignatureAge,AntivirusSignatureVersion "
                       "| ConvertTo-Json -Compress")
WU_COUNT = ps_command("$s = New-Object -ComObject Microsoft.Update.Session; $r = $s.CreateUpdateSearcher().Search("
                      "\"IsInstalled=0 and IsHidden=0 and Type='Software'\"); [pscustomobject]@{count=$r.Updates.Count}"
                      " | ConvertTo-Json -Compress")
DISM_HEALTH = ps_command("(Repair-WindowsImage -Online -CheckHealth).ImageHealthState")
FW_STATE = ps_command("ConvertTo-Json -Compress -InputObject @(Get-NetFirewallProfile -PolicyStore ActiveStore | "
                      "Select-Object Name, @{n='Enabled';e={[string]$_.Enabled}})")
DIRTY = ps_command("(Get-CimInstance Win32_Volume -Filter \"DriveLetter='C:'\").DirtyBitSet")
DRV_ID = "5b1b8e5e-4a5f-4b5c-9d2a-0e1f2a3b4c5d"
DRV_STATE = ps_command("$s = New-Object -ComObject Microsoft.Update.Session; $r = $s.CreateUpdateSearcher().Search("
                       f"\"UpdateID='{DRV_ID}'\"); if ($r.Updates.Count -eq 0) {{ 'missing' }} elseif "
                       "($r.Updates.Item(0).IsInstalled) { 'installed' } else { 'pending' }")


#: ``system_profiler SPExtensionsDataType -json`` with one third-party kext (shape of tests/drivers/fixtures)
KEXT = ('{{"SPExtensionsDataType": [{{"_name": "ufsd_NTFS", "spext_bundleid": "com.paragon-software.filesystems.ntfs",'
        ' "spext_loaded": "spext_yes", "spext_obtained_from": "spext_identified_developer", '
        '"spext_signed_by": ["Developer ID Application: Paragon Software GmbH (LSJ6YVK468)"], "spext_version": "{v}"}}]}}')


def sc_query(name: str, state: str) -> str:
    code = {"RUNNING": 4, "STOPPED": 1}[state]
    return (f"\r\nSERVICE_NAME: {name}\r\n        TYPE               : 20  WIN32_SHARE_PROCESS\r\n"
            f"        STATE              : {code}  {state}\r\n"
            "                                (STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)\r\n"
            "        WIN32_EXIT_CODE    : 0  (0x0)\r\n        SERVICE_EXIT_CODE  : 0  (0x0)\r\n"
            "        CHECKPOINT         : 0x0\r\n        WAIT_HINT          : 0x0\r\n")


def sc_qc(name: str, start: str) -> str:
    return ("[SC] QueryServiceConfig SUCCESS\r\n\r\n"
            f"SERVICE_NAME: {name}\r\n        TYPE               : 20  WIN32_SHARE_PROCESS\r\n"
            f"        START_TYPE         : {start}\r\n        ERROR_CONTROL      : 1   NORMAL\r\n"
            "        BINARY_PATH_NAME   : C:\\WINDOWS\\system32\\svchost.exe -k netsvcs -p\r\n"
            "        DISPLAY_NAME       : Windows Update\r\n        SERVICE_START_NAME : LocalSystem\r\n")


def fw_state(domain: str, private: str, public: str) -> str:
    """Get-NetFirewallProfile | Select Name, Enabled (as strings) | ConvertTo-Json -Compress."""
    return json.dumps([{"Name": "Domain", "Enabled": domain}, {"Name": "Private", "Enabled": private},
                       {"Name": "Public", "Enabled": public}]) + "\r\n"


def scan(files: int, size: int, root: str) -> tuple[int, str]:
    return (0, json.dumps({"root": root, "files": files, "bytes": size}) + "\n")


def clean_spec(action_id: str, platform: str, root: str) -> dict:
    return dict(
        platform=platform, params={},
        argv=[[*PY, "clean", "--older-than-days", "7", "--quarantine", "<backup>", root]],
        apply_prefix=tuple([*PY, "clean"]),
        before={tuple([*PY, "scan", "--older-than-days", "7", root]): scan(12, 48_000_000, root)},
        after={tuple([*PY, "scan", "--older-than-days", "7", root]): scan(0, 0, root)},
        apply_out={tuple([*PY, "clean"]): (0, json.dumps({"removed": 12, "bytes": 48_000_000, "errors": []}))},
        undo_prefix=[*PY, "restore", "--quarantine"],
        bad=[{"older_than_days": -1}, {"older_than_days": "seven"}, {"keep_backup": "vielleicht"}, {"path": ""},
             {"path": "a\x00b"}, {"bogus": 1}],
    )


SPECS: dict[str, dict] = {
    "win.reset_windows_update": dict(
        platform="windows", params={},
        argv=[["net.exe", "stop", s, "/y"] for s in ("bits", "wuauserv", "cryptsvc", "msiserver")],  # first four
        before={("sc.exe", "query", s): (0, sc_query(s, "STOPPED")) for s in ("wuauserv", "bits")},
        after={("sc.exe", "query", s): (0, sc_query(s, "RUNNING")) for s in ("wuauserv", "bits")},
        undo_contains=["Rename-Item -LiteralPath $b -NewName 'SoftwareDistribution'",
                       "Rename-Item -LiteralPath $b -NewName 'catroot2'"],
        bad=[{"force": True}],
    ),
    "win.sfc_scannow": dict(
        platform="windows", params={}, argv=[["sfc.exe", "/scannow"]],
        apply_out={("sfc.exe", "/scannow"): (0, "\r\nBeginning system scan.  This process will take some time.\r\n\r\n"
                   "Verification 100% complete.\r\n\r\nWindows Resource Protection found corrupt files and "
                   "successfully repaired them.\r\n")},
        apply_out_bad={("sfc.exe", "/scannow"): (0, "Verification 100% complete.\r\n\r\nWindows Resource Protection "
                       "found corrupt files but was unable to fix some of them.\r\n")},
        bad=[{"verify_only": True}],
    ),
    "win.dism_restore_health": dict(
        platform="windows", params={}, argv=[["DISM.exe", "/Online", "/Cleanup-Image", "/RestoreHealth"]],
        before={tuple(DISM_HEALTH): (0, "Repairable\r\n")},
        after={tuple(DISM_HEALTH): (0, "Healthy\r\n")},
        bad=[{"source": "D:\\sources"}],
    ),
    "win.flush_dns": dict(
        platform="windows", params={}, argv=[["ipconfig.exe", "/flushdns"]],
        apply_out={("ipconfig.exe", "/flushdns"): (0, "\r\nWindows-IP-Konfiguration\r\n\r\n"
                                                      "Der DNS-Aufl\u00f6sungscache wurde geleert.\r\n")},
        before={("sc.exe", "query", "Dnscache"): (0, sc_query("Dnscache", "STOPPED"))},
        after={("sc.exe", "query", "Dnscache"): (0, sc_query("Dnscache", "RUNNING"))},
        bad=[{"all": 1}],
    ),
    "win.reset_winsock": dict(
        platform="windows", params={}, argv=[["netsh.exe", "winsock", "reset"], ["netsh.exe", "int", "ip", "reset"]],
        apply_out={("netsh.exe", "winsock", "reset"): (0, "\r\nSuccessfully reset the Winsock Catalog.\r\nYou must "
                                                          "restart the computer in order to complete the reset.\r\n\r\n")},
        apply_out_bad={("netsh.exe", "int", "ip", "reset"): (1, "Resetting Global, OK!\r\nResetting Interface, "
                                                               "failed.\r\nAccess is denied.\r\n\r\n")},
        bad=[{"log": "C:\\x.log"}],
    ),
    "win.restart_service": dict(
        platform="windows", params={"name": "Spooler"},
        argv=[ps_command("Restart-Service -Name 'Spooler' -Force -ErrorAction Stop")],
        before={("sc.exe", "query", "Spooler"): (0, sc_query("Spooler", "STOPPED"))},
        after={("sc.exe", "query", "Spooler"): (0, sc_query("Spooler", "RUNNING"))},
        undo=[ps_command("Stop-Service -Name 'Spooler' -Force -ErrorAction Stop")],
        bad=[{}, {"name": "Spooler'; Remove-Item C:\\ -Recurse; '"}, {"name": ""}, {"name": 5}],
    ),
    "win.set_service_start_type": dict(
        platform="windows", params={"name": "wuauserv", "start_type": "Manual"},
        argv=[["sc.exe", "config", "wuauserv", "start=", "demand"]],
        before={("sc.exe", "qc", "wuauserv"): (0, sc_qc("wuauserv", "4   DISABLED"))},
        after={("sc.exe", "qc", "wuauserv"): (0, sc_qc("wuauserv", "3   DEMAND_START"))},
        undo=[["sc.exe", "config", "wuauserv", "start=", "disabled"]],
        bad=[{"start_type": None}, {"name": "wuauserv", "start_type": "boot"}, {"name": "a b", "start_type": "manual"}],
    ),
    "win.enable_firewall": dict(
        platform="windows", params={"profiles": ["Public"]},
        argv=[ps_command("Set-NetFirewallProfile -Profile Public -Enabled True")],
        before={tuple(FW_STATE): (0, fw_state("True", "True", "False"))},
        after={tuple(FW_STATE): (0, fw_state("True", "True", "True"))},
        undo=[ps_command("Set-NetFirewallProfile -Profile Public -Enabled False")],
        bad=[{"profiles": []}, {"profiles": ["work"]}, {"profiles": "public,,"}],
    ),
    "win.update_defender_signatures": dict(
        platform="windows", params={}, argv=[[MP, "-SignatureUpdate"]],
        before={tuple(MP_STATUS): (0, '{"AntivirusSignatureAge":5,"AntivirusSignatureVersion":"1.401.1166.0"}\r\n')},
        after={tuple(MP_STATUS): (0, '{"AntivirusSignatureAge":0,"AntivirusSignatureVersion":"1.403.287.0"}\r\n')},
        undo=[[MP, "-RemoveDefinitions"]],
        bad=[{"source": "mmpc"}],
    ),
    "win.schedule_chkdsk": dict(
        platform="windows", params={"drive": "c:"}, argv=[["fsutil.exe", "dirty", "set", "C:"]],
        before={tuple(DIRTY): (0, "False\r\n")},
        after={tuple(DIRTY): (0, "True\r\n")},
        apply_out={("fsutil.exe", "dirty", "set", "C:"): (0, "Volume - C: is now marked as dirty\r\n")},
        bad=[{"drive": "C"}, {"drive": "CD:"}, {"drive": "C:\\Windows"}],
    ),
    "win.create_restore_point": dict(
        platform="windows", params={"description": "Vor Treiber-Update"},
        argv=[ps_command("Checkpoint-Computer -Description 'Vor Treiber-Update' -RestorePointType 'MODIFY_SETTINGS' "
                         "-ErrorAction Stop")],
        before={tuple(RP_QUERY): (0, '{"SequenceNumber":41,"Description":"Windows Update","AgeHours":30.5}')},
        after={tuple(RP_QUERY): (0, '{"SequenceNumber":42,"Description":"Vor Treiber-Update","AgeHours":0.01}')},
        bad=[{"description": ""}, {"description": "x" * 201}, {"description": "a\nb"}],
    ),
    "win.install_updates": dict(
        platform="windows", params={}, argv_contains=["Microsoft.Update.Session", "$i.Install()"],
        before={tuple(WU_COUNT): (0, '{"count":3}')}, after={tuple(WU_COUNT): (0, '{"count":0}')},
        apply_out_any=(0, '{"installed":3,"result":2,"reboot":true}'),
        bad=[{"kb": "KB5031455"}],
    ),
    "win.clear_temp_files": clean_spec("win.clear_temp_files", "windows", "%TEMP%"),
    "drivers.install_update": dict(
        platform="windows", params={"source": "windows_update", "update_id": DRV_ID,
                                    "hardware_id": "PCI\\VEN_8086&DEV_15F3"},
        argv_contains=[f"UpdateID='{DRV_ID}'", "$i.Install()"],
        before={tuple(DRV_STATE): (0, "pending\r\n")}, after={tuple(DRV_STATE): (0, "installed\r\n")},
        apply_out_any=(0, '{"result":2,"reboot":false}'),
        bad=[{"source": "vendor", "update_id": "x"}, {"source": "fwupd", "update_id": "a'b"}, {"update_id": ""},
             {"source": "windows_update", "update_id": "ok", "hardware_id": "PCI\\VEN'"}],
    ),
    "drivers.install_vendor_package": dict(  # own driver database entry with a package (tests/drivers too)
        platform="darwin", params={"hardware_id": "com.paragon-software.filesystems.ntfs", "version": "17.1.5",
                                   "package": "/Volumes/USB/Microsoft NTFS for Mac.pkg", "sha256": "ab" * 32},
        apply_prefix=(sys.executable, "-m", "techcare.repairs._vendor"),
        apply_out={(sys.executable, "-m", "techcare.repairs._vendor", "stage"): (0, '{"staged": "x", "bytes": 9}')},
        before={tuple(MAC_KEXTS): (0, KEXT.format(v="17.0.72"))},
        after={tuple(MAC_KEXTS): (0, KEXT.format(v="17.1.5"))},
        argv_contains=["/usr/sbin/installer -target / -pkg <backup>/package/Microsoft NTFS for Mac.pkg"],
        bad=[{"package": "https://x/y.pkg"}, {"sha256": "00"}, {"package": "/x/y.zip"}, {"install_args": "/S"},
             {"package": "relative/y.pkg"}],
    ),
    # ---- Linux ----
    "linux.restart_unit": dict(
        platform="linux", params={"unit": "nginx.service"},
        argv=[["systemctl", "reset-failed", "nginx.service"], ["systemctl", "restart", "nginx.service"]],
        before={("systemctl", "is-active", "nginx.service"): (3, "failed\n")},
        after={("systemctl", "is-active", "nginx.service"): (0, "active\n")},
        undo=[["systemctl", "stop", "nginx.service"]], fail_cmd=("systemctl", "restart", "nginx.service"),
        bad=[{}, {"unit": "--now"}, {"unit": "nginx service"}, {"unit": "a;reboot"}],
    ),
    "linux.dpkg_configure": dict(
        platform="linux", params={}, argv=[["env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "--configure", "-a"]],
        before={("dpkg", "--audit"): (0, "The following packages are only half configured, probably due to problems\n"
                                         "configuring them the first time.  The configuration should be retried using\n"
                                         "dpkg --configure <package> or the configure menu option in dselect:\n"
                                         " nginx-common         small, powerful, scalable web/proxy server - common files\n")},
        after={("dpkg", "--audit"): (0, "")},
        bad=[{"package": "nginx"}],
    ),
    "linux.apt_fix_broken": dict(
        platform="linux", params={},
        argv=[["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-f", "install", "-y", "-o",
               "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]],
        before={("apt-get", "check"): (100, "Reading package lists...\nBuilding dependency tree...\n",
                                       "E: Unmet dependencies. Try 'apt --fix-broken install' with no packages (or "
                                       "specify a solution).\n")},
        after={("apt-get", "check"): (0, "Reading package lists...\nBuilding dependency tree...\n"
                                         "Reading state information...\n")},
        bad=[{"yes": True}],
    ),
    "linux.apt_clean": dict(
        platform="linux", params={}, argv=[["apt-get", "clean"]],
        dirs=({"/var/cache/apt/archives": ["lock", "nginx_1.22.1-9_amd64.deb", "partial"]},
              {"/var/cache/apt/archives": ["lock", "partial"]}),
        bad=[{"autoclean": True}],
    ),
    "linux.journal_vacuum": dict(
        platform="linux", params={"max_size": "500M"}, argv=[["journalctl", "--vacuum-size=500M"]],
        before={("journalctl", "--disk-usage"): (0, "Archived and active journals take up 1.1G in the file system.\n")},
        after={("journalctl", "--disk-usage"): (0, "Archived and active journals take up 488.0M in the file system.\n")},
        bad=[{"max_size": "0M"}, {"max_size": "500"}, {"max_size": "500M; rm"}, {"max_size": "1T"}],
    ),
    "linux.flush_dns": dict(
        platform="linux", params={}, argv=[["resolvectl", "flush-caches"]],
        before={("systemctl", "is-active", "systemd-resolved"): (0, "active\n"),
                ("resolvectl", "statistics"): (0, "DNSSEC supported by current servers: no\n\nTransactions\n"
                                                  "Current Transactions: 0\n  Total Transactions: 1789\n\nCache\n"
                                                  "  Current Cache Size: 57\n          Cache Hits: 402\n"
                                                  "        Cache Misses: 1387\n")},
        after={("systemctl", "is-active", "systemd-resolved"): (0, "active\n"),
               ("resolvectl", "statistics"): (0, "Cache\n  Current Cache Size: 0\n          Cache Hits: 402\n")},
        bad=[{"interface": "eth0"}],
    ),
    "linux.enable_ufw": dict(
        platform="linux", params={}, argv=[["ufw", "--force", "enable"]],
        before={("ufw", "status"): (0, (UFW / "ufw-status-inactive.stdout").read_text())},
        after={("ufw", "status"): (0, (UFW / "ufw-status-active.stdout").read_text())},
        undo=[["ufw", "disable"]],
        bad=[{"default": "deny"}],
    ),
    "linux.install_updates": dict(
        platform="linux", params={}, which={"apt-get": "/usr/bin/apt-get"},
        argv=[["apt-get", "update"], ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-o",
                                       "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
                                       "upgrade"]],
        before={("apt-get", "-s", "upgrade"): (0, "Reading package lists...\nThe following packages will be upgraded:\n"
                                                  "  libssl3 openssl tzdata\n3 upgraded, 0 newly installed, 0 to remove "
                                                  "and 0 not upgraded.\nInst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 "
                                                  "Debian-Security:12/stable-security [amd64])\n")},
        after={("apt-get", "-s", "upgrade"): (0, "Reading package lists...\n0 upgraded, 0 newly installed, 0 to "
                                                 "remove and 0 not upgraded.\n")},
        bad=[{"dist_upgrade": True}],
    ),
    "linux.clear_temp_files": clean_spec("linux.clear_temp_files", "linux", "/var/tmp"),
    # ---- macOS ----
    "macos.flush_dns": dict(
        platform="darwin", params={}, argv=[["dscacheutil", "-flushcache"], ["killall", "-HUP", "mDNSResponder"]],
        before={("pgrep", "-x", "mDNSResponder"): (1, "")}, after={("pgrep", "-x", "mDNSResponder"): (0, "412\n")},
        bad=[{"x": 1}],
    ),
    "macos.enable_firewall": dict(
        platform="darwin", params={}, argv=[["/usr/libexec/ApplicationFirewall/socketfilterfw", "--setglobalstate", "on"]],
        before={("/usr/libexec/ApplicationFirewall/socketfilterfw", "--getglobalstate"): (0, "Firewall is disabled. (State = 0)\n")},
        after={("/usr/libexec/ApplicationFirewall/socketfilterfw", "--getglobalstate"): (0, "Firewall is enabled. (State = 1)\n")},
        undo=[["/usr/libexec/ApplicationFirewall/socketfilterfw", "--setglobalstate", "off"]],
        bad=[{"stealth": True}],
    ),
    "macos.install_updates": dict(
        platform="darwin", params={}, argv=[["softwareupdate", "--install", "--recommended"]],
        before={("softwareupdate", "--list"): (0, "Software Update Tool\n\nFinding available software\nSoftware Update "
                                                  "found the following new or updated software:\n* Label: Safari17.1Ventura"
                                                  "Auto-17.1\n\tTitle: Safari, Version: 17.1, Size: 162198K, Recommended: "
                                                  "YES, \n")},
        after={("softwareupdate", "--list"): (0, "Software Update Tool\n\nFinding available software\n",
                                              "No new software available.\n")},
        bad=[{"restart": True}],
    ),
    "macos.clear_user_caches": clean_spec("macos.clear_user_caches", "darwin", "~/Library/Caches"),
    "macos.verify_volume": dict(
        platform="darwin", params={"volume": "/"}, argv=[["diskutil", "verifyVolume", "/"]],
        apply_out={("diskutil", "verifyVolume", "/"): (0, "Started file system verification on disk3s1s1 (Macintosh HD)\n"
                   "Verifying file system.\nVolume was successfully unmounted.\nPerforming fsck_apfs -n -x /dev/rdisk3s1s1\n"
                   "Checking the container superblock.\nThe volume /dev/rdisk3s1s1 appears to be OK.\n"
                   "File system check exit code is 0.\nFinished file system verification on disk3s1s1 (Macintosh HD)\n")},
        apply_out_bad={("diskutil", "verifyVolume", "/"): (1, "Started file system verification on disk3s1s1\n"
                       "File system check exit code is 8.\n", "Error: -69845: File system verify or repair failed\n")},
        fail_phase="verify",
        bad=[{"volume": "/etc"}, {"volume": "disk"}, {"volume": ""}],
    ),
}


def test_every_catalogue_action_has_a_scenario():
    assert {a.id for a in actions()} == set(SPECS)


def _params(action_id: str) -> dict:
    return get_action(action_id).validate_params(SPECS[action_id]["params"])


def _is_apply(action_id: str, params: dict):
    spec = SPECS[action_id]
    cmds = {tuple(c) for c in get_action(action_id).commands(params)}
    prefix = spec.get("apply_prefix")
    return lambda argv: argv in cmds or (prefix is not None and argv[:len(prefix)] == prefix)


def _runner(scripted, action_id: str, mode: str):
    spec = SPECS[action_id]
    params = _params(action_id)
    apply_out = dict(spec.get("apply_out") or {})
    if mode == "verify_fails" and spec.get("apply_out_bad"):
        apply_out = dict(spec["apply_out_bad"])
        mode_for_runner = "success_same"  # apply answers the bad output; machine still "after" for probes
    else:
        mode_for_runner = mode
    if spec.get("apply_out_any"):
        for c in get_action(action_id).commands(params):
            apply_out.setdefault(tuple(c), spec["apply_out_any"])
    runner = scripted(platform=spec["platform"], before=spec.get("before"), after=spec.get("after"),
                      apply_out=apply_out, is_apply=_is_apply(action_id, params),
                      mode="success" if mode_for_runner == "success_same" else mode_for_runner,
                      dirs=spec.get("dirs"), which=spec.get("which"), fail_cmd=spec.get("fail_cmd"))
    return runner


def _one_step_plan(action_id: str) -> Plan:
    spec = SPECS[action_id]
    return Plan([Step(1, action_id, _params(action_id))], platform=spec["platform"], host="PC-KUNDE-07")


@pytest.mark.parametrize("action_id", sorted(SPECS))
def test_argv_produced(action_id):
    spec = SPECS[action_id]
    cmds = get_action(action_id).commands(_params(action_id))
    assert cmds and all(isinstance(c, list) and all(isinstance(a, str) for a in c) for c in cmds)
    if "argv" in spec:
        assert cmds[:len(spec["argv"])] == spec["argv"]
    for fragment in spec.get("argv_contains", []):
        assert any(fragment in " ".join(c) for c in cmds), fragment


@pytest.mark.parametrize("action_id", sorted(SPECS))
def test_parameter_validation_refuses_bad_values_naming_them(action_id):
    action = get_action(action_id)
    for bad in SPECS[action_id]["bad"]:
        with pytest.raises(RepairError) as info:
            action.validate_params({**SPECS[action_id]["params"], **bad} if bad else {})
        message = str(info.value)
        assert action_id in message
        named = [k for k in bad] or [p.name for p in action.params if p.required]
        assert any(k in message for k in named), message
        assert any(word in message for word in ("Erlaubt", "Allowed", "fehlt", "missing")), message


@pytest.mark.parametrize("action_id", sorted(SPECS))
def test_dry_run_prints_and_records_the_exact_commands_without_running(scripted, action_id):
    plan = _one_step_plan(action_id)
    runner = _runner(scripted, action_id, "success")
    lines: list[str] = []
    result = plan.run(parse_approval("GO REPAIR: 1", plan), runner, dry_run=True, progress=lines.append)
    assert result.status == "dry_run" and result.steps[0].status == "dry_run"
    assert runner.commands_run == []  # nothing executed, not even the checks
    expected = get_action(action_id).commands(plan.steps[0].params)
    entry = next(e for e in read_entries(result.session) if e["event"] == "dry_run")
    recorded = [c["argv"] for c in entry["commands"]]
    prefix = SPECS[action_id].get("apply_prefix")
    if prefix:  # cleanup: the real backup directory of the session replaces the <backup> placeholder
        assert [a[:len(prefix)] for a in recorded] == [a[:len(prefix)] for a in expected]
        assert str(config.get_settings().sessions_dir / result.session / "step-1") in recorded[0][-2]
        assert not (config.get_settings().sessions_dir / result.session).exists()  # nothing created
    else:
        assert recorded == expected
    text = "\n".join(lines)
    assert all(" ".join(shell_word(x) for x in a) in text for a in recorded)
    assert plan.steps[0].command_text()[0] in plan.text()  # plan.show() shows the same dry-run text


def _events(session: str) -> list[str]:
    return [e["event"] for e in read_entries(session)]


@pytest.mark.parametrize("action_id", sorted(SPECS))
def test_replayed_success(scripted, action_id):
    plan = _one_step_plan(action_id)
    runner = _runner(scripted, action_id, "success")
    result = plan.run(parse_approval("GO REPAIR: 1", plan), runner, confirm=lambda s: True, progress=lambda _: None)
    assert result.status == "completed", result.steps[0].detail
    assert result.steps[0].status == "finished"
    assert _events(result.session) == ["run", "started", "prepared", "finished", "run_finished"]
    assert runner.apply_calls, "apply commands must have run"
    finished = read_entries(result.session)[3]
    assert finished["technician"] == "" and finished["host"] == "PC-KUNDE-07"
    assert any(c["argv"] == list(runner.apply_calls[0]) for c in finished["commands"])


def _check_undo(action_id: str, runner, entry: dict) -> None:
    spec = SPECS[action_id]
    action = get_action(action_id)
    if action.undo_reason(_params(action_id)) is not None:
        assert entry["undo_status"] == "not_undoable"
        return
    assert entry["undo_status"] == "undone", entry
    ran = [list(c) for c in runner.commands_run]
    after_apply = ran[ran.index(list(runner.apply_calls[-1])) + 1:]
    for cmd in spec.get("undo", []):
        assert cmd in after_apply, (cmd, after_apply)
    if spec.get("undo_prefix"):
        assert any(c[:len(spec["undo_prefix"])] == spec["undo_prefix"] for c in after_apply)
    for fragment in spec.get("undo_contains", []):
        assert any(fragment in " ".join(c) for c in after_apply), fragment


@pytest.mark.parametrize("action_id", sorted(SPECS))
def test_replayed_failure_undoes_the_step(scripted, action_id):
    plan = _one_step_plan(action_id)
    runner = _runner(scripted, action_id, "fail")
    result = plan.run(parse_approval("go repair 1", plan), runner, confirm=lambda s: True, progress=lambda _: None)
    assert result.status == "failed" and result.failed_step == 1
    entry = next(e for e in read_entries(result.session) if e["event"] == "failed")
    assert entry["phase"] == SPECS[action_id].get("fail_phase", "apply")
    assert any(c["returncode"] == 1 for c in entry["commands"])
    _check_undo(action_id, runner, entry)


@pytest.mark.parametrize("action_id", sorted(SPECS))
def test_replayed_verify_fails_undoes_the_step(scripted, action_id):
    plan = _one_step_plan(action_id)
    runner = _runner(scripted, action_id, "verify_fails")
    result = plan.run(parse_approval("GO REPAIR: alle", plan), runner, confirm=lambda s: True, progress=lambda _: None)
    assert result.status == "failed"
    entry = next(e for e in read_entries(result.session) if e["event"] == "failed")
    assert entry["phase"] == "verify", entry["detail"]
    _check_undo(action_id, runner, entry)


@pytest.mark.parametrize("action_id", sorted(a for a, spec in SPECS.items() if spec.get("after") or spec.get("dirs")))
def test_check_skips_when_not_needed(scripted, action_id):
    """When the machine is already in the 'after' state, steps with a real pre-check are skipped and recorded."""
    runner = _runner(scripted, action_id, "success")
    runner.applied = True  # machine already fixed
    plan = _one_step_plan(action_id)
    result = plan.run(parse_approval("GO REPAIR: 1", plan), runner, confirm=lambda s: True, progress=lambda _: None)
    if action_id in ("win.reset_windows_update", "win.restart_service", "win.create_restore_point",
                     "macos.flush_dns", "win.flush_dns"):
        assert result.steps[0].status in ("finished", "failed")  # these always run when approved
        return
    assert result.steps[0].status == "skipped", result.steps[0].detail
    assert _events(result.session) == ["run", "started", "skipped", "run_finished"]
    assert runner.apply_calls == []


def test_fwupd_driver_update_on_linux(scripted):
    # as the driver module sends it: update_id is fwupd's DeviceId, hardware_id the normalised id for display
    params = {"source": "fwupd", "update_id": "b585990a003e8a3ad1d2bde54b5e4b5e4b5e4b5e",
              "hardware_id": "FWUPD\\B585990A003E8A3AD1D2BDE54B5E4B5E4B5E4B5E"}
    action = get_action("drivers.install_update")
    valid = action.validate_params(params)
    assert action.commands(valid) == [["fwupdmgr", "update", params["update_id"], "--assume-yes", "--no-reboot-check"]]
    probe = ("fwupdmgr", "get-updates", params["update_id"], "--json")
    runner = scripted(platform="linux", before={probe: (0, '{\n  "Devices" : [ { "Name" : "UEFI dbx" } ]\n}\n')},
                      after={probe: (2, "No updatable devices\n")},
                      is_apply=lambda argv: argv[:2] == ("fwupdmgr", "update"))
    plan = Plan([Step(1, action.id, valid)], platform="linux")
    result = plan.run(parse_approval("GO REPAIR: 1", plan), runner, confirm=lambda s: True, progress=lambda _: None)
    assert result.status == "completed"


def test_linux_install_updates_uses_dnf_when_there_is_no_apt(scripted):
    runner = scripted(platform="linux", which={"dnf": "/usr/bin/dnf"},
                      before={("dnf", "-q", "check-update"): (100, "\nkernel.x86_64    6.5.6-300.fc39    updates\n"
                                                                   "openssl.x86_64   1:3.1.1-4.fc39    updates\n")},
                      after={("dnf", "-q", "check-update"): (0, "")},
                      is_apply=lambda argv: argv == ("dnf", "-y", "upgrade"))
    plan = Plan([Step(1, "linux.install_updates", {"manager": "dnf"})], platform="linux")
    assert plan.steps[0].command_text() == ["dnf -y upgrade"]  # the plan shows what will run
    result = plan.run(parse_approval("GO REPAIR: 1", plan), runner, confirm=lambda s: True, progress=lambda _: None)
    assert result.status == "completed" and runner.apply_calls == [("dnf", "-y", "upgrade")]
    apt_plan = Plan([Step(1, "linux.install_updates", {"manager": "apt"})], platform="linux")
    refused = apt_plan.run(parse_approval("GO REPAIR: 1", apt_plan), scripted(platform="linux", which={"dnf": "/usr/bin/dnf"}),
                           confirm=lambda s: True, progress=lambda _: None)
    assert refused.status == "failed" and "apt-get" in refused.steps[0].detail
    prepared = next(e for e in read_entries(result.session) if e["event"] == "prepared")
    assert "2" in prepared["check"]


def _utf16_without_bom(text: str) -> str:
    """What sfc really prints: UTF-16LE without a BOM, as the runner decodes it (UTF-8, NULs kept)."""
    from techcare.system.runner import decode_output

    return decode_output(text.encode("utf-16-le"))


@pytest.mark.parametrize(("output", "status", "verified"), [
    ("Der Windows-Ressourcenschutz hat keine Integritätsverletzungen gefunden.", "finished", True),
    ("Der Windows-Ressourcenschutz hat beschädigte Dateien gefunden und erfolgreich repariert.", "finished", True),
    ("Der Windows-Ressourcenschutz hat beschädigte Dateien gefunden, konnte jedoch einige davon nicht reparieren.",
     "failed", None),
    ("Windows Resource Protection did not find any integrity violations.", "finished", True),
    ("La protection des ressources Windows n'a trouvé aucune violation d'intégrité.", "finished", False),
])
def test_sfc_result_in_german_english_and_unknown_languages(scripted, output, status, verified):
    runner = scripted(platform="windows", apply_out={("sfc.exe", "/scannow"): (0, _utf16_without_bom(
        "\r\nBeginning system scan.\r\n\r\nVerification 100% complete.\r\n\r\n" + output + "\r\n"))},
        is_apply=lambda argv: argv == ("sfc.exe", "/scannow"))
    plan = Plan([Step(1, "win.sfc_scannow", {})], platform="windows")
    result = plan.run(parse_approval("GO REPAIR: 1", plan), runner, progress=lambda _: None)
    assert result.steps[0].status == status
    if status == "finished":
        finished = next(e for e in read_entries(result.session) if e["event"] == "finished")
        assert finished["verified"] is verified  # an unknown language is "not verified", never a false failure
