"""One declared list of what a capture records (techcare/system/recorded.py), and parity with it.

1. What the code asks: every probe and the drivers module run (through ``diagnose``) against scripted machines
   of each OS (every package manager, tools present / missing / only in sbin, sysfs with bound and unbound
   devices) and against the replayed whole-machine fixtures; every request must be declared, and every declared
   entry must be asked by one of them (the list holds nothing stale).
2. What the scripts record, read statically: capture.sh's Linux and macOS branches and capture.ps1 record the
   declared list, no more and no less.
3. On this Linux machine (read-only): a live diagnosis, the replay of ``snapshot save`` and the replay of
   ``capture.sh`` give the same findings (check, severity; CPU and memory load aside) and the same driver rows,
   and ``snapshot save`` records nothing undeclared.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import techcare
from techcare.system import _linux as L
from techcare.system import _macos as M
from techcare.system import _windows as W
from techcare.system import recorded as R
from techcare.system.runner import NOT_FOUND, CommandResult, CommandRunner, FileResult
from techcare.system.snapshot import load_snapshot
from techcare.tools.drivers import _linux as DL
from techcare.tools.drivers import _windows as DW

CAPTURE = Path(techcare.__file__).parent / "system" / "capture"
SNAPSHOTS = Path(__file__).parent / "fixtures" / "snapshots"
LINUX_FIX = Path(__file__).parent / "fixtures" / "linux"

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("sh"), reason="needs Linux")


# ---- 1. what the code asks ------------------------------------------------------------------------------------

class World(CommandRunner):
    """A scripted machine: answers every request from its tables (commands not listed succeed with no output,
    unless their program is not installed) and keeps every request in ``calls`` as ``(kind, key)``."""

    def __init__(self, platform: str, *, installed: Sequence[str] = (), commands: dict | None = None,
                 files: dict | None = None, dirs: dict | None = None, links: dict | None = None,
                 facts: dict | None = None) -> None:
        self.platform = platform
        self.installed = set(installed)
        self.commands = commands or {}
        self.files, self.dirs, self.links = files or {}, dirs or {}, links or {}
        self.facts = facts or {}
        self.calls: list[tuple[str, Any]] = []
        self.timeouts: dict[tuple[str, ...], float] = {}    # the longest time the code gives each command
        self._lock = threading.Lock()

    def _log(self, kind: str, key: Any) -> None:
        with self._lock:
            self.calls.append((kind, tuple(key) if isinstance(key, (list, tuple)) else key))

    def run(self, argv, *, timeout=30.0, input=None) -> CommandResult:
        args = self._check_argv(argv)
        self._log("cmd", args)
        with self._lock:
            self.timeouts[args] = max(timeout, self.timeouts.get(args, 0.0))
        if self.platform == "linux" and args[0] not in self.installed:
            return CommandResult(args, None, "", f"{args[0]}: command not found", 0.0, NOT_FOUND)
        if args in self.commands:
            rc, out, err = self.commands[args]
            return CommandResult(args, rc, out, err)
        return CommandResult(args, 0, "", "")

    def read_file(self, path: str) -> FileResult:
        self._log("file", path)
        content = self.files.get(path)
        return FileResult(path, content, None if content is not None else NOT_FOUND)

    def list_dir(self, path: str):
        self._log("dir", path)
        return self.dirs.get(path)

    def read_link(self, path: str):
        self._log("link", path)
        return self.links.get(path)

    def which(self, program: str):
        self._log("which", program)
        if program in self.installed:
            return program if program.startswith("/") else f"/usr/bin/{program}"
        return None

    def fact(self, name: str):
        self._log("fact", name)
        if name not in self.facts:
            raise LookupError(name)
        return self.facts[name]


METRICS = {"cpu_percent": 3.0, "cpu_count": 4, "ram_total": 8 << 30, "ram_available": 4 << 30, "ram_percent": 50.0,
           "swap": None, "disks": [], "boot_time": 1.7e9, "uptime_seconds": 3600.0, "load_avg": [0.1, 0.1, 0.1],
           "timestamp": 1.7e9 + 3600}


def linux_world(installed: Sequence[str], *, boot: Sequence[str] = ("vmlinuz-6.1.0-1-amd64", "vmlinuz-6.1.0-2-amd64")
                ) -> World:
    """A PC with two PCI devices (one bound with a module link, one bound by a driver name with '-' and an empty
    sysfs version) and a USB mouse whose device class is left to its interface. ``boot``: the /boot listing (an
    unversioned ``vmlinuz-linux`` as on Arch/Alpine sends pending_reboot to /lib/modules)."""
    pci, usb = DL.PCI_ROOT, DL.USB_ROOT
    files = {"/proc/sys/kernel/osrelease": "6.1.0-1-amd64\n", L.REBOOT_REQUIRED: "*** System restart required ***\n",
             L.REBOOT_REQUIRED_PKGS: "linux-image-6.1.0-2-amd64\n", L.UFW_CONF: "ENABLED=yes\n",
             "/sys/module/virtio_pci/version": "\n", "/sys/module/snd_hda_intel/version": "1.0\n",
             L.OPENRC_SOFTLEVEL: "default\n"}
    for slot, (vendor, device, cls) in {"0000:00:02.0": ("0x1af4", "0x1041", "0x020000"),
                                        "0000:00:1f.3": ("0x8086", "0xa348", "0x040300")}.items():
        files.update({f"{pci}/{slot}/vendor": vendor, f"{pci}/{slot}/device": device, f"{pci}/{slot}/class": cls,
                      f"{pci}/{slot}/subsystem_vendor": vendor, f"{pci}/{slot}/subsystem_device": "0x0001",
                      f"{pci}/{slot}/revision": "0x01"})
    files.update({f"{usb}/1-1/idVendor": "046d\n", f"{usb}/1-1/idProduct": "c52b\n", f"{usb}/1-1/bcdDevice": "1211\n",
                  f"{usb}/1-1/bDeviceClass": "00\n", f"{usb}/1-1/product": "USB Receiver\n",
                  f"{usb}/1-1/manufacturer": "Logitech\n", f"{usb}/1-1:1.0/bInterfaceClass": "03\n"})
    links = {f"{pci}/0000:00:02.0/driver": "../../../bus/pci/drivers/virtio-pci",
             f"{pci}/0000:00:1f.3/driver": "../../../bus/pci/drivers/snd_hda_intel",
             f"{pci}/0000:00:1f.3/driver/module": "../../../../module/snd_hda_intel",
             f"{usb}/1-1:1.0/driver": "../../../../../../bus/usb/drivers/usbhid",
             f"{usb}/1-1:1.0/driver/module": "../../../../../../../module/usbhid"}
    dirs = {L.SYS_BLOCK: ["loop0", "nvme0n1", "sda"], L.BOOT_DIR: list(boot), L.LIB_MODULES: ["6.1.0-2-amd64"],
            L.SYSTEMD_RUNTIME_DIR: [], pci: ["0000:00:02.0", "0000:00:1f.3"], usb: ["1-1", "1-1:1.0", "usb1"],
            "/sys/module/virtio_pci": ["version"], "/sys/module/snd_hda_intel": ["version"], "/sys/module/usbhid": []}
    host = {"hostname": "pc", "os": "linux", "os_release": "6.1.0-1-amd64", "is_admin": True}
    commands = {  # systemd < 246 answers --output=json with plain text; dnf has updates (exit 100)
        L.FAILED_UNITS_JSON: (0, "UNIT LOAD ACTIVE SUB DESCRIPTION\n", ""),
        L.DNF_CHECK_UPDATE: (100, (LINUX_FIX / "dnf-check-update-fedora.stdout").read_text(), ""),
        L.ZYPPER_LIST_UPDATES: (0, (LINUX_FIX / "zypper-list-updates.xml").read_text(), ""),
    }
    return World("linux", installed=installed, commands=commands, files=files, dirs=dirs, links=links,
                 facts={"host": host, "metrics": METRICS})


def linux_worlds() -> dict[str, World]:
    tools = (*L.FIREWALL_TOOLS, "clamscan", "smartctl", "systemctl", "journalctl", "lspci", "fwupdmgr", "modinfo")
    worlds = {"nothing installed": linux_world((), boot=["vmlinuz-linux"])}
    for manager, program in L.PACKAGE_MANAGERS:     # each manager alone, as found first
        worlds[f"{manager}, all tools"] = linux_world((*tools, program, "checkupdates", "needs-restarting"))
        worlds[f"{manager}, no checkupdates/needs-restarting"] = linux_world((*tools, program))
    no_systemd = [tool for tool in tools if tool not in ("systemctl", "journalctl")]
    worlds["OpenRC (Alpine)"] = linux_world((*no_systemd, "apk", "rc-status"), boot=["vmlinuz-lts"])
    return worlds


def darwin_world() -> World:
    import plistlib

    listing = plistlib.dumps({"WholeDisks": ["disk0", "disk4"], "AllDisksAndPartitions": []}).decode()
    return World("darwin", commands={M.DISKUTIL_LIST_ARGV: (0, listing, "")}, dirs={M.APPLICATIONS_DIR: ["Safari.app"]},
                 facts={"host": {"hostname": "mac", "os": "darwin", "os_release": "23.4.0", "mac_version": "14.4"},
                        "metrics": METRICS})


def windows_world() -> World:
    return World("windows", facts={"host": {"hostname": "PC", "os": "windows", "is_admin": True}, "metrics": METRICS})


class Replayed:
    """A whole-machine fixture snapshot replayed; its requests as ``calls``."""

    def __init__(self, name: str) -> None:
        self.runner = load_snapshot(SNAPSHOTS / name).runner()
        self.platform = self.runner.platform

    @property
    def calls(self) -> list[tuple[str, Any]]:
        return self.runner.calls


def _asked(world: World | Replayed) -> list[tuple[str, Any]]:
    runner = world.runner if isinstance(world, Replayed) else world
    techcare.diagnose(runner=runner)
    return list(world.calls)


@pytest.fixture(scope="module")
def asked() -> dict[str, dict[str, list[tuple[str, Any]]]]:
    """platform -> {world: requests of a whole diagnosis (probes and driver check)}."""
    worlds: dict[str, dict[str, World | Replayed]] = {
        "linux": {**linux_worlds(), "fixture linux-debian-problems": Replayed("linux-debian-problems.json")},
        "darwin": {"scripted Mac": darwin_world(), "fixture macos14-problems": Replayed("macos14-problems.json")},
        "windows": {"scripted PC": windows_world(), "fixture windows11-problems": Replayed("windows11-problems.json")},
    }
    return {platform: {name: _asked(world) for name, world in group.items()} for platform, group in worlds.items()}


@pytest.mark.parametrize("platform", list(R.RECORDED))
def test_every_request_of_probes_and_drivers_is_declared(asked, platform):
    missing = {name: R.undeclared(platform, calls) for name, calls in asked[platform].items()}
    assert not {name: found for name, found in missing.items() if found}, (
        "requests no capture records (declare them in techcare/system/recorded.py and record them in the scripts)")


def test_declared_timeouts_give_each_command_the_time_the_code_gives_it():
    """A capture that cut a command off sooner than the probe waits would replay a timeout the live run never had."""
    worlds = [*linux_worlds().values(), darwin_world(), windows_world()]
    short = []
    for world in worlds:
        techcare.diagnose(runner=world)
        for argv, seconds in world.timeouts.items():
            read = R.declared(world.platform, "cmd", argv)
            if read is None or read.timeout is None or read.timeout < seconds:
                short.append((world.platform, argv[:4], seconds, read.timeout if read else None))
    assert short == []


@pytest.mark.parametrize("platform", list(R.RECORDED))
def test_every_declared_entry_is_asked_somewhere(asked, platform):
    every = [call for calls in asked[platform].values() for call in calls]
    assert [(r.kind, r.target) for r in R.unused(platform, every)] == []


def test_replay_tells_recorded_missing_from_not_recorded():
    from techcare.system.runner import Entry, ReplayRunner

    runner = ReplayRunner([Entry("dir", DL.USB_ROOT, None)])
    assert runner.list_dir(DL.USB_ROOT) is None and runner.list_dir(DL.PCI_ROOT) is None
    assert runner.recorded("dir", DL.USB_ROOT) and not runner.recorded("dir", DL.PCI_ROOT)
    assert runner.calls == [("dir", DL.USB_ROOT), ("dir", DL.PCI_ROOT)]          # recorded() is no request
    statuses = {s.name: getattr(s.detail, "en", s.detail) for s in DL.inventory(runner)[1]}
    assert "not in the snapshot" in statuses["sysfs-pci"] and "cannot be read" in statuses["sysfs-usb"]


def test_patterns_match_one_value_only():
    smart = R.declared("linux", "cmd", ("smartctl", "--json", "-a", "/dev/nvme0n1"))
    assert smart is not None and smart.is_pattern
    assert R.declared("linux", "cmd", ("smartctl", "--json", "-a", "/dev/disk/by-id/x")) is None
    assert R.declared("linux", "file", f"{DL.PCI_ROOT}/0000:00:02.0/vendor").by == "drivers"
    assert R.declared("linux", "file", f"{DL.PCI_ROOT}/0000:00:02.0/config") is None      # not declared: not asked
    assert R.declared("linux", "link", f"{DL.PCI_ROOT}/../../etc/driver") is None
    assert R.declared("linux", "link", f"{DL.PCI_ROOT}/../driver") is None
    assert R.declared("windows", "cmd", W.ps_argv("smart")) is not None                    # literal: braces are text
    assert R.declared("linux", "which", "ufw") is not None and R.declared("linux", "cmd", ("ufw",)) is None
    with pytest.raises(ValueError, match="placeholders"):
        R.Read("cmd", ("smartctl", "/dev/{disk}"), "smart")                  # a pattern must say where values come from
    with pytest.raises(ValueError, match="kind"):
        R.Read("registry", "HKLM", "x")


def test_a_captured_mac_gets_a_driver_report_and_apples_update_source(tmp_path):
    """The issue's macOS case: capture.sh's darwin branch now records the drivers module's commands, and Apple's
    updates come from the probes' own ``softwareupdate -l`` entry (one argv, recorded once)."""
    import json

    from techcare.tools.drivers import _macos as DM
    from techcare.tools.drivers import report

    drivers_fix = Path(__file__).parents[1] / "drivers" / "fixtures"
    data = json.loads((SNAPSHOTS / "macos14-problems.json").read_text(encoding="utf-8"))
    for argv, fixture in ((DM.EXTENSIONS_ARGV, "sp_extensions_new.json"), (DM.SYSEXT_ARGV, "systemextensionsctl_list.txt")):
        data["entries"].append({"kind": "cmd", "argv": list(argv), "returncode": 0,
                                "stdout": (drivers_fix / fixture).read_text(encoding="utf-8"), "stderr": "",
                                "duration": 1.0, "error": None})
    path = tmp_path / "mac.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert R.undeclared("darwin", [(e.kind, e.key) for e in load_snapshot(path).entries]) == []
    rep = report(snapshot=path)
    sources = {s.name: s.status for s in rep.sources}
    assert sources["SPExtensionsDataType"] == "ok" and sources["systemextensionsctl"] == "ok"
    assert sources["apple"] == "ok"                       # from the probes' softwareupdate -l entry
    assert [row for row in rep.rows if row.driver is not None]


# ---- 2. what the scripts record (static) -----------------------------------------------------------------------

SH_RECORDERS = {"rec_cmd": "cmd", "rec_file": "file", "rec_dir": "dir", "rec_link": "link", "which_": "which"}
SH_KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "!", "while"}
_SH_VAR = re.compile(r"\$\{?(\w+)\}?")


def _sh_statements(line: str) -> list[list[str]]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    statements, current = [], []
    for token in lexer:
        if token and set(token) <= set(";&|"):
            statements.append(current)
            current = []
        else:
            current.append(token)
    statements.append(current)
    return [s for s in statements if s]


def sh_requests(text: str, start: str, end: str, seconds: dict | None = None) -> set[tuple[str, tuple[str, ...]]]:
    """The requests a branch of capture.sh records, read from its text: recorder calls with literal loop values
    expanded and every other variable (a value found on the machine) written ``{}``. ``seconds`` (if given)
    receives each command's timeout."""
    constants = dict(re.findall(r'^([A-Z_]+)="([^"$]*)"$', text, re.M))
    body = text[text.index(start):text.index(end)].replace("\\\n", " ")
    loops: list[tuple[str, list[str] | None]] = []
    found: set[tuple[str, tuple[str, ...]]] = set()
    for raw in body.splitlines():
        line = raw.strip()
        loop = re.match(r"for (\w+) in (.*); do(\s+#.*)?$", line)
        if loop:
            words = loop.group(2)
            loops.append((loop.group(1), None if ("$" in words or "`" in words) else words.split()))
            continue
        if line == "done" or line.startswith("done "):
            loops.pop()
            continue
        if not re.search(r"\b(?:rec_cmd|rec_file|rec_dir|rec_link|which_)\b", line):
            continue                                    # (awk programs and the like are no shell words)
        for statement in _sh_statements(line):
            while statement and statement[0] in SH_KEYWORDS:
                statement = statement[1:]
            if not statement or statement[0] not in SH_RECORDERS:
                continue
            kind, args = SH_RECORDERS[statement[0]], statement[1:]
            timeout = None
            if kind == "cmd":
                assert args[0].isdigit(), f"rec_cmd needs its timeout first: {line}"
                timeout, args = int(args[0]), args[1:]
            bound = {var: values for var, values in loops if values is not None}
            names = sorted({n for a in args for n in _SH_VAR.findall(a) if n in bound})
            for combo in itertools.product(*(bound[n] for n in names)):
                values = dict(zip(names, combo))

                def expand(arg: str) -> str:
                    return _SH_VAR.sub(lambda m: values.get(m.group(1), constants.get(m.group(1), "{}")), arg)

                shape = (kind, tuple(expand(a) for a in args) if kind == "cmd" else (expand(args[0]),))
                found.add(shape)
                if timeout is not None and seconds is not None:
                    seconds[shape] = timeout
    return found


def sh_facts(text: str) -> set[tuple[str, tuple[str, ...]]]:
    main = text[text.index("# ---- main"):]
    return {("fact", (name,)) for name in re.findall(r"^\s*fact (\w+) ", main, re.M)}


def declared_shapes(platform: str) -> set[tuple[str, tuple[str, ...]]]:
    return {read.shape() for read in R.RECORDED[platform]}


@pytest.fixture(scope="module")
def capture_sh() -> str:
    return (CAPTURE / "capture.sh").read_text()


@pytest.mark.parametrize(("platform", "start", "end"), [
    ("linux", "# ---- Linux:", "# ---- macOS:"), ("darwin", "# ---- macOS:", "# ---- main")])
def test_capture_sh_records_exactly_the_declared_list(capture_sh, platform, start, end):
    recorded = sh_requests(capture_sh, start, end) | sh_facts(capture_sh)
    declared = declared_shapes(platform)
    assert sorted(recorded - declared) == [], "capture.sh records what no probe asks (or a different argv)"
    assert sorted(declared - recorded) == [], "declared in recorded.py, but capture.sh does not record it"


@pytest.mark.parametrize(("platform", "start", "end"), [
    ("linux", "# ---- Linux:", "# ---- macOS:"), ("darwin", "# ---- macOS:", "# ---- main")])
def test_capture_sh_gives_each_command_its_declared_time(capture_sh, platform, start, end):
    seconds: dict = {}
    sh_requests(capture_sh, start, end, seconds)
    declared = {read.shape(): read.timeout for read in R.RECORDED[platform] if read.kind == "cmd"}
    assert {shape: seconds[shape] for shape in declared} == declared


def test_capture_ps1_gives_each_script_at_least_its_declared_time():
    text = (CAPTURE / "capture.ps1").read_text(encoding="ascii")
    table = dict(re.findall(r"'(\w+)' = (\d+)", re.search(r"^\$Timeouts = @\{(.*)\}$", text, re.M).group(1)))
    default = int(re.search(r"^\$DefaultTimeout = (\d+)", text, re.M).group(1))
    drivers = int(re.search(r"^\$DriverTimeout = (\d+)", text, re.M).group(1))
    cap = int(re.search(r"\[int\]\$TimeoutSeconds = (\d+)", text).group(1))       # -TimeoutSeconds default
    for name in W.SCRIPTS:
        given = min(int(table.get(name, default)), cap)
        assert given >= R.declared("windows", "cmd", W.ps_argv(name)).timeout, name
    for argv in (DW.INVENTORY_ARGV, DW.WU_ARGV):
        assert min(drivers, cap) >= R.declared("windows", "cmd", argv).timeout


def test_static_reading_of_capture_sh_sees_loops_and_conditions():
    """The reader itself: literal loops expand, loops over found values become ``{}``, conditions are kept."""
    text = ('X="a b"\n# ---- Linux:\nfor t in ufw nft; do\n    which_ "$t"\ndone\n'
            'if have ufw; then rec_cmd 15 ufw status; rec_file /etc/ufw/ufw.conf; fi\n'
            'for s in $(ls /sys); do\n    rec_link "/sys/$s/driver"   # comment\ndone\nrec_cmd 5 x -p "$X"\n# ---- end')
    assert sh_requests(text, "# ---- Linux:", "# ---- end") == {
        ("which", ("ufw",)), ("which", ("nft",)), ("cmd", ("ufw", "status")), ("file", ("/etc/ufw/ufw.conf",)),
        ("link", ("/sys/{}/driver",)), ("cmd", ("x", "-p", "a b"))}


def ps1_requests(text: str) -> set[tuple[str, tuple[str, ...]]]:
    """What capture.ps1 records, read from its text: one command per here-string script (after the
    ``$PowerShellArgv`` prefix) and the facts gathered by ``Get-FactEntry``."""
    prefix = tuple(re.findall(r"'([^']*)'", re.search(r"^\$PowerShellArgv = @\((.*)\)$", text, re.M).group(1)))
    scripts = re.findall(r"^\$(?:Scripts|DriverScripts)\['(\w+)'\] = @'\r?\n(.*?)\r?\n'@\r?$", text, re.M | re.S)
    facts = re.findall(r"Get-FactEntry '(\w+)'", text)
    return {("cmd", (*prefix, script)) for _, script in scripts} | {("fact", (name,)) for name in facts}


def test_capture_ps1_records_exactly_the_declared_list():
    recorded = ps1_requests((CAPTURE / "capture.ps1").read_text(encoding="ascii"))
    declared = declared_shapes("windows")
    assert len(recorded) == len(W.SCRIPTS) + 2 + 2          # probe scripts, two driver scripts, two facts
    assert recorded == declared


@linux_only
@pytest.mark.parametrize("have", ['have() { command -v "$1" >/dev/null 2>&1; }',
                                  'have() { [ "$1" != readlink ] && command -v "$1" >/dev/null 2>&1; }'])
def test_capture_sh_reads_links_with_and_without_readlink(tmp_path, have):
    """A link recorded as null would replay a bound device as unbound: without readlink(1) (minimal systems) the
    target comes from ``ls -ld``."""
    link, plain = tmp_path / "driver", tmp_path / "plain"
    link.symlink_to("../../../bus/pci/drivers/virtio-pci")
    plain.write_text("x")
    env = {**os.environ, "TECHCARE_CAPTURE_SOURCE_ONLY": "1"}
    script = f'. "{CAPTURE / "capture.sh"}"; {have}; link_target "$1"; echo "rc=$?"; link_target "$2"; echo "rc=$?"'
    proc = subprocess.run(["sh", "-c", script, "capture", str(link), str(plain)], capture_output=True, text=True,
                          env=env, timeout=30, check=False)
    assert proc.stdout.splitlines() == ["../../../bus/pci/drivers/virtio-pci", "rc=0", "rc=1"]


_REGISTRY = re.compile(r"'((?:HKLM:|HKCU:)?\\[^']*)'")


def test_every_registry_read_of_the_windows_scripts_is_declared():
    """Registry reads count as much as commands: each key a probe script (or capture.ps1's host fact) reads is
    named in the declared entry of that script, so the list says what a Windows snapshot holds."""
    for name, script in W.SCRIPTS.items():
        read = R.declared("windows", "cmd", W.ps_argv(name))
        keys = [k.rstrip("\\") for k in _REGISTRY.findall(script)]
        assert all(key in read.when for key in keys), (name, keys, read.when)
    assert len([k for s in W.SCRIPTS.values() for k in _REGISTRY.findall(s)]) >= 4   # the reader finds them
    capture = (CAPTURE / "capture.ps1").read_text(encoding="ascii")
    host_function = capture[capture.index("function Get-HostFact"):capture.index("function Get-MetricsFact")]
    host = R.declared("windows", "fact", "host")
    assert [k for k in _REGISTRY.findall(host_function)] and all(
        k in host.when for k in _REGISTRY.findall(host_function))


def test_docs_show_the_declared_lists():
    docs = (Path(techcare.__file__).parents[1] / "docs" / "snapshot-format.md").read_text()
    for platform in R.RECORDED:
        table = re.search(rf"<!-- recorded:{platform} -->\n(.*?)<!-- /recorded:{platform} -->", docs, re.S)
        assert table, f"docs/snapshot-format.md lacks the {platform} table (python -m techcare.system.recorded)"
        assert table.group(1) == R.markdown(platform), f"{platform} table outdated: python -m techcare.system.recorded"


# ---- 3. this Linux machine: live, snapshot save, capture.sh ----------------------------------------------------


#: Loads of the moment (other work on the machine moves them): compared as present, not by severity.
VOLATILE = {"cpu", "ram"}


def _findings(diagnosis) -> dict[str, tuple[str, Any]]:
    return {f.check: (f.severity, f.evidence.get("reason_code")) for f in diagnosis if f.check not in VOLATILE}


def _rows(report) -> list[dict[str, Any]]:
    return sorted((row.to_dict() for row in report.rows), key=lambda r: (str(r["hardware_id"]), r["device"]))


@pytest.fixture(scope="module")
def this_machine(tmp_path_factory) -> dict[str, Any]:
    from techcare.tools.drivers import report

    folder = tmp_path_factory.mktemp("parity")
    saved, script = folder / "saved.json", folder / "captured.json"
    proc = subprocess.run(["sh", str(CAPTURE / "capture.sh"), str(script)], capture_output=True, text=True,
                          timeout=300, cwd=folder, check=False)
    assert proc.returncode == 0, proc.stderr
    techcare.save_snapshot(saved)
    return {
        "live": (techcare.diagnose(), report()),
        "snapshot save": (techcare.diagnose(snapshot=saved), report(snapshot=saved)),
        "capture.sh": (techcare.diagnose(snapshot=script), report(snapshot=script)),
        "saved": load_snapshot(saved), "captured": load_snapshot(script),
    }


@linux_only
@pytest.mark.live
@pytest.mark.parametrize("capture", ["snapshot save", "capture.sh"])
def test_replay_gives_the_live_findings(this_machine, capture):
    live, _ = this_machine["live"]
    replayed, _ = this_machine[capture]
    assert not {n: r.reason for n, r in replayed.probes.items() if r.reason_code == "not_recorded"}
    assert _findings(replayed) == _findings(live)
    for check in VOLATILE:
        assert (replayed.by_check(check) is None) == (live.by_check(check) is None), check


@linux_only
@pytest.mark.live
@pytest.mark.parametrize("capture", ["snapshot save", "capture.sh"])
def test_replay_gives_the_live_driver_rows(this_machine, capture):
    _, live = this_machine["live"]
    _, replayed = this_machine[capture]
    assert _rows(replayed) == _rows(live)
    live_sources = {s.name: s.status for s in live.sources}
    assert {s.name: s.status for s in replayed.sources} == live_sources
    # and why a source is unavailable, in the same words (a sysfs tree missing on the machine is said so, not
    # "not in the snapshot")
    assert {s.name: str(s.detail) for s in replayed.sources} == {s.name: str(s.detail) for s in live.sources}
    if os.path.isdir(DL.PCI_ROOT):     # the case: a capture.sh replay said "sysfs-pci: unavailable"
        assert live_sources["sysfs-pci"] == "ok"


@linux_only
@pytest.mark.live
@pytest.mark.parametrize("which", ["saved", "captured"])
def test_snapshots_of_this_machine_hold_only_declared_requests(this_machine, which):
    snap = this_machine[which]
    assert R.undeclared("linux", [(e.kind, e.key) for e in snap.entries]) == []
