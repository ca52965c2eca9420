"""capture.sh: the standalone (no Python) capture writes format v1 that replays like a live diagnosis."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import techcare
from techcare.system import _facts
from techcare.system import _linux as L
from techcare.system.snapshot import load_snapshot

SCRIPT = Path(techcare.__file__).parent / "system" / "capture" / "capture.sh"
FIXTURES = Path(__file__).parent / "fixtures" / "linux"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("sh"), reason="needs Linux sh")


#: The directories capture.sh appends to PATH (admin tools live there): a tool installed in one of them is found
#: whatever PATH a test gives the script.
SCRIPT_PATH_TAIL = re.search(r'^PATH="\$PATH:([^"]+)"$', SCRIPT.read_text(), re.M).group(1).split(":")


def installed(tool: str, path: str) -> str | None:
    """Where capture.sh finds ``tool`` when started with ``PATH=path``: what this machine has installed.

    Tests that run the script on the real machine state the tools they need (fakes on PATH) and expect, for every
    other tool, exactly what is installed here — they must hold on a bare container and on a full desktop alike.
    """
    return shutil.which(tool, path=os.pathsep.join([path, *SCRIPT_PATH_TAIL]))


def fake_tool(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def capture(tmp_path: Path, env: dict[str, str] | None = None) -> Path:
    out = tmp_path / "captured.json"
    proc = subprocess.run(["sh", str(SCRIPT), str(out)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "snapshot written" in proc.stderr
    return out


def sh_helper(snippet: str, *args: str) -> str:
    proc = subprocess.run(["sh", "-c", f". {SCRIPT}; {snippet}", "capture", *args], capture_output=True, text=True,
                          env={**os.environ, "TECHCARE_CAPTURE_SOURCE_ONLY": "1"}, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("text", ['plain', 'quote " and backslash \\ here', "tab\tand\r\ncrlf\nlines",
                                  "Umlaute äöü ß €", "ctrl\x01\x1fchars", "a\\nliteral",
                                  "ends with newline\n\n", "", "percent %s %d"])
def test_json_escaping(text):
    literal = sh_helper('json_str "$1"', text)
    expected = "".join(ch for ch in text if ch in "\t\r\n" or ord(ch) >= 32)
    assert json.loads(literal) == expected


def test_facts_have_the_shapes_of_facts_py():
    host = json.loads(sh_helper("host_fact linux"))
    py = _facts.host()
    assert set(host) == set(py)
    for key in ("hostname", "os", "os_release", "os_version", "arch", "is_admin", "distro"):
        assert host[key] == py[key], key
    metrics = json.loads(sh_helper("metrics_fact_linux"))
    pym = _facts.metrics()
    assert set(metrics) == set(pym)
    assert metrics["ram_total"] == pym["ram_total"] and metrics["cpu_count"] == pym["cpu_count"]
    assert set(metrics["swap"]) == set(pym["swap"])
    assert [(d["mount"], d["total"]) for d in metrics["disks"]] == [(d["mount"], d["total"]) for d in pym["disks"]]
    assert set(metrics["disks"][0]) == set(pym["disks"][0])
    assert 0 <= metrics["cpu_percent"] <= 100 and abs(metrics["uptime_seconds"] - pym["uptime_seconds"]) < 60


# The capture of this machine replaying like a live diagnosis (findings with their reason codes, driver rows
# included) is tests/system/test_capture_parity.py::test_replay_gives_the_live_findings / _driver_rows.


@pytest.mark.parametrize("also_installed", [(), ("nft", "iptables", "firewall-cmd")])
def test_capture_runs_exactly_the_probe_argv_with_byte_exact_outputs(tmp_path: Path, also_installed):
    """Fake ufw/apt/smartctl/systemctl/journalctl on PATH: the capture must record what the probes ask for.

    Whatever else this machine has installed (``also_installed`` adds more firewall tools, as nftables on a
    desktop would) is recorded as it is and changes none of the verdicts the fakes decide."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    others = tmp_path / "installed-here"
    for tool in also_installed:  # present on the machine, not part of the scenario: an accept-all firewall
        fake_tool(others, tool, 'echo "table inet filter { chain input { type filter hook input priority 0; '
                                'policy accept; } }"')
    weird_stderr = 'WARNING: "quoted" \\back\\slash\ttab Ä\r\n'
    (tmp_path / "weird.stderr").write_bytes(weird_stderr.encode())
    scripts = {
        "ufw": f'[ "$*" = "status" ] || exit 9\ncat "{FIXTURES}/ufw-status-active.stdout"',
        "apt": f'[ "$*" = "list --upgradable" ] || exit 9\ncat "{FIXTURES}/apt-upgradable-ubuntu-jammy-security.stdout"\n'
               f'cat "{tmp_path}/weird.stderr" >&2',
        "smartctl": f'[ "$1 $2" = "--json -a" ] || exit 9\ncat "{FIXTURES}/smartctl-virtio-unknown-type.json"\nexit 1',
        "journalctl": f'cat "{FIXTURES}/journal-errors-debian.jsonl"',
        "systemctl": f'case "$*" in\n'
                     f'  "--failed --output=json --no-pager") cat "{FIXTURES}/systemctl-failed.json" ;;\n'
                     f'  *unattended-upgrades.service*) cat "{FIXTURES}/systemctl-show-update-units-debian.txt" ;;\n'
                     f'  *clamav-daemon.service*) cat "{FIXTURES}/systemctl-show-clamav-absent.txt" ;;\n'
                     f'  *) exit 9 ;;\nesac',
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(0o755)
    search = os.pathsep.join([str(bin_dir), str(others), os.environ["PATH"]])
    path = capture(tmp_path, {"PATH": search})
    snap = load_snapshot(path)
    cmds = {e.key: e.value for e in snap.entries if e.kind == "cmd"}
    assert cmds[L.UFW_STATUS].stdout == (FIXTURES / "ufw-status-active.stdout").read_text()
    apt = cmds[L.APT_UPGRADABLE]
    assert apt.returncode == 0 and apt.stderr == weird_stderr
    assert apt.stdout == (FIXTURES / "apt-upgradable-ubuntu-jammy-security.stdout").read_text()
    assert cmds[L.FAILED_UNITS_JSON].stdout == (FIXTURES / "systemctl-failed.json").read_text()
    disks = [name for name in os.listdir("/sys/block") if L.disk_devices([name])]
    for dev in L.disk_devices(sorted(disks)):
        assert cmds[L.smartctl_argv(dev)].returncode == 1
    whiches = {e.key: e.value for e in snap.entries if e.kind == "which"}
    assert whiches["ufw"] == str(bin_dir / "ufw")
    for tool in ("firewall-cmd", "nft", "iptables", "clamscan", "dnf", "zypper", "pacman", "checkupdates"):
        assert whiches[tool] == installed(tool, search), tool
    assert all(whiches[tool] == str(others / tool) for tool in also_installed)

    replayed = techcare.diagnose(snapshot=path)
    assert not [n for n, r in replayed.probes.items() if r.reason_code == "not_recorded"]
    assert replayed.by_check("firewall").severity == "ok"
    assert replayed.by_check("pending_updates").evidence["security"] == 3
    assert replayed.by_check("service:nginx.service").severity == "warning"
    assert replayed.by_check("update_service").severity == "ok"
    assert replayed.by_check("events").severity == "warning"
    if disks:
        assert all(f.severity == "unknown" for f in replayed if f.check.startswith("smart:"))


@pytest.mark.parametrize("also_installed", [(), ("smartctl", "journalctl")])
def test_capture_records_missing_tools_as_not_found(tmp_path: Path, also_installed):
    """Only the shell tools the script itself needs on PATH: every probe tool this machine does not have in the
    script's own admin directories is recorded as not found and replays as such; one it has (``also_installed``
    adds some, as a fuller machine would) is recorded and replayed, never claimed missing."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    needed = ("sh", "awk", "tr", "base64", "date", "id", "uname", "hostname", "mktemp", "rm", "mv", "cat", "head",
              "ls", "sort", "grep", "sed", "sleep", "df", "getconf", "timeout")
    for tool in needed:
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    if not (bin_dir / "sh").exists():  # every POSIX system has one; in CI the test must run, never skip
        if os.environ.get("CI"):
            pytest.fail("no sh on PATH: capture.sh cannot be run (CI=true: this test must run)")
        pytest.skip("needs sh")
    for tool in also_installed:
        fake_tool(bin_dir, tool, "exit 0")
    out = tmp_path / "min.json"
    proc = subprocess.run([str(bin_dir / "sh"), str(SCRIPT), str(out)], capture_output=True, text=True, timeout=120,
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path)}, check=False)
    assert proc.returncode == 0, proc.stderr
    snap = load_snapshot(out)

    def here(tool: str) -> bool:
        return installed(tool, str(bin_dir)) is not None

    systemctl = [e.value for e in snap.entries if e.kind == "cmd" and e.key[0] == "systemctl"]
    assert systemctl and all((r.error == "not_found") == (not here("systemctl")) for r in systemctl)
    replayed = techcare.diagnose(snapshot=out)
    assert not [n for n, r in replayed.probes.items() if r.reason_code == "not_recorded"]
    missing = {"services": not here("systemctl"),
               "pending_updates": not any(here(program) for _, program in L.PACKAGE_MANAGERS),
               "events": not here("journalctl"), "smart": not here("smartctl")}
    for probe, absent in missing.items():
        reason = replayed.probes[probe].reason_code
        assert (reason == ("no_systemd" if probe == "services" else "tool_missing")) == absent, (probe, reason)


@pytest.mark.parametrize("timeout_tool", ["timeout", ""])
def test_commands_are_cut_off_after_their_timeout(timeout_tool):
    """With coreutils timeout(1), and with the watchdog used where it is missing (stock macOS)."""
    out = sh_helper(f'TIMEOUT={timeout_tool}; rec_cmd 1 sleep 6; rec_cmd 5 sh -c "printf hi; echo err >&2; exit 3"; '
                    'cat "$ENTRIES"')
    slow, quick = json.loads("[" + out + "]")
    assert slow["argv"] == ["sleep", "6"] and slow["error"] == "timeout" and slow["returncode"] is None
    assert quick["returncode"] == 3 and quick["error"] is None
    assert (quick["stdout_b64"], quick["stderr_b64"]) == ("aGk=", "ZXJyCg==")


def test_whole_disks_of_diskutil_plist():
    import plistlib

    plist = plistlib.dumps({"AllDisks": ["disk0", "disk0s1", "disk3"], "AllDisksAndPartitions": [],
                            "VolumesFromDisks": ["Macintosh HD"], "WholeDisks": ["disk0", "disk3", "disk4"]})
    proc = subprocess.run(["sh", "-c", f". {SCRIPT}; whole_disks"], input=plist, capture_output=True, timeout=30,
                          env={**os.environ, "TECHCARE_CAPTURE_SOURCE_ONLY": "1"}, check=True)
    assert proc.stdout.decode().split() == ["disk0", "disk3", "disk4"]


def test_darwin_branch_mirrors_the_macos_probe_requests():
    from techcare.system import _macos as M

    listing = sh_helper("""
        rec_cmd() { shift; printf 'cmd'; for a in "$@"; do printf '\\037%s' "$a"; done; printf '\\n'; }
        rec_file() { printf 'file\\037%s\\n' "$1"; }
        rec_dir() { printf 'dir\\037%s\\n' "$1"; }
        capture_darwin""")
    requests = [tuple(line.split("\x1f")) for line in listing.splitlines()]
    from techcare.tools.drivers import _macos as D

    from techcare.system.recorded import DARWIN

    # the probes' commands, then the drivers module's (Apple's updates come from the probes' softwareupdate -l),
    # in the order of the declared list (the per-disk diskutil info needs a real diskutil: pattern not listed)
    assert D.SOFTWAREUPDATE_ARGV == M.UPDATE_LIST_ARGV
    declared = [r for r in DARWIN if not r.is_pattern]
    for kind in ("cmd", "file", "dir"):
        recorded = [r[1:] if kind == "cmd" else r[1] for r in requests if r[0] == kind]
        assert recorded == [r.target for r in declared if r.kind == kind], kind
    assert M.diskutil_info_argv("disk0") == ("/usr/sbin/diskutil", "info", "-plist", "disk0")
    assert '/usr/sbin/diskutil info -plist "$disk"' in SCRIPT.read_text()


@pytest.mark.parametrize(("absent", "manager_argv"), [
    ("", [L.APT_UPGRADABLE]),
    ("apt", [L.DNF_CHECK_UPDATE, L.DNF_SECURITY]),
    ("apt dnf", [L.ZYPPER_LIST_UPDATES, L.ZYPPER_LIST_PATCHES]),
    ("apt dnf zypper", [L.PACMAN_CHECKUPDATES]),
    ("apt dnf zypper checkupdates", [L.PACMAN_QUERY_UPGRADES]),
    ("apt dnf zypper pacman", [L.APK_VERSION]),
])
def test_linux_branch_mirrors_the_probe_argv(absent, manager_argv):
    listing = sh_helper(f"""
        have() {{ case " {absent} " in *" $1 "*) return 1 ;; esac; return 0; }}
        which_() {{ :; }}
        rec_cmd() {{ shift; printf 'cmd'; for a in "$@"; do printf '\\037%s' "$a"; done; printf '\\n'; }}
        rec_file() {{ printf 'file\\037%s\\n' "$1"; }}
        rec_dir() {{ printf 'dir\\037%s\\n' "$1"; }}
        rec_link() {{ printf 'link\\037%s\\n' "$1"; }}
        capture_linux""")
    requests = [tuple(line.split("\x1f")) for line in listing.splitlines()]
    commands = [r[1:] for r in requests if r[0] == "cmd"]
    reboot = [L.NEEDS_RESTARTING]
    disks = [L.smartctl_argv(dev) for dev in L.disk_devices(sorted(os.listdir("/sys/block")))]
    from techcare.tools.drivers import _linux as D

    modinfo = [r[1:] for r in requests if r[0] == "cmd" and r[1] == "modinfo"]
    assert all(argv[:3] == ("modinfo", "-F", "version") and len(argv) == 4 for argv in modinfo)

    assert commands == [L.UFW_STATUS, L.FIREWALLD_STATE, L.NFT_RULESET, L.IPTABLES_RULES,
                        L.systemctl_show(L.CLAMAV_UNITS), L.CLAMSCAN_VERSION, L.systemctl_show(L.UPDATE_UNITS),
                        L.FAILED_UNITS_JSON, L.FAILED_UNITS_PLAIN, L.RC_STATUS_ALL, *manager_argv, *reboot,
                        L.JOURNAL_ERRORS,
                        *disks, D.LSPCI, D.FWUPD_DEVICES, D.FWUPD_UPDATES, *modinfo]
    files = [r[1] for r in requests if r[0] == "file"]
    assert files[:3] == [L.UFW_CONF, L.IPTABLES_NAMES, L.OPENRC_SOFTLEVEL] and L.REBOOT_REQUIRED in files
    dirs = [r[1] for r in requests if r[0] == "dir"]
    # then the drivers module's sysfs walk (one /sys/module/<module> per driver's module; tested in
    # test_capture_parity.py against this machine's live inventory)
    assert dirs[:5] == [L.BOOT_DIR, L.LIB_MODULES, L.SYSTEMD_RUNTIME_DIR, L.SYS_BLOCK, D.PCI_ROOT]
    assert D.USB_ROOT in dirs and all(d.startswith("/sys/module/") for d in dirs[5:] if d != D.USB_ROOT)
