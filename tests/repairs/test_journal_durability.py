"""The journal's bytes (issue 22, items 6-8): sealed lines, complete durable appends on a full disk (a real
300 KB tmpfs), a torn tail closed before the next entry, damage told apart from a crash's fragment."""

from __future__ import annotations

import json

import pytest

from fs_faults import fill, read_only, tiny_fs
from techcare.repairs._journal import JournalError, append, read, seal


def entry(n: int, **more) -> dict:
    return {"ts": f"2026-12-02T10:00:{n:02d}.000Z", "session": "s", "event": "started", "step": n, **more}


def test_sealed_lines_round_trip_and_a_flipped_digit_is_damage(tmp_path):
    path = tmp_path / "j.jsonl"
    for n in range(1, 5):
        append(path, seal(entry(n, detail="Größe 12 GB")))
    got = read(path)
    assert [e["step"] for e in got.entries] == [1, 2, 3, 4] and got.ok and got.unverified == 0
    assert not any("sum" in e for e in got.entries)                # the entry as it was before sealing
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"step": 3', b'"step": 8'))      # still JSON, a different step
    got = read(path)
    assert [e["step"] for e in got.entries] == [1, 2, 4] and got.damaged == [3]
    assert "Zeile 3" in got.message("de") and "line 3" in got.message("en")


def test_old_unsealed_entries_are_unverified_not_damage_but_unsealed_after_sealed_is(tmp_path):
    path = tmp_path / "old.jsonl"
    path.write_text("".join(json.dumps(entry(n)) + "\n" for n in (1, 2)), encoding="utf-8")
    got = read(path)
    assert got.ok and got.unverified == 2 and len(got.entries) == 2
    append(path, seal(entry(3)))                                       # a newer version goes on with it
    got = read(path)
    assert got.ok and got.unverified == 2 and len(got.entries) == 3
    with path.open("a", encoding="utf-8") as out:                       # a "sum" bit-flipped away: not a free pass
        out.write(seal(entry(4)).decode().replace('"sum"', '"sun"'))
    got = read(path)
    assert got.damaged == [4] and len(got.entries) == 3


def test_an_entry_after_a_torn_tail_starts_on_a_fresh_line(tmp_path):
    path = tmp_path / "t.jsonl"
    append(path, seal(entry(1)))
    line = seal(entry(2, event="finished"))
    with path.open("ab") as out:
        out.write(line[:25])                                            # a crash mid-write
    assert read(path).torn_tail and read(path).ok
    append(path, seal(entry(3, event="dismissed")), torn_entry={"ts": "x", "session": "s"})
    got = read(path)
    assert [e["event"] for e in got.entries] == ["started", "torn_tail", "dismissed"]
    assert got.ok and got.torn_closed == 1 and not got.torn_tail
    assert got.entries[1]["bytes"] == 25


def test_a_full_disk_leaves_no_half_entry_and_says_so(tmp_path):
    with tiny_fs(tmp_path / "tiny", "300k") as tiny:
        path = tiny / "j.jsonl"
        append(path, seal(entry(1)))
        before = path.read_bytes()
        filler = fill(tiny, leave=200)                                  # room for a part of the entry only
        big = seal(entry(2, detail="x" * 20000))
        with pytest.raises(JournalError) as caught:
            append(path, big)
        assert caught.value.kind == "full" and str(path) in caught.value.message
        assert "Platz" in caught.value.hint
        assert path.read_bytes() == before                              # cut back: nothing half written
        filler.unlink()
        append(path, seal(entry(3)))
        got = read(path)
        assert got.ok and [e["step"] for e in got.entries] == [1, 3]


def test_a_journal_that_is_a_directory_or_read_only_is_a_clear_error(tmp_path):
    folder = tmp_path / "d.jsonl"
    folder.mkdir()
    with pytest.raises(JournalError) as caught:
        append(folder, seal(entry(1)))
    assert caught.value.kind == "unavailable" and str(folder) in caught.value.message
    with pytest.raises(JournalError):
        read(folder)
    ro = tmp_path / "ro"
    ro.mkdir()
    append(ro / "j.jsonl", seal(entry(1)))
    with read_only(ro):
        with pytest.raises(JournalError) as caught:
            append(ro / "j.jsonl", seal(entry(2)))
        assert caught.value.kind in ("readonly", "unavailable")
    assert len(read(ro / "j.jsonl").entries) == 1


def test_doctor_names_damaged_and_unreadable_journals(tmp_path):
    from techcare.config import load_settings
    from techcare.doctor import Doctor
    from techcare.system.runner import ReplayRunner

    settings = load_settings(techcare_home=str(tmp_path / "h"), techcare_data_dir=str(tmp_path / "data"))
    folder = settings.changelogs_dir
    folder.mkdir(parents=True)
    good = folder / "20261202T100000Z-aaaaaa-1111.jsonl"
    bad = folder / "20261202T110000Z-bbbbbb-2222.jsonl"
    for path in (good, bad):
        for n in (1, 2, 3):
            append(path, seal(entry(n)))
    bad.write_bytes(bad.read_bytes().replace(b'"step": 2', b'"step": 7'))

    def journals():
        doctor = Doctor(settings, runner=ReplayRunner(platform="linux"))
        doctor.check_journals()
        return doctor.checks[-1]

    check = journals()
    assert check.status == "warn" and "20261202T110000Z-bbbbbb-2222 Zeile 2" in check.detail
    assert "aaaaaa" not in check.detail and "gesperrt" in check.fix
    bad.unlink()
    bad.mkdir()
    check = journals()
    assert check.status == "fail" and bad.name in check.detail
