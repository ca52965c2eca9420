"""Pending updates on every Linux family (issue 20): zypper patches with security, apk, pacman without a
security classification, and OpenRC services. Real published outputs (tests/system/fixtures/linux/SOURCES.md)
replayed through the public dispatch layer, then through the diagnosis."""

from __future__ import annotations

from pathlib import Path

import pytest

from techcare import system
from techcare.diagnosis import findings_from_results
from techcare.system import _linux as L
from techcare.system.runner import NOT_FOUND, Entry, FileResult, ReplayRunner

FIXTURES = Path(__file__).parent / "fixtures" / "linux"
TOOLS = ("ufw", "firewall-cmd", "nft", "iptables", "clamscan", "smartctl", "apt", "dnf", "zypper", "pacman",
         "checkupdates", "needs-restarting", "systemctl", "journalctl", "apk", "rc-status")


def fx(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def machine(*installed: str, files: dict[str, str | None] | None = None) -> ReplayRunner:
    """A replayed Linux machine: ``installed`` programs exist, every other known tool is recorded as absent."""
    runner = ReplayRunner(platform="linux")
    for tool in TOOLS:
        runner.add(Entry("which", tool, f"/usr/bin/{tool}" if tool in installed else None))
    for path, content in (files or {}).items():
        runner.add(Entry("file", path, FileResult(path, content, None if content is not None else NOT_FOUND)))
    return runner


def run(name: str, runner: ReplayRunner):
    """Through the public dispatch layer (which never raises); every unknown says why."""
    result = system.probe(name, runner)
    assert result.probe == name
    if result.status == "unknown":
        assert result.reason_code and result.reason, "every unknown must say why"
    return result


def finding(res, name="pending_updates"):
    return {f.check: f for f in findings_from_results({name: res}, "linux")}


# ---- zypper (openSUSE Leap / Tumbleweed, SLES) --------------------------------------------------------------

def zypper(updates: str, patches: tuple[int, str, str] | None = (0, "zypper-list-patches-leap16.xml", "")):
    runner = machine("zypper")
    runner.add_command(L.ZYPPER_LIST_UPDATES, 0, fx(updates))
    if patches is not None:
        code, name, stderr = patches
        runner.add_command(L.ZYPPER_LIST_PATCHES, code, fx(name) if name else "", stderr)
    return runner


def test_zypper_security_patches_are_counted_and_named_beside_the_packages():
    runner = zypper("zypper-list-updates-leap16.xml", (101, "zypper-list-patches-leap16.xml", ""))
    res = run("pending_updates", runner)
    assert runner.commands_run == [L.ZYPPER_LIST_UPDATES, L.ZYPPER_LIST_PATCHES]
    pu = res.data
    assert res.ok and pu.manager == "zypper" and pu.security_known is True
    assert [u.name for u in pu.updates] == ["kernel-default", "kernel-default-extra", "kernel-default-optional",
                                            "qemu-guest-agent"]
    assert [(p.name, p.source, p.severity, p.security) for p in pu.patches] == [
        ("openSUSE-Leap-16.0-112", "security", "important", True),
        ("openSUSE-Leap-16.0-113", "security", "important", True),
        ("openSUSE-Leap-16.0-1126", "recommended", "moderate", False)]
    assert pu.patches[0].kb == ["CVE-2025-11234", "CVE-2025-12464"] and pu.patches[1].reboot_required is True
    assert pu.security_count == 2
    f = finding(res)["pending_updates"]
    assert f.severity == "warning" and f.evidence["security"] == 2 and f.evidence["count"] == 4
    assert f.summary_en == ("4 package updates pending; 3 patches needed, 2 of them security: Security update for qemu, "
                            "Security update for the Linux Kernel")
    assert f.summary_de.startswith("4 Paket-Updates ausstehend; 3 Patches nötig, davon 2 Sicherheit")


def test_zypper_sles_packages_without_patches_pending():
    res = run("pending_updates", zypper("zypper-list-updates-sles12.xml", (0, "zypper-list-patches-none.xml", "")))
    assert res.ok and res.data.count == 3 and res.data.patches == [] and res.data.security_known is True
    f = finding(res)["pending_updates"]
    assert f.severity == "info" and f.summary_en == "3 updates pending (0 security): SUSEConnect, bind-libs, bind-utils"


def test_zypper_an_applied_patch_is_not_pending():
    xml = fx("zypper-list-patches-leap16.xml").replace('status="needed" category="recommended"',
                                                       'status="applied" category="recommended"')
    assert [p.name for p in L.parse_zypper_patches(xml)] == ["openSUSE-Leap-16.0-112", "openSUSE-Leap-16.0-113"]


@pytest.mark.parametrize(("patches", "said"), [
    ((4, "", "System management is locked by the application with pid 1234 (zypper).\n"), "zypper list-patches failed"),
    ((0, "zypper-list-patches-leap16.xml", ""), None),
    (None, "zypper list-patches output is not in the snapshot"),
])
def test_zypper_without_the_patch_list_says_security_unknown(patches, said):
    runner = zypper("zypper-list-updates-leap16.xml", patches)
    if said is None:   # a patch list cut off in the middle is not understood either
        runner = zypper("zypper-list-updates-leap16.xml", None)
        runner.add_command(L.ZYPPER_LIST_PATCHES, 0, fx("zypper-list-patches-leap16.xml")[:300])
        said = "zypper list-patches output not understood"
    res = run("pending_updates", runner)
    assert res.ok and res.data.count == 4 and res.data.security_known is False and said in res.data.detail
    f = finding(res)["pending_updates"]
    assert f.evidence["security"] is None and "security unknown" in f.summary_en and f.severity == "warning"
    assert "(0 security)" not in f.summary_en


def test_zypper_list_updates_failing_is_unknown():
    runner = machine("zypper")
    runner.add_command(L.ZYPPER_LIST_UPDATES, 6, "", "Warning: No repositories defined.\n")
    res = run("pending_updates", runner)
    assert res.status == "unknown" and "No repositories defined" in res.reason


# ---- apk (Alpine) -------------------------------------------------------------------------------------------

def apk(stdout: str, code: int = 0, stderr: str = "") -> ReplayRunner:
    runner = machine("apk")
    runner.add_command(L.APK_VERSION, code, stdout, stderr)
    return runner


def test_apk_pending_updates_with_security_unknown():
    res = run("pending_updates", apk(fx("apk-version-alpine318.stdout")))
    pu = res.data
    assert res.ok and pu.manager == "apk" and pu.count == 14 and pu.security_known is False
    assert (pu.updates[7].name, pu.updates[7].current_version, pu.updates[7].new_version) == \
        ("libcrypto3", "3.1.8-r0", "3.3.6-r0")
    assert "apk has no security classification" in pu.detail
    f = finding(res)["pending_updates"]
    assert f.severity == "warning" and f.evidence["security"] is None and f.evidence["security_known"] is False
    assert f.summary_en.startswith("14 updates pending (security unknown: apk has no security classification")
    assert f.summary_de.startswith("14 Updates ausstehend (Sicherheit unbekannt: apk kennt keine")
    assert f.repairs == []


def test_apk_nothing_pending_and_names_with_digits():
    res = run("pending_updates", apk(fx("apk-version-none.stdout")))
    assert res.ok and res.data.count == 0 and finding(res)["pending_updates"].severity == "ok"
    names = [u.name for u in L.parse_apk_version(fx("apk-version-vuls-edge-tag.stdout"))]
    assert names == ["libcrypto1.0", "libssl1.0", "nrpe"]
    tagged = L.parse_apk_version("Installed:                                Available:\n"
                                 "py3-setuptools-70.3.0-r0                < 75.1.0-r0 @edge\n")
    assert (tagged[0].name, tagged[0].new_version, tagged[0].source) == ("py3-setuptools", "75.1.0-r0", "@edge")


def test_apk_output_that_is_not_apk_is_a_parse_error_not_zero_updates():
    res = run("pending_updates", apk("ERROR: Unable to lock database: Permission denied\nsomething else\n"))
    assert res.status == "unknown" and res.reason_code == "parse_error"


def test_apk_failing_is_unknown():
    res = run("pending_updates", apk("", 1, "ERROR: Unable to read database: No such file or directory\n"))
    assert res.status == "unknown" and "Unable to read database" in res.reason


# ---- pacman (Arch) ------------------------------------------------------------------------------------------

def test_pacman_checkupdates_says_security_unknown_not_zero():
    runner = machine("pacman", "checkupdates")
    runner.add_command(L.PACMAN_CHECKUPDATES, 0, fx("checkupdates-arch-particleos.stdout"))
    res = run("pending_updates", runner)
    assert res.ok and res.data.count == 18 and res.data.security_known is False
    f = finding(res)["pending_updates"]
    assert f.evidence["security"] is None and "security unknown" in f.summary_en and "0 security" not in f.summary_en
    assert "pacman has no security classification" in f.summary_en


def test_pacman_without_checkupdates_reads_the_last_synced_databases():
    runner = machine("pacman")
    runner.add_command(L.PACMAN_QUERY_UPGRADES, 0, fx("pacman-Qu-ignored.stdout"))
    res = run("pending_updates", runner)
    assert runner.commands_run == [L.PACMAN_QUERY_UPGRADES]
    assert res.ok and [u.name for u in res.data.updates] == ["linux", "openssl"]   # [ignored] is held back
    assert "as of the last database sync" in res.data.detail and "pacman-contrib" in res.data.detail
    nothing = machine("pacman")
    nothing.add_command(L.PACMAN_QUERY_UPGRADES, 1, "", "")
    res = run("pending_updates", nothing)
    assert res.ok and res.data.count == 0 and finding(res)["pending_updates"].severity == "ok"
    broken = machine("pacman")
    broken.add_command(L.PACMAN_QUERY_UPGRADES, 1, "", "error: failed to initialize alpm library\n")
    assert run("pending_updates", broken).status == "unknown"


# ---- dnf: the advisory list failing is not "0 security" -----------------------------------------------------

def test_dnf_without_advisories_says_security_unknown():
    runner = machine("dnf")
    runner.add_command(L.DNF_CHECK_UPDATE, 100, fx("dnf-check-update-fedora.stdout"))
    runner.add_command(L.DNF_SECURITY, 1, "", fx("dnf-check-update-cache-missing.stderr"))
    res = run("pending_updates", runner)
    assert res.ok and res.data.security_known is False and "dnf updateinfo" in res.data.detail
    assert finding(res)["pending_updates"].evidence["security"] is None


# ---- OpenRC (Alpine, Gentoo): services; systemd-only checks say unknown with the reason ---------------------

def no_systemd(runner: ReplayRunner) -> ReplayRunner:
    """systemctl and journalctl are not installed: their commands answer "not found" as a capture records it."""
    for argv in (L.FAILED_UNITS_JSON, L.systemctl_show(L.UPDATE_UNITS), L.JOURNAL_ERRORS):
        runner.add_command(argv, None, error=NOT_FOUND)
    return runner


def openrc(softlevel: str | None = "default", status: str | None = None) -> ReplayRunner:
    runner = no_systemd(machine("rc-status", files={L.OPENRC_SOFTLEVEL: softlevel}))
    if status is not None:
        runner.add_command(L.RC_STATUS_ALL, 0, fx(status))
    return runner


def test_openrc_crashed_and_failed_services_are_reported():
    runner = openrc(status="rc-status-all-alpine.stdout")
    res = run("services", runner)
    assert res.ok and res.source == "rc-status"
    assert [(s.name, s.state) for s in res.data] == [("nginx", "crashed"), ("postfix", "failed")]
    found = finding(res, "services")
    assert found["service:nginx"].severity == "warning" and found["service:postfix"].severity == "warning"
    gentoo = run("services", openrc(status="rc-status-all-gentoo.stdout"))
    assert [(s.name, s.state) for s in gentoo.data] == [("net.ethmgm", "crashed")]


def test_openrc_that_did_not_boot_the_system_is_unknown_not_fine():
    res = run("services", openrc(softlevel=None))
    assert res.status == "unknown" and "did not boot this system" in res.reason


def test_openrc_garbage_is_a_parse_error():
    runner = openrc()
    runner.add_command(L.RC_STATUS_ALL, 0, "Segmentation fault\n")
    assert run("services", runner).reason_code == "parse_error"


@pytest.mark.parametrize(("probe", "argv", "said"), [
    ("update_service", L.systemctl_show(L.UPDATE_UNITS), "recognises automatic updaters only as systemd units"),
    ("events", L.JOURNAL_ERRORS, "there is no journal"),
])
def test_systemd_only_checks_on_openrc_are_unknown_with_the_reason(probe, argv, said):
    runner = openrc()
    res = run(probe, runner)   # systemctl / journalctl recorded as not installed
    assert res.status == "unknown" and res.reason_code == "no_systemd" and said in res.reason
    assert "OpenRC" in res.reason
    f = finding(res, probe)[probe]
    assert f.severity == "unknown" and "OpenRC" in f.summary_de


def test_without_openrc_or_systemd_the_old_reason_stays():
    res = run("services", no_systemd(machine()))
    assert res.status == "unknown" and res.reason_code == "no_systemd" and "OpenRC" not in res.reason


def test_fixture_files_keep_their_bytes():
    """The apk rows end with the space apk-tools prints for an untagged repository; nobody strips them."""
    lines = (FIXTURES / "apk-version-alpine318.stdout").read_bytes().decode().splitlines()
    assert all(line.endswith(" ") for line in lines[1:])


# ---- a kernel replaced in place (Arch, Alpine): the running kernel's modules are gone -----------------------

def reboot_machine(modules: list[str] | None, running: str, boot: list[str]) -> ReplayRunner:
    runner = machine(files={L.REBOOT_REQUIRED: None})
    runner.add(Entry("fact", "host", {"os_release": running}))
    runner.add(Entry("dir", L.BOOT_DIR, boot))
    runner.add(Entry("dir", L.LIB_MODULES, modules))
    return runner


def test_arch_kernel_upgraded_in_place_needs_a_restart():
    res = run("pending_reboot", reboot_machine(["6.11.4-arch1-1"], "6.11.3-arch1-1",
                                               ["vmlinuz-linux", "initramfs-linux.img"]))
    assert res.ok and res.data.required is True
    assert "kernel 6.11.3-arch1-1 running, its modules are no longer installed (installed: 6.11.4-arch1-1)" in \
        str(res.data.sources[0].en)


@pytest.mark.parametrize("modules", [["6.6.58-0-lts"], [], None])
def test_running_kernel_present_or_no_listing_is_no_restart_signal(modules):
    res = run("pending_reboot", reboot_machine(modules, "6.6.58-0-lts", ["vmlinuz-lts"]))
    assert res.ok and res.data.required is False


# ---- a whole Alpine server, diagnosed the way a technician does it ------------------------------------------

def test_an_alpine_server_diagnosed_end_to_end():
    import techcare

    runner = no_systemd(machine("apk", "rc-status", "iptables", files={
        L.OPENRC_SOFTLEVEL: "default", L.REBOOT_REQUIRED: None, L.IPTABLES_NAMES: "filter\n"}))
    runner.add(Entry("fact", "host", {"hostname": "alp", "os": "linux", "os_release": "6.6.58-0-lts",
                                      "distro": {"ID": "alpine", "VERSION_ID": "3.18.9"}}))
    runner.add(Entry("fact", "metrics", {"ram_percent": 30.0, "cpu_count": 2, "timestamp": 1_733_000_000,
                                         "disks": [{"mount": "/", "total": 8e9, "used": 2e9, "free": 6e9,
                                                    "percent": 25.0}]}))   # no cpu_percent in this record
    runner.add_command(L.APK_VERSION, 0, fx("apk-version-alpine318.stdout"))
    runner.add_command(L.RC_STATUS_ALL, 0, fx("rc-status-all-alpine.stdout"))
    runner.add_command(L.IPTABLES_RULES, 0, "-P INPUT DROP\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n")
    runner.add_command(L.systemctl_show(L.CLAMAV_UNITS), None, error=NOT_FOUND)
    runner.add(Entry("dir", L.BOOT_DIR, ["vmlinuz-lts", "initramfs-lts", "config-6.6.62-0-lts"]))
    runner.add(Entry("dir", L.LIB_MODULES, ["6.6.62-0-lts"]))
    runner.add(Entry("dir", L.SYS_BLOCK, None))
    d = techcare.diagnose(runner=runner, drivers=False)
    got = {f.check: f.severity for f in d}
    assert got["cpu"] == "unknown" and got["ram"] == "ok" and got["disk_usage:/"] == "ok"
    assert got["pending_updates"] == "warning" and "security unknown" in d.by_check("pending_updates").summary_en
    assert got["service:nginx"] == got["service:postfix"] == "warning"
    assert got["update_service"] == got["events"] == "unknown"
    assert "OpenRC" in d.by_check("update_service").summary_en
    assert got["pending_reboot"] == "warning" and "6.6.62-0-lts" in d.by_check("pending_reboot").summary_en
    assert got["firewall"] == "ok"
    assert "ok" not in {got[c] for c in ("cpu", "update_service", "events")}


# ---- dnf: repositories without advisories (CentOS Stream, third-party) --------------------------------------

def test_dnf_without_any_advisory_says_security_unknown_not_zero():
    runner = machine("dnf")
    runner.add_command(L.DNF_CHECK_UPDATE, 100, fx("yum-check-update-centos7.stdout"))
    runner.add_command(L.DNF_SECURITY, 0, "Last metadata expiration check: 0:12:01 ago on Mon 01 Dec 2026.\n")
    res = run("pending_updates", runner)
    assert res.ok and res.data.count == 41 and res.data.security_known is False
    assert "publish no advisories" in res.data.detail
    f = finding(res)["pending_updates"]
    assert f.evidence["security"] is None and "(0 security)" not in f.summary_en


def test_dnf_bugfix_advisories_only_is_a_measured_zero():
    runner = machine("dnf")
    runner.add_command(L.DNF_CHECK_UPDATE, 100, fx("dnf-check-update-fedora.stdout"))
    runner.add_command(L.DNF_SECURITY, 0, "FEDORA-2023-1c2d3e4f5a bugfix        vim-enhanced-9.0.2081-1.fc39.x86_64\n"
                                          "FEDORA-2023-6a7b8c9d0e enhancement   tzdata-2023c-2.fc39.noarch\n")
    res = run("pending_updates", runner)
    assert res.ok and res.data.security_known is True and res.data.security_count == 0
