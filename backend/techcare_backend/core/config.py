"""Backend settings (pydantic-settings, environment and ``.env``).

Production needs ``DATABASE_URL`` (``postgresql+psycopg://...``), ``REDIS_URL`` (``redis://...``) and three
secrets: ``ADMIN_TOKEN``, ``JWT_SIGNING_KEY`` (Ed25519 private key: PEM or the 32-byte seed in base64url) and
``LICENSE_KEY_SECRET`` (keys the check tag and the stored hash of license keys). ``techcare-backend keys
generate`` creates all three.

Without ``DATABASE_URL`` / ``REDIS_URL`` the backend runs embedded: a SQLite file under the data directory and an
in-process cache. Empty, short or well-known default secrets are refused unless ``TECHCARE_ENV=development``,
which generates throwaway secrets (kept in ``<data dir>/backend-dev-secrets.json`` so restarts keep working)
and warns loudly.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from techcare.errors import ConfigError
from techcare.i18n import tr

log = logging.getLogger("techcare_backend")

__all__ = ["BackendSettings", "generate_secrets", "load_backend_settings", "public_key_b64", "load_private_key"]

# Values people copy from examples; never accepted outside development.
KNOWN_DEFAULTS = {"", "changeme", "change-me", "change_me", "secret", "admin", "password", "secure_password",
                  "jwt_secret", "your-secret", "default", "test", "techcare", "..."}
MIN_SECRET_LENGTH = 16


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_private_key(value: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM text or a base64url 32-byte seed. Raises ValueError."""
    value = value.strip()
    if value.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(value.replace("\\n", "\n").encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("not an Ed25519 key")
        return key
    raw = _b64url_decode(value.removeprefix("ed25519:"))
    if len(raw) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_b64(key: Ed25519PublicKey) -> str:
    return _b64url(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def generate_secrets() -> dict[str, str]:
    """Fresh production secrets as ``KEY: value`` (what ``techcare-backend keys generate`` prints)."""
    seed = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                      serialization.NoEncryption())
    return {"ADMIN_TOKEN": secrets.token_urlsafe(32), "JWT_SIGNING_KEY": _b64url(seed),
            "LICENSE_KEY_SECRET": secrets.token_urlsafe(32)}


class BackendSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    techcare_env: Literal["production", "development"] = "production"
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "techcare:"
    techcare_data_dir: Path = Path("data")
    admin_token: str | None = None
    jwt_signing_key: str | None = None
    jwt_key_id: str | None = None
    # Extra verification keys to publish (rotation): comma-separated base64url Ed25519 public keys.
    jwt_extra_public_keys: str = ""
    license_key_secret: str | None = None
    auto_migrate: bool | None = None  # default: on for embedded SQLite, off when DATABASE_URL is set
    lease_days: int = Field(7, ge=1, le=31)
    denial_lease_seconds: int = Field(3600, ge=60, le=86400)
    license_cache_seconds: int = Field(30, ge=0, le=3600)
    auth_cache_seconds: int = Field(30, ge=0, le=3600)
    rate_limit_ip_per_minute: int = Field(120, ge=1)
    rate_limit_key_per_minute: int = Field(30, ge=1)
    max_transfers: int = Field(3, ge=0, le=1000)
    host_overdue_seconds: int = Field(900, ge=30)
    disk_warning_percent: float = Field(90.0, gt=0, le=100)
    disk_critical_percent: float = Field(97.0, gt=0, le=100)
    db_pool_size: int = Field(10, ge=1, le=200)
    # Metrics history (docs: README "Backend"): raw samples are kept this many days (whole UTC days; PostgreSQL drops
    # the day partitions), hourly/daily rollups this many; the server runs the maintenance pass every
    # METRICS_MAINTENANCE_SECONDS (0: never; then run `techcare-backend maintenance` from cron).
    metrics_retention_days: int = Field(30, ge=1, le=3650)
    metrics_rollup_retention_days: int = Field(400, ge=1, le=3650)
    metrics_maintenance_seconds: int = Field(300, ge=0, le=86400)
    trust_proxy_headers: bool = False  # behind Cloudflare Tunnel / a reverse proxy: use CF-Connecting-IP, X-Forwarded-For

    @field_validator("database_url", "redis_url", "admin_token", "jwt_signing_key", "license_key_secret",
                     "jwt_key_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _db(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        if not value.startswith(("postgresql+psycopg://", "sqlite://")):
            raise ValueError("use postgresql+psycopg://user:password@host:5432/db or sqlite:///path")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use redis://host:6379/0 (or rediss://)")
        return value

    # ---- derived -----------------------------------------------------------------------------------
    @property
    def development(self) -> bool:
        return self.techcare_env == "development"

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.techcare_data_dir / 'techcare-backend.sqlite3').resolve()}"

    @property
    def should_migrate(self) -> bool:
        return self.embedded if self.auto_migrate is None else self.auto_migrate

    @cached_property
    def signing_key(self) -> Ed25519PrivateKey:
        assert self.jwt_signing_key is not None
        return load_private_key(self.jwt_signing_key)

    @cached_property
    def signing_kid(self) -> str:
        return self.jwt_key_id or kid_for(public_key_b64(self.signing_key.public_key()))

    @cached_property
    def verification_keys(self) -> dict[str, str]:
        """kid -> base64url public key, the signing key first."""
        keys = {self.signing_kid: public_key_b64(self.signing_key.public_key())}
        for item in (p.strip() for p in self.jwt_extra_public_keys.split(",")):
            if item:
                keys.setdefault(kid_for(item), item)
        return keys

    @cached_property
    def key_secret_bytes(self) -> bytes:
        assert self.license_key_secret is not None
        return self.license_key_secret.encode("utf-8")


def kid_for(public_b64: str) -> str:
    import hashlib

    return "tc-" + hashlib.sha256(_b64url_decode(public_b64)).hexdigest()[:16]


def _dev_secrets(data_dir: Path) -> dict[str, str]:
    path = data_dir / "backend-dev-secrets.json"
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(stored, dict) and all(isinstance(stored.get(k), str) for k in generate_secrets()):
            return stored
    except (OSError, ValueError):
        pass
    fresh = generate_secrets()
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(fresh, handle)
    return fresh


def _secret_problem(name: str, value: str | None) -> str | None:
    if value is None or value.strip().lower() in KNOWN_DEFAULTS:
        return tr("{name} fehlt oder ist ein bekannter Standardwert", "{name} is missing or a well-known default",
                  name=name)
    if len(value) < MIN_SECRET_LENGTH:
        return tr("{name} ist kürzer als {n} Zeichen", "{name} is shorter than {n} characters", name=name,
                  n=MIN_SECRET_LENGTH)
    return None


def load_backend_settings(env_file: str | os.PathLike[str] | None = None, **overrides: Any) -> BackendSettings:
    """Read, validate and complete the settings; raises :class:`ConfigError` naming every problem."""
    path = Path(env_file) if env_file else Path(os.environ.get("TECHCARE_ENV_FILE", ".env"))
    try:
        settings = BackendSettings(_env_file=path if path.exists() else None, **overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigError(tr("Backend-Konfigurationsfehler: {p}", "Backend configuration error: {p}", p=problems),
                          key=str(exc.errors()[0]["loc"][0]).upper()) from None
    secrets_named = {"ADMIN_TOKEN": settings.admin_token, "JWT_SIGNING_KEY": settings.jwt_signing_key,
                     "LICENSE_KEY_SECRET": settings.license_key_secret}
    if settings.development:
        missing = [k for k, v in secrets_named.items() if _secret_problem(k, v)]
        if missing:
            generated = _dev_secrets(settings.techcare_data_dir)
            for key in missing:
                setattr(settings, key.lower(), generated[key])
            log.warning("!" * 78)
            log.warning("TECHCARE_ENV=development: using THROWAWAY secrets for %s (stored in %s). "
                        "Never use this mode in production; run `techcare-backend keys generate`.",
                        ", ".join(missing), settings.techcare_data_dir / "backend-dev-secrets.json")
            log.warning("!" * 78)
    else:
        problems = [p for p in (_secret_problem(k, v) for k, v in secrets_named.items()) if p]
        if problems:
            raise ConfigError(
                tr("Unsichere Backend-Konfiguration: {p}.", "Unsafe backend configuration: {p}.", p="; ".join(problems)),
                key=next(k for k, v in secrets_named.items() if _secret_problem(k, v)),
                allowed=tr("eigene Geheimnisse (techcare-backend keys generate) oder TECHCARE_ENV=development",
                           "real secrets (techcare-backend keys generate) or TECHCARE_ENV=development"),
                hint=tr("`techcare-backend keys generate --env-file .env` erzeugt sie.",
                        "`techcare-backend keys generate --env-file .env` creates them."))
    try:
        settings.signing_key  # noqa: B018 - validates the key now
    except ValueError as exc:
        raise ConfigError(tr("JWT_SIGNING_KEY ist kein Ed25519-Schlüssel ({e}). Erlaubt: PEM oder 32-Byte-Seed "
                             "in base64url.", "JWT_SIGNING_KEY is not an Ed25519 key ({e}). Allowed: PEM or a "
                             "32-byte seed in base64url.", e=exc), key="JWT_SIGNING_KEY") from None
    if settings.metrics_rollup_retention_days < settings.metrics_retention_days:
        raise ConfigError(tr(
            "METRICS_ROLLUP_RETENTION_DAYS ({r}) ist kleiner als METRICS_RETENTION_DAYS ({d}): Verläufe jenseits der "
            "Rohdaten kämen aus Rollups, die schon gelöscht wären. Erlaubt: {d} bis 3650.",
            "METRICS_ROLLUP_RETENTION_DAYS ({r}) is below METRICS_RETENTION_DAYS ({d}): history past the raw samples "
            "would come from rollups already deleted. Allowed: {d} to 3650.", r=settings.metrics_rollup_retention_days,
            d=settings.metrics_retention_days), key="METRICS_ROLLUP_RETENTION_DAYS")
    if 0 < settings.metrics_maintenance_seconds < 60:
        raise ConfigError(tr("METRICS_MAINTENANCE_SECONDS={n} ist zu kurz. Erlaubt: 0 (nie) oder 60 bis 86400.",
                             "METRICS_MAINTENANCE_SECONDS={n} is too short. Allowed: 0 (never) or 60 to 86400.",
                             n=settings.metrics_maintenance_seconds), key="METRICS_MAINTENANCE_SECONDS")
    if settings.disk_critical_percent <= settings.disk_warning_percent:
        raise ConfigError(tr("DISK_CRITICAL_PERCENT muss größer als DISK_WARNING_PERCENT sein.",
                             "DISK_CRITICAL_PERCENT must be above DISK_WARNING_PERCENT."), key="DISK_CRITICAL_PERCENT")
    return settings
