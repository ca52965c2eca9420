"""The custom driver database: ``driver_database.json`` shipped beside this module, plus the user's own
``$TECHCARE_HOME/driver_database.json`` merged over it (same normalised ``hardware_id`` -> the user entry wins).

The file is a JSON list of entries exactly as the product documentation shows::

    {"hardware_id": "PCI\\\\VEN_10DE&DEV_2206", "name": "NVIDIA GeForce RTX 3080", "vendor": "NVIDIA",
     "category": "Graphics", "latest_version": "528.49", "release_date": "2023-02-08",
     "download_url": "https://www.nvidia.com/...", "notes": "...", "importance": "CRITICAL"}

(an object ``{"drivers": [...]}`` is accepted too). ``hardware_id``, ``name`` and ``latest_version`` are
required, ``importance`` is optional (CRITICAL, RECOMMENDED, OPTIONAL). An invalid entry is reported with its
index and field and skipped; a file that is not valid JSON raises :class:`DriverDatabaseError` naming file,
line and column.

An entry may name the vendor's installer so the update becomes a repair step
(``drivers.install_vendor_package``)::

    "package": "\\\\fileserver\\treiber\\nvidia\\528.49-desktop-win10-win11-64bit.exe",
    "sha256": "<64 hex digits of that file>",
    "install_args": "-s -noreboot"

``package`` is a local or UNC path (repairs do not download: a ``https://`` address belongs in
``download_url``); its file name ends in one of :data:`PACKAGE_KINDS` (``.msi``/``.exe`` Windows, ``.pkg``
macOS, ``.cab`` fwupd firmware, ``.deb``/``.rpm`` Linux). ``sha256`` is required with it: the step copies the
file into the session's backup directory, checks the copy's SHA-256 and only then runs the copy.
``install_args`` are the installer's silent switches; required for ``.exe`` (an installer that opens a
window would wait for a click nobody gives), not allowed for the other kinds (their switches are fixed).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import DriverDatabaseError
from ...i18n import tr
from .hwids import normalise_hardware_id
from .records import IMPORTANCES, UpdateOffer
from .versions import parse_date, version_key

__all__ = ["PACKAGE_KINDS", "DatabaseProblem", "DriverDatabase", "SHIPPED_PATH", "load_database", "package_kind",
           "package_problem", "parse_database", "user_database_path"]

SHIPPED_PATH = Path(__file__).with_name("driver_database.json")
FIELDS = (
    "hardware_id",
    "name",
    "vendor",
    "category",
    "latest_version",
    "release_date",
    "download_url",
    "notes",
    "importance",
    "package",
    "sha256",
    "install_args",
)
REQUIRED = ("hardware_id", "name", "latest_version")
#: Installer file kinds a ``package`` may be, and the platform each runs on.
PACKAGE_KINDS = {"msi": "windows", "exe": "windows", "pkg": "darwin", "cab": "linux", "deb": "linux",
                 "rpm": "linux"}
_FIELDSET = frozenset(FIELDS)


@dataclass
class DatabaseProblem:
    file: str
    index: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}"
        if self.index is not None:
            where += tr(" Eintrag {i}", " entry {i}", i=self.index)
        if self.field:
            where += f" '{self.field}'"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "index": self.index, "field": self.field, "message": self.message}


@dataclass
class DriverDatabase:
    offers: list[UpdateOffer] = field(default_factory=list)
    problems: list[DatabaseProblem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.offers)


def user_database_path() -> Path:
    from ...config import get_settings

    return Path(get_settings().techcare_home).expanduser() / "driver_database.json"


def _problem(file: str, index: int | None, fld: str | None, de: str, en: str, **fmt: Any) -> DatabaseProblem:
    return DatabaseProblem(file, index, fld, tr(de, en, **fmt))


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SPACE = re.compile(r"\s")
_HEX4 = re.compile(r"[0-9A-F]{4}")
_URL = re.compile(r"^https?://[^/\s?#]+", re.I)
_HEX_PARTS = {"PCI": ("VEN", "DEV"), "USB": ("VID", "PID"), "HDAUDIO": ("VEN", "DEV")}


_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_WIN_PATH = re.compile(r"(?:[A-Za-z]:[\\/]|\\\\[^\\/\s]+\\[^\\/]+\\)[^\x00-\x1f\"<>|?*]+")
_POSIX_PATH = re.compile(r"/[^\x00-\x1f]+")
_INSTALL_ARGS = re.compile(r"[A-Za-z0-9/\-_=.:,+@ ]{1,200}")
PACKAGE_PATH_MAX = 400


def package_kind(path: str) -> str | None:
    """The installer kind of a package path (its extension, lower case) when it is one of :data:`PACKAGE_KINDS`."""
    name = re.split(r"[\\/]", path.strip())[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return ext if ext in PACKAGE_KINDS else None


def package_problem(package: Any, sha256: Any, install_args: Any) -> tuple[str, str, str] | None:
    """Why a vendor package reference is not usable: ``(field, German, English)``, or ``None`` when it is.
    Used for database entries and for the repair step's parameters alike."""
    allowed_kinds = ", ".join(f".{k}" for k in PACKAGE_KINDS)
    if not isinstance(package, str) or not package.strip():
        return ("package", "fehlt oder ist leer (Pfad zum Installationspaket).",
                "is missing or empty (path of the installer package).")
    path = package.strip()
    if re.match(r"^[a-z][a-z0-9+.-]*://", path, re.I):
        return ("package", f"'{path}' ist eine Adresse; Reparaturen laden nichts herunter. Erlaubt: ein lokaler "
                           "Pfad oder UNC-Pfad (\\\\server\\freigabe\\datei); die Adresse gehört in download_url.",
                f"'{path}' is an address; repairs do not download. Allowed: a local path or UNC path "
                "(\\\\server\\share\\file); put the address in download_url.")
    kind = package_kind(path)
    if kind is None:
        return ("package", f"'{path}': unbekannte Paketart. Erlaubt: {allowed_kinds}.",
                f"'{path}': unknown package kind. Allowed: {allowed_kinds}.")
    windows = PACKAGE_KINDS[kind] == "windows"
    pattern = _WIN_PATH if windows else _POSIX_PATH
    if len(path) > PACKAGE_PATH_MAX or not pattern.fullmatch(path):
        shape_de = ("C:\\Pfad\\datei.{k} oder \\\\server\\freigabe\\datei.{k}" if windows
                    else "/absoluter/pfad/datei.{k}").format(k=kind)
        shape_en = ("C:\\path\\file.{k} or \\\\server\\share\\file.{k}" if windows
                    else "/absolute/path/file.{k}").format(k=kind)
        what_de = (f"kein Windows-Pfad (ein .{kind}-Paket ist ein Windows-Installer)" if windows
                   else "kein absoluter Pfad")
        what_en = (f"not a Windows path (a .{kind} package is a Windows installer)" if windows
                   else "not an absolute path")
        return ("package", f"'{path}' ist {what_de}. Erlaubt: {shape_de} (höchstens {PACKAGE_PATH_MAX} "
                           "Zeichen, keine Steuerzeichen).",
                f"'{path}' is {what_en}. Allowed: {shape_en} (at most {PACKAGE_PATH_MAX} characters, "
                "no control characters).")
    sha_de, sha_en = (f"'{sha256}'", f"'{sha256}'") if sha256 not in (None, "") else ("(fehlt)", "(missing)")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256.strip()):
        return ("sha256", f"{sha_de} ist keine SHA-256-Prüfsumme. Erlaubt: 64 Hex-Ziffern (Get-FileHash, "
                          "shasum -a 256, sha256sum).",
                f"{sha_en} is not a SHA-256 checksum. Allowed: 64 hex digits (Get-FileHash, shasum -a 256, "
                "sha256sum).")
    args = install_args.strip() if isinstance(install_args, str) else install_args
    args_de, args_en = ((f"'{install_args}'", f"'{install_args}'") if install_args not in (None, "")
                        else ("(fehlt)", "(missing)"))
    if kind == "exe":
        if not isinstance(args, str) or not _INSTALL_ARGS.fullmatch(args):
            return ("install_args", f"{args_de}: ein .exe-Installer braucht seine Schalter für die stille "
                                    "Installation (z. B. /S, -s, /quiet /norestart). Erlaubt: Buchstaben, Ziffern, "
                                    "Leerzeichen und / - _ = . : , + @, höchstens 200 Zeichen, keine Anführungszeichen.",
                    f"{args_en}: an .exe installer needs its silent-install switches (e.g. /S, -s, "
                    "/quiet /norestart). Allowed: letters, digits, spaces and / - _ = . : , + @, at most 200 "
                    "characters, no quotes.")
    elif args not in (None, ""):
        return ("install_args", f"{args_de}: Erlaubt nur für .exe-Installer; die Schalter für .{kind} sind fest "
                                "(install_args leer lassen).",
                f"{args_en}: Allowed only for .exe installers; the switches for .{kind} are fixed (leave "
                "install_args empty).")
    return None


def _valid_hwid(hwid: str | None, raw: str) -> bool:
    """Bus ids must carry 4-hex-digit vendor/device parts; other ids (ACPI, bundle ids) any non-blank text."""
    if hwid is None or _SPACE.search(raw):
        return False
    bus, _, body = hwid.partition("\\")
    required = _HEX_PARTS.get(bus)
    if not required:
        return True
    parts = dict(p.split("_", 1) for p in body.split("&") if "_" in p)
    return all(_HEX4.fullmatch(parts.get(key, "")) for key in required)


def _validate(entry: Any, index: int, file: str, problems: list[DatabaseProblem]) -> UpdateOffer | None:
    if not isinstance(entry, dict):
        problems.append(
            _problem(file, index, None, "ist kein Objekt ({t}).", "is not an object ({t}).", t=type(entry).__name__)
        )
        return None
    ok = True
    for key in REQUIRED:
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(
                _problem(
                    file,
                    index,
                    key,
                    "fehlt oder ist leer (Pflichtfeld, Text).",
                    "is missing or empty (required text field).",
                )
            )
            ok = False
    for key in ("vendor", "category", "download_url", "notes", "release_date", "importance", "package", "sha256",
                "install_args"):
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            problems.append(
                _problem(
                    file, index, key, "muss Text sein, nicht {t}.", "must be text, not {t}.", t=type(value).__name__
                )
            )
            ok = False
    unknown = sorted(set(entry) - _FIELDSET) if len(entry) > len(FIELDS) or not _FIELDSET.issuperset(entry) else []
    if unknown:
        problems.append(
            _problem(
                file,
                index,
                unknown[0],
                "unbekanntes Feld (ignoriert; erlaubt: {a}).",
                "unknown field (ignored; allowed: {a}).",
                a=", ".join(FIELDS),
            )
        )
    if not ok:
        return None
    hwid = normalise_hardware_id(entry["hardware_id"])
    raw_id = entry["hardware_id"].strip()
    if not _valid_hwid(hwid, raw_id):
        problems.append(
            _problem(
                file,
                index,
                "hardware_id",
                "{v!r} ist keine Hardware-ID (z. B. PCI\\VEN_10DE&DEV_2206).",
                "{v!r} is not a hardware id (e.g. PCI\\VEN_10DE&DEV_2206).",
                v=raw_id,
            )
        )
        return None
    if version_key(entry["latest_version"]) is None:
        problems.append(
            _problem(
                file,
                index,
                "latest_version",
                "{v!r} enthält keine Versionsnummer.",
                "{v!r} contains no version number.",
                v=entry["latest_version"],
            )
        )
        return None
    release = None
    if entry.get("release_date"):
        release = parse_date(entry["release_date"]) if _ISO_DATE.match(entry["release_date"]) else None
        if release is None:
            problems.append(
                _problem(
                    file,
                    index,
                    "release_date",
                    "{v!r} ist kein Datum (JJJJ-MM-TT).",
                    "{v!r} is not a date (YYYY-MM-DD).",
                    v=entry["release_date"],
                )
            )
            return None
    url = (entry.get("download_url") or "").strip()
    if url:
        if not _URL.match(url):
            problems.append(
                _problem(
                    file,
                    index,
                    "download_url",
                    "{v!r} ist keine http(s)-Adresse.",
                    "{v!r} is not an http(s) address.",
                    v=url,
                )
            )
            return None
    importance = entry.get("importance")
    if importance is not None:
        importance = importance.strip().upper()
        if importance not in IMPORTANCES:
            problems.append(
                _problem(
                    file,
                    index,
                    "importance",
                    "{v!r} ist ungültig (erlaubt: {a}).",
                    "{v!r} is not valid (allowed: {a}).",
                    v=entry["importance"],
                    a=", ".join(IMPORTANCES),
                )
            )
            return None
    package = None
    if any(entry.get(key) not in (None, "") for key in ("package", "sha256", "install_args")):
        problem = package_problem(entry.get("package"), entry.get("sha256"), entry.get("install_args"))
        if problem is not None:
            problems.append(DatabaseProblem(file, index, problem[0], tr(problem[1], problem[2])))
            return None
        kind = package_kind(entry["package"])
        package = {"package": entry["package"].strip(), "sha256": entry["sha256"].strip().lower(),
                   "install_args": (entry.get("install_args") or "").strip(), "kind": kind,
                   "platform": PACKAGE_KINDS[kind]}
    details: dict[str, Any] = {"file": file, "index": index}
    if package is not None:
        details["package"] = package
    return UpdateOffer(
        source="custom_db",
        name=entry["name"].strip(),
        hardware_id=hwid,
        latest_version=entry["latest_version"].strip(),
        vendor=(entry.get("vendor") or "").strip(),
        category=(entry.get("category") or "").strip(),
        release_date=release,
        importance=importance,
        download_url=url,
        notes=(entry.get("notes") or "").strip(),
        details=details,
    )


def parse_database(text: str, file: str = "<text>") -> DriverDatabase:
    """Validate the text of one database file. Raises :class:`DriverDatabaseError` only for a broken file."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        return DriverDatabase(files=[file])
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DriverDatabaseError(
            tr(
                "Treiber-Datenbank {f}: kein gültiges JSON ({m}, Zeile {l}, Spalte {c}).",
                "Driver database {f}: not valid JSON ({m}, line {l}, column {c}).",
                f=file,
                m=exc.msg,
                l=exc.lineno,
                c=exc.colno,
            ),
            hint=tr("Die Datei muss eine JSON-Liste von Einträgen sein.", "The file must be a JSON list of entries."),
        ) from None
    if isinstance(data, dict) and isinstance(data.get("drivers"), list):
        data = data["drivers"]
    if not isinstance(data, list):
        raise DriverDatabaseError(
            tr(
                "Treiber-Datenbank {f}: erwartet wird eine JSON-Liste von Einträgen, nicht {t}.",
                "Driver database {f}: expected a JSON list of entries, not {t}.",
                f=file,
                t=type(data).__name__,
            )
        )
    db = DriverDatabase(files=[file])
    for index, entry in enumerate(data):
        offer = _validate(entry, index, file, db.problems)
        if offer is not None:
            db.offers.append(offer)
    return db


_CACHE: dict[str, tuple[tuple[int, int, str], DriverDatabase]] = {}


def _load_file(path: Path) -> DriverDatabase | None:
    """One file, parsed once per version (mtime, size, language): repeated reports skip re-validation.
    ``None`` when the file does not exist."""
    from ...i18n import get_language

    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    except OSError:
        stat = None
    key = (stat.st_mtime_ns, stat.st_size, get_language()) if stat else None
    hit = _CACHE.get(str(path))
    if key and hit and hit[0] == key:
        return hit[1]
    text = _read(path)
    if text is None:
        return None
    db = parse_database(text, str(path))
    if key:
        _CACHE[str(path)] = (key, db)
    return db


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise DriverDatabaseError(
            tr("Treiber-Datenbank {f}: kein UTF-8-Text.", "Driver database {f}: not UTF-8 text.", f=path)
        ) from None
    except OSError as exc:
        raise DriverDatabaseError(
            tr(
                "Treiber-Datenbank {f} nicht lesbar ({e}).",
                "Driver database {f} cannot be read ({e}).",
                f=path,
                e=exc.strerror or exc,
            )
        ) from None


def load_database(
    shipped: str | os.PathLike[str] | None = None, user: str | os.PathLike[str] | None | bool = None
) -> DriverDatabase:
    """Shipped database merged with the user's file (``user=False`` skips it)."""
    shipped_path = Path(shipped) if shipped is not None else SHIPPED_PATH
    merged = DriverDatabase()
    by_key: dict[str, int] = {}
    paths = [shipped_path]
    if user is not False:
        paths.append(Path(user) if isinstance(user, (str, os.PathLike)) else user_database_path())
    for path in paths:
        db = _load_file(path)
        if db is None:
            continue
        merged.files.append(str(path))
        merged.problems.extend(db.problems)
        for offer in db.offers:
            key = offer.hardware_id or ""
            if key in by_key:
                merged.offers[by_key[key]] = offer
            else:
                by_key[key] = len(merged.offers)
                merged.offers.append(offer)
    return merged
