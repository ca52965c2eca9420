"""What each licence outcome says and keeps, exactly (survivors of `scripts/mutation license`, second part): every
status is compared whole (code, ok, edition, times, licence id, detail, advice, claims) in German and English;
what the server's answer does to the high-water mark and the cached lease; each reason a lease is refused; the
pinned keys; the texts of the command and of each status."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest

from techcare import license
from techcare.backend_client import BackendHTTPError, BackendUnavailable
from techcare.config import load_settings
from techcare.errors import BackendError
from techcare.license import LicenseManager, LicenseStatus, machine_fingerprint

from .fakes import DAY, ENTS, FP, T0, Backend, Clock, FakeLicenseServer, Reply, claims_for, new_key, token_for

LANGS = ("de", "en")


@pytest.fixture(autouse=True)
def _forget_license():
    license.set_current(None)
    yield
    license.set_current(None)





def make(tmp_path, clock, client, *, key: str = "TECHCARE-PB-TEST", **kw) -> LicenseManager:
    settings = load_settings(backend_url="http://license.test", license_key=key, edition="pro_business")
    kw.setdefault("fingerprint", FP)
    return LicenseManager(settings, client=client, clock=clock, home=tmp_path / "home", **kw)


def in_lang(monkeypatch, lang: str) -> None:
    monkeypatch.setenv("TECHCARE_LANG", lang)


def decoded(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


# ---- what a valid answer keeps ------------------------------------------------------------------------------------

def test_a_valid_answer_is_granted_whole_and_cached_with_the_servers_time(tmp_path):
    clock = Clock()
    server = FakeLicenseServer(clock)
    sent = {}

    def answer(fp, nonce):
        sent["token"] = token_for(server, nonce)
        return Reply({"valid": True, "code": "VALID", "ts": T0 + 30, "lease": sent["token"]})

    m = make(tmp_path, clock, Backend(server, answer))
    status = m.check()
    assert status == LicenseStatus("VALID", ok=True, edition="pro_business", entitlements=ENTS,
                                   limits={"max_machines": 3}, online=True, detail="", days_left=None,
                                   expires_at=T0 + 7 * DAY, last_online=T0, license_id=server.license_id,
                                   warnings=[], claims=decoded(sent["token"]), advice="")
    assert m.lease_path.read_text("ascii") == sent["token"] + "\n"
    # the mark is the latest of the server's ts, the lease's iat and the local clock (which agrees)
    assert m.read_state() == {"high_water": T0 + 30, "last_online": T0 + 30, "license_id": server.license_id,
                              "pinned": True}
    for path in m.state_paths:
        assert json.loads(path.read_text("utf-8"))["data"] == m.read_state()
    assert json.loads(m.keys_path.read_text("utf-8")) == {"keys": [server.jwk], "pinned_at": T0}


@pytest.mark.parametrize(("ts", "mark"), [(None, T0), ("late", T0), (T0 - 100, T0), (T0 + 50, T0 + 50)])
def test_the_servers_ts_counts_when_it_is_a_number_else_the_leases_iat(tmp_path, ts, mark):
    clock = Clock(T0 - 30)
    server = FakeLicenseServer(clock)

    def answer(fp, nonce):
        body = {"valid": True, "code": "VALID", "lease": token_for(server, nonce)}
        if ts is not None:
            body["ts"] = ts
        return Reply(body)

    m = make(tmp_path, clock, Backend(server, answer))
    status = m.check()
    assert (status.code, status.ok, status.warnings) == ("VALID", True, [])
    assert m.read_state()["high_water"] == mark
    assert m.read_state()["last_online"] == (ts if isinstance(ts, float) else T0)


@pytest.mark.parametrize("lang", LANGS)
def test_a_local_clock_exactly_ten_minutes_off_agrees_and_one_second_more_is_warned(tmp_path, monkeypatch, lang):
    in_lang(monkeypatch, lang)
    server_clock = Clock()
    server = FakeLicenseServer(server_clock)
    for offset, warned in ((600, False), (601, True), (-600, False), (-660, True)):
        clock = Clock(T0 + offset)
        m = make(tmp_path / str(offset), clock, Backend(server, lambda fp, nonce: Reply(
            {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce)})))
        status = m.check()
        minutes = abs(offset) / 60
        expected = [{"de": f"Die Systemuhr weicht {minutes:.0f} Minuten von der Serverzeit ab.",
                     "en": f"The system clock is {minutes:.0f} minutes off the server time."}[lang]] if warned else []
        assert (status.code, status.ok, status.warnings) == ("VALID", True, expected)
        # the local clock raises the mark only while it agrees with the server
        assert m.high_water() == (T0 if warned or offset < 0 else T0 + offset)


def test_a_lease_whose_iat_is_later_than_the_servers_ts_raises_the_mark_to_its_iat(tmp_path):
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = make(tmp_path, clock, Backend(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": T0 - 200, "lease": token_for(server, nonce, at=T0 + 100)})))
    status = m.check()
    assert (status.code, status.last_online, status.warnings) == ("VALID", T0 + 100, [])
    assert m.read_state()["high_water"] == T0 + 100 and m.read_state()["last_online"] == T0 - 200


@pytest.mark.parametrize("lang", LANGS)
def test_a_lease_that_cannot_be_cached_or_a_state_that_cannot_be_saved_is_warned(tmp_path, monkeypatch, lang):
    in_lang(monkeypatch, lang)
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = make(tmp_path, clock, Backend(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce)})))
    m.lease_path.mkdir(parents=True)
    for path in m.state_paths:
        path.mkdir(parents=True, exist_ok=True)
    status = m.check()
    lease, state, copy = m.lease_path, m.state_paths[0], m.state_paths[1]
    assert (status.code, status.ok) == ("VALID", True)
    assert status.warnings == {
        "de": [f"Lizenz nicht zwischenspeicherbar in {lease}: Is a directory – ohne Netz gilt sie nicht.",
               f"Lizenzzustand nicht gespeichert ({state}: Is a directory).",
               f"Lizenzzustand nicht gespeichert ({copy}: Is a directory)."],
        "en": [f"the lease cannot be cached in {lease}: Is a directory – it will not hold offline.",
               f"license state not saved ({state}: Is a directory).",
               f"license state not saved ({copy}: Is a directory)."]}[lang]


# ---- what a denial does -------------------------------------------------------------------------------------------

def test_a_signed_denial_is_refused_whole_deletes_the_lease_and_raises_the_mark(tmp_path):
    clock = Clock()
    server = FakeLicenseServer(clock)
    replies = {"kind": "valid"}
    sent = {}

    def answer(fp, nonce):
        if replies["kind"] == "valid":
            return Reply({"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce)})
        sent["token"] = token_for(server, nonce, at=T0 + DAY, code="REVOKED", valid=False, entitlements=[])
        return Reply({"valid": False, "code": "REVOKED", "detail": "revoked by the shop", "ts": replies["ts"],
                      "lease": sent["token"]})

    m = make(tmp_path, clock, Backend(server, answer))
    assert m.check().code == "VALID" and m.lease_path.exists()
    replies.update(kind="denial", ts=T0 + 2 * DAY)
    status = m.check()
    assert status == LicenseStatus("REVOKED", ok=False, online=True, detail="revoked by the shop",
                                   license_id=server.license_id, claims=decoded(sent["token"]))
    assert not m.lease_path.exists()
    assert m.high_water() == T0 + 2 * DAY                  # the server's ts, later than the lease's iat
    replies.update(ts="?")
    m.check()
    assert m.high_water() == T0 + 2 * DAY                  # never lowered
    replies.update(ts=T0)
    clock.advance(3 * DAY)
    sent.clear()

    def later(fp, nonce):
        sent["token"] = token_for(server, nonce, at=T0 + 4 * DAY, code="REVOKED", valid=False)
        return Reply({"valid": False, "code": "REVOKED", "ts": T0, "lease": sent["token"]})

    m._client = Backend(server, later)
    status = m.check()
    assert (status.code, status.detail, status.ok) == ("REVOKED", "", False)
    assert m.high_water() == T0 + 4 * DAY                  # the lease's iat, later than the server's ts


@pytest.mark.parametrize(("claims", "body_code", "code"), [
    ({"code": "SUSPENDED", "valid": False}, "REVOKED", "SUSPENDED"),      # the signed code counts
    ({"valid": False}, "EXPIRED", "EXPIRED"),                            # no signed code: the answer's
    ({"valid": False}, None, "LEASE_INVALID"),                           # neither: invalid
    ({"code": "VALID", "valid": False}, "VALID", "VALID"),               # valid: false is a denial, whatever code
    ({"code": "VALID", "valid": "true"}, "VALID", "VALID"),              # only the boolean true grants
    ({"code": "REVOKED", "valid": True}, "REVOKED", "REVOKED"),          # valid with another code: a denial
])
def test_what_makes_a_signed_answer_a_denial_and_its_code(tmp_path, claims, body_code, code):
    clock = Clock()
    server = FakeLicenseServer(clock)
    body = {"ts": T0, "detail": None}
    if body_code:
        body["code"] = body_code
    m = make(tmp_path, clock, Backend(server, lambda fp, nonce: Reply(
        {**body, "lease": token_for(server, nonce, omit=("code",) if "code" not in claims else (), **claims)})))
    m.lease_path.parent.mkdir(parents=True)
    m.lease_path.write_text("cached.lease.jwt\n")
    status = m.check()
    assert (status.code, status.ok, status.online, status.detail, status.edition) == \
        (code, False, True, "", "community")
    assert status.license_id == server.license_id and not m.lease_path.exists()


# ---- answers without a lease -----------------------------------------------------------------------------------

def refusal(status: int, body: Any) -> BackendHTTPError:
    import httpx

    response = httpx.Response(status, json=body) if body is not None else httpx.Response(status, text="<html>")
    return BackendHTTPError(f"Backend refused: HTTP {status}", status_code=status, response=response)


@pytest.mark.parametrize(("reply", "code", "detail"), [
    (Reply(not_json=True), "LEASE_INVALID", "Antwort ist kein JSON"),
    (Reply(["lease"]), "LEASE_INVALID", "Antwort enthält keine Lizenzbestätigung"),
    (Reply({"valid": True, "code": "VALID"}), "LEASE_INVALID", "Antwort enthält keine Lizenzbestätigung"),
    (Reply({"valid": True, "code": "VALID", "lease": ""}), "LEASE_INVALID", "Antwort enthält keine Lizenzbestätigung"),
    (refusal(403, {"code": "SUSPENDED", "detail": "x"}), "SUSPENDED", "Backend refused: HTTP 403"),
    (refusal(404, {"code": "NOT_FOUND"}), "NOT_FOUND", "Backend refused: HTTP 404"),
    (refusal(403, {"code": "OFFLINE_GRACE"}), "LEASE_INVALID", "Backend refused: HTTP 403"),   # not a server code
    (refusal(403, {"detail": "forbidden"}), "LEASE_INVALID", "Backend refused: HTTP 403"),
    (refusal(401, None), "LEASE_INVALID", "Backend refused: HTTP 401"),
    (refusal(403, ["SUSPENDED"]), "LEASE_INVALID", "Backend refused: HTTP 403"),
    (BackendHTTPError("Backend refused: HTTP 400", status_code=400, response=None), "LEASE_INVALID",
     "Backend refused: HTTP 400"),
])
def test_an_answer_without_a_lease_fails_closed_for_this_run_and_keeps_the_cache(tmp_path, reply, code, detail):
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = make(tmp_path, clock, Backend(server, lambda fp, nonce: reply))
    m.lease_path.parent.mkdir(parents=True)
    m.lease_path.write_text("cached.lease.jwt\n")
    assert m.check() == LicenseStatus(code, ok=False, online=True, detail=detail)
    assert m.lease_path.read_text() == "cached.lease.jwt\n" and m.high_water() is None


def test_an_http_error_carrying_a_valid_lease_is_not_trusted(tmp_path):
    import httpx

    clock = Clock()
    server = FakeLicenseServer(clock)

    def answer(fp, nonce):
        body = {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce)}
        return BackendHTTPError("Backend refused: HTTP 409", status_code=409, response=httpx.Response(409, json=body))

    m = make(tmp_path, clock, Backend(server, answer))
    assert m.check() == LicenseStatus("LEASE_INVALID", ok=False, online=True, detail="Backend refused: HTTP 409")
    assert not m.lease_path.exists()


def test_an_unreachable_backend_is_offline_and_the_reason_is_said(tmp_path, monkeypatch):
    in_lang(monkeypatch, "en")
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = make(tmp_path, clock, Backend(server, lambda fp, nonce: BackendUnavailable("no route to the shop")))
    assert m.check() == LicenseStatus("LEASE_INVALID", ok=False, detail=(
        "offline and no license cached yet – one online check is needed (no route to the shop)"))


# ---- a lease that does not verify online ---------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_a_lease_refused_online_with_damaged_pins_says_which_file_and_how_back(tmp_path, monkeypatch, lang):
    in_lang(monkeypatch, lang)
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = make(tmp_path, clock, Backend(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce)})))
    m.keys_path.parent.mkdir(parents=True)
    m.keys_path.write_text("{cut")
    p = m.keys_path
    status = m.check()
    pins = {"de": f"{p} ist beschädigt (kein JSON)", "en": f"{p} is damaged (not JSON)"}[lang]
    why = {"de": "Signatur mit einem nicht vertrauenswürdigen Schlüssel (kid 'k1')",
           "en": "signed with an untrusted key (kid 'k1')"}[lang]
    assert status == LicenseStatus("LEASE_INVALID", ok=False, online=True, detail={
        "de": f"{pins} – kein angehefteter Schlüssel gilt; Datei wiederherstellen oder bewusst neu anheften: "
              f"techcare license --repin ({why})",
        "en": f"{pins} – no pinned key is trusted; restore the file or pin again on purpose: "
              f"techcare license --repin ({why})"}[lang], advice={
        "de": "Die angehefteten Schlüssel auf diesem Rechner sind beschädigt (kein Netzwerkproblem) – so gehst du "
              "vor:\n"
              f"  1. {p} aus einer Sicherung wiederherstellen (eine Datei, kein Ordner)\n"
              "  2. oder bewusst neu anheften, wenn du dem Server vertraust: techcare license --repin",
        "en": "The pinned keys on this machine are damaged (not a network problem) – what to do:\n"
              f"  1. restore {p} from a backup (a file, not a folder)\n"
              "  2. or pin again on purpose if you trust the server: techcare license --repin"}[lang])
    assert status.message.endswith(status.advice) and m.keys_path.read_text() == "{cut"


def test_a_lease_refused_online_with_good_pins_says_only_why(tmp_path):
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = make(tmp_path, clock, Backend(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, "another request")})))
    assert m.check() == LicenseStatus("LEASE_INVALID", ok=False, online=True,
                                      detail="Nonce passt nicht (wiedergegebene oder fremde Antwort)")


# ---- offline: each outcome whole ------------------------------------------------------------------------------------

OFFLINE_ONLY = {"de": "nur offline geprüft", "en": "checked offline only"}


def online_once(tmp_path, *, clock: Clock | None = None, **lease: Any) -> tuple[LicenseManager, FakeLicenseServer]:
    """A manager whose lease was cached by one online check (at the clock's time) and whose keys are pinned."""
    clock = clock or Clock()
    server = FakeLicenseServer(clock)
    m = make(tmp_path, clock, Backend(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": clock(), "lease": token_for(server, nonce, at=clock(), **lease)})))
    assert m.check().code == "VALID"
    return m, server


@pytest.mark.parametrize("lang", LANGS)
def test_offline_within_the_grace_is_granted_whole(tmp_path, monkeypatch, lang):
    in_lang(monkeypatch, lang)
    m, server = online_once(tmp_path)
    token = m.cached_lease()
    m.clock.advance(DAY + 3600)
    status = m.check(online=False)
    assert status == LicenseStatus("OFFLINE_GRACE", ok=True, edition="pro_business", entitlements=ENTS,
                                   limits={"max_machines": 3}, online=False, detail=OFFLINE_ONLY[lang],
                                   days_left=(6 * DAY - 3600) / DAY, expires_at=T0 + 7 * DAY, last_online=T0,
                                   license_id=server.license_id, warnings=[], claims=decoded(token))
    assert m.high_water() == T0 + DAY + 3600                # the local clock raised the mark
    m.clock.advance(-300)                                   # within the tolerance: counted from the mark
    assert m.check(online=False).days_left == (6 * DAY - 3600) / DAY


def test_without_a_backend_the_reason_is_said(tmp_path, monkeypatch):
    in_lang(monkeypatch, "en")
    m, _ = online_once(tmp_path)
    bare = LicenseManager(load_settings(license_key="TECHCARE-PB-TEST", edition="pro_business"), clock=m.clock,
                          home=m.home, fingerprint=FP)
    assert bare.client is None
    status = bare.check()
    assert (status.code, status.ok, status.detail) == ("OFFLINE_GRACE", True, "no backend configured")
    in_lang(monkeypatch, "de")
    assert bare.check().detail == "kein Backend konfiguriert"


@pytest.mark.parametrize("lang", LANGS)
def test_offline_past_the_grace_is_refused_whole_and_raises_the_mark(tmp_path, monkeypatch, lang):
    in_lang(monkeypatch, lang)
    m, server = online_once(tmp_path)
    m.clock.advance(7 * DAY + 1)
    status = m.check(online=False)
    assert status == LicenseStatus("OFFLINE_GRACE_EXCEEDED", ok=False, edition="pro_business", last_online=T0,
                                   expires_at=T0 + 7 * DAY, license_id=server.license_id, detail={
                                       "de": "zuletzt online geprüft: 2026-09-21 14:13 UTC",
                                       "en": "last checked online: 2026-09-21 14:13 UTC"}[lang])
    assert m.high_water() == T0 + 7 * DAY + 1


@pytest.mark.parametrize("lang", LANGS)
def test_a_lease_expiring_within_the_grace_is_expired_offline(tmp_path, monkeypatch, lang):
    in_lang(monkeypatch, lang)
    m, server = online_once(tmp_path, exp=int(T0 + 7 * DAY - 1))
    m.clock.advance(7 * DAY - 1)
    assert m.check(online=False).days_left == 0
    m.clock.advance(1)
    status = m.check(online=False)
    assert status == LicenseStatus("EXPIRED", ok=False, edition="pro_business", last_online=T0,
                                   expires_at=T0 + 7 * DAY - 1, license_id=server.license_id, detail={
                                       "de": "zuletzt online geprüft: 2026-09-21 14:13 UTC",
                                       "en": "last checked online: 2026-09-21 14:13 UTC"}[lang])


@pytest.mark.parametrize("lang", LANGS)
def test_a_clock_turned_back_offline_is_refused_whole(tmp_path, monkeypatch, lang):
    in_lang(monkeypatch, lang)
    m, server = online_once(tmp_path)
    m.clock.advance(2 * DAY)
    assert m.check(online=False).ok
    m.clock.advance(-DAY)
    status = m.check(online=False)
    assert status == LicenseStatus("CLOCK_TAMPERED", ok=False, last_online=T0, expires_at=T0 + 7 * DAY,
                                   license_id=server.license_id, detail={
                                       "de": "Uhr 1440 Minuten hinter der zuletzt gesehenen Zeit",
                                       "en": "clock 1440 minutes behind the latest time seen"}[lang])
    assert m.high_water() == T0 + 2 * DAY                   # a clock behind never lowers the mark


def test_old_state_copies_restored_from_a_backup_cannot_take_the_clock_back_before_the_lease(tmp_path, monkeypatch):
    """Both copies of the mark restored from a backup older than the last online check: the lease's own iat
    (and nbf) still bound how far the clock may go back."""
    in_lang(monkeypatch, "en")
    clock = Clock(T0 - 5 * DAY)
    m, server = online_once(tmp_path, clock=clock)
    old = [p.read_bytes() for p in m.state_paths]
    clock.now = T0
    m._client = Backend(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce, at=T0)}))
    assert m.check().code == "VALID"
    for path, data in zip(m.state_paths, old, strict=True):
        path.write_bytes(data)
    assert m.high_water() == T0 - 5 * DAY
    clock.now = T0 - 2 * DAY
    status = m.check(online=False)
    assert (status.code, status.ok, status.detail) == ("CLOCK_TAMPERED", False,
                                                       "clock 2880 minutes behind the latest time seen")
    clock.now = T0 - 600                                    # within the tolerance of the iat: fine
    assert m.check(online=False).code == "OFFLINE_GRACE"


def test_a_not_before_earlier_than_the_iat_is_the_floor(tmp_path, monkeypatch):
    in_lang(monkeypatch, "en")
    clock = Clock(T0 - 5 * DAY)
    m, server = online_once(tmp_path, clock=clock)
    old = [p.read_bytes() for p in m.state_paths]
    m.lease_path.write_text(token_for(server, at=T0, nbf=int(T0 - DAY)))
    for path, data in zip(m.state_paths, old, strict=True):
        path.write_bytes(data)
    clock.now = T0 - DAY - 600
    assert m.check(online=False).code == "OFFLINE_GRACE"    # after nbf (within the tolerance)
    clock.now = T0 - DAY - 601
    status = m.check(online=False)
    assert (status.code, status.detail) == ("CLOCK_TAMPERED", "clock 10 minutes behind the latest time seen")


def test_a_lease_without_nbf_is_bounded_by_its_iat(tmp_path, monkeypatch):
    in_lang(monkeypatch, "en")
    clock = Clock(T0 - 5 * DAY)
    m, server = online_once(tmp_path, clock=clock)
    old = [p.read_bytes() for p in m.state_paths]
    m.lease_path.write_text(token_for(server, at=T0, omit=("nbf",)))
    for path, data in zip(m.state_paths, old, strict=True):
        path.write_bytes(data)
    clock.now = T0 - 600
    assert m.check(online=False).code == "OFFLINE_GRACE"
    clock.now = T0 - 660
    status = m.check(online=False)
    assert (status.code, status.detail) == ("CLOCK_TAMPERED", "clock 11 minutes behind the latest time seen")


@pytest.mark.parametrize("lang", LANGS)
def test_every_state_copy_damaged_is_refused_whole(tmp_path, monkeypatch, lang):
    in_lang(monkeypatch, lang)
    m, server = online_once(tmp_path)
    for path in m.state_paths:
        path.write_text("{cut")
    status = m.check(online=False)
    a, b = m.state_paths
    assert status == LicenseStatus("STATE_DAMAGED", ok=False, last_online=T0, expires_at=T0 + 7 * DAY,
                                   license_id=server.license_id,
                                   detail={
                                       "de": f"{a}: kein JSON (abgeschnitten oder verstümmelt); {b}: kein JSON "
                                             "(abgeschnitten oder verstümmelt)",
                                       "en": f"{a}: not JSON (cut or garbled); {b}: not JSON (cut or garbled)"}[lang])
    assert [p.read_text() for p in m.state_paths] == ["{cut", "{cut"]     # nothing rewritten offline


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("content", "de", "en"), [
    (b"\x89PNG\r\n", "{p} ist beschädigt (keine Textdatei)", "{p} is damaged (not a text file)"),
    (b"not-a-lease\n", "{p} ist beschädigt (kein JWT)", "{p} is damaged (not a JWT)"),
    (b"a.b.c.d", "{p} ist beschädigt (kein JWT)", "{p} is damaged (not a JWT)"),
    (None, "{p}: Is a directory", "{p}: Is a directory"),
])
def test_a_damaged_cached_lease_is_said_whole(tmp_path, monkeypatch, lang, content, de, en):
    in_lang(monkeypatch, lang)
    m, _ = online_once(tmp_path)
    m.lease_path.unlink()
    if content is None:
        m.lease_path.mkdir()
    else:
        m.lease_path.write_bytes(content)
    damage = (de if lang == "de" else en).format(p=m.lease_path)
    assert m.lease_damage() == damage
    status = m.check(online=False)
    assert status == LicenseStatus("LEASE_INVALID", ok=False, detail={
        "de": f"{damage} – einmal online prüfen nötig (nur offline geprüft)",
        "en": f"{damage} – one online check is needed (checked offline only)"}[lang])


def test_an_empty_or_missing_lease_is_no_lease_and_no_damage(tmp_path, monkeypatch):
    in_lang(monkeypatch, "de")
    m, _ = online_once(tmp_path)
    for content in ("\n", None):
        if content is None:
            m.lease_path.unlink()
        else:
            m.lease_path.write_text(content)
        assert m.lease_damage() is None and m.cached_lease() is None
        assert m.check(online=False) == LicenseStatus("LEASE_INVALID", ok=False, detail=(
            "offline und noch keine Lizenz zwischengespeichert – einmal online prüfen nötig (nur offline geprüft)"))


def test_a_cached_lease_that_does_not_verify_is_deleted_unless_only_its_key_is_unknown(tmp_path, monkeypatch):
    in_lang(monkeypatch, "en")
    m, server = online_once(tmp_path)
    other, _ = new_key("k9")
    unknown = jwt.encode(claims_for(server, "n"), other, algorithm="EdDSA", headers={"kid": "k9"})
    m.lease_path.write_text(unknown)
    assert m.check(online=False) == LicenseStatus("LEASE_INVALID", ok=False,
                                                  detail="signed with an untrusted key (kid 'k9')")
    assert m.lease_path.read_text() == unknown            # kept: a key shipped later may verify it
    foreign = token_for(server, fingerprint="f" * 64)
    m.lease_path.write_text(foreign)
    assert m.check(online=False) == LicenseStatus("LEASE_INVALID", ok=False,
                                                  detail="issued for another machine (fingerprint mismatch)")
    assert not m.lease_path.exists()


@pytest.mark.parametrize("lang", LANGS)
def test_a_cached_lease_with_damaged_pins_names_the_file_and_the_way_back(tmp_path, monkeypatch, lang):
    in_lang(monkeypatch, lang)
    m, _ = online_once(tmp_path)
    m.keys_path.write_text("[]")
    p = m.keys_path
    status = m.check(online=False)
    pins = {"de": f"{p} ist beschädigt (kein gültiger Schlüssel)", "en": f"{p} is damaged (no valid key)"}[lang]
    assert (status.code, status.ok, status.online) == ("LEASE_INVALID", False, False)
    assert status.detail == {"de": f"{pins}: Signatur mit einem nicht vertrauenswürdigen Schlüssel (kid 'k1')",
                             "en": f"{pins}: signed with an untrusted key (kid 'k1')"}[lang]
    assert status.advice == license._pins_advice(p) and p.name in status.advice and "--repin" in status.advice
    assert m.lease_path.exists()


@pytest.mark.parametrize(("claims", "code"), [
    ({"code": "REVOKED", "valid": False}, "REVOKED"),
    ({"code": "VALID", "valid": False}, "VALID"),
    ({"code": "SUSPENDED", "valid": True}, "SUSPENDED"),
    ({"code": "", "valid": True}, "LEASE_INVALID"),
    ({"valid": False}, "LEASE_INVALID"),
])
def test_a_cached_denial_is_refused_and_forgotten(tmp_path, claims, code):
    m, server = online_once(tmp_path)
    m.lease_path.write_text(token_for(server, omit=() if "code" in claims else ("code",), **claims))
    assert m.check(online=False) == LicenseStatus(code, ok=False, detail="zwischengespeicherte Ablehnung")
    assert not m.lease_path.exists()


# ---- the texts of each status -------------------------------------------------------------------------------------

TROUBLE = {
    "de": "Lizenz-Check fehlgeschlagen – so gehst du vor:\n"
          "  1. Prüfe BACKEND_URL in .env\n"
          "  2. Prüfe die Netzwerkverbindung (ping, techcare doctor)\n"
          "  3. Prüfe den Lizenzschlüssel (LICENSE_KEY)\n"
          "  4. Prüfe, ob der License-Server läuft",
    "en": "License check failed – what to do:\n"
          "  1. Check BACKEND_URL in .env\n"
          "  2. Check the network connection (ping, techcare doctor)\n"
          "  3. Check the license key (LICENSE_KEY)\n"
          "  4. Check that the license server is running"}

HEADS = {
    "OFFLINE_GRACE_EXCEEDED": (
        "Die Lizenz konnte seit mehr als 7 Tagen nicht online geprüft werden (Offline-Frist abgelaufen).",
        "The license could not be checked online for more than 7 days (offline grace exceeded)."),
    "CLOCK_TAMPERED": (
        "Die Systemuhr geht gegenüber der zuletzt gesehenen Zeit zurück – die Lizenz muss online geprüft werden.",
        "The system clock is behind the latest time seen – the license must be checked online."),
    "STATE_DAMAGED": (
        "Die Lizenz-Zustandsdateien (Hochwassermarke der Uhr) sind beschädigt – die Lizenz muss einmal online "
        "geprüft werden.",
        "The license state files (the clock's high-water mark) are damaged – the license must be checked online "
        "once."),
    "LEASE_INVALID": ("Die Lizenzbestätigung ist ungültig (Signatur, Rechner oder Antwort passt nicht).",
                      "The license lease is invalid (signature, machine or answer does not match)."),
    "NOT_FOUND": ("Der Lizenzschlüssel ist dem Server unbekannt.", "The license key is unknown to the server."),
    "SUSPENDED": ("Die Lizenz ist gesperrt.", "The license is suspended."),
    "REVOKED": ("Die Lizenz wurde widerrufen.", "The license has been revoked."),
    "EXPIRED": ("Die Lizenz ist abgelaufen.", "The license has expired."),
    "FINGERPRINT_SCOPE_MISMATCH": ("Die Lizenz ist für diesen Rechner nicht freigeschaltet.",
                                   "The license is not activated for this machine."),
    "TOO_MANY_MACHINES": ("Die Lizenz ist bereits auf der maximalen Anzahl Rechner aktiv.",
                          "The license is already active on the maximum number of machines."),
    "ENTITLEMENTS_MISSING": ("Der Lizenz fehlen benötigte Berechtigungen.", "The license lacks required entitlements."),
    "SOMETHING_NEW": ("Lizenz abgelehnt: SOMETHING_NEW.", "License refused: SOMETHING_NEW."),
}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("code", sorted(HEADS))
def test_each_refusal_says_what_happened_why_and_what_to_do(monkeypatch, lang, code):
    in_lang(monkeypatch, lang)
    head = HEADS[code][LANGS.index(lang)]
    status = LicenseStatus(code, ok=False, edition="pro")
    assert license.status_message(status) == f"{head}\n{TROUBLE[lang]}"
    status.detail = "the why"
    assert status.message == f"{head} (the why)\n{TROUBLE[lang]}" and status.summary == f"{head} (the why)"
    status.advice = "restore the file"
    assert str(status) == f"{head} (the why)\nrestore the file"


@pytest.mark.parametrize("lang", LANGS)
def test_the_granting_and_no_key_texts(monkeypatch, lang):
    in_lang(monkeypatch, lang)
    de = lang == "de"
    assert LicenseStatus("VALID", ok=True, edition="pro_business", detail="x").message == (
        "Lizenz gültig (Pro Business), online geprüft." if de else "License valid (Pro Business), checked online.")
    assert LicenseStatus("VALID", ok=True, edition="platinum").message == (
        "Lizenz gültig (platinum), online geprüft." if de else "License valid (platinum), checked online.")
    for days, shown in ((2.25, "2.2"), (0.0, "0.0"), (None, "0.0"), (6.96, "7.0")):
        assert LicenseStatus("OFFLINE_GRACE", ok=True, edition="enterprise", days_left=days).message == (
            f"Offline: zwischengespeicherte Lizenz (Enterprise) gilt noch {shown} Tage – bitte bald online gehen."
            if de else
            f"Offline: cached license (Enterprise) is valid for {shown} more days – please go online soon.")
    assert LicenseStatus("NO_LICENSE", ok=True).message == (
        "Community-Edition: keine Lizenz nötig." if de else "Community edition: no license needed.")
    assert LicenseStatus("NO_LICENSE", ok=False, detail="x").message == (
        "Kein Lizenzschlüssel gesetzt (LICENSE_KEY) – die Edition braucht einen." if de else
        "No license key set (LICENSE_KEY) – this edition needs one.") + "\n" + TROUBLE[lang]


def test_the_status_dict_of_a_refusal_and_of_an_offline_grace(tmp_path, monkeypatch):
    in_lang(monkeypatch, "en")
    status = LicenseStatus("REVOKED", ok=False, entitlements=("a",), warnings=("w",), detail="d", days_left=1.5,
                           expires_at=2.0, last_online=1.0, license_id="L", online=True)
    assert status.to_dict() == {"code": "REVOKED", "ok": False, "edition": "community", "entitlements": ["a"],
                                "online": True, "detail": "d", "days_left": 1.5, "expires_at": 2.0,
                                "last_online": 1.0, "license_id": "L", "warnings": ["w"],
                                "message": f"The license has been revoked. (d)\n{TROUBLE['en']}"}
    assert type(status.to_dict()["entitlements"]) is list and type(status.to_dict()["warnings"]) is list


# ---- why a lease does not verify ------------------------------------------------------------------------------------

def pinned(tmp_path, *extra_keys: dict[str, Any]) -> tuple[LicenseManager, FakeLicenseServer]:
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = make(tmp_path, clock, Backend(server, lambda fp, nonce: None))
    assert m.pin_keys() == [server.jwk]
    return m, server


def refused_because(m: LicenseManager, token: Any, nonce: str | None = None) -> str:
    with pytest.raises(license._Invalid) as info:
        m.verify(token, nonce=nonce)
    return str(info.value)


def test_each_reason_a_lease_does_not_verify_is_said(tmp_path):
    m, server = pinned(tmp_path)
    other, _ = new_key("k1")
    assert refused_because(m, 12345) == "kein JWT"
    assert refused_because(m, "a.b") == "kein JWT" and refused_because(m, "a.b.c.d") == "kein JWT"
    assert refused_because(m, "a.b.c") == "Kopfteil unlesbar: Invalid header padding"
    hs = jwt.encode(claims_for(server, "n"), "secret-of-32-bytes-at-least-here", algorithm="HS256",
                    headers={"kid": "k1"})
    assert refused_because(m, hs) == "Algorithmus 'HS256' ist nicht EdDSA"
    assert refused_because(m, server.sign(claims_for(server, "n"), kid="k7")) == \
        "Signatur mit einem nicht vertrauenswürdigen Schlüssel (kid 'k7')"
    assert refused_because(m, server.sign(claims_for(server, "n"), key=other)) == "Signatur stimmt nicht"
    assert refused_because(m, token_for(server, iss="someone-else")) == "falscher Aussteller (iss)"
    assert refused_because(m, token_for(server, omit=("exp",))) == "Angabe exp fehlt"
    assert refused_because(m, token_for(server, omit=("iss",))) == "Angabe iss fehlt"
    assert refused_because(m, token_for(server, iat="yesterday")) == "Angabe iat ist keine Zahl"
    assert refused_because(m, token_for(server, exp="never")) == "Angabe exp ist keine Zahl"
    assert refused_because(m, token_for(server, exp=[1])) == "Angabe exp ist keine Zahl"
    assert refused_because(m, token_for(server, sub="")) == \
        "eine gültige Lizenzbestätigung muss ihre Lizenz nennen (sub)"
    assert refused_because(m, token_for(server, sub=7)) == \
        "von der JWT-Prüfung abgelehnt: InvalidSubjectError: Subject must be a string"
    assert refused_because(m, token_for(server, omit=("sub",))) == \
        "eine gültige Lizenzbestätigung muss ihre Lizenz nennen (sub)"
    assert refused_because(m, token_for(server, fingerprint="f" * 64)) == \
        "für einen anderen Rechner ausgestellt (Fingerabdruck passt nicht)"
    assert refused_because(m, token_for(server, omit=("fingerprint",))) == \
        "für einen anderen Rechner ausgestellt (Fingerabdruck passt nicht)"
    assert refused_because(m, token_for(server, "n1"), nonce="n2") == \
        "Nonce passt nicht (wiedergegebene oder fremde Antwort)"
    assert refused_because(m, token_for(server, omit=("nonce",)), nonce="n2") == \
        "Nonce passt nicht (wiedergegebene oder fremde Antwort)"


def test_what_a_verified_lease_may_be(tmp_path):
    m, server = pinned(tmp_path)
    assert m.verify(token_for(server, "n1"))["nonce"] == "n1"                  # offline: no nonce asked
    assert m.verify(token_for(server, "n1"), nonce="n1")["sub"] == server.license_id
    denial = token_for(server, "n", valid=False, code="NOT_FOUND", omit=("sub",))
    assert m.verify(denial)["code"] == "NOT_FOUND"                             # a denial needs no licence
    assert m.verify(token_for(server, valid="yes", sub=""))["valid"] == "yes"   # not a grant: no sub needed
    assert m.verify(token_for(server, aud="techcare-client"))["aud"] == "techcare-client"
    old = token_for(server, at=T0 - 400 * DAY)                                 # long expired: judged later
    assert m.verify(old)["exp"] == int(T0 - 393 * DAY)
    future = token_for(server, at=T0 + 4000 * DAY)                             # iat/nbf ahead of every clock
    assert m.verify(future)["iat"] == int(T0 + 4000 * DAY)
    assert m.verify(token_for(server, iat=T0 + 0.5, exp=T0 + DAY + 0.5))["iat"] == T0 + 0.5


def test_keys_sharing_a_kid_are_each_tried(tmp_path):
    """A rotated key that kept its kid: the shipped key verifies what the pinned one (same kid) does not."""
    m, server = pinned(tmp_path)
    new_private, new_jwk = new_key("k1")
    m.shipped_keys = [new_jwk]
    assert [len(v) for v in m.trusted_keys().values()] == [2]
    token = jwt.encode(claims_for(server, "n"), new_private, algorithm="EdDSA", headers={"kid": "k1"})
    assert m.verify(token)["sub"] == server.license_id
    assert m.verify(token_for(server))["sub"] == server.license_id


def test_a_key_without_a_kid_verifies_a_lease_without_one(tmp_path):
    clock = Clock()
    server = FakeLicenseServer(clock)
    bare = {k: v for k, v in server.jwk.items() if k != "kid"}
    m = make(tmp_path, clock, None, shipped_keys=[bare])
    token = jwt.encode(claims_for(server, "n"), server.key, algorithm="EdDSA")
    assert "kid" not in jwt.get_unverified_header(token)
    assert m.verify(token)["sub"] == server.license_id
    assert refused_because(m, token_for(server)) == "Signatur mit einem nicht vertrauenswürdigen Schlüssel (kid 'k1')"


def test_trusted_keys_are_the_valid_pinned_then_shipped_ones(tmp_path):
    m, server = pinned(tmp_path)
    _, shipped = new_key("k2")
    _, same_kid = new_key("k1")
    m.shipped_keys = [shipped, {"kty": "RSA", "kid": "k3"}, {**shipped, "x": "AAAA", "kid": "k4"}, same_kid]
    trusted = m.trusted_keys()
    assert sorted(trusted) == ["k1", "k2"] and [len(trusted["k1"]), len(trusted["k2"])] == [2, 1]
    raw = [k.public_bytes_raw() for k in trusted["k1"]]
    assert raw == [license._b64url_decode(server.jwk["x"]), license._b64url_decode(same_kid["x"])]


@pytest.mark.parametrize(("jwk", "why"), [
    ({"kty": "RSA", "crv": "Ed25519", "x": "A"}, "not an Ed25519 OKP key"),
    ({"kty": "OKP", "crv": "X25519", "x": "A"}, "not an Ed25519 OKP key"),
    ({"kty": "OKP", "crv": "Ed25519"}, "not an Ed25519 OKP key"),
    ({"kty": "OKP", "crv": "Ed25519", "x": 5}, "not an Ed25519 OKP key"),
    ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}, "Ed25519 key must be 32 bytes"),
    ({"kty": "OKP", "crv": "Ed25519", "x": "A" * 44}, "Ed25519 key must be 32 bytes"),
])
def test_what_is_not_an_ed25519_public_key(jwk, why):
    with pytest.raises(ValueError) as info:
        license._jwk_to_key(jwk)
    assert str(info.value) == why


def test_unpadded_base64url_keys_of_any_length_decode():
    assert license._b64url_decode("") == b""
    assert license._b64url_decode("QQ") == b"A" and license._b64url_decode("QUI") == b"AB"
    assert license._b64url_decode("QUJD") == b"ABC" and license._b64url_decode("-_8") == b"\xfb\xff"
    assert license._b64url_decode("QUJDREVGRw") == b"ABCDEFG" and license._b64url_decode("QUJDREVG") == b"ABCDEF"
    _, jwk = new_key()
    assert len(jwk["x"]) == 43 and license._jwk_to_key(jwk).public_bytes_raw() == license._b64url_decode(jwk["x"])


# ---- what a granted lease carries ---------------------------------------------------------------------------------

def grant(tmp_path, online: bool = True, **lease: Any) -> LicenseStatus:
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = make(tmp_path, clock, Backend(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce, **lease)})))
    status = m.check()
    if not online:
        clock.advance(DAY)
        status = m.check(online=False)
    return status


@pytest.mark.parametrize("online", [True, False])
def test_what_a_granted_lease_carries(tmp_path, online):
    plain = grant(tmp_path / "a", online, omit=("edition", "limits"), entitlements="sensor_mode")
    assert (plain.code, plain.ok, plain.edition, plain.entitlements, plain.limits) == \
        ("VALID" if online else "OFFLINE_GRACE", True, "community", [], {})
    mixed = grant(tmp_path / "b", online, edition="pro", entitlements=["unlimited_repairs", 7], limits=None)
    assert (mixed.ok, mixed.edition, mixed.entitlements, mixed.limits) == (True, "pro", ["unlimited_repairs", "7"], {})
    unknown = grant(tmp_path / "c", online, edition="platinum")
    assert unknown == LicenseStatus("LEASE_INVALID", ok=False, online=online, detail="unbekannte Edition 'platinum'")


# ---- the online check around the answer -----------------------------------------------------------------------------

def test_the_request_carries_the_key_this_machines_fingerprint_and_a_fresh_nonce(tmp_path):
    clock = Clock()
    server = FakeLicenseServer(clock)
    seen = []

    class Recording(Backend):
        def validate_license(self, *, key, fingerprint, nonce):
            seen.append((key, fingerprint))
            return super().validate_license(key=key, fingerprint=fingerprint, nonce=nonce)

    backend = Recording(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce, fingerprint=fp)}))
    m = make(tmp_path, clock, backend, key="TECHCARE-PB-0042")
    assert m.check().ok and m.check().ok
    assert seen == [("TECHCARE-PB-0042", FP)] * 2
    assert len(set(backend.nonces)) == 2 and all(len(n) >= 32 for n in backend.nonces)


@pytest.mark.parametrize("lang", LANGS)
def test_a_server_without_valid_keys_and_nothing_pinned_or_shipped_is_refused(tmp_path, monkeypatch, lang):
    in_lang(monkeypatch, lang)
    clock = Clock()
    server = FakeLicenseServer(clock)
    backend = Backend(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce)}))
    backend.public_keys = lambda: {"keys": [{"kty": "RSA", "kid": "k1"}]}
    m = make(tmp_path, clock, backend)
    assert m.check() == LicenseStatus("LEASE_INVALID", ok=False, online=True, detail={
        "de": "Der Server liefert keine gültigen Ed25519-Schlüssel.",
        "en": "The server returned no valid Ed25519 keys."}[lang])
    assert backend.nonces == [] and not m.keys_path.exists()
    shipped = make(tmp_path / "shipped", clock, backend, shipped_keys=[server.jwk])   # a shipped key carries it
    status = shipped.check()
    assert (status.code, status.ok) == ("VALID", True) and len(backend.nonces) == 1
    assert "pinned" not in shipped.read_state() and shipped.pins_damage() is None


def test_keys_pinned_by_an_older_version_are_marked_pinned_on_the_next_online_check(tmp_path, monkeypatch):
    in_lang(monkeypatch, "en")
    clock = Clock()
    server = FakeLicenseServer(clock)
    backend = Backend(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce)}))
    m = make(tmp_path, clock, backend)
    m.keys_path.parent.mkdir(parents=True)
    m.keys_path.write_text(json.dumps({"keys": [server.jwk]}))       # no state: an older version pinned them
    assert m.check().ok and backend.key_fetches == 0
    assert m.read_state()["pinned"] is True
    m.keys_path.unlink()
    assert m.pins_damage() == f"{m.keys_path} is missing although keys were pinned"


def test_pinning_fetches_only_when_nothing_is_pinned_or_when_forced(tmp_path):
    clock = Clock()
    server = FakeLicenseServer(clock)
    backend = Backend(server, lambda fp, nonce: None)
    m = make(tmp_path, clock, backend)
    _, extra = new_key("k2")
    served = [{**server.jwk, "d": "private?", "extra": 1}, {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"},
              {"kty": "OKP"}, "junk", extra]
    backend.public_keys = lambda: {"keys": served}
    assert m.pin_keys() == [server.jwk, extra]
    assert json.loads(m.keys_path.read_text()) == {"keys": [server.jwk, extra], "pinned_at": T0}
    assert m.read_state() == {"pinned": True}
    backend.public_keys = lambda: {"keys": [extra]}
    clock.advance(60)
    assert m.pin_keys() == [server.jwk, extra]                          # pinned: kept, nothing fetched
    assert m.pin_keys(force=True) == [extra]
    assert json.loads(m.keys_path.read_text()) == {"keys": [extra], "pinned_at": T0 + 60}
    bare = LicenseManager(load_settings(license_key="K"), clock=clock, home=tmp_path / "none", fingerprint=FP)
    assert bare.client is None and bare.pin_keys() == [] and not bare.keys_path.exists()   # no backend


@pytest.mark.parametrize("served", [[], {}, {"keys": []}, {"keys": "k1"}, ["keys"]])
def test_a_key_answer_without_a_valid_key_pins_nothing(tmp_path, monkeypatch, served):
    in_lang(monkeypatch, "de")
    clock = Clock()
    backend = Backend(FakeLicenseServer(clock), lambda fp, nonce: None)
    backend.public_keys = lambda: served
    m = make(tmp_path, clock, backend)
    with pytest.raises(BackendError) as info:
        m.pin_keys()
    assert info.value.message == "Der Server liefert keine gültigen Ed25519-Schlüssel."
    assert not m.keys_path.exists() and m.read_state() == {}


@pytest.mark.parametrize("lang", LANGS)
def test_keys_that_cannot_be_stored_are_said(tmp_path, monkeypatch, lang):
    in_lang(monkeypatch, lang)
    clock = Clock()
    m = make(tmp_path, clock, Backend(FakeLicenseServer(clock), lambda fp, nonce: None))
    m.keys_path.mkdir(parents=True)
    with pytest.raises(BackendError) as info:
        m.pin_keys(force=True)
    assert info.value.message == {
        "de": f"Schlüssel nicht speicherbar in {m.keys_path}: Is a directory. Der Pfad muss eine schreibbare Datei "
              "sein.",
        "en": f"keys cannot be stored in {m.keys_path}: Is a directory. The path must be a writable file."}[lang]
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("lang", LANGS)
def test_why_pinned_keys_are_not_trusted(tmp_path, monkeypatch, lang):
    in_lang(monkeypatch, lang)
    m, server = pinned(tmp_path)
    p = m.keys_path
    de = lang == "de"
    cases = [
        (b"\xff\xfe{", f"{p} ist beschädigt (kein JSON)" if de else f"{p} is damaged (not JSON)"),
        (b'{"keys": [', f"{p} ist beschädigt (kein JSON)" if de else f"{p} is damaged (not JSON)"),
        (b'["keys"]', f"{p} ist beschädigt (kein gültiger Schlüssel)" if de else f"{p} is damaged (no valid key)"),
        (b'{"keys": {"k1": 1}}', f"{p} ist beschädigt (kein gültiger Schlüssel)" if de else
         f"{p} is damaged (no valid key)"),
        (b'{"keys": ["k1", {"kty": "OKP"}]}', f"{p} ist beschädigt (kein gültiger Schlüssel)" if de else
         f"{p} is damaged (no valid key)"),
    ]
    for raw, why in cases:
        p.write_bytes(raw)
        assert (m.pinned_keys(), m.pins_damage()) == ([], why)
    p.write_text(json.dumps({"keys": ["junk", {"kty": "OKP"}, server.jwk]}))
    assert (m.pinned_keys(), m.pins_damage()) == ([server.jwk], None)
    p.unlink()
    p.mkdir()
    assert (m.pinned_keys(), m.pins_damage()) == ([], f"{p}: Is a directory")
    p.rmdir()
    assert (m.pinned_keys(), m.pins_damage()) == ([], f"{p} fehlt, obwohl Schlüssel angeheftet waren" if de else
                                                  f"{p} is missing although keys were pinned")
    fresh = make(tmp_path / "fresh", m.clock, None)
    assert (fresh.pinned_keys(), fresh.pins_damage()) == ([], None)


def test_an_unnamed_os_error_on_the_pins_is_named_by_its_type(tmp_path, monkeypatch):
    m, _ = pinned(tmp_path)
    from pathlib import Path

    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: (_ for _ in ()).throw(OSError()) if self == m.keys_path
                        else real(self))
    assert m.pins_damage() == f"{m.keys_path}: OSError"


@pytest.mark.parametrize("served", [{"keys": ["k1"]}, {"keys": "k1"}, {"keys": [None, 5, ["kty"]]}])
def test_a_key_answer_holding_no_key_objects_is_refused_not_a_crash(tmp_path, monkeypatch, served):
    """Defect found by the survivors: strings in the server's key list raised AttributeError out of the check."""
    in_lang(monkeypatch, "en")
    clock = Clock()
    server = FakeLicenseServer(clock)
    backend = Backend(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce)}))
    backend.public_keys = lambda: served
    m = make(tmp_path, clock, backend)
    assert m.check() == LicenseStatus("LEASE_INVALID", ok=False, online=True,
                                      detail="The server returned no valid Ed25519 keys.")
    backend.public_keys = lambda: {"keys": ["junk", server.jwk]}
    assert m.check().code == "VALID" and m.pinned_keys() == [server.jwk]


# ---- the clock's high-water mark in its two copies ------------------------------------------------------------------

def write_state(m: LicenseManager, *datas: dict[str, Any]) -> None:
    from techcare._sealed import write_copies

    for path, data in zip(m.state_paths, datas, strict=True):
        assert write_copies([path], data) == []


def test_the_state_is_the_copy_with_the_latest_mark(tmp_path):
    m, _ = pinned(tmp_path / "a")
    old, new = {"high_water": T0, "license_id": "old"}, {"high_water": T0 + 5, "license_id": "new", "pinned": True}
    write_state(m, old, new)
    assert m.read_state() == new and m.high_water() == T0 + 5
    write_state(m, new, old)
    assert m.read_state() == new
    write_state(m, {"high_water": "soon", "license_id": "x"}, old)
    assert m.read_state() == old
    write_state(m, {"pinned": True}, {"high_water": 7, "license_id": "y"})
    assert m.read_state() == {"high_water": 7.0, "license_id": "y"}
    m.state_paths[0].write_text("{cut")
    assert m.read_state() == {"high_water": 7.0, "license_id": "y"}
    m.state_paths[1].unlink()
    assert m.read_state() == {} and m.high_water() is None


def test_a_mark_is_raised_into_both_copies_and_repairs_a_damaged_one(tmp_path):
    m, server = online_once(tmp_path)
    m.state_paths[0].write_text("{cut")
    m.clock.advance(DAY)
    assert m.check(online=False).ok
    assert m.read_state() == {"high_water": T0 + DAY, "last_online": T0, "license_id": server.license_id,
                              "pinned": True}
    assert [json.loads(p.read_text())["data"]["high_water"] for p in m.state_paths] == [T0 + DAY] * 2


def test_with_every_copy_damaged_only_an_online_check_rewrites_the_state(tmp_path):
    m, server = online_once(tmp_path)
    for path in m.state_paths:
        path.write_text("{cut")
    m.pin_keys(force=True)                                  # pinning again writes nothing over the damage
    assert [p.read_text() for p in m.state_paths] == ["{cut", "{cut"]
    assert m.check(online=False).code == "STATE_DAMAGED"
    assert m.check().code == "VALID" and m.high_water() == T0


def test_the_files_are_private_to_the_user(tmp_path):
    import stat

    m, _ = online_once(tmp_path)
    for path in (m.lease_path, m.keys_path, *m.state_paths):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    from techcare.system.runner import ReplayRunner

    license.machine_id(ReplayRunner(platform="linux"), home=tmp_path)
    assert stat.S_IMODE((tmp_path / "machine-id").stat().st_mode) == 0o600


# ---- the manager's places, the machine id ---------------------------------------------------------------------------

def test_the_manager_keeps_its_files_under_techcare_home_license(tmp_path, monkeypatch):
    from techcare import config

    monkeypatch.setenv("TECHCARE_HOME", str(tmp_path / "th"))
    config.reset_settings()
    m = LicenseManager(fingerprint=FP)
    home = tmp_path / "th"
    assert m.home == home and m.dir == home / "license"
    assert (m.lease_path, m.state_path, m.keys_path) == (home / "license" / "lease.jwt",
                                                         home / "license" / "state.json",
                                                         home / "license" / "public_keys.json")
    assert m.state_paths == [home / "license" / "state.json", home / ".license-state.json"]
    assert m.shipped_keys == license.SHIPPED_KEYS and m.shipped_keys is not license.SHIPPED_KEYS
    other = LicenseManager(load_settings(), home=str(tmp_path / "x"), fingerprint=FP)
    assert other.home == tmp_path / "x" and other.lease_path == tmp_path / "x" / "license" / "lease.jwt"


def test_without_an_os_id_the_random_id_lives_in_techcare_home(tmp_path, monkeypatch):
    from techcare import config
    from techcare.system.runner import ReplayRunner

    monkeypatch.setenv("TECHCARE_HOME", str(tmp_path / "th"))
    config.reset_settings()
    first = license.machine_id(ReplayRunner(platform="linux"))
    assert (tmp_path / "th" / "machine-id").read_text("ascii") == first + "\n"
    assert license.machine_fingerprint(ReplayRunner(platform="linux")) == machine_fingerprint(raw_id=first)
    (tmp_path / "th" / "machine-id").write_text("  \n")                  # empty: a new id, stored
    second = license.machine_id(ReplayRunner(platform="linux"))
    assert second != first and (tmp_path / "th" / "machine-id").read_text("ascii") == second + "\n"
    (tmp_path / "th" / "machine-id").write_text(" given-id \n")
    assert license.machine_id(ReplayRunner(platform="linux")) == "given-id"


def test_last_checked_online_is_said_in_utc_whatever_the_local_zone(monkeypatch):
    import time as _time

    monkeypatch.setenv("TZ", "America/New_York")
    _time.tzset()
    try:
        assert license._iso(T0) == "2026-09-21 14:13 UTC"
        assert license._iso(0) == "1970-01-01 00:00 UTC"
    finally:
        monkeypatch.delenv("TZ")
        _time.tzset()


# ---- the status in force, ensure ------------------------------------------------------------------------------------

def test_ensure_checks_online_and_raises_with_the_message(tmp_path, monkeypatch):
    in_lang(monkeypatch, "en")
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = make(tmp_path, clock, None)
    from techcare.backend_client import BackendClient

    m._client = BackendClient(client=server.client(), retries=1, sleep=lambda s: None)
    assert m.ensure().code == "VALID" and license.current().code == "VALID"
    server.status = "REVOKED"
    with pytest.raises(license.LicenseError) as info:
        m.ensure()
    assert info.value.message == f"The license has been revoked. (revoked)\n{TROUBLE['en']}"
    assert license.current().code == "REVOKED"


def test_the_first_current_of_a_process_never_goes_online(tmp_path, monkeypatch):
    from techcare import config
    from techcare.backend_client import BackendClient

    def no_network(*args, **kwargs):
        raise AssertionError("current() asked the network")

    monkeypatch.setattr(BackendClient, "validate_license", no_network)
    monkeypatch.setattr(BackendClient, "public_keys", no_network)
    monkeypatch.setenv("LICENSE_KEY", "TECHCARE-PB-TEST")
    monkeypatch.setenv("EDITION", "pro_business")
    monkeypatch.setenv("BACKEND_URL", "http://license.test")
    monkeypatch.setenv("TECHCARE_LANG", "en")
    config.reset_settings()
    status = license.current()
    assert (status.code, status.ok) == ("LEASE_INVALID", False)
    assert status.detail == "offline and no license cached yet – one online check is needed (checked offline only)"
    assert license.current() is status


def test_a_current_that_fails_unexpectedly_is_community_and_says_why(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(LicenseManager, "check", broken)
    status = license.current()
    assert status == LicenseStatus("LEASE_INVALID", ok=False, detail="RuntimeError: disk on fire")
    assert license.current() is status


# ---- techcare license, the setup step ------------------------------------------------------------------------------

def cli(m: LicenseManager, *args: str) -> int:
    return license.main(list(args), settings=m.settings, client=m._client, clock=m.clock, home=m.home,
                        fingerprint=FP)


def test_the_command_prints_json_as_is_in_german(tmp_path, monkeypatch, capsys):
    in_lang(monkeypatch, "de")
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = make(tmp_path, clock, Backend(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce)})))
    assert cli(m, "--json") == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert out == json.dumps(data, ensure_ascii=False, indent=2) + "\n" and err == ""
    assert data["message"] == "Lizenz gültig (Pro Business), online geprüft." and data["code"] == "VALID"


def test_the_command_prints_a_valid_licence_to_stdout_its_warnings_to_stderr(tmp_path, monkeypatch, capsys):
    in_lang(monkeypatch, "en")
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = make(tmp_path, clock, Backend(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": T0 + 1800, "lease": token_for(server, nonce)})))
    assert cli(m) == 0
    assert capsys.readouterr() == ("License valid (Pro Business), checked online.\n",
                                   "The system clock is 30 minutes off the server time.\n")
    m._client = Backend(server, lambda fp, nonce: Reply(
        {"valid": False, "code": "REVOKED", "ts": T0, "lease": token_for(server, nonce, code="REVOKED", valid=False)}))
    assert cli(m) == 3
    assert capsys.readouterr() == ("", f"The license has been revoked.\n{TROUBLE['en']}\n")


@pytest.mark.parametrize("lang", LANGS)
def test_repin_fetches_the_keys_again_and_says_which(tmp_path, monkeypatch, capsys, lang):
    in_lang(monkeypatch, lang)
    clock = Clock()
    server = FakeLicenseServer(clock)
    backend = Backend(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce)}))
    m = make(tmp_path, clock, backend)
    assert m.pin_keys() == [server.jwk]
    _, k2 = new_key("k2")
    backend.public_keys = lambda: {"keys": [server.jwk, k2]}
    assert cli(m, "--repin") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == {"de": "2 Schlüssel angeheftet: k1, k2", "en": "2 keys pinned: k1, k2"}[lang]
    assert m.pinned_keys() == [server.jwk, k2]
    backend.public_keys = lambda: {"keys": [{k: v for k, v in k2.items() if k != "kid"}]}
    assert cli(m, "--repin", "--offline") == 3             # pinned; no lease cached yet
    assert capsys.readouterr().out.splitlines()[0] == {"de": "1 Schlüssel angeheftet: None",
                                                       "en": "1 keys pinned: None"}[lang]


def test_a_failed_repin_says_why_on_stderr_and_checks_nothing(tmp_path, capsys):
    clock = Clock()
    server = FakeLicenseServer(clock)
    backend = Backend(server, lambda fp, nonce: Reply({}))

    def gone():
        raise BackendError("the key endpoint is gone", hint="ask the shop")

    backend.public_keys = gone
    m = make(tmp_path, clock, backend)
    assert cli(m, "--repin") == 1
    assert capsys.readouterr() == ("", "the key endpoint is gone\nask the shop\n") and backend.nonces == []


def test_the_command_refuses_unknown_options_with_status_2(tmp_path, capsys):
    m = make(tmp_path, Clock(), None)
    assert cli(m, "--repin", "--bogus") == 2
    assert "--bogus" in capsys.readouterr().err
    assert cli(m, "--offline=yes") == 2 and cli(m, "--json", "x") == 2


@pytest.mark.parametrize("lang", LANGS)
def test_setup_texts_in_both_languages(tmp_path, monkeypatch, lang):
    in_lang(monkeypatch, lang)
    de = lang == "de"
    assert license.validate_for_setup("K", {"EDITION": "pro"}) == (
        "Lizenzschlüssel gespeichert; geprüft wird beim ersten Start (BACKEND_URL fehlt noch)." if de else
        "License key saved; it is checked at the first start (BACKEND_URL is not set yet).")
    broken = license.validate_for_setup("K", {"BACKEND_URL": "http://license.test"}, clock=None, home=tmp_path,
                                        fingerprint=FP, client=Backend(FakeLicenseServer(Clock()), None))
    assert broken == ("Lizenz konnte nicht geprüft werden: " if de else "The license could not be checked: ") + \
        "TypeError: 'NoneType' object is not callable"


def test_setup_checks_with_every_answer_given_so_far(tmp_path, monkeypatch):
    seen = []

    class Spy(LicenseManager):
        def check(self, *, online=True):
            seen.append((self.settings.license_key, self.settings.backend_url, self.settings.network_method,
                         self.settings.edition, self.settings.techcare_api_key, online, self.home))
            return LicenseStatus("VALID", ok=True, edition="pro", detail="first\nsecond")

    monkeypatch.setattr(license, "LicenseManager", Spy)
    answers = {"BACKEND_URL": "http://shop.test", "NETWORK_METHOD": "tailscale", "EDITION": "pro",
               "TECHCARE_API_KEY": "tc_secret", "COMPANY": "ignored"}
    in_lang(monkeypatch, "en")
    assert license.validate_for_setup("TECHCARE-P-1", answers, home=tmp_path) == \
        "✔ License valid (Pro), checked online."
    assert seen == [("TECHCARE-P-1", "http://shop.test", "tailscale", "pro", "tc_secret", True, tmp_path)]
    assert "NETWORK_METHOD" in license.validate_for_setup("K", {**answers, "NETWORK_METHOD": "carrier-pigeon"})


def test_an_unnamed_os_error_on_the_lease_is_named_by_its_type(tmp_path, monkeypatch):
    m, _ = online_once(tmp_path)
    from pathlib import Path

    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: (_ for _ in ()).throw(OSError()) if self == m.lease_path
                        else real(self))
    assert m.lease_damage() == f"{m.lease_path}: OSError"
    assert m.check(online=False).code == "LEASE_INVALID"


@pytest.mark.parametrize(("lang", "lines"), [
    ("de", ["Lizenz prüfen (online, sonst zwischengespeichert für höchstens 7 Tage).",
            "--offline   nur die zwischengespeicherte Lizenz prüfen",
            "--repin     die öffentlichen Schlüssel des Servers neu holen und anheften (nach einem angekündigten "
            "Schlüsselwechsel)"]),
    ("en", ["Check the license (online, else cached for at most 7 days).",
            "--offline   check the cached lease only",
            "--repin     fetch and pin the server's public keys again (after an announced key rotation)"]),
])
def test_the_help_lines_are_exactly_these(monkeypatch, capsys, lang, lines):
    in_lang(monkeypatch, lang)
    monkeypatch.setenv("COLUMNS", "400")
    assert license.main(["--help"]) == 0
    shown = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert shown[0] == {"de": "Aufruf:", "en": "usage:"}[lang] + " techcare license [-h] [--offline] [--json] [--repin]"
    for line in lines:
        assert line in shown
    assert {"de": "--json      den Lizenzstatus als JSON ausgeben",
            "en": "--json      print the license status as JSON"}[lang] in shown


def test_ensure_offline_asks_nobody(tmp_path):
    m, server = online_once(tmp_path)
    asked = len(m._client.nonces)
    m.clock.advance(DAY)
    assert m.ensure(online=False).code == "OFFLINE_GRACE" and len(m._client.nonces) == asked
    assert license.ensure_license(online=False, settings=m.settings, client=m._client, clock=m.clock, home=m.home,
                                  fingerprint=FP).code == "OFFLINE_GRACE"
    assert len(m._client.nonces) == asked and license.current().code == "OFFLINE_GRACE"


@pytest.mark.parametrize("lang", LANGS)
def test_a_clock_hours_off_is_warned_in_whole_minutes(tmp_path, monkeypatch, lang):
    in_lang(monkeypatch, lang)
    clock = Clock(T0 + 2 * 3600 + 20)
    server = FakeLicenseServer(clock)
    m = make(tmp_path, clock, Backend(server, lambda fp, nonce: Reply(
        {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce)})))
    assert m.check().warnings == [{"de": "Die Systemuhr weicht 120 Minuten von der Serverzeit ab.",
                                   "en": "The system clock is 120 minutes off the server time."}[lang]]


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage", "cafe-\u00e9-id".encode()])
def test_a_damaged_fallback_machine_id_is_replaced_not_a_traceback(tmp_path, content):
    """Defect found by the survivors: a machine-id file that is not ASCII text raised UnicodeDecodeError out of
    every licence check; the id it held is lost, so like an empty one it is replaced by a new id (this machine
    activates once more). A machine-id that cannot be read at all is an error instead (test_license_leftovers)."""
    from techcare.system.runner import ReplayRunner

    (tmp_path / "machine-id").write_bytes(content)
    new = license.machine_id(ReplayRunner(platform="linux"), home=tmp_path)
    assert len(new) == 32 and int(new, 16) >= 0
    assert (tmp_path / "machine-id").read_text("ascii") == new + "\n"
    assert license.machine_id(ReplayRunner(platform="linux"), home=tmp_path) == new


def test_a_backend_error_without_a_response_is_refused_not_a_crash(tmp_path):
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = make(tmp_path, clock, Backend(server, lambda fp, nonce: BackendError("the client could not ask")))
    assert m.check() == LicenseStatus("LEASE_INVALID", ok=False, online=True, detail="the client could not ask")
