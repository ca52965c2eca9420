"""Dashboard login sessions: a signed, expiring, HttpOnly + SameSite=Strict cookie bound to an API key.

Technicians log in with their organisation API key (``tck_...``, role admin or technician; sensor keys may not).
The cookie holds ``v1.<payload>.<HMAC-SHA256>`` where the payload names the API key id, organisation, role,
expiry and a random session id (``sid``) that doubles as the CSRF secret for POST forms. The key itself is never
stored. Every request re-checks, in one database query, that the key still exists and is not revoked and that the
session was not logged out: logout stores the ``sid`` in ``dashboard_session_revocations`` (until the cookie would
have expired), so it holds on every instance whether or not Redis is reachable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from datetime import datetime, timezone

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError

from ..models import ApiKey, Organisation, SessionRevocation, Technician

__all__ = ["COOKIE", "LOGIN_CSRF_COOKIE", "DashSession", "csrf_token", "is_active", "issue", "revoke", "signing_key",
           "verify"]

COOKIE = "tc_dash"
LOGIN_CSRF_COOKIE = "tc_login_csrf"
SESSION_SECONDS = 8 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key(settings: Any) -> bytes:
    """A key for dashboard cookies only, derived from the backend's license key secret (or admin token)."""
    secret = (settings.license_key_secret or settings.admin_token or "").encode("utf-8")
    if len(secret) < 16:
        raise RuntimeError("the dashboard needs LICENSE_KEY_SECRET (or ADMIN_TOKEN) to sign its cookies")
    return hmac.new(secret, b"techcare-dashboard-session-v1", hashlib.sha256).digest()


@dataclass(frozen=True)
class DashSession:
    key_id: str
    organisation_id: str
    organisation: str
    role: str
    name: str
    sid: str
    exp: int


def issue(key: bytes, *, key_id: str, organisation_id: str, organisation: str, role: str, name: str,
          seconds: int = SESSION_SECONDS, now: float | None = None) -> tuple[str, DashSession]:
    exp = int((now if now is not None else time.time()) + seconds)
    sess = DashSession(key_id=key_id, organisation_id=organisation_id, organisation=organisation, role=role,
                       name=name, sid=secrets.token_urlsafe(18), exp=exp)
    payload = _b64(json.dumps(sess.__dict__, separators=(",", ":")).encode("utf-8"))
    sig = _b64(hmac.new(key, f"v1.{payload}".encode("ascii"), hashlib.sha256).digest())
    return f"v1.{payload}.{sig}", sess


def verify(key: bytes, cookie: str | None, *, now: float | None = None) -> DashSession | None:
    """The session of a cookie if its signature is right and it has not expired; else ``None``."""
    if not cookie or len(cookie) > 4096 or cookie.count(".") != 2:
        return None
    version, payload, sig = cookie.split(".")
    if version != "v1":
        return None
    expected = _b64(hmac.new(key, f"v1.{payload}".encode("ascii", "replace"), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, sig):
        return None
    try:
        data = json.loads(_unb64(payload))
        sess = DashSession(**data)
    except (ValueError, TypeError):
        return None
    if sess.exp < (now if now is not None else time.time()):
        return None
    return sess


def csrf_token(key: bytes, sess: DashSession) -> str:
    """The CSRF token of POST forms of this session (bound to its ``sid``)."""
    return _b64(hmac.new(key, f"csrf.{sess.sid}".encode("ascii"), hashlib.sha256).digest())[:32]


def key_login(db: Any, *, key_hash: str) -> dict[str, Any] | None:
    """The API key row (with organisation and technician names) for a login, or ``None`` if unknown/revoked."""
    row = db.execute(select(ApiKey, Organisation.name, Technician.name)
                     .join(Organisation, Organisation.id == ApiKey.organisation_id)
                     .outerjoin(Technician, Technician.id == ApiKey.technician_id)
                     .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))).first()
    if row is None:
        return None
    key, org_name, tech_name = row
    return {"key_id": key.id, "organisation_id": key.organisation_id, "organisation": org_name, "role": key.role,
            "name": tech_name or key.name}


def is_active(db: Any, sess: DashSession) -> bool:
    """The session's key still exists and is not revoked, and the session was not logged out (one query)."""
    logged_out = exists().where(SessionRevocation.sid == sess.sid)
    return db.execute(select(ApiKey.id).where(ApiKey.id == sess.key_id, ApiKey.organisation_id == sess.organisation_id,
                                              ApiKey.revoked_at.is_(None), ~logged_out)).first() is not None


def revoke(sessionmaker: Any, sess: DashSession, *, now: datetime | None = None) -> None:
    """Log the session out for good: a row until the cookie would have expired, committed before this returns
    (rows of cookies that have expired anyway are deleted on the way). Logging out twice is fine. Blocking: call
    it in the thread pool from async code."""
    now = now or datetime.now(timezone.utc)
    with sessionmaker() as db:
        db.execute(delete(SessionRevocation).where(SessionRevocation.expires_at < now))
        if db.get(SessionRevocation, sess.sid) is None:
            db.add(SessionRevocation(sid=sess.sid, organisation_id=sess.organisation_id, key_id=sess.key_id,
                                     revoked_at=now, expires_at=datetime.fromtimestamp(sess.exp, timezone.utc)))
        try:
            db.commit()
        except IntegrityError:  # the same session logged out concurrently
            db.rollback()
