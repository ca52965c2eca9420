"""What the signature side of remote jobs promises, one behaviour per test (for `scripts/mutation remote-jobs`):
the exact signed bytes and their limits, key ids, the accepted key texts, envelopes refused with the right reason,
and the host's list of pinned signers. The executor's own checks (target, window, replay) are pinned in
test_executor.py and test_executor_hostile.py."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from datetime import datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

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
    with pytest.raises(ValueError, match="payload must be an object"):
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
