"""The licence client's leftovers from the mutation-testing sessions, each pinned by a test that failed before:

1. a fallback ``TECHCARE_HOME/machine-id`` that exists but cannot be read (a folder in its place, no permission, a
   symlink loop) or a new id that cannot be stored is a :class:`LicenseError` naming the path and what to do (never
   IsADirectoryError, never a silently new id, which would make this PC a new machine for the licence), shown by
   ``techcare license`` and ``techcare doctor`` without a traceback;
2. a JSON boolean (``true``) where a number is read (``iat``, ``exp``, ``nbf``, the answer's ``ts``, the
   high-water mark) is malformed, not the number 1 — NaN, infinity and integers too large for a float neither;
3. why a lease is refused is said in the session language (the codes stay as they are).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import jwt
import pytest
from fs_faults import read_only

from techcare import license
from techcare.config import load_settings
from techcare.doctor import Doctor
from techcare.errors import LicenseError
from techcare.license import LicenseManager, LicenseStatus, machine_fingerprint, machine_id
from techcare.system.runner import ReplayRunner

from .fakes import FP, T0, Backend, Clock, FakeLicenseServer, Reply, claims_for, new_key, token_for

LANGS = ("de", "en")


@pytest.fixture(autouse=True)
def _forget_license():
    license.set_current(None)
    yield
    license.set_current(None)


@pytest.fixture(params=LANGS)
def lang(request, monkeypatch) -> str:
    monkeypatch.setenv("TECHCARE_LANG", request.param)
    return request.param


def no_os_id() -> ReplayRunner:
    """A machine whose operating system has no machine id: TechCare keeps its own in TECHCARE_HOME/machine-id."""
    return ReplayRunner(platform="linux")





def make(tmp_path: Path, clock: Clock, client: Any, **kw: Any) -> LicenseManager:
    settings = load_settings(backend_url="http://license.test", license_key="TECHCARE-PB-TEST", edition="pro_business")
    kw.setdefault("fingerprint", FP)
    return LicenseManager(settings, client=client, clock=clock, home=tmp_path / "home", **kw)


def answering(tmp_path: Path, reply, **kw: Any) -> tuple[LicenseManager, FakeLicenseServer, Clock]:
    """A manager whose backend answers each validation with ``reply(server, nonce)`` (a body, or a Reply)."""
    clock = Clock()
    server = FakeLicenseServer(clock)

    def answer(fp: str, nonce: str) -> Reply:
        body = reply(server, nonce)
        return body if isinstance(body, Reply) else Reply(body)

    return make(tmp_path, clock, Backend(server, answer), **kw), server, clock


def valid_answer(server: FakeLicenseServer, nonce: str, **lease: Any) -> dict[str, Any]:
    return {"valid": True, "code": "VALID", "ts": T0, "lease": token_for(server, nonce, **lease)}


def online_once(tmp_path: Path) -> tuple[LicenseManager, FakeLicenseServer]:
    m, server, _ = answering(tmp_path, valid_answer)
    assert m.check().code == "VALID"
    return m, server


def pinned(tmp_path: Path) -> tuple[LicenseManager, FakeLicenseServer]:
    m, server, _ = answering(tmp_path, valid_answer)
    assert m.pin_keys() == [server.jwk]
    return m, server


def refused_because(m: LicenseManager, token: Any, nonce: str | None = None) -> str:
    with pytest.raises(license._Invalid) as info:
        m.verify(token, nonce=nonce)
    return str(info.value)


# ---- 1. a machine-id that cannot be read or stored -------------------------------------------------------------------

def machine_id_error(home: Path) -> LicenseError:
    with pytest.raises(LicenseError) as info:
        machine_id(no_os_id(), home=home)
    error = info.value
    assert error.exit_code == 3 and str(error) == f"{error.message}\n{error.hint}"
    with pytest.raises(LicenseError) as again:            # the fingerprint (what the licence check asks) says the same
        machine_fingerprint(no_os_id(), home=home)
    assert str(again.value) == str(error)
    return error


NEW_ID = {"de": "TechCare legt dann eine neue ID an; die Lizenz zählt diesen Rechner dann einmal neu.",
          "en": "TechCare then creates a new id; the license counts this machine once more."}


@pytest.fixture
def home(tmp_path) -> Path:
    (tmp_path / "h").mkdir()
    return tmp_path / "h"


def test_a_folder_in_place_of_the_machine_id_is_said_with_what_to_do_and_left_alone(home, lang):
    path = home / "machine-id"
    path.mkdir()
    (path / "notes.txt").write_text("keep me")
    error = machine_id_error(home)
    assert error.message == {
        "de": f"Die Rechner-ID ist nicht lesbar: {path} ist ein Ordner, keine Datei.",
        "en": f"The machine id cannot be read: {path} is a folder, not a file."}[lang]
    assert error.hint == {
        "de": "Dieser Rechner hat keine Betriebssystem-ID; TechCare führt seine eigene in dieser Datei. So gehst du "
              "vor:\n  1. die Datei machine-id aus einer Sicherung an diese Stelle zurückspielen\n  2. oder den Ordner "
              f"umbenennen oder entfernen, wenn er nichts Wichtiges enthält. {NEW_ID['de']}",
        "en": "This machine has no operating-system id; TechCare keeps its own in this file. What to do:\n"
              "  1. restore the file machine-id from a backup to this place\n  2. or rename or remove the folder if it "
              f"holds nothing of value. {NEW_ID['en']}"}[lang]
    assert [p.name for p in path.iterdir()] == ["notes.txt"] and (path / "notes.txt").read_text() == "keep me"
    assert [p.name for p in home.iterdir()] == ["machine-id"]               # no temp file left behind either
    path.rename(home / "machine-id.old")                                     # what the advice says: then a new id
    new = machine_id(no_os_id(), home=home)
    assert len(new) == 32 and path.read_text("ascii") == new + "\n"


def test_a_symlink_loop_in_place_of_the_machine_id_is_said_and_left_alone(home, lang):
    path = home / "machine-id"
    os.symlink("machine-id", path)
    error = machine_id_error(home)
    assert error.message == {
        "de": f"Die Rechner-ID ist nicht lesbar: {path} ist ein symbolischer Link, der im Kreis verweist.",
        "en": f"The machine id cannot be read: {path} is a symbolic link that points round in a loop."}[lang]
    assert error.hint == {
        "de": f"Den Link durch die ursprüngliche Datei machine-id ersetzen (aus einer Sicherung) oder ihn entfernen. "
              f"{NEW_ID['de']}",
        "en": f"Replace the link by the original file machine-id (from a backup) or remove it. {NEW_ID['en']}"}[lang]
    assert path.is_symlink() and os.readlink(path) == "machine-id"      # not replaced by a new id behind one's back


def test_a_machine_id_this_account_may_not_read_is_said_and_kept(home, monkeypatch, lang):
    """Root ignores file modes: there the kernel's refusal is stood in for by the PermissionError it would raise."""
    path = home / "machine-id"
    path.write_text("the-id-this-pc-has-had-for-years\n")
    if os.geteuid() == 0:
        real = Path.read_bytes

        def refuse(self: Path) -> bytes:
            if self == path:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
            return real(self)

        with monkeypatch.context() as patched:
            patched.setattr(Path, "read_bytes", refuse)
            error = machine_id_error(home)
    else:
        path.chmod(0)
        try:
            error = machine_id_error(home)
        finally:
            path.chmod(0o600)
    reason = os.strerror(errno.EACCES)
    assert error.message == {"de": f"Die Rechner-ID ist nicht lesbar: {path} ({reason}).",
                             "en": f"The machine id cannot be read: {path} ({reason})."}[lang]
    assert error.hint == {
        "de": "Dem Konto, unter dem TechCare läuft, das Lesen erlauben (Eigentümer und Rechte der Datei, z. B. chmod "
              "600). Die Datei nicht löschen: eine neue ID zählt für die Lizenz als neuer Rechner.",
        "en": "Let the account running TechCare read it (the file's owner and permissions, e.g. chmod 600). Do not "
              "delete the file: a new id counts as a new machine for the license."}[lang]
    assert path.read_text() == "the-id-this-pc-has-had-for-years\n"            # the id survives, unreplaced
    assert machine_id(no_os_id(), home=home) == "the-id-this-pc-has-had-for-years"


def test_a_techcare_home_that_is_a_file_is_said(tmp_path, lang):
    home = tmp_path / "home"
    home.write_text("not a folder")
    error = machine_id_error(home)
    path, reason = home / "machine-id", os.strerror(errno.ENOTDIR)
    assert error.message == {"de": f"Die Rechner-ID ist nicht lesbar: {path} ({reason}).",
                             "en": f"The machine id cannot be read: {path} ({reason})."}[lang]
    assert error.hint == {
        "de": f"TECHCARE_HOME ({home}) muss ein lesbarer Ordner sein und {path} eine Datei darin: Pfad und Rechte "
              "prüfen oder die Datei aus einer Sicherung zurückspielen.",
        "en": f"TECHCARE_HOME ({home}) must be a readable folder and {path} a file in it: check the path and "
              "permissions or restore the file from a backup."}[lang]
    assert home.read_text() == "not a folder"


def test_a_new_machine_id_that_cannot_be_stored_is_said_not_handed_out(tmp_path, lang):
    """A new id that is not kept would be another machine at every start (one more licence seat each time)."""
    home = tmp_path / "home"
    home.mkdir()
    with read_only(home):
        error = machine_id_error(home)
    path = home / "machine-id"
    reason = os.strerror(errno.EROFS) if os.geteuid() == 0 else os.strerror(errno.EACCES)
    assert error.message == {"de": f"Die Rechner-ID kann nicht in {path} gespeichert werden ({reason}).",
                             "en": f"The machine id cannot be stored in {path} ({reason})."}[lang]
    assert error.hint == {
        "de": f"Dieser Rechner hat keine Betriebssystem-ID; TechCare führt seine eigene in TECHCARE_HOME ({home}). "
              "TECHCARE_HOME muss ein Ordner sein, den das Konto, unter dem TechCare läuft, beschreiben darf: Rechte "
              "prüfen oder TECHCARE_HOME auf einen solchen Ordner setzen.",
        "en": f"This machine has no operating-system id; TechCare keeps its own in TECHCARE_HOME ({home}). "
              "TECHCARE_HOME must be a folder the account running TechCare may write to: check its permissions or "
              "set TECHCARE_HOME to such a folder."}[lang]
    assert list(home.iterdir()) == []


def damaged_machine_id_manager(tmp_path: Path) -> tuple[LicenseManager, Backend, LicenseError]:
    """A licensed manager (pointed at a stand-in backend) on a machine without an OS id whose
    TECHCARE_HOME/machine-id is a folder."""
    clock = Clock()
    server = FakeLicenseServer(clock)
    backend = Backend(server, lambda fp, nonce: Reply(valid_answer(server, nonce)))
    m = make(tmp_path, clock, backend, fingerprint=None, runner=no_os_id())
    (m.home / "machine-id").mkdir(parents=True)
    return m, backend, machine_id_error(m.home)


@pytest.mark.parametrize("json_out", [False, True])
def test_the_license_command_says_it_without_a_traceback(tmp_path, capsys, lang, json_out):
    m, backend, error = damaged_machine_id_manager(tmp_path)
    kw = {"client": m.client, "clock": m.clock, "home": m.home, "settings": m.settings, "runner": no_os_id()}
    assert license.main(["--json"] if json_out else [], **kw) == 3
    out = capsys.readouterr()
    assert (out.out, out.err) == ("", f"{error}\n") and backend.nonces == []     # nothing sent without an id
    assert license.main(["--offline"], **kw) == 3          # nothing cached: no id needed to say so, no error
    assert "machine-id" not in capsys.readouterr().err


def test_the_cli_shows_it_as_one_error_with_exit_status_3(tmp_path, monkeypatch, capsys, lang):
    from techcare import cli

    m, _, error = damaged_machine_id_manager(tmp_path)
    monkeypatch.setattr(license, "LicenseManager", lambda **kw: m)
    assert cli.main(["license"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and error.message in err and "machine-id" in err


def test_the_doctor_reports_it_as_a_failed_licence_check(tmp_path, lang):
    m, _, error = damaged_machine_id_manager(tmp_path)
    doctor = Doctor(m.settings, runner=no_os_id(), license_manager=m)
    doctor.check_license()
    [check] = doctor.checks
    assert check.name == {"de": "Lizenz", "en": "License"}[lang] and check.status == "fail"
    assert (check.detail, check.fix) == (error.message, error.hint)     # its own advice, not the network list


def test_the_start_sequence_and_the_gates_say_it_whole(tmp_path, monkeypatch, lang):
    from techcare import config
    from techcare.system import _facts

    m, backend, error = damaged_machine_id_manager(tmp_path)
    with pytest.raises(LicenseError) as info:
        m.ensure()
    assert str(info.value) == str(error)
    assert m.pinned_keys() == [backend.server.jwk]
    m.lease_path.write_text(token_for(backend.server) + "\n")     # a cached lease: verifying it needs the id
    monkeypatch.setenv("TECHCARE_HOME", str(m.home))
    monkeypatch.setenv("LICENSE_KEY", "TECHCARE-PB-TEST")
    monkeypatch.setenv("EDITION", "pro_business")
    config.reset_settings()
    monkeypatch.setattr(_facts, "machine_id", lambda runner: None)      # this PC has no OS machine id
    assert license.current() == LicenseStatus("LEASE_INVALID", ok=False, detail=error.message, advice=error.hint)
    assert license.current().message.endswith(f"({error.message})\n{error.hint}")


# ---- 2. booleans (and other non-numbers) where a number is read ------------------------------------------------------

@pytest.mark.parametrize("claim", ["iat", "exp", "nbf"])
@pytest.mark.parametrize("value", [True, False, float("nan"), float("inf"), 10 ** 400, "soon", [1]])
def test_a_time_claim_that_is_not_a_finite_number_is_refused(tmp_path, claim, value):
    m, server = pinned(tmp_path)
    assert refused_because(m, token_for(server, **{claim: value})) == f"Angabe {claim} ist keine Zahl"


def test_a_lease_without_nbf_is_fine_and_iat_stands_for_it(tmp_path):
    m, server = online_once(tmp_path)
    m.lease_path.write_text(token_for(server, omit=("nbf",)))
    assert m.check(online=False).code == "OFFLINE_GRACE"


@pytest.mark.parametrize("claim", ["iat", "exp", "nbf"])
def test_a_boolean_time_claim_online_is_an_invalid_lease_not_one_second_after_1970(tmp_path, lang, claim):
    m, _, _ = answering(tmp_path, lambda server, nonce: valid_answer(server, nonce, **{claim: True}))
    status = m.check()
    assert status == LicenseStatus("LEASE_INVALID", ok=False, online=True, detail={
        "de": f"Angabe {claim} ist keine Zahl", "en": f"claim {claim} is not a number"}[lang])
    assert not m.lease_path.exists() and m.read_state() == {"pinned": True}


@pytest.mark.parametrize("value", [True, None, "soon"])
def test_a_cached_lease_whose_nbf_is_not_a_number_is_refused_not_a_traceback(tmp_path, value):
    m, server = online_once(tmp_path)
    m.lease_path.write_text(token_for(server, nbf=value))
    assert m.check(online=False) == LicenseStatus("LEASE_INVALID", ok=False, detail="Angabe nbf ist keine Zahl")
    assert not m.lease_path.exists()


@pytest.mark.parametrize("ts", [True, False])
def test_a_boolean_server_time_is_no_time(tmp_path, ts):
    m, _, _ = answering(tmp_path, lambda server, nonce: {**valid_answer(server, nonce), "ts": ts})
    status = m.check()
    assert (status.code, status.warnings) == ("VALID", [])          # no "clock 29 million minutes off"
    assert m.read_state()["last_online"] == T0 and m.high_water() == T0


@pytest.mark.parametrize("mark", ["true", "Infinity", "NaN"])
def test_a_legacy_high_water_mark_that_is_not_a_number_is_no_mark(tmp_path, mark):
    m, server = online_once(tmp_path)
    for path in m.state_paths:                      # plain JSON objects, as an older version wrote them
        path.write_text('{"high_water": %s, "last_online": %d}' % (mark, T0))
    assert m.high_water() is None
    status = m.check(online=False)                  # the lease's iat is the floor, as with no mark at all
    assert (status.code, status.ok, status.last_online) == ("OFFLINE_GRACE", True, T0)


@pytest.mark.parametrize("limits", [[1], "ab", 3, True])
def test_limits_that_are_not_an_object_are_no_limits_not_a_traceback(tmp_path, limits):
    m, _, _ = answering(tmp_path, lambda server, nonce: valid_answer(server, nonce, limits=limits))
    status = m.check()
    assert (status.code, status.ok, status.limits) == ("VALID", True, {})


# ---- 3. why a lease is refused, in the session language --------------------------------------------------------------

def reasons(server: FakeLicenseServer) -> list[tuple[Any, str | None, str, str]]:
    other, _ = new_key("k1")
    hs = jwt.encode(claims_for(server), "secret-of-32-bytes-at-least-here", algorithm="HS256", headers={"kid": "k1"})
    return [
        (12345, None, "kein JWT", "not a JWT"),
        ("a.b.c", None, "Kopfteil unlesbar: Invalid header padding", "bad header: Invalid header padding"),
        (hs, None, "Algorithmus 'HS256' ist nicht EdDSA", "algorithm 'HS256' is not EdDSA"),
        (server.sign(claims_for(server), kid="k7"), None, "Signatur mit einem nicht vertrauenswürdigen Schlüssel "
         "(kid 'k7')", "signed with an untrusted key (kid 'k7')"),
        (server.sign(claims_for(server), key=other), None, "Signatur stimmt nicht", "signature does not verify"),
        (token_for(server, iss="someone-else"), None, "falscher Aussteller (iss)", "wrong issuer (iss)"),
        (token_for(server, omit=("exp",)), None, "Angabe exp fehlt", "claim exp is missing"),
        (token_for(server, omit=("iss",)), None, "Angabe iss fehlt", "claim iss is missing"),
        (token_for(server, iat=True), None, "Angabe iat ist keine Zahl", "claim iat is not a number"),
        (token_for(server, sub=""), None, "eine gültige Lizenzbestätigung muss ihre Lizenz nennen (sub)",
         "a valid lease must name its license (sub)"),
        (token_for(server, sub=7), None, "von der JWT-Prüfung abgelehnt: InvalidSubjectError: Subject must be a "
         "string", "refused by the JWT check: InvalidSubjectError: Subject must be a string"),
        (token_for(server, fingerprint="f" * 64), None, "für einen anderen Rechner ausgestellt (Fingerabdruck passt "
         "nicht)", "issued for another machine (fingerprint mismatch)"),
        (token_for(server, "n1"), "n2", "Nonce passt nicht (wiedergegebene oder fremde Antwort)",
         "nonce mismatch (replayed or foreign answer)"),
    ]


def test_each_reason_a_lease_is_refused_is_said_in_the_session_language(tmp_path, lang):
    m, server = pinned(tmp_path)
    for token, nonce, de, en in reasons(server):
        assert refused_because(m, token, nonce) == {"de": de, "en": en}[lang]


def test_a_refused_lease_is_one_language_from_head_to_advice(tmp_path, lang):
    m, server = online_once(tmp_path)
    m.lease_path.write_text(token_for(server, fingerprint="f" * 64))
    status = m.check(online=False)
    assert status.code == "LEASE_INVALID" and not status.ok       # the code is the same in every language
    assert status.message == {
        "de": "Die Lizenzbestätigung ist ungültig (Signatur, Rechner oder Antwort passt nicht). (für einen anderen "
              "Rechner ausgestellt (Fingerabdruck passt nicht))\n" + license._troubleshooting(),
        "en": "The license lease is invalid (signature, machine or answer does not match). (issued for another "
              "machine (fingerprint mismatch))\n" + license._troubleshooting()}[lang]
    assert license._troubleshooting().startswith({"de": "Lizenz-Check fehlgeschlagen", "en": "License check"}[lang])


@pytest.mark.parametrize(("reply", "de", "en"), [
    (Reply(not_json=True), "Antwort ist kein JSON", "answer is not JSON"),
    (Reply({"valid": True, "code": "VALID"}), "Antwort enthält keine Lizenzbestätigung", "answer carries no lease"),
])
def test_an_answer_without_a_lease_is_said_in_the_session_language(tmp_path, lang, reply, de, en):
    m, _, _ = answering(tmp_path, lambda server, nonce: reply)
    assert m.check() == LicenseStatus("LEASE_INVALID", ok=False, online=True, detail={"de": de, "en": en}[lang])


def test_a_cached_denial_and_an_unknown_edition_are_said_in_the_session_language(tmp_path, lang):
    m, server = online_once(tmp_path / "a")
    m.lease_path.write_text(token_for(server, code="REVOKED", valid=False))
    assert m.check(online=False) == LicenseStatus("REVOKED", ok=False, detail={
        "de": "zwischengespeicherte Ablehnung", "en": "cached denial"}[lang])
    m, _, _ = answering(tmp_path / "b", lambda server, nonce: valid_answer(server, nonce, edition="platinum"))
    assert m.check() == LicenseStatus("LEASE_INVALID", ok=False, online=True, detail={
        "de": "unbekannte Edition 'platinum'", "en": "unknown edition 'platinum'"}[lang])


@pytest.mark.parametrize(("content", "de", "en"), [
    ("{cut", "kein JSON (abgeschnitten oder verstümmelt)", "not JSON (cut or garbled)"),
    ("[1]", "kein JSON-Objekt", "not a JSON object"),
    ('{"data": {"high_water": 1}, "sum": "0"}', "Prüfsumme stimmt nicht", "checksum mismatch"),
    (b"\xff\xfe", "keine UTF-8-Textdatei", "not UTF-8 text"),
])
def test_damaged_state_files_are_said_in_the_session_language(tmp_path, lang, content, de, en):
    m, server = online_once(tmp_path)
    for path in m.state_paths:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    status = m.check(online=False)
    a, b = m.state_paths
    why = {"de": de, "en": en}[lang]
    assert (status.code, status.ok, status.detail) == ("STATE_DAMAGED", False, f"{a}: {why}; {b}: {why}")
    assert status.message.startswith({"de": "Die Lizenz-Zustandsdateien", "en": "The license state files"}[lang])


def test_a_cached_lease_from_an_unknown_key_is_kept_in_every_language(tmp_path, lang):
    """Which reasons delete the cached lease is decided on a fixed word, not on the (translated) text."""
    m, server = online_once(tmp_path)
    other, _ = new_key("k9")
    unknown = jwt.encode(claims_for(server), other, algorithm="EdDSA", headers={"kid": "k9"})
    m.lease_path.write_text(unknown)
    assert m.check(online=False) == LicenseStatus("LEASE_INVALID", ok=False, detail={
        "de": "Signatur mit einem nicht vertrauenswürdigen Schlüssel (kid 'k9')",
        "en": "signed with an untrusted key (kid 'k9')"}[lang])
    assert m.lease_path.read_text() == unknown                   # kept: a key shipped later may verify it
    m.lease_path.write_text(token_for(server, fingerprint="f" * 64))
    assert m.check(online=False).code == "LEASE_INVALID" and not m.lease_path.exists()

