"""macOS: kernel extensions (``system_profiler SPExtensionsDataType -json``), system extensions
(``systemextensionsctl list``) and Apple's firmware and driver updates (``softwareupdate -l``, both output
formats). Of Apple's updates only firmware and device-driver packages are driver updates
(:func:`techcare.system._macos.apple_update_kind`); macOS updates and upgrades, Safari, security and data updates
are pending updates, which the ``pending_updates`` probe reports - from the same (shared) ``softwareupdate -l``
run, so nothing is reported twice and a capture records Apple's answer once.

The kext inventory keeps loaded extensions and every third-party one (Apple's several hundred unloaded
kexts are not drivers of this machine's hardware). Values come as ``spext_yes``/``spext_no`` or plain
``yes``/``no`` depending on the macOS release.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ...i18n import Message, msg
from ...system._macos import apple_update_kind, softwareupdate_listing
from ...system.records import command_problem
from ...system.runner import CommandRunner
from .records import InstalledDriver, SourceStatus, UpdateOffer
from .versions import parse_date

PLATFORM = "darwin"
# Absolute paths, as the probes of techcare/system/_macos.py use them (a restricted PATH cannot hide the tools);
# ``softwareupdate -l`` is the probes' very argv, so a capture records Apple's answer once for both.
EXTENSIONS_ARGV = ("/usr/sbin/system_profiler", "SPExtensionsDataType", "-json")
SYSEXT_ARGV = ("/usr/bin/systemextensionsctl", "list")
SOFTWAREUPDATE_ARGV = ("/usr/sbin/softwareupdate", "-l")


def _yes(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower().removeprefix("spext_")
    if text in ("yes", "true", "1"):
        return True
    if text in ("no", "false", "0"):
        return False
    return None


def _is_apple(ext: dict[str, Any]) -> bool:
    obtained = str(ext.get("spext_obtained_from") or "").lower()
    bundle = str(ext.get("spext_bundleid") or "").lower()
    signed = ext.get("spext_signed_by")
    signer = " ".join(signed) if isinstance(signed, list) else str(signed or "")
    return "apple" in obtained or bundle.startswith("com.apple.") or signer.startswith("Software Signing")


def parse_extensions(text: str, *, include_all: bool = False) -> list[InstalledDriver]:
    text = text.strip()
    if not text:
        return []
    data = json.loads(text)
    rows = data.get("SPExtensionsDataType") if isinstance(data, dict) else None
    out: list[InstalledDriver] = []
    for ext in rows or []:
        if not isinstance(ext, dict):
            continue
        bundle = str(ext.get("spext_bundleid") or "").strip()
        name = str(ext.get("_name") or bundle).strip()
        if not bundle and not name:
            continue
        loaded = _yes(ext.get("spext_loaded"))
        apple = _is_apple(ext)
        if not include_all and not loaded and apple:
            continue
        signed_by = ext.get("spext_signed_by")
        out.append(
            InstalledDriver(
                device=name,
                hardware_id=bundle.upper() or None,
                vendor="Apple"
                if apple
                else (signed_by[0] if isinstance(signed_by, list) and signed_by else str(signed_by or "")),
                category="Kernel extension",
                driver=bundle,
                installed_version=str(ext.get("spext_version") or ext.get("version") or "") or None,
                driver_date=parse_date(ext.get("spext_lastModified")),
                kind="extension",
                signed=bool(signed_by) if signed_by is not None else None,
                details={
                    "loaded": loaded,
                    "apple": apple,
                    "path": ext.get("spext_path"),
                    "loadable": _yes(ext.get("spext_loadable")),
                    "notarized": _yes(ext.get("spext_notarized")),
                },
            )
        )
    return out


_SYSEXT_ROW = re.compile(
    r"^(?P<enabled>\*?)\s*\t?(?P<active>\*?)\s*\t?(?P<team>\S+)\s*\t?"
    r"(?P<bundle>\S+) \((?P<version>[^)]*)\)\s*\t?(?P<name>.*?)\s*\t?\[(?P<state>[^\]]*)\]\s*$"
)


def parse_systemextensions(text: str) -> list[InstalledDriver]:
    """``systemextensionsctl list``: tab separated ``enabled active teamID bundleID (version) name [state]``
    under ``--- <category>`` headers. Version ``1.0/1`` is ``short/bundle``; the short one is reported."""
    out: list[InstalledDriver] = []
    category = ""
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip("\n")
        if line.startswith("--- "):
            category = line[4:].split(" (", 1)[0].strip()
            continue
        if not line.strip() or line.startswith("enabled") or re.match(r"^\d+ extension", line):
            continue
        cells = line.split("\t")
        if len(cells) >= 6:
            enabled, active, team, bundle_version, name, state = (c.strip() for c in cells[:6])
            match = re.match(r"^(\S+) \(([^)]*)\)$", bundle_version)
            if not match:
                continue
            bundle, version = match.group(1), match.group(2)
            state = state.strip("[]")
        else:
            match = _SYSEXT_ROW.match(line)
            if not match:
                continue
            enabled, active, team = match.group("enabled"), match.group("active"), match.group("team")
            bundle, version, name, state = (
                match.group("bundle"),
                match.group("version"),
                match.group("name"),
                match.group("state"),
            )
        short = version.split("/", 1)[0]
        kind = category.rsplit(".", 1)[-1].replace("_", " ") if category else "system extension"
        out.append(
            InstalledDriver(
                device=name or bundle,
                hardware_id=bundle.upper(),
                vendor=team if team != "-" else "",
                category=f"System extension ({kind})",
                driver=bundle,
                installed_version=short or None,
                kind="extension",
                details={
                    "enabled": enabled == "*",
                    "active": active == "*",
                    "team_id": team,
                    "state": state,
                    "bundle_version": version,
                },
            )
        )
    return out


_NEW_LABEL = re.compile(r"^\s*[*-] Label: (?P<label>.+?)\s*$")
_NEW_DETAIL = re.compile(r"(\w[\w ]*?): ([^,]*),")
_OLD_LABEL = re.compile(r"^\s+[*-] (?P<label>.+?)\s*$")
_OLD_DETAIL = re.compile(r"^\s+(?P<title>.+?),? \((?P<version>[^)]*)\),? (?P<size>\d+K)(?P<flags>.*)$")


def parse_softwareupdate(stdout: str, stderr: str = "", *, include_all: bool = False) -> list[UpdateOffer]:
    """``softwareupdate -l`` in the 10.15+ form (``* Label:`` + ``Title: .., Version: .., Recommended: YES,
    Action: restart,``) and the older one (``   * label`` + ``title (version), 199140K [recommended] [restart]``).
    ``No new software available.`` (on stderr) -> ``[]``. Only firmware and driver packages unless
    ``include_all`` (``details["kind"]``: firmware | driver | None)."""
    offers: list[UpdateOffer] = []
    lines = stdout.replace("\r\n", "\n").split("\n")
    pending: str | None = None
    for line in lines:
        match = _NEW_LABEL.match(line)
        if match:
            pending = match.group("label")
            continue
        if pending is not None and "Title:" in line:
            fields = {
                k.strip(): v.strip()
                for k, v in _NEW_DETAIL.findall(line.strip() + ("," if not line.rstrip().endswith(",") else ""))
            }
            offers.append(
                _apple_offer(
                    pending,
                    fields.get("Title") or pending,
                    fields.get("Version"),
                    fields.get("Recommended", "").upper() == "YES",
                    fields.get("Action", ""),
                    fields.get("Size", ""),
                )
            )
            pending = None
            continue
        match = _OLD_DETAIL.match(line)
        if match and pending is not None:
            flags = match.group("flags")
            action = "restart" if "[restart]" in flags else ("shut down" if "[shut down]" in flags else "")
            offers.append(
                _apple_offer(
                    pending,
                    match.group("title").strip(),
                    match.group("version").strip(),
                    "[recommended]" in flags,
                    action,
                    match.group("size"),
                )
            )
            pending = None
            continue
        match = _OLD_LABEL.match(line)
        if match and not line.lstrip().startswith(("* Label:", "- Label:")):
            pending = match.group("label")
    return offers if include_all else [o for o in offers if o.details["kind"]]


def _apple_offer(label: str, title: str, version: str | None, recommended: bool, action: str, size: str) -> UpdateOffer:
    version = (version or "").strip() or None
    action = action.strip()
    if recommended and action:
        importance = "CRITICAL"
    elif recommended:
        importance = "RECOMMENDED"
    else:
        importance = "OPTIONAL"
    kind = apple_update_kind(label, title)
    category = {"firmware": "Firmware", "driver": "Driver"}.get(kind or "", "System")
    return UpdateOffer(
        source="apple",
        name=title,
        hardware_id=None,
        latest_version=version,
        vendor="Apple",
        category=category,
        importance=importance,
        update_id=label,
        notes=title,
        source_says_newer=True,
        details={"recommended": recommended, "action": action or None, "size": size or None, "kind": kind},
    )


def inventory(runner: CommandRunner) -> tuple[list[InstalledDriver], list[SourceStatus]]:
    items: list[InstalledDriver] = []
    statuses: list[SourceStatus] = []
    result = runner.run(list(EXTENSIONS_ARGV), timeout=120)
    if result.ok:
        try:
            kexts = parse_extensions(result.stdout)
            items.extend(kexts)
            statuses.append(SourceStatus("SPExtensionsDataType", "ok", count=len(kexts)))
        except ValueError as exc:
            statuses.append(SourceStatus("SPExtensionsDataType", "error", _unreadable(exc)))
    else:
        statuses.append(_failure("SPExtensionsDataType", result, "system_profiler"))
    result = runner.run(list(SYSEXT_ARGV), timeout=30)
    if result.ok:
        sysexts = parse_systemextensions(result.stdout)
        items.extend(sysexts)
        statuses.append(SourceStatus("systemextensionsctl", "ok", count=len(sysexts)))
    else:
        statuses.append(_failure("systemextensionsctl", result, "systemextensionsctl"))
    return items, statuses


def _unreadable(exc: Exception) -> Message:
    return msg("unlesbares JSON: {e}", "unreadable JSON: {e}", e=exc)


def _failure(name: str, result, tool: str) -> SourceStatus:
    """A source whose command did not answer: unavailable (not there, not recorded) or an error, and why."""
    return SourceStatus(name, "unavailable" if result.error else "error", command_problem(result, tool)[1])


def update_offers(runner: CommandRunner) -> tuple[list[UpdateOffer], list[SourceStatus]]:
    """Apple's firmware and driver packages; the shared ``softwareupdate -l`` answer of the probes is reused."""
    result = softwareupdate_listing(runner)
    if not result.ok:
        return [], [_failure("apple", result, "softwareupdate")]
    listed = parse_softwareupdate(result.stdout, result.stderr, include_all=True)
    offers = [o for o in listed if o.details["kind"]]
    text = result.stderr + result.stdout
    if not listed and "found the following" in text:
        return [], [SourceStatus("apple", "error", msg("softwareupdate listete Updates in einem unbekannten Format",
                                                       "softwareupdate listed updates in an unknown format"))]
    if not listed and ("No new software" in text or "Keine neue Software" in text):
        detail: Message | str = msg("Keine neue Software verfügbar.", "No new software available.")
    elif len(listed) - len(offers) == 1:
        detail = msg("1 weiteres Apple-Update ist keine Firmware/kein Treiber (siehe ausstehende Updates).",
                     "1 more Apple update is not firmware/a driver (see pending updates).")
    elif len(listed) > len(offers):
        detail = msg("{n} weitere Apple-Updates sind keine Firmware/Treiber (siehe ausstehende Updates).",
                     "{n} more Apple updates are not firmware/drivers (see pending updates).",
                     n=len(listed) - len(offers))
    else:
        detail = ""
    return offers, [SourceStatus("apple", "ok", detail, count=len(offers))]
