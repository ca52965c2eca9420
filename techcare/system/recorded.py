"""What a capture records: ONE declared list per OS of every request the probes and the drivers module make.

A replay answers only what was recorded, so a capture is complete exactly when it records every request the
probes (``_linux`` / ``_windows`` / ``_macos``) and the drivers module (``tools/drivers/_linux`` ...) can make on
that OS: commands (exact argv), text files, directory listings, symlinks, ``which`` look-ups and facts. This
module declares them, once, as :class:`Read` entries in :data:`RECORDED`:

- ``techcare snapshot save`` records them by running the probes and the driver inventory through a recording
  runner (so it records what the code asks, and the tests check that is declared here);
- ``capture/capture.sh`` (Linux and macOS branches) and ``capture/capture.ps1`` record them without Python; the
  tests extract what the scripts record, statically, and compare it with this list in both directions;
- ``tests/system/test_capture_parity.py`` runs every probe and the driver inventory against replayed and
  scripted machines and fails on any request that no entry here matches, and on any entry nothing asks for.

Requests that depend on a value found on the machine (one ``smartctl`` per disk, one sysfs folder per PCI
device) are declared as a pattern: ``{name}`` stands for one such value (one path segment, one argument, never
``/``, never ``.`` or ``..``), and ``each`` says where the values come from. A ``{name}`` without ``each`` is
refused; other braces are text (a PowerShell script's ``{ $_.Name }``).

How to add an entry (a probe or the drivers module reads something new):
1. put the argv / path in the probe module as a constant (as today, e.g. ``_linux.ZYPPER_LIST_PATCHES``);
2. add a :class:`Read` to the OS's tuple below (``by`` = the probe name or ``drivers``; ``when`` = the condition
   in a few words, as the capture scripts test it; ``each`` for a pattern);
3. record it in the capture script of that OS (``capture.sh`` ``capture_linux``/``capture_darwin`` with
   ``rec_cmd SECONDS ARGV...`` / ``rec_file`` / ``rec_dir`` / ``rec_link`` / ``which_``; ``capture.ps1``
   ``$Scripts`` / ``$DriverScripts``), under the same condition;
4. regenerate the tables in ``docs/snapshot-format.md``: ``python -m techcare.system.recorded`` prints them.
The parity tests name whatever is missing in any of these places.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..tools.drivers import _linux as _drivers_linux
from ..tools.drivers import _macos as _drivers_macos
from ..tools.drivers import _windows as _drivers_windows
from . import _linux as L
from . import _macos as M
from . import _windows as W

__all__ = ["KINDS", "RECORDED", "Read", "declared", "markdown", "undeclared", "unused"]

#: The kinds of request a runner answers (``CommandRunner.run/read_file/list_dir/read_link/which/fact``).
KINDS = ("fact", "which", "cmd", "file", "dir", "link")

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Read:
    """One request a capture records."""

    kind: str                               # one of KINDS
    target: str | tuple[str, ...]           # argv (cmd), path (file/dir/link), program (which) or fact name
    by: str                                 # who asks: probe names and/or "drivers"
    when: str = "always"                    # the condition under which it is asked (as the scripts test it)
    each: tuple[tuple[str, str], ...] = ()  # pattern placeholders: (name, where its values come from)
    timeout: float | None = None            # seconds a capture gives a command (the probes' own timeout)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {KINDS}")
        if (self.kind == "cmd") != isinstance(self.target, tuple):
            raise ValueError(f"{self.kind} target must be {'an argv tuple' if self.kind == 'cmd' else 'a string'}")
        named = {name for part in self.parts for name in _PLACEHOLDER.findall(part)}
        if named != {name for name, _ in self.each}:
            raise ValueError(f"{self.target!r}: placeholders {sorted(named)} do not match each={self.each!r}")

    @property
    def parts(self) -> tuple[str, ...]:
        return self.target if isinstance(self.target, tuple) else (self.target,)

    @cached_property
    def _regexes(self) -> tuple[re.Pattern[str], ...]:
        out = []
        for part in self.parts:
            pieces, last = [], 0
            for m in _PLACEHOLDER.finditer(part) if self.each else ():
                pieces.append(re.escape(part[last:m.start()]))
                pieces.append(r"(?!\.\.?(?:/|$))[^/]+")      # one segment, never "." or ".."
                last = m.end()
            pieces.append(re.escape(part[last:]))
            out.append(re.compile("".join(pieces), re.S))
        return tuple(out)

    @property
    def is_pattern(self) -> bool:
        return bool(self.each)

    def matches(self, kind: str, key: Any) -> bool:
        """Whether the runner request ``(kind, key)`` is this entry (or an instance of its pattern)."""
        if kind != self.kind:
            return False
        parts = tuple(key) if isinstance(key, (list, tuple)) else (key,)
        if len(parts) != len(self.parts) or not all(isinstance(p, str) for p in parts):
            return False
        return all(rx.fullmatch(p) for rx, p in zip(self._regexes, parts))

    def shape(self) -> tuple[str, tuple[str, ...]]:
        """``(kind, parts)`` with every placeholder written ``{}`` (how the tests compare with the scripts)."""
        if not self.each:
            return self.kind, self.parts
        return self.kind, tuple(_PLACEHOLDER.sub("{}", part) for part in self.parts)


def _facts(host_from: str, metrics_from: str) -> tuple[Read, Read]:
    """The two facts a capture gathers itself (shapes of ``_facts.py``), and from where the scripts take them."""
    return (Read("fact", "host", "host, pending_reboot", f"always; the scripts read {host_from}"),
            Read("fact", "metrics", "metrics", f"always (its timestamp is the capture time); the scripts read "
                                               f"{metrics_from}"))

# ---- Linux ----------------------------------------------------------------------------------------------------

_PCI = _drivers_linux.PCI_ROOT
_USB = _drivers_linux.USB_ROOT
_SLOT = (("slot", f"entries of {_PCI}"),)
_USBDEV = (("device", f"entries of {_USB} without ':' (devices)"),)
_IFACE = (("interface", f"entries of {_USB} with ':' (interfaces)"),)
_MODULE = (("module", "kernel module of a bound device: the basename of its driver/module link, else its driver "
                      "name with '-' as '_'"),)
_PKG = "pending_updates"

LINUX: tuple[Read, ...] = (
    *_facts("uname, id, /etc/os-release", "/proc/stat (twice, 0.2 s apart), /proc/meminfo, /proc/uptime, "
                                          "/proc/loadavg, getconf _NPROCESSORS_ONLN, df -P -k -T"),
    # which: the probes decide by these what is installed
    *(Read("which", tool, "firewall", "always") for tool in L.FIREWALL_TOOLS),
    Read("which", "clamscan", "antivirus"),
    Read("which", "smartctl", "smart"),
    *(Read("which", program, _PKG) for _, program in L.PACKAGE_MANAGERS),
    Read("which", "checkupdates", _PKG, "pacman installed"),
    Read("which", "needs-restarting", "pending_reboot"),
    Read("which", "rc-status", "services, update_service, events", "always (OpenRC where systemd is not running)"),
    *(Read("which", f"{directory}/{tool}", "firewall, smart", "always (admin tools outside a user's PATH)")
      for tool in (*L.FIREWALL_TOOLS, "smartctl") for directory in L.SBIN_DIRS),
    # firewall
    Read("cmd", L.UFW_STATUS, "firewall", "ufw installed", timeout=15),
    Read("file", L.UFW_CONF, "firewall", "ufw installed"),
    Read("cmd", L.FIREWALLD_STATE, "firewall", "firewall-cmd installed", timeout=15),
    Read("cmd", L.NFT_RULESET, "firewall", "nft installed", timeout=15),
    Read("cmd", L.IPTABLES_RULES, "firewall", "iptables installed", timeout=15),
    Read("file", L.IPTABLES_NAMES, "firewall"),
    # antivirus, update service, services
    Read("cmd", L.systemctl_show(L.CLAMAV_UNITS), "antivirus", timeout=15),
    Read("cmd", L.CLAMSCAN_VERSION, "antivirus", "clamscan installed", timeout=30),
    Read("cmd", L.systemctl_show(L.UPDATE_UNITS), "update_service", timeout=15),
    Read("cmd", L.FAILED_UNITS_JSON, "services", timeout=15),
    Read("cmd", L.FAILED_UNITS_PLAIN, "services", "always (the fallback for systemd < 246)", timeout=15),
    Read("file", L.OPENRC_SOFTLEVEL, "services", "rc-status installed (OpenRC booted the system when it exists)"),
    Read("cmd", L.RC_STATUS_ALL, "services", "rc-status installed", timeout=15),
    # pending updates: the first package manager found
    Read("cmd", L.APT_UPGRADABLE, _PKG, "apt installed", timeout=60),
    Read("cmd", L.DNF_CHECK_UPDATE, _PKG, "dnf installed, no apt", timeout=120),
    Read("cmd", L.DNF_SECURITY, _PKG, "dnf installed, no apt", timeout=120),
    Read("cmd", L.ZYPPER_LIST_UPDATES, _PKG, "zypper installed, no apt/dnf", timeout=120),
    Read("cmd", L.ZYPPER_LIST_PATCHES, _PKG, "zypper installed, no apt/dnf", timeout=120),
    Read("cmd", L.PACMAN_CHECKUPDATES, _PKG, "pacman and checkupdates installed, no apt/dnf/zypper", timeout=120),
    Read("cmd", L.PACMAN_QUERY_UPGRADES, _PKG, "pacman installed, no checkupdates, no apt/dnf/zypper", timeout=60),
    Read("cmd", L.APK_VERSION, _PKG, "apk installed, no apt/dnf/zypper/pacman", timeout=60),
    # pending reboot
    Read("file", L.REBOOT_REQUIRED, "pending_reboot"),
    Read("file", L.REBOOT_REQUIRED_PKGS, "pending_reboot", f"{L.REBOOT_REQUIRED} exists"),
    Read("cmd", L.NEEDS_RESTARTING, "pending_reboot", "needs-restarting installed", timeout=60),
    Read("cmd", L.DNF_NEEDS_RESTARTING, "pending_reboot", "dnf installed, no needs-restarting", timeout=60),
    Read("dir", L.BOOT_DIR, "pending_reboot"),
    Read("dir", L.LIB_MODULES, "pending_reboot", "always (asked when /boot has no image of the running kernel)"),
    # events, services (is systemd running?)
    Read("cmd", L.JOURNAL_ERRORS, "events", timeout=30),
    Read("dir", L.SYSTEMD_RUNTIME_DIR, "services, events"),
    # SMART
    Read("dir", L.SYS_BLOCK, "smart"),
    Read("cmd", L.smartctl_argv("/dev/{disk}"), "smart", "smartctl installed",
         each=(("disk", f"entries of {L.SYS_BLOCK} that are disks (not loop, ram, zram, dm-, md, sr, ...)"),),
         timeout=60),
    # driver inventory and firmware updates (tools/drivers/_linux.py)
    Read("cmd", _drivers_linux.LSPCI, "drivers", timeout=20),
    Read("cmd", _drivers_linux.FWUPD_DEVICES, "drivers", timeout=60),
    Read("cmd", _drivers_linux.FWUPD_UPDATES, "drivers", timeout=120),
    Read("file", "/proc/sys/kernel/osrelease", "drivers"),
    Read("dir", _PCI, "drivers"),
    *(Read("file", f"{_PCI}/{{slot}}/{attr}", "drivers", each=_SLOT)
      for attr in ("vendor", "device", "subsystem_vendor", "subsystem_device", "revision", "class")),
    Read("link", f"{_PCI}/{{slot}}/driver", "drivers", each=_SLOT),
    Read("link", f"{_PCI}/{{slot}}/driver/module", "drivers", "the device has a driver", each=_SLOT),
    Read("dir", _USB, "drivers"),
    *(Read("file", f"{_USB}/{{device}}/{attr}", "drivers", each=_USBDEV)
      for attr in ("idVendor", "idProduct", "bcdDevice", "bDeviceClass", "product", "manufacturer")),
    Read("link", f"{_USB}/{{interface}}/driver", "drivers", each=_IFACE),
    Read("file", f"{_USB}/{{interface}}/bInterfaceClass", "drivers", each=_IFACE),
    Read("link", f"{_USB}/{{interface}}/driver/module", "drivers", "the interface has a driver", each=_IFACE),
    Read("dir", "/sys/module/{module}", "drivers", "a device has a driver", each=_MODULE),
    Read("file", "/sys/module/{module}/version", "drivers", "a device has a driver", each=_MODULE),
    Read("cmd", ("modinfo", "-F", "version", "{module}"), "drivers",
         "a device has a driver whose /sys/module/{module}/version is empty or missing", each=_MODULE, timeout=10),
)

# ---- macOS ------------------------------------------------------------------------------------------------------

DARWIN: tuple[Read, ...] = (
    *_facts("uname, id, sw_vers -productVersion", "top -l 2, sysctl (hw.memsize, hw.pagesize, vm.swapusage, "
                                                  "kern.boottime, vm.loadavg, hw.logicalcpu), vm_stat, mount, df -P -k"),
    Read("cmd", M.FIREWALL_ARGV, "firewall", timeout=30),
    Read("cmd", M.UPDATE_SCHEDULE_ARGV, "update_service", timeout=30),
    Read("cmd", M.UPDATE_LIST_ARGV, "pending_updates, pending_reboot, drivers (Apple's update source)",
         timeout=300),
    Read("cmd", M.LAUNCHCTL_LIST_ARGV, "services", timeout=30),
    Read("cmd", M.LOG_SHOW_ARGV, "events", timeout=60),
    Read("cmd", M.DISKUTIL_LIST_ARGV, "smart", timeout=30),
    Read("cmd", M.diskutil_info_argv("{disk}"), "smart", each=(("disk", "WholeDisks of `diskutil list -plist`"),),
         timeout=30),
    Read("cmd", M.INSTALL_HISTORY_ARGV, "antivirus (XProtect's last update)", timeout=60),
    *(Read("file", path, "antivirus (XProtect version)") for path in M.XPROTECT_PLISTS),
    Read("dir", M.APPLICATIONS_DIR, "antivirus (third-party products)"),
    Read("cmd", _drivers_macos.EXTENSIONS_ARGV, "drivers (kernel extensions)", timeout=120),
    Read("cmd", _drivers_macos.SYSEXT_ARGV, "drivers (system extensions)", timeout=30),
)

# ---- Windows ----------------------------------------------------------------------------------------------------

#: What each probe script reads inside PowerShell (CIM classes, cmdlets, registry keys): recorded as the script's
#: output, because the capture runs the very script.
WINDOWS_SCRIPT_READS = {
    "firewall": r"Get-NetFirewallProfile -PolicyStore ActiveStore",
    "defender": r"Get-MpComputerStatus",
    "security_center": r"CIM root/SecurityCenter2 AntiVirusProduct",
    "update_service": r"Get-Service wuauserv",
    "services": r"CIM Win32_Service (automatic, not running); registry HKLM:\SYSTEM\CurrentControlSet\Services"
                r"\<name>\TriggerInfo",
    "pending_updates": r"Windows Update Agent (Microsoft.Update.Session) search IsInstalled=0 and IsHidden=0",
    "pending_reboot": r"registry HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing"
                      r"\RebootPending, ...\WindowsUpdate\Auto Update\RebootRequired, HKLM:\SYSTEM\CurrentControlSet"
                      r"\Control\Session Manager PendingFileRenameOperations",
    "events": r"Get-WinEvent System and Application, levels 1-2, newest 5",
    "smart": r"Get-PhysicalDisk, Get-StorageReliabilityCounter (needs elevation)",
}
_WIN_PROBE = {"defender": "antivirus", "security_center": "antivirus"}

WINDOWS: tuple[Read, ...] = (
    *_facts(r"CIM Win32_OperatingSystem, registry HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion EditionID, "
            r"the environment (COMPUTERNAME, USERNAME, PROCESSOR_ARCHITECTURE)",
            "CIM Win32_OperatingSystem, Win32_ComputerSystem, Win32_Processor, Win32_PageFileUsage, "
            "Win32_LogicalDisk (DriveType 3)"),
    *(Read("cmd", W.ps_argv(name), _WIN_PROBE.get(name, name), f"always; reads {WINDOWS_SCRIPT_READS[name]}",
           timeout=W.TIMEOUTS.get(name, W.DEFAULT_SCRIPT_TIMEOUT)) for name in W.SCRIPTS),
    Read("cmd", _drivers_windows.INVENTORY_ARGV, "drivers", "always; reads CIM Win32_PnPSignedDriver", timeout=90),
    Read("cmd", _drivers_windows.WU_ARGV, "drivers", "always; Windows Update Agent search Type='Driver'",
         timeout=300),
)

#: Platform (``linux`` | ``darwin`` | ``windows``, as ``CommandRunner.platform``) -> every request recorded there.
RECORDED: dict[str, tuple[Read, ...]] = {"linux": LINUX, "darwin": DARWIN, "windows": WINDOWS}


def declared(platform: str, kind: str, key: Any) -> Read | None:
    """The entry of ``platform``'s list that declares the request ``(kind, key)``, or ``None``."""
    return next((read for read in RECORDED[platform] if read.matches(kind, key)), None)


def undeclared(platform: str, requests: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The requests (``(kind, key)`` as ``ReplayRunner.calls`` keeps them) no entry declares, each once, in order."""
    out: list[tuple[str, Any]] = []
    for kind, key in requests:
        if (kind, key) not in out and declared(platform, kind, key) is None:
            out.append((kind, key))
    return out


def unused(platform: str, requests: Iterable[tuple[str, Any]]) -> list[Read]:
    """The entries of ``platform``'s list none of ``requests`` is an instance of."""
    seen = list(requests)
    return [read for read in RECORDED[platform] if not any(read.matches(kind, key) for kind, key in seen)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _shown(read: Read) -> str:
    if read.kind != "cmd":
        return f"`{read.target}`"
    if read.target[:len(W.POWERSHELL)] == W.POWERSHELL:
        script = read.target[-1]
        return f"`powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -Command` + script ({len(script)} chars)"
    return "`" + " ".join(f'"{a}"' if (" " in a or not a) else a for a in read.target) + "`"


def markdown(platform: str) -> str:
    """The table of ``platform``'s list as ``docs/snapshot-format.md`` shows it."""
    lines = ["| kind | request | asked by | when | timeout |", "|---|---|---|---|---|"]
    for read in RECORDED[platform]:
        when = read.when + "".join(f"; `{{{name}}}`: {src}" for name, src in read.each)
        timeout = f"{read.timeout:g} s" if read.timeout is not None else ""
        lines.append(f"| {read.kind} | {_cell(_shown(read))} | {_cell(read.by)} | {_cell(when)} | {timeout} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - prints the tables for docs/snapshot-format.md
    for _platform in RECORDED:
        print(f"<!-- recorded:{_platform} -->\n{markdown(_platform)}<!-- /recorded:{_platform} -->\n")
