import gzip
import json

import pytest

import techcare
from techcare.errors import SnapshotError
from techcare.system.snapshot import FORMAT, VERSION, load_snapshot, save_snapshot


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


def _minimal(platform="linux", **extra):
    return {"format": FORMAT, "version": VERSION, "platform": platform, "host": {"hostname": "pc1"}, "entries": [],
            **extra}


def test_save_and_replay_this_machine(tmp_path):
    path = tmp_path / "me.json"
    snap = save_snapshot(path)
    assert snap.entries and path.exists()
    live_checks = {f.check for f in techcare.diagnose(snapshot=path)}
    assert "ram" in live_checks and "cpu" in live_checks
    loaded = load_snapshot(path)
    assert loaded.platform == snap.platform and len(loaded.entries) == len(snap.entries)


def test_gzip_snapshot_roundtrip(tmp_path):
    path = tmp_path / "me.json.gz"
    save_snapshot(path, probes=["metrics"])
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert load_snapshot(path).entries


def test_base64_outputs_from_capture_scripts_are_decoded(tmp_path):
    data = _minimal(entries=[{"kind": "cmd", "argv": ["echo", "hi"], "returncode": 0, "stdout_b64": "aGkK",
                              "stderr_b64": ""}])
    runner = load_snapshot(_write(tmp_path / "s.json", data)).runner()
    assert runner.run(["echo", "hi"]).stdout == "hi\n"


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"{\"format\": \"techcare-snapshot\", \"version\": 1, \"entr", "truncated"),
    (b"\xff\xfe\x00garbage", "UTF-8"),
    (json.dumps({"format": "other"}).encode(), "not a TechCare snapshot"),
    (json.dumps(_minimal() | {"version": 99}).encode(), "version 99"),
    (json.dumps(_minimal(platform="amiga")).encode(), "platform='amiga'"),
    (json.dumps(_minimal() | {"entries": {}}).encode(), "'entries'"),
    (json.dumps(_minimal(entries=[{"kind": "cmd", "argv": "ls -l"}])).encode(), "entries[0].argv"),
    (json.dumps(_minimal(entries=[{"kind": "teleport"}])).encode(), "teleport"),
    (json.dumps(_minimal(entries=[{"kind": "cmd", "argv": ["a"], "stdout_b64": "!!!"}])).encode(), "base64"),
    (b"\x1f\x8b\x08\x00broken", "gzip"),
])
def test_bad_snapshots_give_clear_errors(tmp_path, content, message, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(SnapshotError) as info:
        load_snapshot(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_missing_snapshot_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with pytest.raises(SnapshotError, match="file not found"):
        techcare.diagnose(snapshot=tmp_path / "nope.json")


def test_truncated_gzip_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    good = gzip.compress(json.dumps(_minimal()).encode())
    path = tmp_path / "t.json.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(SnapshotError, match="gzip"):
        load_snapshot(path)
