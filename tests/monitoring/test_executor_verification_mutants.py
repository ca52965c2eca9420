"""What remote-job verification promises, one behaviour per test (for `scripts/mutation remote-jobs`).

The signature side (techcare/signing.py): the exact signed bytes and their limits, key ids, the accepted key texts,
envelopes refused with the right reason, and the host's list of pinned signers. The host's checks
(techcare/monitoring/executor.py): a job's and an occurrence's shape, signer, host, platform, time window, replay,
revision and rebuilt plan, each refusal with its reason and its exact text in German and English, every limit on
both sides of its boundary. Nothing here runs a step: verification never asks the host anything."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import stat
from datetime import datetime
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from refusals import refused
from remote_job_payloads import HOST, iso
from schedule_payloads import schedule, utc, variant

from techcare import repairs
from techcare.errors import TechCareError
from techcare.i18n import set_language
from techcare.monitoring import executor as ex
from techcare.monitoring.executor import Executor, Refusal, occurrence_run_id
from techcare.schedule_time import Recurrence, ScheduleTimeError
from techcare.signing import (
    PUBLIC_KEY_PREFIX,
    SignatureError,
    SigningKey,
    TrustStore,
    canonical_json,
    key_id_for,
    parse_public_key,
    sign_payload,
    verify_envelope,
)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# ---- the signed bytes -------------------------------------------------------------------------------------------

def test_integers_up_to_two_to_the_53_are_signed_beyond_that_refused():
    assert canonical_json({"n": 2**53}) == b'{"n":9007199254740992}'
    assert canonical_json({"n": -(2**53)}) == b'{"n":-9007199254740992}'
    for bad in (2**53 + 1, -(2**53) - 1):
        with pytest.raises(ValueError, match=r"payload\.n: integer outside ±2\^53"):
            canonical_json({"n": bad})


def test_every_refusal_names_the_field_and_what_is_allowed():
    with pytest.raises(ValueError, match=r"^payload\.a\[1\]\.b: floats are not allowed in signed payloads "
                                         r"\(use integers or strings\)$"):
        canonical_json({"a": [0, {"b": 0.5}]})
    with pytest.raises(ValueError, match=r"^payload\.a: keys must be strings, not 1$"):
        canonical_json({"a": {1: "x"}})
    with pytest.raises(ValueError, match=r"^payload\.x\[0\]: bytes cannot be signed \(allowed: object, array, "
                                         r"string, integer, true/false, null\)$"):
        canonical_json({"x": [b"raw"]})
    with pytest.raises(ValueError, match=r"^payload: text is not valid Unicode \(lone surrogate\)$"):
        canonical_json({"x": "\udfff"})


def test_the_signed_bytes_are_sorted_compact_utf8_and_keep_booleans_and_null():
    value = {"z": [True, False, None], "ä": "ö", "a": {"y": 1, "b": "2"}}
    assert canonical_json(value) == '{"a":{"b":"2","y":1},"z":[true,false,null],"ä":"ö"}'.encode("utf-8")
    assert canonical_json([]) == b"[]" and canonical_json("x") == b'"x"' and canonical_json(None) == b"null"


def test_a_key_id_is_the_first_16_hex_digits_of_the_keys_sha256():
    raw = bytes(range(32))
    assert key_id_for(raw) == hashlib.sha256(raw).hexdigest()[:16] == "630dcd2966c43366"
    key = SigningKey.generate()
    assert key.key_id == key_id_for(key.public_raw) and len(key.key_id) == 16


# ---- public key texts ---------------------------------------------------------------------------------------------

def test_a_public_key_is_accepted_with_or_without_its_prefix_and_as_pem():
    key = SigningKey.generate()
    bare = key.public_key[len(PUBLIC_KEY_PREFIX):]
    assert key.public_key == "ed25519:" + b64(key.public_raw) and len(bare) == 43
    pem = key._private.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    for text in (key.public_key, bare, "ED25519:" + bare, f"  {key.public_key}\n", pem, "\n" + pem):
        assert parse_public_key(text) == key.public_raw


@pytest.mark.parametrize("text", ["", "ed25519:", "ed25519:" + b64(bytes(31)), "ed25519:" + b64(bytes(33)),
                                  "x" * 5000, "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"])
def test_anything_else_is_refused_saying_what_is_accepted(text, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with pytest.raises(SignatureError) as caught:
        parse_public_key(text)
    assert caught.value.reason == "malformed"
    assert str(caught.value).startswith("Not a valid Ed25519 public key (")
    assert "Expected: 'ed25519:' and 43 characters of base64url" in str(caught.value)


def test_a_pem_key_of_another_kind_is_refused():
    other = generate_private_key(SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(SignatureError) as caught:
        parse_public_key(other)
    assert caught.value.reason == "malformed" and "not Ed25519" in str(caught.value)


# ---- envelopes ----------------------------------------------------------------------------------------------------

def test_an_envelope_is_the_payload_the_key_id_and_the_signature_of_its_canonical_bytes():
    key = SigningKey.generate()
    payload = {"job_id": "a" * 32, "n": 1}
    envelope = sign_payload(payload, key)
    assert set(envelope) == {"payload", "key_id", "signature"}
    assert envelope["payload"] is payload and envelope["key_id"] == key.key_id
    signature = base64.urlsafe_b64decode(envelope["signature"] + "==")
    key._private.public_key().verify(signature, canonical_json(payload))
    assert "=" not in envelope["signature"]
    assert verify_envelope(envelope, {key.key_id: key.public_raw}) == payload
    with pytest.raises(ValueError, match=r"^payload must be an object$"):
        sign_payload(["x"], key)                                          # type: ignore[arg-type]


@pytest.mark.parametrize("envelope", [None, [], "x", {"payload": [], "key_id": "k", "signature": "s"},
                                      {"payload": {}, "key_id": 1, "signature": "s"},
                                      {"payload": {}, "key_id": "k", "signature": None},
                                      {"payload": {}, "signature": "s"}, {"key_id": "k", "signature": "s"}])
def test_what_is_no_envelope_is_malformed(envelope, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with pytest.raises(SignatureError) as caught:
        verify_envelope(envelope, {"k": bytes(32)})
    assert caught.value.reason == "malformed"
    assert str(caught.value) == "The job is not a signed envelope (payload, key_id, signature)."


def test_an_unknown_signer_is_named_by_at_most_32_characters_of_its_key_id(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    key = SigningKey.generate()
    envelope = sign_payload({"x": 1}, key)
    envelope["key_id"] = "f" * 40
    with pytest.raises(SignatureError) as caught:
        verify_envelope(envelope, {key.key_id: key.public_raw})
    assert caught.value.reason == "unknown_signer"
    assert str(caught.value) == f"Signed with key {'f' * 32}, which is not pinned on this host."


@pytest.mark.parametrize("break_it", [
    lambda e: e.update(signature=e["signature"][:-2] + ("AA" if e["signature"][-2:] != "AA" else "BA")),
    lambda e: e.update(signature="!!!"),
    lambda e: e.update(signature="x" * 5000),
    lambda e: e["payload"].update(extra=1),
    lambda e: e["payload"].update(x=1.5),
])
def test_a_changed_signature_or_payload_is_a_bad_signature(break_it, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    key = SigningKey.generate()
    envelope = sign_payload({"x": 1}, key)
    break_it(envelope)
    with pytest.raises(SignatureError) as caught:
        verify_envelope(envelope, {key.key_id: key.public_raw})
    assert caught.value.reason == "bad_signature"
    assert str(caught.value) == ("The signature does not match the content: the job was changed after it was "
                                 "approved.")


def test_a_signature_of_another_pinned_key_does_not_count():
    signer, other = SigningKey.generate(), SigningKey.generate()
    envelope = sign_payload({"x": 1}, signer)
    with pytest.raises(SignatureError) as caught:
        verify_envelope(envelope, {signer.key_id: other.public_raw})
    assert caught.value.reason == "bad_signature"


# ---- the pinned signers -----------------------------------------------------------------------------------------

def test_pinning_a_key_writes_a_private_file_with_its_id_name_and_utc_time(tmp_path):
    store = TrustStore(tmp_path)
    key = SigningKey.generate()
    signer = store.add(key.public_key, name="  Anna  " + "x" * 300)
    assert signer.key_id == key.key_id and signer.public_key == b64(key.public_raw)
    assert signer.name == ("Anna  " + "x" * 300)[:200] and signer.public_text == key.public_key
    added = datetime.fromisoformat(signer.added_at)
    assert added.utcoffset().total_seconds() == 0 and added.microsecond == 0
    data = json.loads(store.path.read_text("utf-8"))
    assert data["version"] == 1 and data["signers"] == [signer.__dict__]
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert store.path == tmp_path / "trusted_signers.json"
    assert store.keys() == {key.key_id: key.public_raw}


def test_pinning_a_key_again_renames_it_and_removing_is_a_rotation(tmp_path):
    store = TrustStore(tmp_path)
    old, new = SigningKey.generate(), SigningKey.generate()
    store.add(old.public_key, name="alt")
    store.add(old.public_key, name="Anna")
    assert [(s.key_id, s.name) for s in store.signers()] == [(old.key_id, "Anna")]
    store.add(new.public_key, name="neu")
    assert store.remove(old.key_id) is True
    assert store.remove(old.key_id) is False
    assert [s.key_id for s in store.signers()] == [new.key_id]
    assert TrustStore(tmp_path / "none").signers() == [] and TrustStore(tmp_path / "none").keys() == {}


@pytest.mark.parametrize("content", ["{", "[]", '{"signers": [{"public_key": "x"}]}', '{"other": 1}'])
def test_a_damaged_signer_list_trusts_nobody_and_says_how_to_recover(tmp_path, content, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    store = TrustStore(tmp_path)
    store.path.write_text(content, "utf-8")
    with pytest.raises(SignatureError) as caught:
        store.keys()
    assert caught.value.reason == "malformed"
    assert str(caught.value).startswith(f"The list of trusted signing keys {store.path} is damaged (")
    assert "recreated with `techcare sensor trust add`" in str(caught.value)



def signing_texts(call) -> tuple[str, str, str]:
    """``(reason, German text, English text)`` of the SignatureError ``call()`` raises in each language."""
    seen = []
    for lang in ("de", "en"):
        set_language(lang)
        try:
            with pytest.raises(SignatureError) as caught:
                call()
        finally:
            set_language(None)
        seen.append(caught.value)
    assert seen[0].reason == seen[1].reason
    return seen[0].reason, str(seen[0]), str(seen[1])


@pytest.mark.parametrize(("text", "e"), [("", "wrong length"), ("ed25519:" + "A" * 4096, "wrong length"),
                                         ("ed25519:" + "A" * 4097, "not base64url text"),
                                         ("A" * 42, "wrong length"), ("A" * 50, "wrong length"),
                                         ("ed25519:" + b64(bytes(33)), "wrong length")])
def test_a_refused_public_key_says_why_and_what_is_accepted_in_both_languages(text, e):
    assert signing_texts(lambda: parse_public_key(text)) == (
        "malformed", f"Kein gültiger öffentlicher Ed25519-Schlüssel ({e}). Erwartet: „ed25519:“ und 43 Zeichen "
        "base64url (wie `techcare fleet key` ihn zeigt) oder ein PEM-Block „PUBLIC KEY“.",
        f"Not a valid Ed25519 public key ({e}). Expected: 'ed25519:' and 43 characters of base64url (as "
        "`techcare fleet key` shows it) or a PEM 'PUBLIC KEY' block.")


def test_the_technicians_key_is_created_private_in_its_own_folder_and_loaded_again(tmp_path):
    home = tmp_path / "new" / "home"
    key = SigningKey.load_or_create(home)
    path = home / "signing" / "ed25519.pem"
    assert key.path == path and path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    again = SigningKey.load_or_create(home)
    assert (again.key_id, again.public_raw, again.path) == (key.key_id, key.public_raw, path)
    other = tmp_path / "other"
    (other / "signing").mkdir(parents=True)  # the folder is there already, the key not yet
    made = SigningKey.load_or_create(other)
    assert made.path == other / "signing" / "ed25519.pem" and made.key_id != key.key_id
    assert SigningKey.generate().path is None


def test_a_key_file_that_holds_no_ed25519_key_is_refused_and_kept(tmp_path):
    path = tmp_path / "signing" / "ed25519.pem"
    path.parent.mkdir()
    pem = generate_private_key(SECP256R1()).private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption())
    path.write_bytes(pem)
    assert signing_texts(lambda: SigningKey.load_or_create(tmp_path)) == (
        "malformed", f"Signaturschlüssel {path} ist unlesbar (not an Ed25519 key). Aus einer Sicherung zurückholen "
        "oder die Datei beiseitelegen, dann wird ein neuer erzeugt (den neuen öffentlichen Schlüssel auf den "
        "Sensor-Rechnern hinterlegen).", f"Signing key {path} cannot be read (not an Ed25519 key). Restore it from a "
        "backup or move the file aside to have a new one created (then pin the new public key on the sensor hosts).")
    assert path.read_bytes() == pem


def test_the_signer_list_is_readable_json_and_names_and_times_may_be_missing(tmp_path):
    store = TrustStore(tmp_path)
    key = SigningKey.generate()
    signer = store.add(key.public_key, name="Jürgen")
    assert store.path.read_text("utf-8") == json.dumps({"version": 1, "signers": [signer.__dict__]}, indent=2,
                                                       ensure_ascii=False) + "\n"
    store.path.write_text(json.dumps({"signers": [{"key_id": key.key_id, "public_key": b64(key.public_raw)}]}))
    assert store.signers() == [type(signer)(key.key_id, b64(key.public_raw), "", "")]
    assert store.keys() == {key.key_id: key.public_raw}


def test_the_signer_list_is_read_as_utf8_whatever_the_locale_says(tmp_path):
    import locale

    store = TrustStore(tmp_path)
    store.add(SigningKey.generate().public_key, name="Jürgen Müller")
    before = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "C")  # an ASCII locale (a Windows code page reads "ü" wrongly too)
        assert [s.name for s in store.signers()] == ["Jürgen Müller"]
    finally:
        locale.setlocale(locale.LC_CTYPE, before)


def test_a_damaged_signer_list_says_so_exactly_in_both_languages(tmp_path):
    store = TrustStore(tmp_path)
    store.path.write_text('{"other": 1}', "utf-8")
    assert signing_texts(store.signers) == (
        "malformed", f"Liste der vertrauenswürdigen Signaturschlüssel {store.path} ist beschädigt ('signers'); "
        "Fernaufträge werden abgelehnt, bis sie mit `techcare sensor trust add` neu angelegt ist.",
        f"The list of trusted signing keys {store.path} is damaged ('signers'); remote jobs are refused until it is "
        "recreated with `techcare sensor trust add`.")


def test_envelopes_are_refused_in_german_too():
    key = SigningKey.generate()
    assert signing_texts(lambda: verify_envelope(None, {}))[:2] == (
        "malformed", "Auftrag ist kein signierter Umschlag (payload, key_id, signature).")
    assert signing_texts(lambda: verify_envelope(key.sign({"x": 1}), {}))[:2] == (
        "unknown_signer", f"Signiert mit Schlüssel {key.key_id}, der auf diesem Rechner nicht hinterlegt ist.")
    changed = key.sign({"x": 1})
    changed["payload"]["x"] = 2
    assert signing_texts(lambda: verify_envelope(changed, {key.key_id: key.public_raw}))[:2] == (
        "bad_signature", "Signatur passt nicht zum Inhalt: der Auftrag wurde nach der Freigabe verändert.")

# ==== the host's checks (techcare/monitoring/executor.py) =========================================================
# Each check is driven through the public verify()/verify_occurrence() (the malformed ones also through the shape
# checks directly, which run before any signature): what the host refuses, with which reason, and the exact text
# in German and English. A host here is an Executor on a Windows runner that is never asked anything.

T0 = int(utc(2026, 12, 13, 1, 30).timestamp())  # Sunday 13 December 2026, 02:30 in Berlin
SPOOLER = {"action": "win.restart_service", "params": {"name": "Spooler"}}
UPDATES = {"action": "win.install_updates"}
CHKDSK = {"action": "win.schedule_chkdsk", "params": {"drive": "C:"}}
WINSOCK = {"action": "win.reset_winsock"}  # high risk, and needs a restart
TRUST_DAMAGED = ("Liste der vertrauenswürdigen Signaturschlüssel {p} ist beschädigt ({e}); Fernaufträge werden "
                 "abgelehnt, bis sie mit `techcare sensor trust add` neu angelegt ist.",
                 "The list of trusted signing keys {p} is damaged ({e}); remote jobs are refused until it is "
                 "recreated with `techcare sensor trust add`.")


class WindowsRunner:
    platform = "windows"

    def run(self, *args, **kwargs):  # pragma: no cover - verification never asks the host anything
        raise AssertionError("verification ran a command")


class At:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def host(tmp_path, now: float = T0, *, on: bool = True, name: str = HOST, zone: str = "Europe/Berlin") -> Executor:
    settings = SimpleNamespace(techcare_home=str(tmp_path / "home"), remote_jobs="on" if on else "off")
    return Executor(settings, runner=WindowsRunner(), client=None, hostname=name, clock=At(now), timezone=zone)


@pytest.fixture
def signer(tmp_path) -> SigningKey:
    key = SigningKey.generate()
    TrustStore(tmp_path / "home").add(key.public_key, name="Anna")
    return key


def job(kind: str = "diagnose", **over) -> dict:
    p = {"v": 1, "job_id": "5f0c2a6e9d8b4f0e8a1b2c3d4e5f6a7b", "kind": kind, "hosts": [HOST], "platform": None,
         "steps": [], "approval": "", "approved_steps": [], "plan_fingerprint": "", "confirm_high_risk": False,
         "rollback_of": None, "not_before": iso(T0 - 60), "expires": iso(T0 + 3600), "issued_at": iso(T0 - 60),
         "signer": "Anna Technikerin"}
    p.update(over)
    return p


def repair(actions=(SPOOLER,), approval: str | None = None, **over) -> dict:
    fields = dict(variant(list(actions), approval=approval), platform="windows")
    fields.update(over)
    return job("repair", **fields)


def in_both(call) -> tuple[str, str]:
    """What ``call()`` returns in German and in English."""
    out = []
    for lang in ("de", "en"):
        set_language(lang)
        try:
            out.append(call())
        finally:
            set_language(None)
    return out[0], out[1]


# ---- a job: switched off, host, platform, time window, replay ---------------------------------------------------

def test_a_host_with_remote_jobs_off_refuses_jobs_and_occurrences_checking_nothing(tmp_path, signer):
    off = host(tmp_path, on=False)
    assert refused(lambda: off.verify({"garbage": True})) == (
        "disabled", "Fernaufträge sind auf diesem Rechner aus (REMOTE_JOBS=off); nichts wurde geprüft oder ausgeführt.",
        "Remote jobs are off on this host (REMOTE_JOBS=off); nothing was verified or run.")
    assert refused(lambda: off.verify_occurrence({"garbage": True})) == (
        "disabled", "Fernaufträge sind auf diesem Rechner aus (REMOTE_JOBS=off); kein Wartungsplan wurde geprüft "
        "oder ausgeführt.", "Remote jobs are off on this host (REMOTE_JOBS=off); no maintenance schedule was "
        "verified or run.")


def test_a_job_runs_only_on_a_host_it_names_exactly_and_the_refusal_names_five(tmp_path, signer):
    me = host(tmp_path)
    others = [f"kasse-{i:02d}" for i in range(1, 7)]
    assert me.verify(signer.sign(job(hosts=[*others, HOST])))["hosts"][-1] == HOST  # the 7th name counts too
    for hosts in (others, [HOST.lower()], [HOST + " "]):
        reason, de, en = refused(lambda: me.verify(signer.sign(job(hosts=hosts))))
        assert reason == "wrong_host"
    assert refused(lambda: me.verify(signer.sign(job(hosts=others)))) == (
        "wrong_host", f"Der Auftrag ist für {', '.join(others[:5])}, nicht für diesen Rechner {HOST}.",
        f"The job is for {', '.join(others[:5])}, not for this host {HOST}.")


def test_a_repair_or_rollback_runs_only_on_its_platform_a_read_only_job_anywhere(tmp_path, signer):
    me = host(tmp_path)
    for kind in ("diagnose", "drivers"):
        assert me.verify(signer.sign(job(kind, platform="linux")))["kind"] == kind
    assert me.verify(signer.sign(repair()))["platform"] == "windows"
    assert refused(lambda: me.verify(signer.sign(repair(platform="darwin")))) == (
        "platform", "Der Auftrag ist für darwin, dieser Rechner ist windows.",
        "The job is for darwin, this host is windows.")
    rollback = job("rollback", platform="linux", rollback_of="ab" * 16)
    assert refused(lambda: me.verify(signer.sign(rollback)))[0] == "platform"


def test_a_job_is_valid_from_five_minutes_before_not_before_to_the_second_it_expires(tmp_path, signer):
    p = job(not_before=iso(T0 + 3600), expires=iso(T0 + 7200))
    envelope = signer.sign(p)
    assert host(tmp_path, T0 + 3300).verify(envelope) == p
    assert refused(lambda: host(tmp_path, T0 + 3299).verify(envelope)) == (
        "not_yet", "Der Auftrag gilt erst ab 2026-12-13T02:30:00Z (Uhrzeit hier: 2026-12-13T02:24:59Z).",
        "The job is valid only from 2026-12-13T02:30:00Z (time here: 2026-12-13T02:24:59Z).")
    assert refused(lambda: host(tmp_path, T0 + 3299.5).verify(envelope))[0] == "not_yet"
    assert host(tmp_path, T0 + 7200).verify(envelope) == p
    assert refused(lambda: host(tmp_path, T0 + 7201).verify(envelope)) == (
        "expired", "Der Auftrag ist am 2026-12-13T03:30:00Z abgelaufen (Uhrzeit hier: 2026-12-13T03:30:01Z).",
        "The job expired on 2026-12-13T03:30:00Z (time here: 2026-12-13T03:30:01Z).")
    assert refused(lambda: host(tmp_path, T0 + 7200.5).verify(envelope))[0] == "expired"


def test_a_job_id_accepted_here_before_is_a_replay(tmp_path, signer):
    me = host(tmp_path)
    p = job()
    me.log.append("accepted", "ab" * 16, kind="diagnose")  # another job id does not count
    assert me.verify(signer.sign(p)) == p
    me.log.append("accepted", p["job_id"], kind="diagnose")
    assert refused(lambda: me.verify(signer.sign(p))) == (
        "replayed", f"Auftrag {p['job_id']} wurde auf diesem Rechner schon angenommen oder abgelehnt; ein Auftrag "
        "läuft höchstens einmal.",
        f"Job {p['job_id']} was already accepted or refused on this host; a job runs at most once.")


def test_the_check_hands_a_repair_its_rebuilt_plan_and_approval_and_nothing_else_a_plan(tmp_path, signer):
    me = host(tmp_path)
    p = repair((SPOOLER, {"action": "win.restart_service", "params": {"name": "Audiosrv"}}), "GO REPAIR: 2")
    payload, plan, approval = me._check(signer.sign(p), job_id=p["job_id"])
    assert payload == p and plan.fingerprint() == p["plan_fingerprint"] and approval.steps == (2,)
    assert [(s.number, s.action_id, s.params) for s in plan.steps] == [
        (1, "win.restart_service", {"name": "Spooler"}), (2, "win.restart_service", {"name": "Audiosrv"})]
    assert (plan.platform, plan.source, plan.host) == ("windows", "remote_job", HOST)
    for kind in ("diagnose", "drivers"):
        d = job(kind)
        assert me._check(signer.sign(d)) == (d, None, None)
    r = job("rollback", platform="windows", rollback_of="ab" * 16)
    assert me._check(signer.sign(r)) == (r, None, None)


# ---- the signature, as the host applies it -----------------------------------------------------------------------

def test_a_stranger_or_a_changed_payload_is_refused_with_the_signature_checks_text(tmp_path, signer):
    me = host(tmp_path)
    stranger = SigningKey.generate()
    assert refused(lambda: me.verify(stranger.sign(job()))) == (
        "unknown_signer", f"Signiert mit Schlüssel {stranger.key_id}, der auf diesem Rechner nicht hinterlegt ist.",
        f"Signed with key {stranger.key_id}, which is not pinned on this host.")
    changed = signer.sign(job())
    changed["payload"]["signer"] = "Mallory"
    assert refused(lambda: me.verify(changed)) == (
        "bad_signature", "Signatur passt nicht zum Inhalt: der Auftrag wurde nach der Freigabe verändert.",
        "The signature does not match the content: the job was changed after it was approved.")


def test_what_the_signature_check_calls_no_envelope_is_never_let_through(tmp_path, signer):
    assert refused(lambda: host(tmp_path)._verify_signature({"payload": []})) == (
        "malformed", "Auftrag ist kein signierter Umschlag (payload, key_id, signature).",
        "The job is not a signed envelope (payload, key_id, signature).")


def test_a_damaged_signer_list_refuses_every_job_with_its_own_text(tmp_path, signer):
    me = host(tmp_path)
    store = TrustStore(tmp_path / "home")
    store.path.write_text("[]", "utf-8")

    def damage() -> str:
        with pytest.raises(SignatureError) as caught:
            store.keys()
        return caught.value.message

    de, en = in_both(damage)
    assert refused(lambda: me.verify(signer.sign(job()))) == ("unknown_signer", de, en)
    assert refused(lambda: me.verify_occurrence(occurrence(signer, schedule())))[0] == "unknown_signer"


def test_a_pinned_key_of_the_wrong_length_makes_the_host_trust_nobody(tmp_path, signer):
    me = host(tmp_path)
    store = TrustStore(tmp_path / "home")
    data = json.loads(store.path.read_text("utf-8"))
    data["signers"] += [{"key_id": "bbbb", "public_key": b64(bytes(31))},
                        {"key_id": "aaaa", "public_key": b64(bytes(33))}]
    store.path.write_text(json.dumps(data), "utf-8")
    e = "key aaaa is not a 32-byte Ed25519 public key"
    assert refused(lambda: me.verify(signer.sign(job()))) == (
        "unknown_signer", TRUST_DAMAGED[0].format(p=store.path, e=e), TRUST_DAMAGED[1].format(p=store.path, e=e))


# ---- a repair's plan, rebuilt here -------------------------------------------------------------------------------

def test_a_step_without_params_gets_the_actions_defaults(tmp_path, signer):
    plan = repairs.Plan.from_actions([{"action": "win.clear_temp_files"}], platform="windows")
    p = job("repair", platform="windows", steps=[{"number": 1, "action": "win.clear_temp_files"}],
            approval="GO REPAIR: 1", approved_steps=[1], plan_fingerprint=plan.fingerprint())
    assert host(tmp_path).verify(signer.sign(p)) == p


def test_a_plugin_action_needs_the_plugin_named_and_installed_here(tmp_path, signer):
    named = [{"name": "acme-lob", "version": "1.2.0", "sha256": "0" * 64, "actions": ["acme.restart_lob"]}]
    p = job("repair", platform="windows", steps=[{"number": 1, "action": "acme.restart_lob", "params": {}}],
            approval="GO REPAIR: 1", approved_steps=[1], plan_fingerprint="0" * 12, plugins=named)
    assert refused(lambda: host(tmp_path).verify(signer.sign(p))) == (
        "plugin_missing", "Der Auftrag braucht Plugin acme-lob 1.2.0; es ist auf diesem Rechner nicht installiert.",
        "The job needs plugin acme-lob 1.2.0; it is not installed on this host.")


def test_steps_that_make_no_plan_here_are_a_plan_mismatch_quoting_the_repairs_text(tmp_path, signer):
    p = repair()
    p["steps"][0]["params"] = {"name": "Spooler", "force": True}

    def why() -> str:
        with pytest.raises(TechCareError) as caught:
            repairs.Plan.from_actions([{"action": "win.restart_service", "params": p["steps"][0]["params"]}],
                                      platform="windows")
        return caught.value.message

    de, en = in_both(why)
    assert refused(lambda: host(tmp_path).verify(signer.sign(p))) == (
        "plan_mismatch", "Die Schritte ergeben hier keinen gültigen Plan: " + de,
        "The steps do not make a valid plan here: " + en)


def test_another_fingerprint_or_other_steps_than_the_rebuilt_plan_are_a_plan_mismatch(tmp_path, signer):
    me = host(tmp_path)
    p = repair(plan_fingerprint="0123456789ab")
    fp = variant([SPOOLER])["plan_fingerprint"]
    assert refused(lambda: me.verify(signer.sign(p))) == (
        "plan_mismatch", f"Der hier aufgebaute Plan {fp} ist nicht der freigegebene Plan 0123456789ab.",
        f"The plan rebuilt here ({fp}) is not the approved plan 0123456789ab.")
    # the right fingerprint, but the signed steps leave out the restore point the plan puts first
    full = variant([UPDATES])
    p = job("repair", platform="windows", steps=[{"number": 1, "action": "win.install_updates", "params": {}}],
            approval="GO REPAIR: 1", approved_steps=[1], plan_fingerprint=full["plan_fingerprint"],
            confirm_high_risk=True)
    assert refused(lambda: me.verify(signer.sign(p))) == (
        "plan_mismatch", f"Der hier aufgebaute Plan {full['plan_fingerprint']} ist nicht der freigegebene Plan "
        f"{full['plan_fingerprint']}.", f"The plan rebuilt here ({full['plan_fingerprint']}) is not the approved "
        f"plan {full['plan_fingerprint']}.")
    # the same actions under other numbers (the shape check refuses that first; the rebuild does too)
    two = variant([SPOOLER, {"action": "win.restart_service", "params": {"name": "Audiosrv"}}])
    swapped = [dict(two["steps"][0], number=2), dict(two["steps"][1], number=1)]
    with pytest.raises(Refusal) as caught:
        me._rebuild(job("repair", platform="windows", **dict(two, steps=swapped)))
    assert caught.value.reason == "plan_mismatch"


def test_an_approval_that_does_not_fit_or_names_other_steps_is_a_plan_mismatch(tmp_path, signer):
    me = host(tmp_path)
    p = repair(approval="GO REPAIR: 1")
    p["approval"] = "GO REPAIR: 9"

    def why() -> str:
        plan = repairs.Plan.from_actions([SPOOLER], platform="windows")
        with pytest.raises(TechCareError) as caught:
            repairs.parse_approval("GO REPAIR: 9", plan)
        return caught.value.message

    de, en = in_both(why)
    assert refused(lambda: me.verify(signer.sign(p))) == (
        "plan_mismatch", "Die Freigabe passt nicht zum Plan: " + de, "The approval does not fit the plan: " + en)
    two = (SPOOLER, {"action": "win.restart_service", "params": {"name": "Audiosrv"}})
    assert refused(lambda: me.verify(signer.sign(repair(two, "GO REPAIR: 1-2", approved_steps=[1])))) == (
        "plan_mismatch", "„GO REPAIR: 1-2“ gibt Schritte 1,2 frei, der Auftrag nennt 1.",
        "'GO REPAIR: 1-2' approves steps 1,2, the job names 1.")
    assert refused(lambda: me.verify(signer.sign(repair(two, "GO REPAIR: 2", approved_steps=[1, 2])))) == (
        "plan_mismatch", "„GO REPAIR: 2“ gibt Schritt 2 frei, der Auftrag nennt 1,2.",
        "'GO REPAIR: 2' approves step 2, the job names 1,2.")
    assert me.verify(signer.sign(repair(two, "GO REPAIR: 1-2", approved_steps=[2, 1])))["approved_steps"] == [2, 1]


def test_an_approved_high_risk_step_runs_only_with_the_signed_confirmation(tmp_path, signer):
    me = host(tmp_path)  # plan: 1 restore point, 2 restart the spooler, 3 install updates, 4 reset winsock (high)
    plan = (SPOOLER, UPDATES, WINSOCK)
    assert me.verify(signer.sign(repair(plan, "GO REPAIR: 1-2")))["approved_steps"] == [1, 2]
    assert refused(lambda: me.verify(signer.sign(repair(plan, "GO REPAIR: 1-4")))) == (
        "needs_confirmation", "Schritt(e) 3, 4 haben hohes Risiko und laufen nur mit der signierten Bestätigung "
        "(confirm_high_risk).", "Step(s) 3, 4 are high-risk and run only with the signed confirmation "
        "(confirm_high_risk).")
    assert refused(lambda: me.verify(signer.sign(repair(plan, "GO REPAIR: 1,2,4"))))[1:] == (
        "Schritt(e) 4 haben hohes Risiko und laufen nur mit der signierten Bestätigung (confirm_high_risk).",
        "Step(s) 4 are high-risk and run only with the signed confirmation (confirm_high_risk).")
    p = repair(plan, "GO REPAIR: 1-4", confirm_high_risk=True)
    assert me.verify(signer.sign(p)) == p


# ---- a maintenance occurrence --------------------------------------------------------------------------------------

def occurrence(key: SigningKey, p: dict, at: str = "2026-12-13T02:00", **over) -> dict:
    return dict({"schedule_id": p["schedule_id"], "occurrence": at, "envelope": key.sign(p)}, **over)


def test_an_occurrence_for_another_host_or_platform_is_refused_naming_both(tmp_path, signer):
    me = host(tmp_path)
    others = [f"kasse-{i:02d}" for i in range(1, 7)]
    assert refused(lambda: me.verify_occurrence(occurrence(signer, schedule(hosts=others)))) == (
        "wrong_host", f"Der Wartungsplan ist für {', '.join(others[:5])}, nicht für diesen Rechner {HOST}.",
        f"The maintenance schedule is for {', '.join(others[:5])}, not for this host {HOST}.")
    payload, occ = me.verify_occurrence(occurrence(signer, schedule(hosts=[*others, HOST])))
    assert occ.start == utc(2026, 12, 13, 1, 0)
    variants = {"linux": variant([{"action": "linux.flush_dns"}], platform="linux"),
                "darwin": variant([{"action": "macos.flush_dns"}], platform="darwin")}
    assert refused(lambda: me.verify_occurrence(occurrence(signer, schedule(variants=variants)))) == (
        "platform", "Der Wartungsplan hat keine Schritte für windows (nur für darwin, linux).",
        "The maintenance schedule has no steps for windows (only for darwin, linux).")


def test_a_schedule_is_valid_from_five_minutes_before_valid_from_to_valid_until(tmp_path, signer):
    # daily 01:00 Berlin (00:00 UTC), from the first second of its validity
    p = schedule(rrule="FREQ=DAILY;BYHOUR=1;BYMINUTE=0", dtstart="2026-12-01T01:00:00", window_minutes=1440)
    start = int(utc(2026, 12, 1).timestamp())
    with pytest.raises(ex._Early) as early:
        host(tmp_path, start - 300).verify_occurrence(occurrence(signer, p, "2026-12-01T01:00"))
    assert early.value.seconds == 300
    assert refused(lambda: host(tmp_path, start - 301).verify_occurrence(occurrence(signer, p, "2026-12-01T01:00"))) \
        == ("not_valid", "Der Wartungsplan gilt von 2026-12-01T00:00:00Z bis 2027-11-30T00:00:00Z (Uhrzeit hier: "
                         "2026-11-30T23:54:59Z).",
            "The maintenance schedule is valid from 2026-12-01T00:00:00Z to 2027-11-30T00:00:00Z (time here: "
            "2026-11-30T23:54:59Z).")
    end = int(utc(2027, 11, 30).timestamp())
    assert host(tmp_path, end).verify_occurrence(occurrence(signer, p, "2027-11-29T01:00"))[1].start \
        == utc(2027, 11, 29)
    assert refused(lambda: host(tmp_path, end + 1).verify_occurrence(occurrence(signer, p, "2027-11-29T01:00")))[0] \
        == "not_valid"


def test_a_starts_outside_the_validity_are_no_occurrences_even_where_the_rule_makes_them(tmp_path, signer):
    p = schedule(dtstart="2026-11-01T02:00:00", valid_from="2026-12-01T00:00:00Z",
                 valid_until="2026-12-20T00:00:00Z")
    me = host(tmp_path)
    assert refused(lambda: me.verify_occurrence(occurrence(signer, p, "2026-11-29T02:00")))[0] == "not_an_occurrence"
    late = host(tmp_path, int(utc(2026, 12, 19, 23).timestamp()))
    assert refused(lambda: late.verify_occurrence(occurrence(signer, p, "2026-12-20T02:00")))[0] == \
        "not_an_occurrence"


def test_a_revision_below_the_highest_seen_here_is_refused_the_same_or_a_higher_one_runs(tmp_path, signer):
    me = host(tmp_path)
    p = schedule(revision=2)
    me.log.append("accepted", occurrence_run_id("ab" * 16, "2026-12-06T02:00"), kind="schedule",
                  schedule_id="ab" * 16, revision=9)  # another schedule's revision does not count
    me.log.append("accepted", occurrence_run_id(p["schedule_id"], "2026-12-06T02:00"), kind="schedule",
                  schedule_id=p["schedule_id"], revision=2)
    assert me.verify_occurrence(occurrence(signer, p))[0]["revision"] == 2
    assert me.verify_occurrence(occurrence(signer, dict(p, revision=3)))[0]["revision"] == 3
    assert refused(lambda: me.verify_occurrence(occurrence(signer, dict(p, revision=1)))) == (
        "revision", "Revision 1 des Wartungsplans ist veraltet: dieser Rechner kennt schon Revision 2.",
        "Revision 1 of the maintenance schedule is outdated: this host has seen revision 2.")


def test_a_start_the_rule_does_not_make_here_is_not_an_occurrence_naming_rule_and_zone(tmp_path, signer):
    assert refused(lambda: host(tmp_path).verify_occurrence(occurrence(signer, schedule(), "2026-12-14T02:00"))) == (
        "not_an_occurrence", "2026-12-14T02:00 ist kein Termin des Wartungsplans (FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;"
        "BYMINUTE=0 ab 2026-12-06T02:00:00) in der Zeitzone Europe/Berlin dieses Rechners.",
        "2026-12-14T02:00 is not an occurrence of the maintenance schedule (FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;"
        "BYMINUTE=0 from 2026-12-06T02:00:00) in this host's time zone Europe/Berlin.")


def test_a_zone_this_host_cannot_use_is_not_an_occurrence_with_the_time_rules_text(tmp_path, signer):
    p = schedule()

    def why() -> str:
        with pytest.raises(ScheduleTimeError) as caught:
            Recurrence(p["rrule"], p["dtstart"], tz="Mars/Olympus_Mons", window_minutes=120)
        return caught.value.message

    de, en = in_both(why)
    assert refused(lambda: host(tmp_path, zone="Mars/Olympus_Mons").verify_occurrence(occurrence(signer, p))) == (
        "not_an_occurrence", de, en)


def test_an_occurrence_runs_inside_its_window_or_waits_at_most_five_minutes_for_it(tmp_path, signer):
    item = occurrence(signer, schedule())  # Sunday 02:00-04:00 Berlin = 01:00-03:00 UTC
    start, end = int(utc(2026, 12, 13, 1).timestamp()), int(utc(2026, 12, 13, 3).timestamp())
    assert host(tmp_path, start).verify_occurrence(item)[1].start == utc(2026, 12, 13, 1)
    assert host(tmp_path, end).verify_occurrence(item)[1].start == utc(2026, 12, 13, 1)
    with pytest.raises(ex._Early) as early:
        host(tmp_path, start - 300).verify_occurrence(item)
    assert early.value.seconds == 300
    assert refused(lambda: host(tmp_path, start - 301).verify_occurrence(item)) == (
        "outside_window", "Termin 2026-12-13T02:00 darf nur von 2026-12-13 02:00 bis 2026-12-13 04:00 "
        "(Europe/Berlin) laufen; Uhrzeit hier: 2026-12-13 01:54.",
        "Occurrence 2026-12-13T02:00 may run only from 2026-12-13 02:00 to 2026-12-13 04:00 (Europe/Berlin); "
        "time here: 2026-12-13 01:54.")
    assert refused(lambda: host(tmp_path, end + 1).verify_occurrence(item))[0] == "outside_window"
    catch_up = occurrence(signer, schedule(catch_up=True, window_minutes=60))
    assert host(tmp_path, end + 1).verify_occurrence(catch_up)[1].start == utc(2026, 12, 13, 1)
    assert refused(lambda: host(tmp_path, start - 301).verify_occurrence(catch_up)) == (
        "outside_window", "Termin 2026-12-13T02:00 darf nur von 2026-12-13 02:00 bis 2026-12-13 03:00 "
        "(Europe/Berlin) laufen oder nachgeholt bis zum nächsten Termin; Uhrzeit hier: 2026-12-13 01:54.",
        "Occurrence 2026-12-13T02:00 may run only from 2026-12-13 02:00 to 2026-12-13 03:00 (Europe/Berlin) or "
        "caught up until the next occurrence; time here: 2026-12-13 01:54.")


def test_an_occurrence_that_ran_here_is_a_replay_another_schedules_is_not(tmp_path, signer):
    me = host(tmp_path)
    p = schedule()
    me.log.append("accepted", occurrence_run_id("ab" * 16, "2026-12-13T02:00"), kind="schedule")
    me.log.append("accepted", occurrence_run_id(p["schedule_id"], "2026-12-06T02:00"), kind="schedule")
    assert me.verify_occurrence(occurrence(signer, p))[0] == p
    me.log.append("accepted", occurrence_run_id(p["schedule_id"], "2026-12-13T02:00"), kind="schedule")
    assert refused(lambda: me.verify_occurrence(occurrence(signer, p))) == (
        "replayed", "Termin 2026-12-13T02:00 des Wartungsplans lief auf diesem Rechner schon; jeder Termin läuft "
        "höchstens einmal.", "Occurrence 2026-12-13T02:00 of the maintenance schedule already ran on this host; "
        "each occurrence runs at most once.")


def test_an_occurrence_rebuilds_the_variant_for_this_hosts_platform(tmp_path, signer):
    me = host(tmp_path)
    p = schedule(variants={"windows": variant([SPOOLER, {"action": "win.restart_service",
                                                         "params": {"name": "Audiosrv"}}], approval="GO REPAIR: 2")})
    payload, occ, plan, approval = me._check_occurrence(*ex._delivered(occurrence(signer, p)))
    assert payload == p and occ.start == utc(2026, 12, 13, 1)
    assert plan.fingerprint() == p["variants"]["windows"]["plan_fingerprint"] and plan.platform == "windows"
    assert approval.steps == (2,)
    bad = dict(variant([SPOOLER]), plan_fingerprint="0123456789ab")
    fp = variant([SPOOLER])["plan_fingerprint"]
    assert refused(lambda: me.verify_occurrence(occurrence(signer, schedule(variants={"windows": bad})))) == (
        "plan_mismatch", f"Der hier aufgebaute Plan {fp} ist nicht der freigegebene Plan 0123456789ab.",
        f"The plan rebuilt here ({fp}) is not the approved plan 0123456789ab.")


def test_high_risk_steps_of_a_schedule_run_only_when_it_allows_them(tmp_path, signer):
    me = host(tmp_path)
    risky = {"windows": variant([SPOOLER, UPDATES])}
    assert refused(lambda: me.verify_occurrence(occurrence(signer, schedule(variants=risky)))) == (
        "needs_confirmation", "Der Wartungsplan enthält Schritte mit hohem Risiko, erlaubt sie aber nicht "
        "(allow_high_risk). Schritt(e) 3 haben hohes Risiko und laufen nur mit der signierten Bestätigung "
        "(confirm_high_risk).", "The maintenance schedule holds high-risk steps but does not allow them "
        "(allow_high_risk). Step(s) 3 are high-risk and run only with the signed confirmation (confirm_high_risk).")
    assert me.verify_occurrence(occurrence(signer, schedule(variants=risky, allow_high_risk=True)))[1]
    not_approved = {"windows": variant([SPOOLER, UPDATES], approval="GO REPAIR: 1-2")}
    assert me.verify_occurrence(occurrence(signer, schedule(variants=not_approved)))[1]


def test_steps_that_need_a_restart_run_only_when_the_schedule_allows_one(tmp_path, signer):
    me = host(tmp_path)  # plan: 1 restore point, 2 restart the spooler, 3 chkdsk at the next start
    chkdsk = {"windows": variant([SPOOLER, CHKDSK])}
    assert refused(lambda: me.verify_occurrence(occurrence(signer, schedule(variants=chkdsk)))) == (
        "needs_reboot", "Schritt(e) 3 win.schedule_chkdsk brauchen einen Neustart des Rechners; der Wartungsplan "
        "erlaubt keinen (allow_reboot).", "Step(s) 3 win.schedule_chkdsk need a restart of the computer; the "
        "maintenance schedule does not allow one (allow_reboot).")
    assert me.verify_occurrence(occurrence(signer, schedule(variants=chkdsk, allow_reboot=True)))[1]
    not_approved = {"windows": variant([SPOOLER, CHKDSK], approval="GO REPAIR: 1-2")}
    assert me.verify_occurrence(occurrence(signer, schedule(variants=not_approved)))[1]
    both = {"windows": variant([SPOOLER, WINSOCK, CHKDSK])}  # 3 reset winsock, 4 chkdsk
    assert refused(lambda: me.verify_occurrence(occurrence(signer, schedule(variants=both, allow_high_risk=True)))) \
        [2] == ("Step(s) 3 win.reset_winsock, 4 win.schedule_chkdsk need a restart of the computer; the maintenance "
                "schedule does not allow one (allow_reboot).")


# ---- what the backend delivers around an occurrence ---------------------------------------------------------------

def test_a_delivered_occurrence_keeps_only_well_formed_ids():
    sid = "ab" * 16
    envelope = {"payload": {}}
    assert ex._delivered({"schedule_id": sid, "occurrence": "2026-12-13T02:00", "envelope": envelope}) == (
        envelope, sid, "2026-12-13T02:00")
    assert ex._delivered({"schedule_id": sid.upper(), "occurrence": "2026-12-13T02:00"}) == (
        None, None, "2026-12-13T02:00")
    for key in ("2026-13-45T99:99", "2026-02-30T02:00", "2026-12-13 02:00", "2026-12-13T02:00:00", 1, None):
        assert ex._delivered({"schedule_id": sid, "occurrence": key}) == (None, sid, None)
    for item in (None, [sid, "2026-12-13T02:00"], "x"):
        assert ex._delivered(item) == (None, None, None)


# ---- the shape of a job, checked before its signature ---------------------------------------------------------------

JOB_ = ("Auftrag fehlerhaft: ", "Malformed job: ")
SCHEDULE_ = ("Wartungsplan fehlerhaft: ", "Malformed maintenance schedule: ")
SID = "5c4e0d1f2a3b4c5d6e7f8091a2b3c4d5"


def unsigned(p: dict) -> dict:
    return {"payload": p, "key_id": "0123456789abcdef", "signature": "AAAA"}


def padded(envelope: dict, size: int) -> dict:
    """``envelope`` with its signer grown until the envelope is ``size`` bytes of UTF-8 JSON (with "ä": 2 bytes
    each, 6 as an ASCII escape)."""
    missing = size - len(json.dumps(envelope, ensure_ascii=False).encode("utf-8"))
    envelope["payload"]["signer"] += "ä" * (missing // 2) + "a" * (missing % 2)
    assert len(json.dumps(envelope, ensure_ascii=False).encode("utf-8")) == size
    return envelope


def shape_refusal(check, envelope, *args) -> tuple[str, str, str]:
    reason, de, en = refused(lambda: check(envelope, *args))
    assert reason == "malformed"
    prefix = JOB_ if check is ex._well_formed else SCHEDULE_
    assert de.startswith(prefix[0]) and en.startswith(prefix[1])
    return reason, de[len(prefix[0]):], en[len(prefix[1]):]


def steps(n: int) -> list[dict]:
    return [{"number": i, "action": "win.restart_service", "params": {"name": "Spooler"}} for i in range(1, n + 1)]


def with_(p: dict, path: str, value) -> dict:
    """A copy of ``p`` with ``path`` ("a.b.0.c") set to ``value`` (``DROP`` removes it)."""
    p = copy.deepcopy(p)
    *parents, last = path.split(".")
    target = p
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last_key = int(last) if isinstance(target, list) else last
    if value is DROP:
        del target[last_key]
    else:
        target[last_key] = value
    return p


DROP = object()
NO_ENVELOPE = ("kein signierter Umschlag (payload, key_id, signature).",
               "not a signed envelope (payload, key_id, signature).")
TOO_LARGE = ("größer als 262144 Bytes.", "larger than 262144 bytes.")
HOSTS = ("hosts muss 1 bis 1000 Rechnernamen enthalten.", "hosts must hold 1 to 1000 host names.")


def missing(f: str) -> tuple[str, str]:
    return f"das Feld {f} fehlt.", f"the field {f} is missing."


def wrong_type(f: str) -> tuple[str, str]:
    return f"das Feld {f} hat den falschen Typ.", f"the field {f} has the wrong type."


def no_utc(f: str) -> tuple[str, str]:
    return f"{f} ist keine UTC-Zeit wie 2026-12-02T07:00:00Z.", f"{f} is not a UTC time like 2026-12-02T07:00:00Z."


def no_date(f: str) -> tuple[str, str]:
    return f"{f} ist kein gültiges Datum.", f"{f} is not a valid date."


JOB_FIELDS = ("v", "job_id", "kind", "hosts", "platform", "steps", "approval", "approved_steps", "plan_fingerprint",
              "confirm_high_risk", "rollback_of", "not_before", "expires", "issued_at", "signer")
REPAIR = repair()
MALFORMED_JOBS = [
    *[(with_(REPAIR, f, DROP), missing(f)) for f in JOB_FIELDS],
    (with_(REPAIR, "v", True), wrong_type("v")), (with_(REPAIR, "v", "1"), wrong_type("v")),
    (with_(REPAIR, "job_id", None), wrong_type("job_id")), (with_(REPAIR, "kind", None), wrong_type("kind")),
    (with_(REPAIR, "hosts", HOST), wrong_type("hosts")), (with_(REPAIR, "platform", 1), wrong_type("platform")),
    (with_(REPAIR, "steps", {}), wrong_type("steps")), (with_(REPAIR, "approval", None), wrong_type("approval")),
    (with_(REPAIR, "approved_steps", 1), wrong_type("approved_steps")),
    (with_(REPAIR, "plan_fingerprint", None), wrong_type("plan_fingerprint")),
    (with_(REPAIR, "confirm_high_risk", 1), wrong_type("confirm_high_risk")),
    (with_(REPAIR, "rollback_of", 1), wrong_type("rollback_of")),
    (with_(REPAIR, "expires", 1), wrong_type("expires")), (with_(REPAIR, "signer", None), wrong_type("signer")),
    (with_(REPAIR, "v", 2), ("Version 2 ist unbekannt (erwartet 1).", "version 2 is unknown (expected 1).")),
    (with_(REPAIR, "job_id", "5F0C2A6E9D8B4F0E8A1B2C3D4E5F6A7B"),
     ("job_id muss 32 Hex-Zeichen sein.", "job_id must be 32 hex characters.")),
    (with_(REPAIR, "job_id", "5f0c2a6e9d8b4f0e8a1b2c3d4e5f6a7"),
     ("job_id muss 32 Hex-Zeichen sein.", "job_id must be 32 hex characters.")),
    (with_(REPAIR, "kind", "shell" * 10), (f"unbekannte Art {('shell' * 8)!r} (erlaubt: diagnose, drivers, repair, "
                                            "rollback).", f"unknown kind {('shell' * 8)!r} (allowed: diagnose, "
                                            "drivers, repair, rollback).")),
    (with_(REPAIR, "hosts", []), HOSTS), (with_(REPAIR, "hosts", [HOST] * 1001), HOSTS),
    (with_(REPAIR, "hosts", [HOST, ""]), HOSTS), (with_(REPAIR, "hosts", [HOST, 1]), HOSTS),
    *[(with_(REPAIR, f, "2026-12-13T02:00:00"), no_utc(f)) for f in ("not_before", "expires", "issued_at")],
    *[(with_(REPAIR, f, "2026-12-13 02:00:00Z"), no_utc(f)) for f in ("not_before", "expires", "issued_at")],
    *[(with_(REPAIR, f, "2026-02-30T02:00:00Z"), no_date(f)) for f in ("not_before", "expires", "issued_at")],
    (with_(REPAIR, "expires", REPAIR["not_before"]), ("expires muss nach not_before liegen, höchstens 30 Tage.",
                                                      "expires must be after not_before, at most 30 days.")),
    (with_(REPAIR, "expires", iso(T0 - 60 + 30 * 86400 + 1)),
     ("expires muss nach not_before liegen, höchstens 30 Tage.", "expires must be after not_before, at most 30 days.")),
    (with_(REPAIR, "platform", None), ("platform muss windows | darwin | linux sein.",
                                       "platform must be windows | darwin | linux.")),
    (with_(REPAIR, "platform", "amiga"), ("platform muss windows | darwin | linux sein.",
                                          "platform must be windows | darwin | linux.")),
    (job("rollback", platform="windows"), ("rollback_of muss die job_id des zurückzunehmenden Auftrags sein.",
                                           "rollback_of must be the job_id of the job to undo.")),
    (job("rollback", platform="windows", rollback_of="AB" * 16),
     ("rollback_of muss die job_id des zurückzunehmenden Auftrags sein.",
      "rollback_of must be the job_id of the job to undo.")),
    (with_(REPAIR, "steps", []), ("ein Reparaturauftrag braucht 1 bis 100 Schritte.",
                                  "a repair job needs 1 to 100 steps.")),
    (with_(REPAIR, "steps", steps(101)), ("ein Reparaturauftrag braucht 1 bis 100 Schritte.",
                                          "a repair job needs 1 to 100 steps.")),
    (with_(REPAIR, "steps", [*steps(1), "x"]), ("Schritt 2 muss {number: 2, action, params} sein.",
                                                "step 2 must be {number: 2, action, params}.")),
    (with_(REPAIR, "steps.0.action", None), ("Schritt 1 muss {number: 1, action, params} sein.",
                                             "step 1 must be {number: 1, action, params}.")),
    (with_(REPAIR, "steps.0.params", None), ("Schritt 1 muss {number: 1, action, params} sein.",
                                             "step 1 must be {number: 1, action, params}.")),
    (with_(REPAIR, "steps.0.number", 2), ("Schritt 1 muss {number: 1, action, params} sein.",
                                          "step 1 must be {number: 1, action, params}.")),
    (with_(REPAIR, "steps.0.number", DROP), ("Schritt 1 muss {number: 1, action, params} sein.",
                                             "step 1 must be {number: 1, action, params}.")),
    (with_(REPAIR, "approved_steps", []), ("approved_steps muss Schrittnummern enthalten.",
                                           "approved_steps must hold step numbers.")),
    (with_(REPAIR, "approved_steps", [1, True]), ("approved_steps muss Schrittnummern enthalten.",
                                                  "approved_steps must hold step numbers.")),
    (with_(REPAIR, "approved_steps", ["1"]), ("approved_steps muss Schrittnummern enthalten.",
                                              "approved_steps must hold step numbers.")),
]


@pytest.mark.parametrize(("p", "texts"), MALFORMED_JOBS)
def test_a_malformed_job_is_refused_naming_the_field_and_what_is_allowed(p, texts):
    assert shape_refusal(ex._well_formed, unsigned(p), None)[1:] == texts


@pytest.mark.parametrize("envelope", [None, [], {"payload": [], "key_id": "k", "signature": "s"},
                                      {"payload": {}, "key_id": 1, "signature": "s"},
                                      {"payload": {}, "key_id": "k", "signature": None},
                                      {"key_id": "k", "signature": "s"}, {"payload": {}, "signature": "s"},
                                      {"payload": {}, "key_id": "k"}])
def test_what_is_no_envelope_is_a_malformed_job_or_schedule(envelope):
    assert shape_refusal(ex._well_formed, envelope, None)[1:] == NO_ENVELOPE
    assert shape_refusal(ex._schedule_well_formed, envelope, SID, "2026-12-13T02:00")[1:] == NO_ENVELOPE


def test_a_job_of_up_to_256_kib_with_the_fields_at_their_limits_is_well_formed():
    p = with_(REPAIR, "steps", steps(100))
    p.update(hosts=[f"pc-{i}" for i in range(1000)], approved_steps=[1], expires=iso(T0 - 60 + 30 * 86400),
             platform="linux", rollback_of="ab" * 16)
    envelope = padded(unsigned(p), ex.MAX_ENVELOPE_BYTES)
    assert ex._well_formed(envelope, None) is p
    assert ex._well_formed(unsigned(p), p["job_id"]) is p
    envelope["payload"]["signer"] += "a"
    assert shape_refusal(ex._well_formed, envelope, None)[1:] == TOO_LARGE
    short = with_(REPAIR, "expires", iso(T0 - 59))  # one second is a window
    assert ex._well_formed(unsigned(short), None) is short
    bare = with_(REPAIR, "steps.0.params", DROP)  # params may be left out
    assert ex._well_formed(unsigned(bare), None) is bare


def test_an_envelope_that_cannot_be_measured_is_too_large_one_with_other_values_is_measured():
    p = copy.deepcopy(REPAIR)
    circular = unsigned(p)
    circular["again"] = circular
    assert shape_refusal(ex._well_formed, circular, None)[1:] == TOO_LARGE
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert shape_refusal(ex._well_formed, dict(unsigned(p), deep=deep), None)[1:] == TOO_LARGE
    assert ex._well_formed(dict(unsigned(p), note={1, 2}), None) is p  # measured as text, not refused


def test_a_job_delivered_under_another_id_than_signed_is_malformed():
    assert shape_refusal(ex._well_formed, unsigned(REPAIR), "ab" * 16)[1:] == (
        f"geliefert als {'ab' * 16}, signiert als {REPAIR['job_id']}.",
        f"delivered as {'ab' * 16}, signed as {REPAIR['job_id']}.")


def test_read_only_jobs_and_rollbacks_are_not_checked_for_steps():
    for kind in ("diagnose", "drivers"):
        p = job(kind, platform="amiga", steps=["x"], approved_steps=[True])
        assert ex._well_formed(unsigned(p), None) is p
    p = job("rollback", platform="darwin", rollback_of="ab" * 16, steps=["x"])
    assert ex._well_formed(unsigned(p), None) is p


# ---- the shape of a maintenance schedule --------------------------------------------------------------------------

SCHEDULE = schedule(schedule_id=SID)
SCHEDULE_FIELDS = ("v", "kind", "schedule_id", "revision", "name", "tag", "hosts", "variants", "rrule", "dtstart",
                   "window_minutes", "catch_up", "allow_high_risk", "allow_reboot", "valid_from", "valid_until",
                   "issued_at", "signer")
VARIANT_NEEDS = ("Variante windows braucht steps, approval, approved_steps und plan_fingerprint.",
                 "variant windows needs steps, approval, approved_steps and plan_fingerprint.")
VALIDITY = ("valid_until muss nach valid_from liegen, höchstens 400 Tage.",
            "valid_until must be after valid_from, at most 400 days.")
VARIANTS = ("variants braucht je Plattform (windows, darwin, linux) eine Variante.",
            "variants needs one variant per platform (windows, darwin, linux).")
MALFORMED_SCHEDULES = [
    *[(with_(SCHEDULE, f, DROP), missing(f)) for f in SCHEDULE_FIELDS],
    (with_(SCHEDULE, "v", True), wrong_type("v")), (with_(SCHEDULE, "kind", None), wrong_type("kind")),
    (with_(SCHEDULE, "schedule_id", 1), wrong_type("schedule_id")),
    (with_(SCHEDULE, "revision", True), wrong_type("revision")), (with_(SCHEDULE, "name", None), wrong_type("name")),
    (with_(SCHEDULE, "tag", 1), wrong_type("tag")), (with_(SCHEDULE, "hosts", HOST), wrong_type("hosts")),
    (with_(SCHEDULE, "variants", []), wrong_type("variants")), (with_(SCHEDULE, "rrule", None), wrong_type("rrule")),
    (with_(SCHEDULE, "window_minutes", 60.0), wrong_type("window_minutes")),
    (with_(SCHEDULE, "catch_up", 0), wrong_type("catch_up")),
    (with_(SCHEDULE, "allow_high_risk", "no"), wrong_type("allow_high_risk")),
    (with_(SCHEDULE, "allow_reboot", None), wrong_type("allow_reboot")),
    (with_(SCHEDULE, "issued_at", None), wrong_type("issued_at")),
    (with_(SCHEDULE, "v", 2), ("Version 2 ist unbekannt (erwartet 1).", "version 2 is unknown (expected 1).")),
    (with_(SCHEDULE, "kind", "repair" * 10), (f"kind muss „schedule“ sein, nicht {('repair' * 7)[:40]!r}.",
                                              f"kind must be 'schedule', not {('repair' * 7)[:40]!r}.")),
    (with_(SCHEDULE, "schedule_id", "f" * 50), (f"geliefert als {SID}, signiert als {'f' * 40}.",
                                                f"delivered as {SID}, signed as {'f' * 40}.")),
    (with_(SCHEDULE, "revision", 0), ("revision muss eine Zahl ab 1 sein.", "revision must be a number from 1.")),
    (with_(SCHEDULE, "revision", 1_000_001), ("revision muss eine Zahl ab 1 sein.",
                                              "revision must be a number from 1.")),
    (with_(SCHEDULE, "hosts", []), HOSTS), (with_(SCHEDULE, "hosts", [HOST] * 1001), HOSTS),
    (with_(SCHEDULE, "hosts", [HOST, ""]), HOSTS), (with_(SCHEDULE, "hosts", [None]), HOSTS),
    (with_(SCHEDULE, "variants", {}), VARIANTS),
    (with_(SCHEDULE, "variants.amiga", variant()), VARIANTS),
    (with_(SCHEDULE, "variants.windows", []), VARIANT_NEEDS),
    *[(with_(SCHEDULE, f"variants.windows.{f}", DROP), VARIANT_NEEDS)
      for f in ("steps", "approval", "approved_steps", "plan_fingerprint")],
    (with_(SCHEDULE, "variants.windows.steps", {}), VARIANT_NEEDS),
    (with_(SCHEDULE, "variants.windows.approval", 1), VARIANT_NEEDS),
    (with_(SCHEDULE, "variants.windows.approved_steps", "1"), VARIANT_NEEDS),
    (with_(SCHEDULE, "variants.windows.plan_fingerprint", None), VARIANT_NEEDS),
    (with_(SCHEDULE, "variants.windows.steps", []), ("Variante windows braucht 1 bis 100 Schritte.",
                                                     "variant windows needs 1 to 100 steps.")),
    (with_(SCHEDULE, "variants.windows.steps", steps(101)), ("Variante windows braucht 1 bis 100 Schritte.",
                                                             "variant windows needs 1 to 100 steps.")),
    (with_(SCHEDULE, "variants.windows.steps.1", "x"),
     ("Variante windows, Schritt 2 muss {number: 2, action, params} sein.",
      "variant windows, step 2 must be {number: 2, action, params}.")),
    (with_(SCHEDULE, "variants.windows.steps.1.action", 1),
     ("Variante windows, Schritt 2 muss {number: 2, action, params} sein.",
      "variant windows, step 2 must be {number: 2, action, params}.")),
    (with_(SCHEDULE, "variants.windows.steps.1.params", []),
     ("Variante windows, Schritt 2 muss {number: 2, action, params} sein.",
      "variant windows, step 2 must be {number: 2, action, params}.")),
    (with_(SCHEDULE, "variants.windows.steps.1.number", 1),
     ("Variante windows, Schritt 2 muss {number: 2, action, params} sein.",
      "variant windows, step 2 must be {number: 2, action, params}.")),
    (with_(SCHEDULE, "variants.windows.approved_steps", []),
     ("Variante windows: approved_steps muss Schrittnummern enthalten.",
      "variant windows: approved_steps must hold step numbers.")),
    (with_(SCHEDULE, "variants.windows.approved_steps", [1, False]),
     ("Variante windows: approved_steps muss Schrittnummern enthalten.",
      "variant windows: approved_steps must hold step numbers.")),
    (with_(SCHEDULE, "variants.windows.approved_steps", [1.0]),
     ("Variante windows: approved_steps muss Schrittnummern enthalten.",
      "variant windows: approved_steps must hold step numbers.")),
    *[(with_(SCHEDULE, f, "2026-12-01T00:00:00"), no_utc(f)) for f in ("valid_from", "valid_until", "issued_at")],
    *[(with_(SCHEDULE, f, "2026-12-01T00:00:00Z "), no_utc(f)) for f in ("valid_from", "valid_until", "issued_at")],
    *[(with_(SCHEDULE, f, "2027-02-29T00:00:00Z"), no_date(f)) for f in ("valid_from", "valid_until", "issued_at")],
    (with_(SCHEDULE, "valid_until", SCHEDULE["valid_from"]), VALIDITY),
    (with_(SCHEDULE, "valid_until", "2028-01-05T00:00:01Z"), VALIDITY),  # 400 days and a second
    (with_(SCHEDULE, "window_minutes", 4), ("window_minutes muss 5 bis 1440 sein.",
                                            "window_minutes must be 5 to 1440.")),
    (with_(SCHEDULE, "window_minutes", 1441), ("window_minutes muss 5 bis 1440 sein.",
                                               "window_minutes must be 5 to 1440.")),
]


@pytest.mark.parametrize(("p", "texts"), MALFORMED_SCHEDULES)
def test_a_malformed_schedule_is_refused_naming_the_field_and_what_is_allowed(p, texts):
    assert shape_refusal(ex._schedule_well_formed, unsigned(p), SID, "2026-12-13T02:00")[1:] == texts


def test_a_schedule_delivered_without_its_ids_is_malformed():
    texts = ("geliefert ohne gültige schedule_id (32 Hex-Zeichen) und occurrence (JJJJ-MM-TTTHH:MM).",
             "delivered without a valid schedule_id (32 hex) and occurrence (YYYY-MM-DDTHH:MM).")
    assert shape_refusal(ex._schedule_well_formed, unsigned(SCHEDULE), None, "2026-12-13T02:00")[1:] == texts
    assert shape_refusal(ex._schedule_well_formed, unsigned(SCHEDULE), SID, None)[1:] == texts


def test_a_schedule_rule_the_time_rules_refuse_is_malformed_with_their_text():
    p = with_(SCHEDULE, "rrule", "FREQ=HOURLY")

    def why() -> str:
        from techcare.schedule_time import parse_dtstart, parse_rrule

        with pytest.raises(ScheduleTimeError) as caught:
            parse_rrule("FREQ=HOURLY", parse_dtstart(SCHEDULE["dtstart"]))
        return caught.value.message

    de, en = in_both(why)
    assert shape_refusal(ex._schedule_well_formed, unsigned(p), SID, "2026-12-13T02:00")[1:] == (de, en)
    bad_start = with_(SCHEDULE, "dtstart", "2026-12-06T02:00:00Z")
    assert refused(lambda: ex._schedule_well_formed(unsigned(bad_start), SID, "2026-12-13T02:00"))[0] == "malformed"


def test_a_schedule_with_its_fields_at_their_limits_is_well_formed():
    p = copy.deepcopy(SCHEDULE)
    p["variants"]["windows"]["steps"] = steps(100)
    p["variants"]["linux"] = variant([{"action": "linux.flush_dns"}], platform="linux")
    p.update(revision=1_000_000, tag=None, hosts=[f"pc-{i}" for i in range(1000)], window_minutes=1440,
             valid_until="2028-01-05T00:00:00Z")  # exactly 400 days
    envelope = padded(unsigned(p), ex.MAX_ENVELOPE_BYTES)
    assert ex._schedule_well_formed(envelope, SID, "2026-12-13T02:00") is p
    envelope["payload"]["signer"] += "a"
    assert shape_refusal(ex._schedule_well_formed, envelope, SID, "2026-12-13T02:00")[1:] == TOO_LARGE
    small = dict(SCHEDULE, revision=1, window_minutes=5, valid_until="2026-12-01T00:00:01Z")
    assert ex._schedule_well_formed(unsigned(small), SID, "2026-12-13T02:00") is small
    bare = with_(SCHEDULE, "variants.windows.steps.0.params", DROP)
    assert ex._schedule_well_formed(unsigned(bare), SID, "2026-12-13T02:00") is bare
    circular = unsigned(copy.deepcopy(SCHEDULE))
    circular["again"] = circular
    assert shape_refusal(ex._schedule_well_formed, circular, SID, "2026-12-13T02:00")[1:] == TOO_LARGE
    measured = dict(unsigned(SCHEDULE), note={1})
    assert ex._schedule_well_formed(measured, SID, "2026-12-13T02:00") is SCHEDULE
