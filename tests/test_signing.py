"""techcare.signing: canonical bytes, envelopes, the technician's key file and the host's pinned signers."""

from __future__ import annotations

import copy
import io
import os
import stat

import pytest

from techcare.signing import (PUBLIC_KEY_PREFIX, SignatureError, SigningKey, TrustStore, canonical_json,
                              parse_public_key, verify_envelope)


def test_canonical_json_is_sorted_compact_utf8_and_refuses_what_has_no_single_form() -> None:
    assert canonical_json({"b": 1, "a": ["ü", None, True]}) == '{"a":["ü",null,true],"b":1}'.encode()
    for bad, where in (({"x": 1.5}, "payload.x"), ({1: "a"}, "keys"), ({"x": {1, 2}}, "payload.x"),
                       ({"x": 2**60}, "payload.x")):
        with pytest.raises(ValueError, match=where.replace(".", r"\.")):
            canonical_json(bad)
    with pytest.raises(ValueError, match="surrogate"):
        canonical_json({"x": "\ud800"})


def test_any_change_to_a_signed_payload_is_refused_and_only_pinned_signers_count(tmp_path) -> None:
    key = SigningKey.load_or_create(tmp_path / "tech")
    envelope = key.sign({"job_id": "a" * 32, "hosts": ["kasse-01"], "steps": [{"params": {"days": 7}}]})
    store = TrustStore(tmp_path / "host")
    with pytest.raises(SignatureError) as refused:
        verify_envelope(envelope, store.keys())
    assert refused.value.reason == "unknown_signer"
    store.add(key.public_key, name="Anna")
    assert verify_envelope(envelope, store.keys())["hosts"] == ["kasse-01"]
    for change in (lambda p: p["hosts"].append("buero-pc"), lambda p: p["steps"][0]["params"].update(days=0),
                   lambda p: p.update(job_id="b" * 32)):
        tampered = copy.deepcopy(envelope)
        change(tampered["payload"])
        with pytest.raises(SignatureError) as refused:
            verify_envelope(tampered, store.keys())
        assert refused.value.reason == "bad_signature"
    with pytest.raises(SignatureError) as refused:
        verify_envelope({"payload": "x"}, store.keys())
    assert refused.value.reason == "malformed"


def test_the_key_file_is_private_kept_across_runs_and_never_overwritten_when_damaged(tmp_path) -> None:
    first = SigningKey.load_or_create(tmp_path)
    assert SigningKey.load_or_create(tmp_path).key_id == first.key_id
    assert stat.S_IMODE(os.stat(first.path).st_mode) == 0o600
    first.path.write_text("not a key")
    with pytest.raises(SignatureError, match="signing"):
        SigningKey.load_or_create(tmp_path)
    assert first.path.read_text() == "not a key"


def _key_whose_base64_starts_with_a_dash() -> SigningKey:
    for _ in range(5000):  # one key in 64 does
        key = SigningKey.generate()
        if key.public_key[len(PUBLIC_KEY_PREFIX):].startswith("-"):
            return key
    raise AssertionError("no such key in 5,000 tries")


def test_a_public_key_is_written_so_that_a_command_line_never_takes_it_for_an_option(tmp_path) -> None:
    from techcare.monitoring.sensor import trust_main

    key = _key_whose_base64_starts_with_a_dash()
    assert key.public_key.startswith(PUBLIC_KEY_PREFIX)
    out = io.StringIO()
    assert trust_main(["--home", str(tmp_path), "add", key.public_key, "--name", "Anna"], out=out) == 0
    assert TrustStore(tmp_path).keys() == {key.key_id: key.public_raw}
    out = io.StringIO()
    assert trust_main(["--home", str(tmp_path), "list"], out=out) == 0
    assert key.public_key in out.getvalue()  # listed as it is pinned: copy and paste works both ways
    # the bare base64url (as earlier versions printed it) is still understood
    assert parse_public_key(key.public_key[len(PUBLIC_KEY_PREFIX):]) == key.public_raw


def test_bad_public_keys_say_what_is_accepted() -> None:
    for bad in ("", "ed25519:abc", "x" * 42, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"):
        with pytest.raises(SignatureError, match="ed25519:") as refused:
            parse_public_key(bad)
        assert refused.value.reason == "malformed"
