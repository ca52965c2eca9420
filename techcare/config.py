"""Settings from ``.env`` and the environment (pydantic-settings).

Where settings come from, later wins:
1. defaults below,
2. the ``.env`` file: ``TECHCARE_ENV_FILE`` if set, else ``./.env``,
3. the process environment.

A bad value never becomes a traceback: :func:`load_settings` raises :class:`~techcare.errors.ConfigError`
whose message names every bad key, its value and what is allowed; the CLI prints it and exits with status 2.
The same for the file itself: a ``.env`` path that is a directory, cannot be read or is not UTF-8 text, and a
setting given twice in it with different values (which line should win is a guess: it is refused, naming both
lines; the same value twice is harmless and accepted).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError
from .i18n import tr

__all__ = ["EDITIONS", "NETWORK_METHODS", "Settings", "get_settings", "load_settings", "reset_settings",
           "resolve_env_file", "validate_setting", "write_env_file"]

EDITIONS = ("community", "pro", "pro_business", "enterprise")
NETWORK_METHODS = ("cloudflare", "tailscale", "vpn", "direct")
LEARNING_DB_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "mysql", "mysql+pymysql", "mariadb",
                       "mariadb+pymysql", "http", "https")

# What is allowed, per key, for error messages (German, English).
_ALLOWED: dict[str, tuple[str, str]] = {
    "session_timeout": ("eine ganze Zahl von Sekunden zwischen 1 und 86400", "a whole number of seconds from 1 to 86400"),
    "sensor_interval": ("eine ganze Zahl von Sekunden zwischen 10 und 86400", "a whole number of seconds from 10 to 86400"),
    "network_method": (" | ".join(NETWORK_METHODS), " | ".join(NETWORK_METHODS)),
    "edition": (" | ".join(EDITIONS), " | ".join(EDITIONS)),
    "techcare_lang": ("de | en", "de | en"),
    "backend_url": ("eine http(s)-URL mit Hostname, z.B. https://techcare.firma.de",
                    "an http(s) URL with a host name, e.g. https://techcare.example.com"),
    "anthropic_base_url": ("eine http(s)-URL mit Hostname", "an http(s) URL with a host name"),
    "learning_db_url": ("eine Datenbank-URL (postgresql+psycopg://, mysql+pymysql://, sqlite:///) oder die Backend-URL",
                        "a database URL (postgresql+psycopg://, mysql+pymysql://, sqlite:///) or the backend URL"),
    "disk_warning_percent": ("eine Zahl zwischen 1 und 100", "a number from 1 to 100"),
    "disk_critical_percent": ("eine Zahl zwischen 1 und 100, größer als die Warnschwelle",
                              "a number from 1 to 100, above the warning threshold"),
    "ram_warning_percent": ("eine Zahl zwischen 1 und 100", "a number from 1 to 100"),
    "cpu_warning_percent": ("eine Zahl zwischen 1 und 100", "a number from 1 to 100"),
    "probe_timeout": ("eine Zahl von Sekunden zwischen 1 und 600", "a number of seconds from 1 to 600"),
    "remote_jobs": ("on | off (Fernaufträge auf diesem Sensor-Rechner ausführen; Standard off)",
                    "on | off (run remote jobs on this sensor host; default off)"),
    "sensor_tags": ("bis zu 32 kommagetrennte Tags wie kunde:baeckerei-mueller,rolle:kasse (klein: a-z 0-9 _ . -, "
                    "höchstens ein „:“, je Teil bis 63 Zeichen)",
                    "up to 32 comma-separated tags such as kunde:baeckerei-mueller,rolle:kasse (lowercase: a-z 0-9 "
                    "_ . -, at most one ':', up to 63 characters per part)"),
}

#: a host tag (docs/remote-jobs.md §5): ``name`` or ``kind:name``
TAG_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}(:[a-z0-9][a-z0-9_.-]{0,62})?$"
MAX_SENSOR_TAGS = 32


def parse_tags(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """``SENSOR_TAGS`` as a list: comma-separated, trimmed and lowercased, each once, in the given order.
    Raises ``ValueError`` naming the first tag that is not allowed (or when there are more than 32)."""
    import re

    items = value.split(",") if isinstance(value, str) else list(value or [])
    out: list[str] = []
    for item in items:
        tag = str(item).strip().lower()
        if not tag:
            continue
        if not re.fullmatch(TAG_PATTERN, tag):
            raise ValueError(f"tag {tag!r} is not allowed")
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_SENSOR_TAGS:
        raise ValueError(f"{len(out)} tags, at most {MAX_SENSOR_TAGS}")
    return out


def _check_url(value: str | None, *, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    if value is None or value == "":
        return None
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme.lower() not in schemes:
        raise ValueError("bad scheme")
    if parts.scheme.startswith(("http",)) and not parts.hostname:
        raise ValueError("no host")
    if " " in value:
        raise ValueError("space in URL")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError("bad port") from exc
    return value.rstrip("/") if parts.scheme.startswith("http") else value


class Settings(BaseSettings):
    """All TechCare client settings. Field names are the environment keys, case-insensitive."""

    model_config = SettingsConfigDict(env_file_encoding="utf-8", extra="ignore", case_sensitive=False,
                                      validate_default=True)

    technician_password_hash: str | None = Field(None, repr=False)
    session_timeout: int = Field(3600, ge=1, le=86400)
    backend_url: str | None = None
    network_method: Literal["cloudflare", "tailscale", "vpn", "direct"] = "cloudflare"
    license_key: str | None = Field(None, repr=False)
    edition: Literal["community", "pro", "pro_business", "enterprise"] = "community"
    anthropic_api_key: str | None = Field(None, repr=False)
    anthropic_base_url: str | None = None
    techcare_model: str = "claude-sonnet-5-5"
    sensor_interval: int = Field(300, ge=10, le=86400)
    techcare_api_key: str | None = Field(None, repr=False)
    technician_name: str = ""
    company: str = ""
    techcare_lang: Literal["de", "en"] = "de"
    learning_db_url: str | None = None
    techcare_briefing: str = ""
    techcare_home: Path = Field(default_factory=lambda: Path("~/.techcare"))
    techcare_data_dir: Path = Path("data")
    # Diagnosis thresholds (percent).
    disk_warning_percent: float = Field(90.0, gt=0, le=100)
    disk_critical_percent: float = Field(97.0, gt=0, le=100)
    ram_warning_percent: float = Field(90.0, gt=0, le=100)
    cpu_warning_percent: float = Field(95.0, gt=0, le=100)
    probe_timeout: float = Field(20.0, ge=1, le=600)
    # Sensor hosts: run signed remote jobs (docs/remote-jobs.md). Off unless set here by a local admin.
    remote_jobs: Literal["on", "off"] = "off"
    # Sensor hosts: the host's groups, sent with every sample (docs/remote-jobs.md §5), e.g. kunde:mueller,rolle:kasse
    sensor_tags: str = ""

    @field_validator("technician_password_hash", "license_key", "anthropic_api_key", "techcare_api_key",
                     "learning_db_url", "backend_url", "anthropic_base_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("network_method", "edition", "techcare_lang", "remote_jobs", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered.replace("-", "_") in EDITIONS:  # "pro-business" is what people type
                lowered = lowered.replace("-", "_")
            return lowered or value
        return value

    @field_validator("sensor_tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, (str, list, tuple)):
            return ",".join(parse_tags(value))
        return value

    @property
    def tags(self) -> list[str]:
        """``SENSOR_TAGS`` as a list (validated)."""
        return [t for t in self.sensor_tags.split(",") if t]

    @field_validator("backend_url", "anthropic_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return _check_url(value)

    @field_validator("learning_db_url")
    @classmethod
    def _db_url(cls, value: str | None) -> str | None:
        return _check_url(value, schemes=LEARNING_DB_SCHEMES)

    @field_validator("techcare_home", "techcare_data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return Path(os.path.expandvars(str(value))).expanduser()

    # ---- derived paths -------------------------------------------------------------------------------
    @property
    def home(self) -> Path:
        return self.techcare_home

    @property
    def data_dir(self) -> Path:
        return self.techcare_data_dir

    @property
    def sessions_dir(self) -> Path:
        return self.techcare_data_dir / "sessions"

    @property
    def changelogs_dir(self) -> Path:
        return self.techcare_data_dir / "changelogs"

    @property
    def cases_dir(self) -> Path:
        return self.techcare_data_dir / "cases"

    @property
    def language(self) -> str:
        return self.techcare_lang

    def ensure_dirs(self) -> None:
        """Create TECHCARE_HOME (mode 0700) and the data directories."""
        self.techcare_home.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(self.techcare_home, 0o700)
        except OSError:
            pass
        for path in (self.data_dir, self.sessions_dir, self.changelogs_dir, self.cases_dir):
            path.mkdir(parents=True, exist_ok=True)
            try:
                os.chmod(path, 0o700)  # changelogs, backups and chat sessions hold customer data
            except OSError:
                pass


def resolve_env_file(environ: dict[str, str] | None = None) -> Path:
    """The ``.env`` file in use: ``TECHCARE_ENV_FILE`` or ``./.env`` (which may not exist yet)."""
    env = os.environ if environ is None else environ
    named = env.get("TECHCARE_ENV_FILE")
    return Path(named).expanduser() if named else Path.cwd() / ".env"


_SECRET_FIELDS = {"technician_password_hash", "license_key", "anthropic_api_key", "techcare_api_key"}


def _shown(field: str, value: Any) -> Any:
    """A value as it may appear in an error message or log: secrets masked, URL passwords removed."""
    if value is None:
        return value
    if field in _SECRET_FIELDS:
        text = str(value)
        return text[:4] + "…" if len(text) > 8 else "***"
    if isinstance(value, str) and "@" in value and "://" in value:
        scheme, _, rest = value.partition("://")
        userinfo, at, host = rest.rpartition("@")
        if at:
            user = userinfo.split(":", 1)[0]
            return f"{scheme}://{user}:***@{host}" if ":" in userinfo else f"{scheme}://{user}@{host}"
    return value


def _format_errors(exc: ValidationError, source: dict[str, Any]) -> ConfigError:
    lines = []
    first_key = first_value = first_allowed = None
    for err in exc.errors():
        field = str(err["loc"][0]) if err.get("loc") else "?"
        key = field.upper()
        value = err.get("input")
        if isinstance(value, dict):  # model-level error
            value = source.get(field)
        value = _shown(field, value)
        allowed_de, allowed_en = _ALLOWED.get(field, (err.get("msg", ""), err.get("msg", "")))
        allowed = tr(allowed_de, allowed_en)
        if err.get("type") == "literal_error" and field not in _ALLOWED:
            allowed = err.get("msg", "")
        lines.append(tr("{key}={value!r} ist ungültig. Erlaubt: {allowed}.",
                        "{key}={value!r} is not valid. Allowed: {allowed}.", key=key, value=value, allowed=allowed))
        if first_key is None:
            first_key, first_value, first_allowed = key, value, allowed
    message = tr("Konfigurationsfehler: ", "Configuration error: ") + " ".join(lines)
    return ConfigError(message, key=first_key, value=first_value, allowed=first_allowed,
                       hint=tr("Bitte in .env oder der Umgebung korrigieren (techcare setup hilft).",
                               "Fix it in .env or the environment (techcare setup helps)."))


def _env_file_error(message_de: str, message_en: str, path: Path, **fmt: Any) -> ConfigError:
    return ConfigError(tr(message_de, message_en, path=path, **fmt), key="TECHCARE_ENV_FILE", value=str(path),
                       allowed=tr("der Pfad einer lesbaren .env-Textdatei (UTF-8)",
                                  "the path of a readable .env text file (UTF-8)"))


def _check_duplicates(path: Path) -> None:
    """Refuse a setting given twice in ``path`` with different values (keys are case-insensitive, as in
    :class:`Settings`); name every such key with its lines."""
    from dotenv.parser import parse_stream

    seen: dict[str, tuple[int, str, str | None]] = {}
    conflicts: list[str] = []
    with path.open(encoding="utf-8") as stream:
        for binding in parse_stream(stream):
            if binding.key is None or binding.key.lower() not in Settings.model_fields:
                continue
            field = binding.key.lower()
            line = binding.original.line
            if field in seen and seen[field][2] != binding.value:
                first_line, first_key, first_value = seen[field]
                conflicts.append(tr("{k} in Zeile {a} ({va!r}) und Zeile {b} ({vb!r})",
                                    "{k} on line {a} ({va!r}) and line {b} ({vb!r})", k=field.upper(), a=first_line,
                                    va=_shown(field, first_value), b=line, vb=_shown(field, binding.value)))
            seen[field] = (line, binding.key, binding.value)
    if conflicts:
        raise ConfigError(tr("{path}: Einstellung mehrfach mit verschiedenen Werten gesetzt: {c}. Welche gilt, wäre "
                             "geraten.", "{path}: setting given more than once with different values: {c}. Which "
                             "one applies would be a guess.", path=path, c="; ".join(conflicts)),
                          key=conflicts[0].split(" ", 1)[0], value=str(path),
                          allowed=tr("jede Einstellung einmal", "each setting once"),
                          hint=tr("Die falsche Zeile löschen (techcare setup schreibt jede Einstellung einmal).",
                                  "Delete the wrong line (techcare setup writes each setting once)."))


def load_settings(env_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read and validate the settings. Raises :class:`ConfigError` with a readable message on bad values."""
    path = Path(env_file) if env_file is not None else resolve_env_file()
    if env_file is not None and not path.exists():
        raise ConfigError(tr("Die Konfigurationsdatei {path} existiert nicht.", "The configuration file {path} does not exist.",
                             path=path), key="TECHCARE_ENV_FILE", value=str(path))
    if path.exists() and not path.is_file():
        named = env_file is not None or os.environ.get("TECHCARE_ENV_FILE")
        raise _env_file_error("{path} ist keine Datei, sondern ein Ordner{w}.", "{path} is not a file but a "
                              "directory{w}.", path, w=tr(" (TECHCARE_ENV_FILE)", " (TECHCARE_ENV_FILE)") if named else "")
    try:
        if path.exists():
            _check_duplicates(path)
        return Settings(_env_file=path if path.exists() else None, **overrides)
    except ValidationError as exc:
        raise _format_errors(exc, overrides) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(tr("{path} ist keine UTF-8-Textdatei ({exc}).", "{path} is not a UTF-8 text file ({exc}).",
                             path=path, exc=exc), key="TECHCARE_ENV_FILE", value=str(path)) from None
    except OSError as exc:
        raise _env_file_error("{path} ist nicht lesbar: {e}.", "{path} cannot be read: {e}.", path,
                              e=exc.strerror or exc) from None


def _validate_thresholds(settings: Settings) -> Settings:
    if settings.disk_critical_percent <= settings.disk_warning_percent:
        allowed = tr(*_ALLOWED["disk_critical_percent"])
        raise ConfigError(tr("DISK_CRITICAL_PERCENT={value!r} ist ungültig. Erlaubt: {allowed}.",
                             "DISK_CRITICAL_PERCENT={value!r} is not valid. Allowed: {allowed}.",
                             value=settings.disk_critical_percent, allowed=allowed),
                          key="DISK_CRITICAL_PERCENT", value=settings.disk_critical_percent, allowed=allowed)
    return settings


class _InitOnly(Settings):
    """Validates given values only (no .env, no environment): used to check one answer at a time."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,  # type: ignore[override]
                                   file_secret_settings):
        return (init_settings,)


def validate_setting(key: str, value: Any) -> Any:
    """Validate one setting (``key`` as in .env, e.g. ``SENSOR_INTERVAL``) and return its normalised value.

    Raises :class:`ConfigError` naming the key, the value and what is allowed.
    """
    field = key.lower()
    if field not in Settings.model_fields:
        raise ConfigError(tr("Unbekannte Einstellung {key}.", "Unknown setting {key}.", key=key), key=key, value=value)
    try:
        model = _InitOnly(**{field: value})
    except ValidationError as exc:
        raise _format_errors(exc, {field: value}) from None
    return getattr(model, field)


_cached: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, loaded once (``reset_settings()`` forgets them, e.g. after setup)."""
    global _cached
    if _cached is None:
        _cached = _validate_thresholds(load_settings())
    return _cached


def reset_settings() -> None:
    global _cached
    _cached = None


def write_env_file(path: str | os.PathLike[str], values: dict[str, Any]) -> Path:
    """Write ``KEY=value`` lines atomically with mode 0600 (a temp file in the same directory, then rename).

    Existing keys not named in ``values`` are kept, so nothing a technician added by hand is lost.
    """
    target = Path(path)
    existing: dict[str, str] = {}
    order: list[str] = []
    if target.exists():
        for line in target.read_text(encoding="utf-8").splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, _, val = line.partition("=")
                if key.strip() not in existing:
                    order.append(key.strip())
                existing[key.strip()] = val   # a key written twice by hand is written once (its last value)
    for key, value in values.items():
        if key not in existing:
            order.append(key)
        existing[key] = _quote(value)
    content = "".join(f"{key}={existing[key]}\n" for key in order)
    from ._fs import atomic_write

    return atomic_write(target, content, mode=0o600)


def _quote(value: Any) -> str:
    text = "" if value is None else str(value)
    if any(ch in text for ch in " #'\"$\\") or text != text.strip():
        escaped = text.replace("\\", "\\\\").replace("'", "\\'")
        return f"'{escaped}'"
    return text
