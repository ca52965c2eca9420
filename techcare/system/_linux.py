"""Read-only probes for Linux.

Every probe takes a :class:`~techcare.system.runner.CommandRunner` and returns a
:class:`~techcare.system.records.ProbeResult`. Each one is split in two:

- pure parsers ``parse_<thing>(text, ...)`` that turn raw tool output into records (tested on real published
  outputs in ``tests/system/fixtures/linux/``), and
- the probe function, which decides which commands/files to ask the runner for and maps every failure
  (tool missing, needs root, no systemd, timeout, not in the snapshot, unparsable output) to an explained
  ``unknown`` — never to "healthy".

The argv of every command lives in a module-level constant or a small helper function below: the standalone
capture script ``capture/capture.sh`` runs exactly the same argv, because replay matches commands by exact argv.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ..i18n import Message, msg
from ._common import metrics_from_fact, version_key
from .records import (
    FAILED,
    NEEDS_ADMIN,
    NO_SYSTEMD,
    NOT_IN_SNAPSHOT,
    PARSE_ERROR,
    TIMED_OUT,
    TOOL_MISSING,
    AntivirusProduct,
    AntivirusStatus,
    DiskHealth,
    EventRecord,
    FirewallStatus,
    PackageUpdate,
    PendingReboot,
    PendingUpdates,
    ProbeResult,
    ServiceState,
    UpdateServiceStatus,
    command_problem,
    command_unknown,
    unknown,
)
from .runner import (
    NOT_FOUND,
    NOT_RECORDED,
    PERMISSION_DENIED,
    CommandResult,
    CommandRunner,
)

PLATFORM = "linux"

# ---- commands, files and directories the probes read (capture.sh mirrors these exactly) ---------------------

SYSTEMD_RUNTIME_DIR = "/run/systemd/system"       # exists iff systemd is PID 1 (sd_booted())

UFW_STATUS = ("ufw", "status")
UFW_CONF = "/etc/ufw/ufw.conf"
FIREWALLD_STATE = ("firewall-cmd", "--state")
NFT_RULESET = ("nft", "list", "ruleset")
IPTABLES_RULES = ("iptables", "-S")
IPTABLES_NAMES = "/proc/net/ip_tables_names"
FIREWALL_TOOLS = ("ufw", "firewall-cmd", "nft", "iptables")

SHOW_PROPERTIES = "Id,LoadState,ActiveState,SubState,UnitFileState"
CLAMAV_UNITS = ("clamav-daemon.service", "clamav-freshclam.service", "clamav-clamonacc.service")
CLAMSCAN_VERSION = ("clamscan", "--version")
CLAMAV_DB_DIR = "/var/lib/clamav"
#: Automatic updaters, most specific first.
UPDATE_UNITS = ("unattended-upgrades.service", "apt-daily-upgrade.timer", "apt-daily.timer",
                "dnf-automatic-install.timer", "dnf-automatic.timer", "dnf5-automatic.timer", "packagekit.service")

FAILED_UNITS_JSON = ("systemctl", "--failed", "--output=json", "--no-pager")
#: OpenRC (Alpine, Gentoo, Artix): every runlevel with each service's state; the softlevel file exists only when
#: OpenRC booted this system (in a chroot or container its states mean nothing).
RC_STATUS_ALL = ("rc-status", "--all", "--nocolor")
OPENRC_SOFTLEVEL = "/run/openrc/softlevel"
FAILED_UNITS_PLAIN = ("systemctl", "--failed", "--no-legend", "--plain", "--no-pager")

APT_UPGRADABLE = ("apt", "list", "--upgradable")
DNF_CHECK_UPDATE = ("dnf", "--cacheonly", "check-update")
#: Every advisory (security, bugfix, enhancement) for the pending updates: the security ones flag packages, and
#: none at all while updates are pending means the repositories publish no advisories (CentOS Stream, most
#: third-party repositories), so "no security advisory" would not be a measurement.
DNF_SECURITY = ("dnf", "--cacheonly", "updateinfo", "list")
ZYPPER_LIST_UPDATES = ("zypper", "--non-interactive", "--no-refresh", "--xmlout", "list-updates")
#: Needed patches (advisories) with category and severity: the only place zypper says "security".
ZYPPER_LIST_PATCHES = ("zypper", "--non-interactive", "--no-refresh", "--xmlout", "list-patches")
PACMAN_CHECKUPDATES = ("checkupdates",)
#: Without pacman-contrib: the local sync databases as of the last ``pacman -Sy`` (read only, may be stale).
PACMAN_QUERY_UPGRADES = ("pacman", "-Qu")
#: Alpine: installed packages older than the cached index; ``--no-network`` keeps apk from fetching anything.
APK_VERSION = ("apk", "--no-network", "version", "-l", "<")
#: Package managers in the order they are looked for: (manager, program that must exist).
PACKAGE_MANAGERS = (("apt", "apt"), ("dnf", "dnf"), ("zypper", "zypper"), ("pacman", "pacman"), ("apk", "apk"))

REBOOT_REQUIRED = "/var/run/reboot-required"
REBOOT_REQUIRED_PKGS = "/var/run/reboot-required.pkgs"
NEEDS_RESTARTING = ("needs-restarting", "-r")
DNF_NEEDS_RESTARTING = ("dnf", "needs-restarting", "-r")
BOOT_DIR = "/boot"
#: One directory per installed kernel. Arch and Alpine replace the kernel in place (/boot/vmlinuz-linux,
#: vmlinuz-lts carry no version): after an upgrade only the running kernel's modules are gone.
LIB_MODULES = "/lib/modules"

JOURNAL_ERRORS = ("journalctl", "-p", "err", "-b", "-n", "5", "-o", "json", "--no-pager")

SYS_BLOCK = "/sys/block"

#: Where admin tools live. A normal user's PATH on Debian/Ubuntu lacks these, so a tool missing from PATH is looked
#: for here before it is called "not installed" (a user cannot run it usefully anyway: that is "needs elevation").
SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")

#: Probes that may take longer than the default per-probe timeout (dnf/zypper metadata, one smartctl per disk).
PROBE_TIMEOUTS = {"pending_updates": 150.0, "smart": 120.0}
#: /sys/block entries that are never physical disks.
VIRTUAL_BLOCK_PREFIXES = ("loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd", "rbd", "drbd", "bcache", "zd")


def systemctl_show(units: Iterable[str]) -> tuple[str, ...]:
    """``systemctl show`` of the properties every unit probe needs (one block per unit, in order)."""
    return ("systemctl", "show", "-p", SHOW_PROPERTIES, *units)


def smartctl_argv(device: str) -> tuple[str, ...]:
    return ("smartctl", "--json", "-a", device)


def disk_devices(names: Iterable[str]) -> list[str]:
    """``/dev`` paths of the physical disks among ``/sys/block`` entries (loop, zram, dm, md, ... skipped)."""
    out = []
    for name in names:
        if name.startswith(VIRTUAL_BLOCK_PREFIXES):
            continue
        if name.startswith("mmcblk") and ("boot" in name or "rpmb" in name):
            continue
        out.append(f"/dev/{name}")
    return out


# ---- small helpers ------------------------------------------------------------------------------------------

def _file_unknown(probe: str, path: str, error: str | None, *, source: str | None = None) -> ProbeResult:
    if error == NOT_RECORDED:
        return unknown(probe, NOT_IN_SNAPSHOT, msg("{p} ist nicht im Snapshot", "{p} is not in the snapshot", p=path),
                       source=source)
    if error == PERMISSION_DENIED:
        return unknown(probe, NEEDS_ADMIN, msg("{p} ist nur als root lesbar", "{p} can only be read as root", p=path),
                       source=source)
    return unknown(probe, FAILED, msg("{p} kann nicht gelesen werden ({e})", "{p} cannot be read ({e})", p=path,
                                      e=error), source=source)


def _systemctl_unknown(probe: str, result: CommandResult) -> ProbeResult:
    if result.error == NOT_FOUND:
        return unknown(probe, NO_SYSTEMD, msg("systemctl ist nicht installiert: dieses System nutzt kein systemd",
                                              "systemctl is not installed: this system does not use systemd"),
                       source="systemctl")
    return command_unknown(probe, result, source="systemctl")


def locate(runner: CommandRunner, tool: str) -> tuple[str | None, bool]:
    """(path, on_path): where ``tool`` is, and whether it is on the PATH the probes run with."""
    found = runner.which(tool)
    if found:
        return found, True
    for directory in SBIN_DIRS:
        candidate = runner.which(f"{directory}/{tool}")
        if candidate:
            return candidate, False
    return None, False


def _needs_root_tool(probe: str, path: str) -> ProbeResult:
    return unknown(probe, NEEDS_ADMIN, msg("{p} ist installiert, aber nur root kann es benutzen (TechCare als root "
                                           "starten)", "{p} is installed but only root can use it (run TechCare as "
                                           "root)", p=path), source=path.rsplit("/", 1)[-1])


def metrics(runner: CommandRunner) -> ProbeResult:
    return metrics_from_fact(runner)


# ---- systemd units ------------------------------------------------------------------------------------------

def parse_systemctl_show(text: str) -> dict[str, dict[str, str]]:
    """``systemctl show -p Id,... u1 u2`` -> ``{Id: {property: value}}`` (blocks are separated by blank lines)."""
    units: dict[str, dict[str, str]] = {}
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        props: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                props[key.strip()] = value.strip()
        if props.get("Id"):
            units[props["Id"]] = props
    return units


def _present(props: dict[str, str]) -> bool:
    return props.get("LoadState") not in (None, "", "not-found")


# ---- firewall -----------------------------------------------------------------------------------------------

def parse_ufw_status(text: str) -> bool | None:
    """``ufw status`` -> True (active), False (inactive), None (not understood)."""
    match = re.search(r"^Status:\s*(\w+)", text, re.MULTILINE)
    if not match:
        return None
    return {"active": True, "inactive": False}.get(match.group(1).lower())


def parse_ufw_conf(text: str) -> bool | None:
    """``/etc/ufw/ufw.conf`` ``ENABLED=yes|no`` (what ufw starts with at boot; readable without root)."""
    match = re.search(r"^\s*ENABLED\s*=\s*\"?(\w+)\"?", text, re.MULTILINE)
    if not match:
        return None
    return {"yes": True, "no": False}.get(match.group(1).lower())


def parse_nft_ruleset(text: str) -> bool:
    """True when an input-hook chain filters (drop policy, or drop/reject/jump rules)."""
    for match in re.finditer(r"chain\s+\S+\s*\{(?P<body>[^{}]*)\}", text):
        body = match.group("body")
        if not re.search(r"hook\s+input\b", body):
            continue
        if re.search(r"policy\s+drop", body) or re.search(r"\b(drop|reject|jump|goto)\b", body.split(";", 1)[-1]):
            return True
    return False


def parse_iptables_rules(text: str) -> bool:
    """``iptables -S`` -> True when INPUT drops by policy or reaches a DROP/REJECT rule through its jumps."""
    policies: dict[str, str] = {}
    rules: dict[str, list[str]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "-P":
            policies[parts[1]] = parts[2]
        elif len(parts) >= 2 and parts[0] == "-A":
            target = parts[parts.index("-j") + 1] if "-j" in parts[:-1] else ""
            rules.setdefault(parts[1], []).append(target)
    if policies.get("INPUT", "ACCEPT") in ("DROP", "REJECT"):
        return True
    seen: set[str] = set()
    todo = ["INPUT"]
    while todo:
        chain = todo.pop()
        if chain in seen:
            continue
        seen.add(chain)
        for target in rules.get(chain, []):
            if target in ("DROP", "REJECT"):
                return True
            if target in rules:
                todo.append(target)
    return False


def firewall(runner: CommandRunner) -> ProbeResult:
    probe = "firewall"
    states: list[tuple[str, bool | None, Message | str]] = []   # (product, enabled, how it was read)
    undetermined: list[ProbeResult] = []
    tools = {tool: locate(runner, tool) for tool in FIREWALL_TOOLS}

    ufw_path, ufw_on_path = tools["ufw"]
    if ufw_path:
        result = runner.run(UFW_STATUS, timeout=15) if ufw_on_path else None
        state = parse_ufw_status(result.stdout) if result is not None and result.ok else None
        if state is not None:
            states.append(("ufw", state, "ufw status"))
        else:
            conf = runner.read_file(UFW_CONF)
            conf_state = parse_ufw_conf(conf.content) if conf.ok and conf.content is not None else None
            if conf_state is not None:
                how = msg("{c} ENABLED={v} (eingestellter Zustand; `ufw status` braucht root)",
                          "{c} ENABLED={v} (configured state; `ufw status` needs root)", c=UFW_CONF,
                          v="yes" if conf_state else "no")
                states.append(("ufw", conf_state, how))
            elif result is not None:
                undetermined.append(command_unknown(probe, result, source="ufw"))
            else:
                undetermined.append(_needs_root_tool(probe, ufw_path))
    for tool, argv in (("firewall-cmd", FIREWALLD_STATE), ("nft", NFT_RULESET), ("iptables", IPTABLES_RULES)):
        path, on_path = tools[tool]
        if not path:
            continue
        if not on_path:
            undetermined.append(_needs_root_tool(probe, path))
            continue
        result = runner.run(argv, timeout=15)
        if tool == "firewall-cmd":
            text = (result.stdout + result.stderr).strip().lower()
            if result.returncode == 0 and text.startswith("running"):
                states.append(("firewalld", True, "firewall-cmd --state: running"))
            elif result.returncode == 252 or "not running" in text:
                states.append(("firewalld", False, "firewall-cmd --state: not running"))
            else:
                undetermined.append(command_unknown(probe, result, source="firewall-cmd"))
        elif not result.ok:
            undetermined.append(command_unknown(probe, result, source=tool))
        elif tool == "nft":
            states.append(("nftables", parse_nft_ruleset(result.stdout), "nft list ruleset"))
        else:
            states.append(("iptables", parse_iptables_rules(result.stdout), "iptables -S"))

    active = [s for s in states if s[1] is True]
    if active:
        product, _, detail = active[0]
        return ProbeResult(probe, "ok", FirewallStatus(True, product, detail=detail), source=product)
    if undetermined:
        # Something is installed whose state we could not read: never claim "off" or "on".
        first = undetermined[0]
        first.data = FirewallStatus(None, first.source or "unknown", detail=Message.join("; ", (s[2] for s in states)))
        return first
    if states:
        product = states[0][0]
        detail = Message.join("; ", (msg("{n}: aktiv ({h})", "{n}: active ({h})", n=name, h=how) if on else
                                     msg("{n}: inaktiv / filtert keine eingehenden Verbindungen ({h})",
                                         "{n}: inactive / no input filtering ({h})", n=name, h=how)
                                     for name, on, how in states))
        return ProbeResult(probe, "ok", FirewallStatus(False, product, detail=detail), source=product)
    # No firewall tool at all. Only sure when the kernel shows no legacy iptables tables either.
    names = runner.read_file(IPTABLES_NAMES)
    if names.error == NOT_RECORDED:
        return _file_unknown(probe, IPTABLES_NAMES, names.error)
    if names.ok and (names.content or "").strip():
        return unknown(probe, FAILED, msg("im Kernel sind iptables-Tabellen geladen ({t}), aber kein Firewall-Werkzeug "
                                          "ist installiert, um sie zu lesen", "kernel has iptables tables loaded ({t}) "
                                          "but no firewall tool is installed to read them",
                                          t=", ".join((names.content or "").split())), source="kernel")
    return ProbeResult(probe, "ok", FirewallStatus(False, "none", detail=msg(
        "keine Firewall installiert (weder ufw, firewalld, nftables noch iptables)",
        "no firewall installed (none of ufw, firewalld, nftables, iptables)")), source="which")


# ---- antivirus ----------------------------------------------------------------------------------------------

_CLAM_VERSION = re.compile(r"ClamAV\s+(?P<engine>[\d.]+[^/\s]*)(?:/(?P<db>\d+)/(?P<date>.+))?")


def parse_clamav_version(text: str, now: float) -> tuple[str, int | None, int | None]:
    """``clamscan --version`` (``ClamAV 1.0.3/27093/Tue Nov 14 07:26:00 2023``) -> (engine, db version, age days).

    The date is the build time of the newest loaded signature database; no date means no database was found.
    """
    match = _CLAM_VERSION.search(text)
    if not match:
        raise ValueError(f"not a ClamAV version line: {text.strip()[:80]!r}")
    db = int(match.group("db")) if match.group("db") else None
    age = None
    if match.group("date"):
        built = datetime.strptime(" ".join(match.group("date").split()), "%a %b %d %H:%M:%S %Y")
        age = max(0, int((now - built.replace(tzinfo=UTC).timestamp()) // 86400))
    return match.group("engine"), db, age


def antivirus(runner: CommandRunner) -> ProbeResult:
    probe = "antivirus"
    clamscan = runner.which("clamscan")
    units: dict[str, dict[str, str]] = {}
    shown = runner.run(systemctl_show(CLAMAV_UNITS), timeout=15)
    if shown.ok:
        units = parse_systemctl_show(shown.stdout)
    daemon = units.get("clamav-daemon.service", {})
    fresh = units.get("clamav-freshclam.service", {})
    onacc = units.get("clamav-clamonacc.service", {})
    installed = bool(clamscan) or any(_present(u) for u in (daemon, fresh))
    if not installed:
        if shown.ok or shown.error == NOT_FOUND or "booted with systemd" in shown.stderr:
            return ProbeResult(probe, "ok", AntivirusStatus([]), source="which")
        return command_unknown(probe, shown, source="systemctl")

    product = AntivirusProduct("ClamAV")
    notes: list[Message | str] = []
    if _present(daemon):
        product.enabled = daemon.get("ActiveState") == "active"
        notes.append(f"clamav-daemon {daemon.get('ActiveState')}")
    elif not shown.ok:
        notes.append(msg("Zustand des Dienstes unbekannt (kein systemd)", "daemon state unknown (no systemd)"))
    else:
        # Only the on-demand scanner is installed: nothing protects the machine in the background.
        product.enabled = False
        notes.append(msg("kein clamav-daemon: nur Scanner auf Abruf", "no clamav-daemon: on-demand scanner only"))
    if _present(onacc):
        product.realtime = onacc.get("ActiveState") == "active"
    elif shown.ok:
        product.realtime = False
    if _present(fresh):
        notes.append(f"freshclam {fresh.get('ActiveState')}")
    if clamscan:
        version = runner.run(CLAMSCAN_VERSION, timeout=30)
        if version.ok:
            try:
                engine, db, age = parse_clamav_version(version.stdout, runner.now())
            except ValueError:
                notes.append(msg("clamscan --version nicht verstanden", "clamscan --version not understood"))
            else:
                product.signature_age_days = age
                product.up_to_date = age is not None and age <= 7
                notes.append(msg("Engine {e}, Signaturen {d}", "engine {e}, signatures {d}", e=engine, d=db) if db else
                             msg("Engine {e}, keine Signaturdatenbank", "engine {e}, no signature database", e=engine))
        else:
            notes.append(msg("clamscan --version fehlgeschlagen ({e})", "clamscan --version failed ({e})",
                             e=version.error or version.returncode))
    product.detail = Message.join("; ", notes)
    return ProbeResult(probe, "ok", AntivirusStatus([product]), source="systemctl")


# ---- update service -----------------------------------------------------------------------------------------

def parse_update_service(units: dict[str, dict[str, str]]) -> UpdateServiceStatus | None:
    """Pick the automatic updater among ``UPDATE_UNITS``; a problem only when one is masked or failed."""
    present = [(name, units[name]) for name in UPDATE_UNITS if name in units and _present(units[name])]
    masked = [(n, p) for n, p in units.items() if n in UPDATE_UNITS and
              (p.get("LoadState") == "masked" or p.get("UnitFileState", "").startswith("masked"))]
    if not present and not masked:
        return None
    broken = masked + [(n, p) for n, p in present if p.get("ActiveState") == "failed" and (n, p) not in masked]
    name, props = broken[0] if broken else present[0]
    state = props.get("ActiveState") or None
    start = props.get("UnitFileState") or None
    if broken:
        why = msg("{n} ist maskiert", "{n} is masked", n=name) if (name, props) in masked else \
            msg("{n} ist ausgefallen", "{n} has failed", n=name)
        return UpdateServiceStatus(name, state, start, True, msg("{w}: automatische Updates können nicht laufen",
                                                                 "{w}: automatic updates cannot run", w=why))
    others = ", ".join(f"{n}={p.get('ActiveState')}/{p.get('UnitFileState')}" for n, p in present)
    return UpdateServiceStatus(name, state, start, False, others)


def update_service(runner: CommandRunner) -> ProbeResult:
    probe = "update_service"
    result = runner.run(systemctl_show(UPDATE_UNITS), timeout=15)
    if not result.ok:
        if _uses_openrc(runner, result):
            return _no_systemd_openrc(probe, msg(
                "automatische Updates erkennt TechCare nur als systemd-Units (Alpine: apk-autoupdate oder ein "
                "cron-Job mit `apk upgrade` von Hand prüfen)", "TechCare recognises automatic updaters only as "
                "systemd units (on Alpine check apk-autoupdate or a cron job running `apk upgrade` by hand)"))
        return _systemctl_unknown(probe, result)
    units = parse_systemctl_show(result.stdout)
    if not units:
        return unknown(probe, PARSE_ERROR, msg("systemctl show lieferte keine Unit-Eigenschaften",
                                               "systemctl show gave no unit properties"), source="systemctl")
    status = parse_update_service(units)
    if status is None:
        status = UpdateServiceStatus("none", None, None, False, msg(
            "keine automatischen Updates eingerichtet (Updates werden von Hand installiert)",
            "no automatic updater installed (updates are installed by hand)"))
    return ProbeResult(probe, "ok", status, source="systemctl")


# ---- failed services ----------------------------------------------------------------------------------------

def parse_failed_units_json(text: str) -> list[ServiceState]:
    data = json.loads(text.strip() or "[]")
    if not isinstance(data, list):
        raise TypeError("systemctl --output=json did not give a list")
    return [ServiceState(name=str(u.get("unit", "")), state=str(u.get("active") or "failed").lower(),
                         description=str(u.get("description") or "")) for u in data if isinstance(u, dict)]


def parse_failed_units_plain(text: str) -> list[ServiceState]:
    """``systemctl --failed --no-legend --plain``: ``unit load active sub description...``."""
    out = []
    for line in text.splitlines():
        parts = line.replace("\u25cf", " ").replace("*", " ", 1).split(None, 4)
        if len(parts) < 4 or parts[0].startswith("0 loaded") or "." not in parts[0]:
            continue
        out.append(ServiceState(name=parts[0], state=parts[2].lower(), description=parts[4] if len(parts) > 4 else ""))
    return out


#: rc-status states that mean a service that should run does not (``unsupervised``: its supervisor died).
_OPENRC_DOWN = ("crashed", "failed", "unsupervised")
_RC_SERVICE_LINE = re.compile(r"^\s+(?P<name>[^\s*][^\s]*)\s+\[\s*(?P<state>[a-z]+)[^\]]*\]\s*$")


def parse_rc_status(text: str) -> list[ServiceState]:
    """``rc-status --all``: ``Runlevel: x`` / ``Dynamic Runlevel: x`` headings, then `` name  [  state  ]``
    (OpenRC ``rc-status.c``; ``started`` may carry an uptime). Returns the services that are down although they
    were started or asked for: crashed, failed, unsupervised. A service merely ``stopped`` in a runlevel is not
    reported (an administrator's stop and a boot that never reached it look the same), as systemd's inactive
    units are not."""
    if not re.search(r"^(Dynamic |Stacked )?Runlevel:", text, re.MULTILINE):
        raise ValueError(f"not rc-status output: {text.strip()[:80]!r}")
    out: dict[str, ServiceState] = {}
    level = ""
    for line in text.splitlines():
        heading = re.match(r"^(?:Dynamic |Stacked )?Runlevel:\s*(\S*)", line)
        if heading:
            level = heading.group(1)
            continue
        match = _RC_SERVICE_LINE.match(line)
        if match and match.group("state") in _OPENRC_DOWN and match.group("name") not in out:
            out[match.group("name")] = ServiceState(match.group("name"), match.group("state"),
                                                    description=f"OpenRC runlevel {level}" if level else "OpenRC")
    return list(out.values())


def _uses_openrc(runner: CommandRunner, result: CommandResult) -> bool:
    """systemctl is missing or systemd is not PID 1, and OpenRC's rc-status is there."""
    no_systemd = result.error == NOT_FOUND or "booted with systemd" in result.stderr
    return no_systemd and bool(runner.which("rc-status"))


def _openrc_services(runner: CommandRunner, probe: str) -> ProbeResult:
    level = runner.read_file(OPENRC_SOFTLEVEL)
    if not level.ok:
        if level.error == NOT_FOUND:
            return unknown(probe, FAILED, msg(
                "OpenRC ist installiert, hat dieses System aber nicht gestartet ({p} fehlt, z. B. in einem Container): "
                "die Dienstzustände sagen nichts", "OpenRC is installed but did not boot this system ({p} is missing, "
                "e.g. in a container): its service states mean nothing", p=OPENRC_SOFTLEVEL), source="rc-status")
        return _file_unknown(probe, OPENRC_SOFTLEVEL, level.error, source="rc-status")
    result = runner.run(RC_STATUS_ALL, timeout=15)
    if not result.ok:
        return command_unknown(probe, result, source="rc-status")
    try:
        return ProbeResult(probe, "ok", parse_rc_status(result.stdout), source="rc-status")
    except ValueError as exc:
        return unknown(probe, PARSE_ERROR, msg("Ausgabe von rc-status nicht verstanden: {e}",
                                               "rc-status output not understood: {e}", e=exc), source="rc-status")


def _no_systemd_openrc(probe: str, what: Message) -> ProbeResult:
    return unknown(probe, NO_SYSTEMD, msg("dieses System nutzt OpenRC statt systemd; {w}",
                                          "this system uses OpenRC, not systemd; {w}", w=what), source="rc-status")


def services(runner: CommandRunner) -> ProbeResult:
    probe = "services"
    result = runner.run(FAILED_UNITS_JSON, timeout=15)
    if result.ok:
        try:
            return ProbeResult(probe, "ok", parse_failed_units_json(result.stdout), source="systemctl")
        except (ValueError, TypeError):
            pass  # systemd < 246 may ignore or reject --output=json: fall back to plain text
    elif result.error is not None or "booted with systemd" in result.stderr or "connect to bus" in result.stderr:
        if _uses_openrc(runner, result):
            return _openrc_services(runner, probe)
        return _systemctl_unknown(probe, result)
    plain = runner.run(FAILED_UNITS_PLAIN, timeout=15)
    if not plain.ok:
        return _systemctl_unknown(probe, plain)
    return ProbeResult(probe, "ok", parse_failed_units_plain(plain.stdout), source="systemctl")


# ---- pending updates ----------------------------------------------------------------------------------------

_APT_LINE = re.compile(r"^(?P<name>[^/\s]+)/(?P<suites>\S+)\s+(?P<new>\S+)\s+(?P<arch>\S+)"
                       r"(?:\s+\[upgradable from:\s*(?P<old>[^\]]+)\])?")


def parse_apt_upgradable(text: str) -> list[PackageUpdate]:
    """``apt list --upgradable``; security updates come from a ``*-security`` suite."""
    out = []
    for line in text.splitlines():
        match = _APT_LINE.match(line.strip())
        if not match:
            continue
        suites = match.group("suites").split(",")
        security = any(s.endswith(("-security", "/updates")) or s == "security" for s in suites)
        out.append(PackageUpdate(match.group("name"), (match.group("old") or "").strip() or None, match.group("new"),
                                 source=match.group("suites"), security=security))
    return out


_RPM_ARCHES = r"(?:x86_64|noarch|i[3-6]86|aarch64|armv7hl|armhfp|ppc64le|ppc64|s390x|src|riscv64|athlon)"
_NAME_ARCH = re.compile(rf"^(?P<name>\S+)\.(?P<arch>{_RPM_ARCHES})$")


def parse_dnf_check_update(text: str) -> list[PackageUpdate]:
    """``dnf check-update`` (exit 100): ``name.arch  version  repo``, long names wrap onto the next line;
    everything after ``Obsoleting Packages`` is not an update of its own."""
    out = []
    pending: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("Obsoleting Packages"):
            break
        tokens = line.split()
        if pending:
            tokens = pending + tokens
            pending = []
        if not tokens:
            continue
        match = _NAME_ARCH.match(tokens[0])
        if not match:
            continue
        if len(tokens) < 3:
            pending = tokens          # wrapped: the version/repo follow on the next line
            continue
        if len(tokens) != 3 or not re.search(r"\d", tokens[1]):
            continue
        out.append(PackageUpdate(match.group("name"), None, tokens[1], source=tokens[2]))
    return out


def _rpm_name(nevra: str) -> str | None:
    """``curl-7.76.1-7.fc34.x86_64`` -> ``curl``."""
    base = re.sub(rf"\.{_RPM_ARCHES}$", "", nevra)
    parts = base.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else None


def _advisory_packages(line: str) -> list[str]:
    return [name for token in line.split() if re.search(rf"\.{_RPM_ARCHES}$", token) and token.count("-") >= 2
            for name in [_rpm_name(token)] if name]


def parse_dnf_security(text: str) -> set[str]:
    """Package names with a security advisory (``dnf updateinfo list``: ``ID  Severity/Sec.  nevra``, dnf5
    ``ID  security  Severity  nevra``; bugfix and enhancement rows are not security)."""
    names = set()
    for line in text.splitlines():
        tokens = line.split()
        if any(t.endswith("/Sec.") or t.lower() == "security" for t in tokens[1:]):
            names.update(_advisory_packages(line))
    return names


def count_dnf_advisories(text: str) -> int:
    """How many advisory rows of any type ``dnf updateinfo list`` printed."""
    return sum(1 for line in text.splitlines() if _advisory_packages(line))


def parse_zypper_updates(text: str) -> list[PackageUpdate]:
    """``zypper --xmlout list-updates``: the package updates (their rows never carry a category)."""
    root = ET.fromstring(text.strip())
    out = []
    for node in root.iter("update"):
        if (node.get("kind") or "package") != "package":
            continue               # a patch is an advisory grouping packages, listed by list-patches
        source = node.find("source")
        out.append(PackageUpdate(node.get("name", ""), node.get("edition-old") or None, node.get("edition") or None,
                                 source=(source.get("alias", "") if source is not None else ""),
                                 summary=(node.findtext("summary") or "").strip()))
    return out


#: list-patches statuses that mean "not installed yet and applicable" (older zypper writes no status at all).
_ZYPPER_PENDING = ("needed", "")


def parse_zypper_patches(text: str) -> list[PackageUpdate]:
    """``zypper --xmlout list-patches``: the needed patches with category (security, recommended, optional,
    feature, ...) and severity (critical, important, moderate, low, unspecified); ``restart="true"`` means the
    patch asks for a reboot. The CVE ids of a patch go to ``kb``."""
    root = ET.fromstring(text.strip())
    out = []
    for node in root.iter("update"):
        if node.get("kind") != "patch" or (node.get("status") or "") not in _ZYPPER_PENDING:
            continue
        category = (node.get("category") or "").lower()
        cves = [i.get("id", "") for i in node.iter("issue") if (i.get("type") or "").lower() == "cve" and i.get("id")]
        out.append(PackageUpdate(node.get("name", ""), None, node.get("edition") or None, source=category,
                                 security=category == "security", severity=(node.get("severity") or None),
                                 kb=cves, reboot_required=(node.get("restart") == "true") or None,
                                 summary=(node.findtext("summary") or "").strip()))
    return out


_PACMAN_LINE = re.compile(r"^(\S+)\s+(\S+)\s+->\s+(\S+)(\s+\[ignored\])?\s*$")


def parse_checkupdates(text: str) -> list[PackageUpdate]:
    """pacman-contrib ``checkupdates`` and ``pacman -Qu``: ``name old -> new`` (``[ignored]`` after packages
    pacman.conf's IgnorePkg holds back: they will not be installed, so they are not pending)."""
    out = []
    for line in text.splitlines():
        match = _PACMAN_LINE.match(line.strip())
        if match and not match.group(4):
            out.append(PackageUpdate(match.group(1), match.group(2), match.group(3), source="pacman"))
    return out


#: ``name-version`` of an Alpine package: the version starts at the last dash that is followed by a digit and
#: ends with ``-r<N>`` (apk-tools' PKG_VER_FMT).
_APK_LINE = re.compile(r"^(?P<name>\S+?)-(?P<old>\d[^\s]*-r\d+)\s+(?P<op>[<>=~?]+)\s+(?P<new>\S+)(?:\s+(?P<tag>\S+))?\s*$")


def parse_apk_version(text: str) -> list[PackageUpdate]:
    """``apk version -l '<'``: a header ``Installed: Available:``, then ``name-oldver  < newver [@tag]``
    (apk-tools ``app_version.c``). A line that has the shape of neither is an error, never skipped silently."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("Installed:"):
            continue
        match = _APK_LINE.match(stripped)
        if not match:
            raise ValueError(f"not an apk version line: {stripped[:80]!r}")
        if match.group("op") != "<":
            continue
        out.append(PackageUpdate(match.group("name"), match.group("old"), match.group("new"),
                                 source=match.group("tag") or "apk"))
    return out


_NO_SECURITY = {
    "pacman": msg("pacman kennt keine Sicherheitskennzeichnung von Updates (Arch veröffentlicht Hinweise nur auf "
                  "security.archlinux.org)", "pacman has no security classification of updates (Arch publishes "
                  "advisories only on security.archlinux.org)"),
    "apk": msg("apk kennt keine Sicherheitskennzeichnung von Updates (Alpine veröffentlicht Hinweise nur auf "
               "security.alpinelinux.org)", "apk has no security classification of updates (Alpine publishes "
               "advisories only on security.alpinelinux.org)"),
}


def _apt_updates(runner: CommandRunner, probe: str) -> ProbeResult:
    result = runner.run(APT_UPGRADABLE, timeout=60)
    if not result.ok:
        return command_unknown(probe, result, source="apt")
    return ProbeResult(probe, "ok", PendingUpdates("apt", parse_apt_upgradable(result.stdout)), source="apt")


def _dnf_updates(runner: CommandRunner, probe: str) -> ProbeResult:
    result = runner.run(DNF_CHECK_UPDATE, timeout=120)
    if result.returncode == 0:
        return ProbeResult(probe, "ok", PendingUpdates("dnf", []), source="dnf")
    if result.returncode != 100:
        return command_unknown(probe, result, source="dnf")
    updates = parse_dnf_check_update(result.stdout)
    if not updates:
        return unknown(probe, PARSE_ERROR, msg("dnf check-update meldete Updates (Exit 100), aber keines "
                                               "war lesbar", "dnf check-update reported updates (exit 100) "
                                               "but none could be read"), source="dnf")
    security = runner.run(DNF_SECURITY, timeout=120)
    if not security.ok:
        # without the advisory list nothing says which update closes a hole: not "0 security"
        _, why = command_problem(security, "dnf updateinfo")
        return ProbeResult(probe, "ok", PendingUpdates("dnf", updates, detail=why, security_known=False), source="dnf")
    if not count_dnf_advisories(security.stdout):
        why = msg("die Paketquellen veröffentlichen zu diesen Updates keine Hinweise (updateinfo, z. B. CentOS "
                  "Stream oder Fremdquellen): welche davon Sicherheitslücken schließen, ist nicht bekannt",
                  "the repositories publish no advisories (updateinfo) for these updates (e.g. CentOS Stream or "
                  "third-party repositories): which of them close security holes is not known")
        return ProbeResult(probe, "ok", PendingUpdates("dnf", updates, detail=why, security_known=False), source="dnf")
    flagged = parse_dnf_security(security.stdout)
    for update in updates:
        update.security = update.name in flagged
    return ProbeResult(probe, "ok", PendingUpdates("dnf", updates), source="dnf")


#: zypper exit codes that still come with an answer (100/101: updates / security updates needed, 106: some
#: repositories skipped, e.g. not refreshed, the rest was read).
_ZYPPER_OK = (0, 100, 101, 106)


def _zypper_updates(runner: CommandRunner, probe: str) -> ProbeResult:
    result = runner.run(ZYPPER_LIST_UPDATES, timeout=120)
    if not result.ran or result.returncode not in _ZYPPER_OK or not result.stdout.strip():
        return command_unknown(probe, result, source="zypper")
    updates = parse_zypper_updates(result.stdout)
    patches_run = runner.run(ZYPPER_LIST_PATCHES, timeout=120)
    if not patches_run.ran or patches_run.returncode not in _ZYPPER_OK or not patches_run.stdout.strip():
        _, why = command_problem(patches_run, "zypper list-patches")
        return ProbeResult(probe, "ok", PendingUpdates("zypper", updates, detail=why, security_known=False),
                           source="zypper")
    try:
        patches = parse_zypper_patches(patches_run.stdout)
    except ET.ParseError as exc:
        why = msg("Ausgabe von zypper list-patches nicht verstanden: {e}", "zypper list-patches output not "
                  "understood: {e}", e=exc)
        return ProbeResult(probe, "ok", PendingUpdates("zypper", updates, detail=why, security_known=False),
                           source="zypper")
    return ProbeResult(probe, "ok", PendingUpdates("zypper", updates, patches=patches), source="zypper")


def _pacman_updates(runner: CommandRunner, probe: str) -> ProbeResult:
    if runner.which("checkupdates"):
        result = runner.run(PACMAN_CHECKUPDATES, timeout=120)
        if result.returncode == 2:          # checkupdates: exit 2 = no updates
            return ProbeResult(probe, "ok", PendingUpdates("pacman", [], detail=_NO_SECURITY["pacman"],
                                                           security_known=False), source="checkupdates")
        if not result.ok:
            return command_unknown(probe, result, source="checkupdates")
        return ProbeResult(probe, "ok", PendingUpdates("pacman", parse_checkupdates(result.stdout),
                                                       detail=_NO_SECURITY["pacman"], security_known=False),
                           source="checkupdates")
    # pacman -Qu compares with the sync databases of the last `pacman -Sy`: read only, possibly stale
    result = runner.run(PACMAN_QUERY_UPGRADES, timeout=60)
    stale = msg("{w}; Stand der letzten Synchronisierung (pacman -Sy), pacman-contrib (checkupdates) für den "
                "aktuellen Stand installieren", "{w}; as of the last database sync (pacman -Sy), install pacman-contrib "
                "(checkupdates) for a current answer", w=_NO_SECURITY["pacman"])
    if result.returncode == 1 and not result.stdout.strip() and not result.stderr.strip():
        # pacman -Q with a filter that matches nothing exits 1 without a word
        return ProbeResult(probe, "ok", PendingUpdates("pacman", [], detail=stale, security_known=False),
                           source="pacman")
    if not result.ok:
        return command_unknown(probe, result, source="pacman")
    return ProbeResult(probe, "ok", PendingUpdates("pacman", parse_checkupdates(result.stdout), detail=stale,
                                                   security_known=False), source="pacman")


def _apk_updates(runner: CommandRunner, probe: str) -> ProbeResult:
    result = runner.run(APK_VERSION, timeout=60)
    if not result.ok:
        return command_unknown(probe, result, source="apk")
    return ProbeResult(probe, "ok", PendingUpdates("apk", parse_apk_version(result.stdout), detail=_NO_SECURITY["apk"],
                                                   security_known=False), source="apk")


_UPDATE_PROBES = {"apt": _apt_updates, "dnf": _dnf_updates, "zypper": _zypper_updates, "pacman": _pacman_updates,
                  "apk": _apk_updates}


def pending_updates(runner: CommandRunner) -> ProbeResult:
    probe = "pending_updates"
    manager = next((name for name, program in PACKAGE_MANAGERS if runner.which(program)), None)
    if manager is None:
        return unknown(probe, TOOL_MISSING, msg(
            "keine unterstützte Paketverwaltung (apt, dnf, zypper, pacman, apk) gefunden",
            "no supported package manager (apt, dnf, zypper, pacman, apk) found"))
    try:
        return _UPDATE_PROBES[manager](runner, probe)
    except (ValueError, ET.ParseError) as exc:
        return unknown(probe, PARSE_ERROR, msg("Ausgabe von {m} nicht verstanden: {e}", "{m} output not understood: {e}",
                                               m=manager, e=exc), source=manager)


# ---- pending reboot -----------------------------------------------------------------------------------------

def newer_kernel(boot_entries: Iterable[str], running: str) -> str | None:
    """The newest kernel in ``/boot`` if it is newer than the running one (only when the running one is there)."""
    versions = [e[len("vmlinuz-"):] for e in boot_entries
                if e.startswith("vmlinuz-") and not e.startswith("vmlinuz-0-rescue")]
    if running not in versions:
        return None             # custom/container kernel: /boot says nothing about it
    newest = max(versions, key=version_key)
    return newest if version_key(newest) > version_key(running) else None


def pending_reboot(runner: CommandRunner) -> ProbeResult:
    probe = "pending_reboot"
    sources: list[Message | str] = []
    flag = runner.read_file(REBOOT_REQUIRED)
    if flag.ok:
        pkgs = runner.read_file(REBOOT_REQUIRED_PKGS)
        names = sorted(set((pkgs.content or "").split())) if pkgs.ok else []
        sources.append(REBOOT_REQUIRED + (f" ({', '.join(names)})" if names else ""))
    elif flag.error != NOT_FOUND:
        return _file_unknown(probe, REBOOT_REQUIRED, flag.error)
    if runner.which("dnf") or runner.which("needs-restarting"):
        argv = NEEDS_RESTARTING if runner.which("needs-restarting") else DNF_NEEDS_RESTARTING
        result = runner.run(argv, timeout=60)
        if result.returncode == 1 and "reboot" in (result.stdout + result.stderr).lower():
            sources.append("needs-restarting -r")
        elif result.returncode != 0 and not sources:
            return command_unknown(probe, result, source="needs-restarting")
    try:
        host = runner.fact("host") or {}
    except LookupError:
        host = {}
    running = str(host.get("os_release") or "")
    boot = runner.list_dir(BOOT_DIR)
    newest = newer_kernel(boot, running) if running and boot else None
    if newest:
        sources.append(msg("Kernel {n} installiert, {r} läuft", "kernel {n} installed, {r} running", n=newest,
                           r=running))
    elif running and f"vmlinuz-{running}" not in (boot or []):
        # no versioned kernel image of the running kernel in /boot (Arch, Alpine): ask /lib/modules instead
        gone = modules_gone(runner.list_dir(LIB_MODULES), running)
        if gone:
            sources.append(msg("Kernel {r} läuft, seine Module sind nicht mehr installiert (installiert: {n})",
                               "kernel {r} running, its modules are no longer installed (installed: {n})",
                               r=running, n=gone))
    return ProbeResult(probe, "ok", PendingReboot(bool(sources), sources), source="files")


def modules_gone(installed: Iterable[str] | None, running: str) -> str | None:
    """The newest installed kernel when ``/lib/modules`` lists kernels but not the running one (the package
    manager replaced it: a restart is needed to use it, and modules of the running kernel can no longer load).
    ``None`` when there is no listing or it is empty (a container) or the running kernel is there."""
    names = [n for n in installed or [] if n and n[0].isdigit()]
    if not names or running in names:
        return None
    return max(names, key=version_key)


# ---- events -------------------------------------------------------------------------------------------------

def _journal_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):       # non-UTF-8 / binary fields come as an array of byte values
        try:
            return bytes(int(b) & 0xFF for b in value).decode("utf-8", errors="replace")
        except (TypeError, ValueError):
            return ""
    return str(value)


def parse_journal_json(text: str) -> list[EventRecord]:
    """``journalctl -o json`` (one object per line) -> events, newest first."""
    events_: list[tuple[int, EventRecord]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        try:
            micros = int(entry.get("__REALTIME_TIMESTAMP"))
            when: str | None = datetime.fromtimestamp(micros / 1e6, UTC).isoformat()
        except (TypeError, ValueError):
            micros, when = 0, None
        try:
            priority = int(_journal_text(entry.get("PRIORITY")) or 3)
        except ValueError:
            priority = 3
        source = (_journal_text(entry.get("SYSLOG_IDENTIFIER")) or _journal_text(entry.get("_SYSTEMD_UNIT"))
                  or _journal_text(entry.get("_COMM"))
                  or ("kernel" if _journal_text(entry.get("_TRANSPORT")) == "kernel" else "journal"))
        message = _journal_text(entry.get("MESSAGE"))
        if entry.get("MESSAGE") is None:
            message = "(message too large or not stored; run journalctl --all to see it)"
        events_.append((micros, EventRecord(when, "critical" if priority <= 2 else "error", source, message,
                                            log="journal")))
    events_.sort(key=lambda pair: pair[0], reverse=True)
    return [event for _, event in events_]


def events(runner: CommandRunner) -> ProbeResult:
    probe = "events"
    result = runner.run(JOURNAL_ERRORS, timeout=30)
    if not result.ok:
        if _uses_openrc(runner, result):
            return _no_systemd_openrc(probe, msg(
                "es gibt kein Journal; das Syslog (meist /var/log/messages) liest TechCare noch nicht",
                "there is no journal; TechCare does not read the syslog (usually /var/log/messages) yet"))
        return command_unknown(probe, result, source="journalctl")
    try:
        found = parse_journal_json(result.stdout)
    except ValueError as exc:
        return unknown(probe, PARSE_ERROR, msg("Ausgabe von journalctl nicht verstanden: {e}",
                                               "journalctl output not understood: {e}", e=exc), source="journalctl")
    if found:
        return ProbeResult(probe, "ok", found[:5], source="journalctl")
    stderr = result.stderr.lower()
    if "no journal files were found" in stderr:
        return unknown(probe, FAILED, msg("keine Journal-Dateien gefunden (journald führt hier kein Protokoll)",
                                          "no journal files were found (journald keeps no log here)"), source="journalctl")
    if "not seeing messages from other users" in stderr or "users in groups" in stderr:
        return unknown(probe, NEEDS_ADMIN, msg("journalctl zeigt nur die Meldungen dieses Benutzers: als root oder in "
                                               "der Gruppe systemd-journal/adm starten", "journalctl only shows this "
                                               "user's messages: run as root or in group systemd-journal/adm"),
                       source="journalctl")
    if runner.list_dir(SYSTEMD_RUNTIME_DIR) is None:
        return unknown(probe, NO_SYSTEMD, msg("systemd/journald läuft nicht, es gibt kein Journal zu lesen",
                                              "systemd/journald is not running, so there is no journal to read"),
                       source="journalctl")
    return ProbeResult(probe, "ok", [], source="journalctl")


# ---- SMART --------------------------------------------------------------------------------------------------

#: smartctl exit status bits (smartctl(8) "RETURN VALUES").
EXIT_BITS = {
    0: msg("Befehlszeile nicht verstanden / Gerätetyp nicht erkannt",
           "command line did not parse / device type not recognised"),
    1: msg("Gerät ließ sich nicht öffnen (oder antwortete nicht auf IDENTIFY)",
           "device open failed (or it did not answer IDENTIFY)"),
    2: msg("ein SMART- oder anderer ATA-Befehl an den Datenträger schlug fehl, oder ein Prüfsummenfehler",
           "a SMART or other ATA command to the disk failed, or a checksum error"),
    3: msg("SMART-Statusprüfung meldet DISK FAILING", "SMART status check returned DISK FAILING"),
    4: msg("Prefail-Attribute jetzt an oder unter der Schwelle", "prefail attributes at or below threshold now"),
    5: msg("Usage- oder Prefail-Attribute waren früher an oder unter der Schwelle",
           "usage or prefail attributes were at or below threshold in the past"),
    6: msg("das Fehlerprotokoll des Geräts enthält Fehler", "the device error log contains errors"),
    7: msg("das Selbsttest-Protokoll enthält Fehler", "the self-test log contains errors"),
}
_FAILING_BITS = (3, 4)
_WARNING_BITS = (5, 6, 7)
_NVME_WARNINGS = {0: msg("Reserve unter der Schwelle", "available spare below threshold"),
                  1: msg("Temperatur außerhalb der Grenzen", "temperature outside limits"),
                  2: msg("Zuverlässigkeit des NVM-Subsystems beeinträchtigt", "NVM subsystem reliability degraded"),
                  3: msg("Speicher in den Nur-Lese-Modus versetzt", "media placed in read-only mode"),
                  4: msg("Sicherung des flüchtigen Speichers fehlgeschlagen", "volatile memory backup failed"),
                  5: msg("persistenter Speicherbereich nur lesbar", "persistent memory region read-only")}
_NVME_FAILING_BITS = (0, 2, 3, 4, 5)
#: The NVMe health log values a "passed" verdict rests on besides the drive's own overall assessment.
_NVME_COUNTERS = ("critical_warning", "available_spare", "percentage_used", "media_errors")
#: ATA attributes whose raw value should be 0 on a healthy disk.
_ATA_COUNTERS = {5: ("{n} umgelagerte Sektoren", "{n} reallocated sectors"),
                 197: ("{n} schwebende Sektoren", "{n} pending sectors"),
                 198: ("{n} offline nicht korrigierbare Sektoren", "{n} offline uncorrectable sectors")}


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else (a field that is missing, null or of another type)."""
    return value if isinstance(value, dict) else {}


def _whole(value: Any) -> int | None:
    """A whole number from JSON (never a boolean), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def decode_exit_status(status: int) -> list[Message]:
    return [msg("Bit {b}: {t}", "bit {b}: {t}", b=bit, t=text) for bit, text in EXIT_BITS.items() if status & (1 << bit)]


_SMART_NEEDS_ROOT = msg("braucht root-Rechte: TechCare als root starten, um SMART-Daten zu lesen",
                        "needs elevation: run TechCare as root to read SMART data")


def parse_smartctl(text: str, device: str, returncode: int | None = None) -> DiskHealth:
    """``smartctl --json -a DEV`` -> :class:`DiskHealth`, decoding the exit-status bitmask into ``issues``."""
    disk = DiskHealth(device=device, health="unknown")
    try:
        data = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        first = next((line.strip() for line in text.splitlines() if line.strip()), None)
        said = msg("Ausgabe von smartctl nicht verstanden: {f}", "smartctl output not understood: {f}", f=first[:120]) \
            if first else msg("smartctl gab nichts aus", "smartctl printed nothing")
        if "UNRECOGNIZED OPTION" in text:
            said = said + msg(" (für --json ist smartctl 7.0 oder neuer nötig)", " (smartctl 7.0 or newer is needed for --json)")
        disk.issues = [said]
        disk.exit_status = returncode
        return disk
    meta = _obj(data.get("smartctl"))
    status = _whole(meta.get("exit_status"))
    status = status if status is not None else (returncode or 0)
    disk.exit_status = status
    messages = [str(m.get("string", "")) for m in (meta.get("messages") if isinstance(meta.get("messages"), list)
                                                   else []) if isinstance(m, dict)]
    dev = _obj(data.get("device"))          # disk.device stays the path we asked about (what the technician sees)
    disk.protocol = str(dev.get("protocol") or "")
    disk.model = str(data.get("model_name") or data.get("scsi_model_name") or data.get("model_family") or "")
    disk.serial = str(data.get("serial_number") or "")
    temp = _obj(data.get("temperature")).get("current")
    disk.temperature_c = float(temp) if isinstance(temp, (int, float)) and not isinstance(temp, bool) else None
    disk.power_on_hours = _whole(_obj(data.get("power_on_time")).get("hours"))
    smart_status = data.get("smart_status")
    disk.smart_passed = smart_status.get("passed") if isinstance(smart_status, dict) else None

    issues: list[Message | str] = list(messages)  # smartctl's own messages are data
    failing = warning = False
    joined = " ".join(messages).lower()
    if "permission denied" in joined or "operation not permitted" in joined:
        disk.issues = [_SMART_NEEDS_ROOT] + issues
        return disk
    issues += decode_exit_status(status)
    if any(status & (1 << bit) for bit in _FAILING_BITS) or disk.smart_passed is False:
        failing = True
    if any(status & (1 << bit) for bit in _WARNING_BITS):
        warning = True

    table = _obj(data.get("ata_smart_attributes")).get("table")
    for attr in table if isinstance(table, list) else []:
        if not isinstance(attr, dict):
            continue
        name = str(attr.get("name") or attr.get("id"))
        when = attr.get("when_failed") or ""
        if when == "now":
            failing = True
            disk.failing_attributes.append(name)
            issues.append(msg("Attribut {n} versagt jetzt (Wert {v} <= Schwelle {t})",
                              "attribute {n} failing now (value {v} <= threshold {t})", n=name, v=attr.get("value"),
                              t=attr.get("thresh")))
        elif when == "past":
            warning = True
            issues.append(msg("Attribut {n} hat früher versagt", "attribute {n} failed in the past", n=name))
        raw = _whole(_obj(attr.get("raw")).get("value"))
        if _whole(attr.get("id")) in _ATA_COUNTERS and raw is not None and raw > 0:
            warning = True
            issues.append(msg(*_ATA_COUNTERS[attr["id"]], n=raw))

    nvme = data.get("nvme_smart_health_information_log")
    if isinstance(nvme, dict):
        crit = _whole(nvme.get("critical_warning")) or 0
        for bit, text_ in _NVME_WARNINGS.items():
            if crit & (1 << bit):
                issues.append(msg("NVMe-Warnung: {t}", "NVMe critical warning: {t}", t=text_))
                failing = failing or bit in _NVME_FAILING_BITS
                warning = True
        used = nvme.get("percentage_used")
        if isinstance(used, int):
            disk.percentage_used = used
            if used >= 100:
                failing = True
                issues.append(msg("Nennlebensdauer aufgebraucht ({u} %)", "rated endurance used up ({u} %)", u=used))
            elif used >= 90:
                warning = True
                issues.append(msg("{u} % der Nennlebensdauer verbraucht", "{u} % of rated endurance used", u=used))
        spare, threshold = nvme.get("available_spare"), nvme.get("available_spare_threshold")
        if isinstance(spare, int) and isinstance(threshold, int) and spare < threshold:
            failing = True
            issues.append(msg("Reserve {s} % unter der Schwelle {t} %", "available spare {s} % below threshold {t} %",
                              s=spare, t=threshold))
        media = nvme.get("media_errors")
        if isinstance(media, int) and media > 0:
            warning = True
            issues.append(msg("{m} Medien-/Datenintegritätsfehler", "{m} media/data integrity errors", m=media))
        if disk.temperature_c is None and isinstance(nvme.get("temperature"), int):
            disk.temperature_c = float(nvme["temperature"])
        if disk.power_on_hours is None and isinstance(nvme.get("power_on_hours"), int):
            disk.power_on_hours = nvme["power_on_hours"]

    unread = False
    if disk.protocol.lower() == "nvme" or isinstance(nvme, dict):
        # "passed" rests on these counters too: one that was not read leaves the verdict open
        missing = [k for k in _NVME_COUNTERS if _whole(_obj(nvme).get(k)) is None]
        if missing:
            unread = True
            issues.append(msg("NVMe-Zustandsprotokoll nicht vollständig gelesen, es fehlt: {k}",
                              "NVMe health log not fully read, missing: {k}", k=", ".join(missing)))
    disk.issues = list(dict.fromkeys(issues))
    if failing:
        disk.health = "failing"
    elif status & 0b11 and disk.smart_passed is None:
        disk.health = "unknown"          # could not talk to the disk (e.g. virtio: "Unable to detect device type")
    elif warning:
        disk.health = "warning"
    elif disk.smart_passed is True and not unread:
        disk.health = "passed"
    else:
        disk.health = "unknown"
        if not disk.issues:
            disk.issues = [msg("SMART ist auf diesem Gerät nicht verfügbar oder nicht eingeschaltet",
                               "SMART is not available or not enabled on this device")]
    return disk


def smart(runner: CommandRunner) -> ProbeResult:
    probe = "smart"
    path, on_path = locate(runner, "smartctl")
    if not path:
        return unknown(probe, TOOL_MISSING, msg("smartctl ist nicht installiert (Paket smartmontools)",
                                                "smartctl is not installed (package smartmontools)"), source="smartctl")
    if not on_path:
        return _needs_root_tool(probe, path)
    names = runner.list_dir(SYS_BLOCK)
    if names is None:
        return unknown(probe, FAILED, msg("{p} lässt sich nicht auflisten, die Datenträger sind nicht auffindbar",
                                          "cannot list {p} to find the disks", p=SYS_BLOCK), source="sysfs")
    disks: list[DiskHealth] = []
    reasons: list[str] = []
    for device in disk_devices(names):
        result = runner.run(smartctl_argv(device), timeout=60)
        if not result.ran:
            res = command_unknown(probe, result, source="smartctl")
            reasons.append(res.reason_code or FAILED)
            disks.append(DiskHealth(device, "unknown", issues=[res.reason or msg("smartctl lief nicht", "smartctl did not run")]))
            continue
        disk = parse_smartctl(result.stdout, device, result.returncode)
        if disk.issues and disk.issues[0] == _SMART_NEEDS_ROOT:
            reasons.append(NEEDS_ADMIN)
        elif disk.health == "unknown":
            reasons.append(FAILED)
        else:
            reasons.append("")
        disks.append(disk)
    if disks and all(reasons) and len(set(reasons)) == 1 and reasons[0] in (NEEDS_ADMIN, NOT_IN_SNAPSHOT, TIMED_OUT):
        text = {NEEDS_ADMIN: msg("smartctl braucht root-Rechte (TechCare als root starten)",
                                 "smartctl needs elevation (run TechCare as root)"),
                NOT_IN_SNAPSHOT: msg("Ausgabe von smartctl ist nicht im Snapshot", "smartctl output is not in the snapshot"),
                TIMED_OUT: msg("smartctl hat nicht rechtzeitig geantwortet", "smartctl did not answer in time")}[reasons[0]]
        return unknown(probe, reasons[0], text, source="smartctl", data=disks)
    return ProbeResult(probe, "ok", disks, source="smartctl")


__all__ = ["PLATFORM", "antivirus", "events", "firewall", "metrics", "pending_reboot", "pending_updates",
           "services", "smart", "update_service"]
