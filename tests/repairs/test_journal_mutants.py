"""The repair journal's durability and integrity rules, pinned where mutation testing (issue 23, target
``journal``) found them untested: exact errors in both languages for every kind of write failure, short writes,
the file modes, the folder's fsync, torn fragments of every length, the chain's ``seq`` and ``prev`` checked each
on its own, the ``.head`` record, and the two defects the survivors exposed (a torn entry that lacks only its
newline; a journal cut to nothing or to its lines from before the chain)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from techcare.repairs._journal import JournalError, append, head_path, read, seal


def entry(n: int, **more) -> dict:
    return {"ts": f"2026-12-02T10:00:{n:02d}.000Z", "session": "s", "event": "started", "step": n, **more}


def journal(path: Path, count: int = 5) -> list[bytes]:
    for n in range(1, count + 1):
        append(path, seal(entry(n)))
    return path.read_bytes().splitlines(keepends=True) if count else []


def fields(line: bytes) -> dict:
    return json.loads(line)


# ---- sealing ----------------------------------------------------------------------------------------------------

def test_a_sealed_line_is_the_utf8_entry_with_the_first_128_bits_of_its_sha256_as_last_field():
    line = seal({"detail": "Größe", "n": 1})
    body = '{"detail": "Größe", "n": 1}'.encode()
    assert line == body[:-1] + b', "sum": "' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"}\n'


def test_values_json_does_not_know_are_written_as_text(tmp_path):
    path = tmp_path / "j.jsonl"
    append(path, seal({"event": "started", "file": Path("/etc/hosts"), "at": datetime(2026, 12, 2, tzinfo=UTC)}))
    assert read(path).entries == [{"event": "started", "file": "/etc/hosts", "at": "2026-12-02 00:00:00+00:00"}]


@pytest.mark.parametrize("bad", [{}, [1, 2], "text", 3])
def test_only_a_non_empty_object_can_be_sealed(bad):
    with pytest.raises(ValueError) as refused:
        seal(bad)
    assert str(refused.value) == "a journal entry is a non-empty JSON object"


def test_a_line_without_its_newline_is_not_appended(tmp_path):
    path = tmp_path / "j.jsonl"
    with pytest.raises(ValueError) as refused:
        append(path, seal(entry(1)).rstrip(b"\n"))
    assert str(refused.value) == "a journal line ends with a newline" and not path.exists()


# ---- where and how the file is written --------------------------------------------------------------------------

def test_the_journal_and_its_head_are_readable_by_the_owner_only_and_missing_folders_are_made(tmp_path):
    path = tmp_path / "a" / "b" / "j.jsonl"
    old = os.umask(0)
    try:
        append(path, seal(entry(1)))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(head_path(path).stat().st_mode) == 0o600
    assert head_path(path) == tmp_path / "a" / "b" / "j.jsonl.head"


def test_every_append_fsyncs_file_head_and_folder_once_even_for_a_new_journal(tmp_path, monkeypatch):
    path = tmp_path / "j.jsonl"
    synced: list[str] = []
    real = os.fsync

    def spy(fd):
        info = os.fstat(fd)
        synced.append("folder" if stat.S_ISDIR(info.st_mode) else
                      "journal" if info.st_ino == os.stat(path).st_ino else "head")
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    append(path, seal(entry(1)))
    assert synced == ["journal", "head", "folder"]          # the new file's name is on the disk too
    synced.clear()
    append(path, seal(entry(2)))
    assert synced == ["journal", "head", "folder"]          # the head is replaced by a rename: the folder holds it


def _only_for(path: Path, real, fake):
    """``fake(fd, ...)`` for descriptors of the journal ``path``, ``real`` for every other file."""
    inode = path.stat().st_ino

    def call(fd, *args):
        try:
            mine = os.fstat(fd).st_ino == inode
        except OSError:
            mine = False
        return fake(fd, *args) if mine else real(fd, *args)

    return call


def test_short_writes_are_continued_until_the_whole_entry_is_written(tmp_path, monkeypatch):
    path = tmp_path / "j.jsonl"
    append(path, seal(entry(1)))
    real = os.write
    calls = []

    def one_byte(fd, data):
        calls.append(len(data))
        return real(fd, bytes(data[:1]))

    monkeypatch.setattr(os, "write", _only_for(path, real, one_byte))
    append(path, seal(entry(2, detail="x" * 40)))
    monkeypatch.undo()
    got = read(path)
    assert got.ok and [e["step"] for e in got.entries] == [1, 2] and got.entries[1]["detail"] == "x" * 40
    assert len(calls) == calls[0] > 100 and calls[1] == calls[0] - 1


def _raise(exc: OSError):
    def fail(fd, *args):
        raise exc

    return fail


def _message(caught) -> tuple[str, str]:
    return caught.value.message, caught.value.hint


def test_a_write_of_zero_bytes_is_an_io_error_and_the_file_stays_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "j.jsonl"
    append(path, seal(entry(1)))
    before, head = path.read_bytes(), head_path(path).read_bytes()
    monkeypatch.setattr(os, "write", _only_for(path, os.write, lambda fd, data: 0))
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with pytest.raises(JournalError) as caught:
        append(path, seal(entry(2)))
    assert caught.value.kind == "io" and caught.value.path == str(path)
    assert _message(caught) == (f"Changelog {path}: writing an entry failed (short write (0 bytes)). Without a "
                                "complete entry no step runs.", "Check the disk (event log/dmesg), then run again.")
    assert path.read_bytes() == before and head_path(path).read_bytes() == head


FULL = ("Der Datenträger ist voll: Platz schaffen, dann den Plan erneut ausführen.",
        "The disk is full: free some space, then run the plan again.")
READONLY = ("Der Datenträger ist schreibgeschützt: Schreibrechte herstellen, dann erneut ausführen.",
            "The disk is read-only: make it writable, then run again.")
UNAVAILABLE = ("Der Pfad muss eine schreibbare Datei sein (kein Ordner); Rechte prüfen.",
               "The path must be a writable file (not a directory); check the permissions.")
IO = ("Datenträger prüfen (Ereignisanzeige/dmesg), dann erneut ausführen.",
      "Check the disk (event log/dmesg), then run again.")

KINDS = [(errno.ENOSPC, "full", FULL), (errno.EDQUOT, "full", FULL), (errno.EFBIG, "full", FULL),
         (errno.EROFS, "readonly", READONLY), (errno.EACCES, "unavailable", UNAVAILABLE),
         (errno.EPERM, "unavailable", UNAVAILABLE), (errno.EISDIR, "unavailable", UNAVAILABLE),
         (errno.ENOTDIR, "unavailable", UNAVAILABLE), (errno.EIO, "io", IO), (None, "io", IO)]


@pytest.mark.parametrize(("code", "kind", "hint"), KINDS, ids=[f"{k[1]}-{k[0]}" for k in KINDS])
def test_a_failed_write_after_part_of_the_entry_is_taken_back_and_said_with_what_to_do(
        tmp_path, monkeypatch, code, kind, hint):
    path = tmp_path / "j.jsonl"
    append(path, seal(entry(1)))
    before, head = path.read_bytes(), head_path(path).read_bytes()
    real = os.write
    failure = OSError(code, os.strerror(code)) if code else OSError("controller reset")
    said = os.strerror(code) if code else "controller reset"

    def part_then_fail(fd, data):
        if len(data) > 10:
            return real(fd, bytes(data[:10]))                 # ten bytes reach the file, then the disk fails
        raise failure

    monkeypatch.setattr(os, "write", _only_for(path, real, part_then_fail))
    for lang, german in (("en", False), ("de", True)):
        monkeypatch.setenv("TECHCARE_LANG", lang)
        with pytest.raises(JournalError) as caught:
            append(path, seal(entry(2)))
        assert caught.value.kind == kind and caught.value.path == str(path) and caught.value.exit_code == 2
        if german:
            assert _message(caught) == (f"Änderungsprotokoll {path}: Schreiben eines Eintrags fehlgeschlagen "
                                        f"({said}). Ohne vollständigen Eintrag läuft kein Schritt.", hint[0])
        else:
            assert _message(caught) == (f"Changelog {path}: writing an entry failed ({said}). Without a complete "
                                        "entry no step runs.", hint[1])
        assert path.read_bytes() == before and head_path(path).read_bytes() == head


def test_a_failed_fsync_takes_the_entry_back_even_when_cutting_back_fails_too(tmp_path, monkeypatch):
    path = tmp_path / "j.jsonl"
    append(path, seal(entry(1)))
    before = path.read_bytes()

    eio = _raise(OSError(errno.EIO, "Input/output error"))
    monkeypatch.setattr(os, "fsync", _only_for(path, os.fsync, eio))
    with pytest.raises(JournalError) as caught:
        append(path, seal(entry(2)))
    assert caught.value.kind == "io" and "Input/output error" in caught.value.message
    assert path.read_bytes() == before                       # written, not durable: cut back
    monkeypatch.setattr(os, "ftruncate", _only_for(path, os.ftruncate, eio))
    monkeypatch.setattr(os, "write", _only_for(path, os.write, _raise(OSError(errno.ENOSPC, "No space left on device"))))
    with pytest.raises(JournalError) as caught:
        append(path, seal(entry(3)))
    assert caught.value.kind == "full"                        # the write's error, not the cut-back's


def test_a_failed_write_after_a_torn_tail_leaves_the_fragment_a_torn_tail(tmp_path, monkeypatch):
    path = tmp_path / "j.jsonl"
    append(path, seal(entry(1)))
    with path.open("ab") as out:
        out.write(seal(entry(2))[:20])
    before = path.read_bytes()
    monkeypatch.setattr(os, "write", _only_for(path, os.write, _raise(OSError(errno.ENOSPC, "No space left on device"))))
    with pytest.raises(JournalError):
        append(path, seal(entry(3)), torn_entry={"session": "s"})
    assert path.read_bytes() == before and read(path).torn_tail and read(path).ok


@pytest.mark.parametrize("failing_read", [1, 2], ids=["torn-check", "chain-end"])
def test_a_journal_whose_end_cannot_be_read_is_not_appended_to(tmp_path, monkeypatch, failing_read):
    path = tmp_path / "j.jsonl"
    append(path, seal(entry(1)))
    before = path.read_bytes()
    calls = []

    def pread(fd, *args):
        calls.append(1)
        if len(calls) == failing_read:
            raise OSError(errno.EIO, "Input/output error")
        return os_pread(fd, *args)

    os_pread = os.pread
    monkeypatch.setattr(os, "pread", _only_for(path, os_pread, pread))
    for lang in ("de", "en"):
        calls.clear()
        monkeypatch.setenv("TECHCARE_LANG", lang)
        with pytest.raises(JournalError) as caught:
            append(path, seal(entry(2)))
        assert caught.value.kind == "io"
        assert caught.value.message == (
            f"Änderungsprotokoll {path}: Lesen des Endes fehlgeschlagen (Input/output error). Ohne vollständigen "
            "Eintrag läuft kein Schritt." if lang == "de" else
            f"Changelog {path}: reading the end failed (Input/output error). Without a complete entry no step runs.")
    assert path.read_bytes() == before


def test_a_journal_that_is_a_folder_is_named_when_opening_and_reading_it(tmp_path, monkeypatch):
    folder = tmp_path / "j.jsonl"
    folder.mkdir()
    for lang in ("de", "en"):
        monkeypatch.setenv("TECHCARE_LANG", lang)
        with pytest.raises(JournalError) as opening:
            append(folder, seal(entry(1)))
        with pytest.raises(JournalError) as reading:
            read(folder)
        assert opening.value.kind == reading.value.kind == "unavailable"
        assert reading.value.path == str(folder)
        if lang == "de":
            assert _message(opening) == (f"Änderungsprotokoll {folder}: Öffnen fehlgeschlagen (Is a directory). "
                                         "Ohne vollständigen Eintrag läuft kein Schritt.", UNAVAILABLE[0])
            assert reading.value.message == (f"Änderungsprotokoll {folder}: Lesen fehlgeschlagen (Is a directory). "
                                             "Ohne vollständigen Eintrag läuft kein Schritt.")
        else:
            assert _message(opening) == (f"Changelog {folder}: opening failed (Is a directory). Without a complete "
                                         "entry no step runs.", UNAVAILABLE[1])
            assert reading.value.message == (f"Changelog {folder}: reading failed (Is a directory). Without a "
                                             "complete entry no step runs.")


# ---- torn fragments ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [1, 4095, 4096, 4097, 10000])
@pytest.mark.parametrize("before", [0, 1], ids=["whole-file", "after-an-entry"])
def test_a_torn_fragment_of_any_length_is_closed_with_its_exact_size(tmp_path, size, before):
    path = tmp_path / "j.jsonl"
    journal(path, before)
    with path.open("ab") as out:
        out.write(b"x" * size)                                  # a crash mid-write (the first entry, or a later one)
    assert read(path).torn_tail and read(path).ok and len(read(path).entries) == before
    append(path, seal(entry(7)), torn_entry={"ts": "2026-12-02T10:00:07.000Z", "session": "s"})
    got = read(path)
    assert got.ok and got.torn_closed == 1 and not got.torn_tail
    assert got.entries[before:] == [{"ts": "2026-12-02T10:00:07.000Z", "session": "s", "event": "torn_tail",
                                     "bytes": size}, entry(7)]
    assert [fields(line)["seq"] for line in path.read_bytes().splitlines()[before + 1:]] == [before + 1, before + 2]


def test_a_torn_tail_closed_without_given_fields_says_only_what_it_is(tmp_path):
    path = tmp_path / "j.jsonl"
    journal(path, 1)
    with path.open("ab") as out:
        out.write(b'{"ts": "2026')
    append(path, seal(entry(2)))
    assert read(path).entries[1] == {"event": "torn_tail", "bytes": 12}


def test_a_torn_entry_that_lacks_only_its_newline_is_a_crash_not_damage(tmp_path):
    """A power cut after all of an entry but its newline reached the disk (the head, written after the fsync, is
    still the one before): the entry never counted, and the next append must not turn it into damage."""
    path = tmp_path / "j.jsonl"
    journal(path, 2)
    head = head_path(path).read_bytes()
    append(path, seal(entry(3, event="finished", step=2)))
    path.write_bytes(path.read_bytes()[:-1])
    head_path(path).write_bytes(head)
    fragment = len(path.read_bytes().split(b"\n")[-1])
    got = read(path)
    assert got.ok and got.torn_tail and [e["event"] for e in got.entries] == ["started", "started"]
    append(path, seal(entry(4, event="abandoned", step=2)), torn_entry={"session": "s"})
    got = read(path)
    assert got.ok and got.damaged == [] and got.torn_closed == 1 and not got.torn_tail
    assert [e["event"] for e in got.entries] == ["started", "started", "torn_tail", "abandoned"]
    assert got.entries[2]["bytes"] == fragment


@pytest.mark.parametrize("marker", [json.dumps({"event": "torn_tail", "bytes": 9}).encode() + b"\n",
                                    seal({"event": "torn_tail", "bytes": 9}).replace(b'"bytes": 9', b'"bytes": 8'),
                                    seal({"event": "torn_tall", "bytes": 9}), seal({"event": "torn_tail", "bytes": 8})],
                         ids=["unsealed", "flipped", "other-event", "other-size"])
def test_only_a_proven_torn_tail_entry_of_the_fragments_size_excuses_the_line_before_it(tmp_path, marker):
    path = tmp_path / "j.jsonl"
    lines = journal(path, 2)
    path.write_bytes(lines[0] + b"x" * 9 + b"\n" + marker + lines[1])
    assert 2 in read(path).damaged and read(path).torn_closed == 0


# ---- the chain ---------------------------------------------------------------------------------------------------

def _resealed(line: bytes, **change) -> bytes:
    data = fields(line)
    del data["sum"]
    data.update(change)
    return seal(data)


def test_a_line_replaced_by_another_sealed_entry_at_its_place_is_caught_by_the_next_lines_prev(tmp_path):
    path = tmp_path / "j.jsonl"
    lines = journal(path)
    lines[2] = _resealed(lines[2], step=9)                   # same seq and prev, other content, a valid checksum
    path.write_bytes(b"".join(lines))
    got = read(path)
    assert got.damaged == [4] and got.broken == [4] and [e["step"] for e in got.entries] == [1, 2, 9, 4, 5]


def test_a_line_with_the_right_prev_but_another_place_is_damage(tmp_path):
    path = tmp_path / "j.jsonl"
    lines = journal(path)
    lines[2] = _resealed(lines[2], seq=7)
    path.write_bytes(b"".join(lines))
    assert read(path).broken == [3, 4]


def test_a_sealed_entry_without_its_place_after_chained_ones_is_damage(tmp_path):
    path = tmp_path / "j.jsonl"
    journal(path, 2)
    with path.open("ab") as out:
        out.write(seal(entry(3)))                             # sealed, but never went through append
    got = read(path)
    assert got.damaged == [3] and got.broken == [3] and len(got.entries) == 3


def test_a_line_that_is_no_sealed_entry_is_written_as_it_is_and_read_as_damage(tmp_path):
    path = tmp_path / "j.jsonl"
    journal(path, 2)
    head = head_path(path).read_bytes()
    append(path, b"not an entry\n")
    assert path.read_bytes().endswith(b"\nnot an entry\n") and head_path(path).read_bytes() == head
    append(path, seal(entry(4)))
    got = read(path)
    assert got.damaged == [3] and [e["step"] for e in got.entries] == [1, 2, 4]
    last = fields(path.read_bytes().splitlines()[-1])
    assert last["seq"] == 3 and last["prev"] == fields(path.read_bytes().splitlines()[1])["sum"]


def test_an_entry_that_already_carries_a_place_gets_its_own(tmp_path):
    path = tmp_path / "j.jsonl"
    journal(path, 1)
    append(path, seal(entry(2, seq=99, prev="f" * 32)))
    lines = path.read_bytes().splitlines()
    assert (fields(lines[1])["seq"], fields(lines[1])["prev"]) == (2, fields(lines[0])["sum"])
    assert read(path).ok and read(path).entries[1] == entry(2)


def test_after_a_damaged_last_line_the_chain_goes_on_from_the_last_proven_entry(tmp_path):
    path = tmp_path / "j.jsonl"
    lines = journal(path, 3)
    for damaged_last in (lines[2].replace(b'"step": 3', b'"step": 8'), b"\x00\x01garbage\n"):
        path.write_bytes(b"".join(lines[:2]) + damaged_last)
        append(path, seal(entry(4)))
        written = path.read_bytes().splitlines()
        assert (fields(written[3])["seq"], fields(written[3])["prev"]) == (3, fields(written[1])["sum"])
        got = read(path)
        assert got.damaged == [3] and got.cut_off == 0 and [e["step"] for e in got.entries] == [1, 2, 4]


def test_the_first_chained_entry_after_sealed_entries_of_an_earlier_version_points_at_the_last_one(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_bytes(seal(entry(1)) + seal(entry(2)))
    append(path, seal(entry(3)))
    lines = path.read_bytes().splitlines()
    assert (fields(lines[2])["seq"], fields(lines[2])["prev"]) == (1, fields(lines[1])["sum"])
    path.write_text(json.dumps(entry(1)) + "\n", encoding="utf-8")     # no checksums at all: a chain of its own
    head_path(path).unlink()
    append(path, seal(entry(2)))
    assert (fields(path.read_bytes().splitlines()[1])["seq"], fields(path.read_bytes().splitlines()[1])["prev"]) == \
        (1, "")


# ---- reading: what is damage --------------------------------------------------------------------------------------

@pytest.mark.parametrize("line", [b"[1, 2]", b'"text"', b"42", b"null", b"\xff\xfe{}", b"{not json"])
def test_a_line_that_is_no_json_object_is_damage_in_old_and_new_journals(tmp_path, line):
    old = tmp_path / "old.jsonl"
    old.write_bytes(json.dumps(entry(1)).encode() + b"\n" + line + b"\n" + json.dumps(entry(3)).encode() + b"\n")
    got = read(old)
    assert got.damaged == [2] and got.unverified == 2 and [e["step"] for e in got.entries] == [1, 3]
    new = tmp_path / "new.jsonl"
    lines = journal(new, 3)
    new.write_bytes(lines[0] + line + b"\n" + lines[2])
    got = read(new)
    assert got.damaged == [2] and got.broken == [] and [e["step"] for e in got.entries] == [1, 3]


def test_damage_in_the_middle_and_lines_cut_off_the_end_are_both_said(tmp_path):
    path = tmp_path / "j.jsonl"
    lines = journal(path)
    path.write_bytes(b"".join(lines[:1] + [lines[1].replace(b'"step": 2', b'"step": 7')] + lines[2:4]))
    got = read(path)
    assert got.damaged == [2, 5] and got.cut_off == 1
    assert got.message("en").endswith("1 entries that had been written are missing at the end.")


def test_a_journal_cut_to_nothing_is_seen_through_its_head(tmp_path):
    path = tmp_path / "j.jsonl"
    journal(path, 3)
    path.write_bytes(b"")
    got = read(path)
    assert not got.ok and got.cut_off == 3 and got.damaged == [1] and got.entries == []


def test_a_journal_cut_back_to_its_lines_from_before_the_chain_is_seen_through_its_head(tmp_path):
    path = tmp_path / "j.jsonl"
    old = "".join(json.dumps(entry(n)) + "\n" for n in (1, 2))
    path.write_text(old, encoding="utf-8")
    append(path, seal(entry(3)))
    append(path, seal(entry(4)))
    path.write_text(old, encoding="utf-8")                     # the chained entries (a run's last steps) deleted
    got = read(path)
    assert not got.ok and got.cut_off == 2 and got.damaged == [3] and got.unverified == 2


@pytest.mark.parametrize("head", [b"garbage\n", b"000000000005 " + b"0" * 31 + b"\n", b"", None],
                         ids=["garbage", "short-sum", "empty", "folder"])
def test_a_damaged_head_record_only_means_less_is_checked(tmp_path, head):
    path = tmp_path / "j.jsonl"
    lines = journal(path, 3)
    head_path(path).unlink()
    if head is None:
        head_path(path).mkdir()
    else:
        head_path(path).write_bytes(head)
    path.write_bytes(b"".join(lines[:2]))
    assert read(path).ok and read(path).cut_off == 0
    append(path, seal(entry(4)))                               # the entry counts even when the head cannot be written
    assert read(path).ok and [e["step"] for e in read(path).entries] == [1, 2, 4]


def test_two_crashes_are_two_closed_fragments_and_blank_lines_are_no_entries(tmp_path):
    path = tmp_path / "j.jsonl"
    journal(path, 1)
    for n in (2, 3):
        with path.open("ab") as out:
            out.write(seal(entry(n))[:15])
        append(path, seal(entry(n + 5)))
    with path.open("ab") as out:
        out.write(b"\n  \n")
    append(path, seal(entry(9)))
    got = read(path)
    assert got.ok and got.torn_closed == 2 and [e["event"] for e in got.entries] == [
        "started", "torn_tail", "started", "torn_tail", "started", "started"]
    assert read(tmp_path / "missing.jsonl").entries == [] and read(tmp_path / "missing.jsonl").ok


def test_a_journal_whose_only_entry_is_damaged_says_that_line_once(tmp_path):
    path = tmp_path / "j.jsonl"
    lines = journal(path, 1)
    path.write_bytes(lines[0].replace(b'"step": 1', b'"step": 4'))
    got = read(path)
    assert got.damaged == [1] and got.cut_off == 0 and got.broken == [] and got.entries == []


@pytest.mark.parametrize("line", [
    (json.dumps(entry(3)) + "\n").encode(),                                  # JSON, but never sealed
    seal(entry(3)).replace(b'"step": 3', b'"step": 8'),                      # sealed, checksum does not match
    b"\n" + seal(entry(3)),                                                  # a sealed line behind a line break
    seal(entry(3))[:-1] + b" \n", seal(entry(3))[:-1] + b"X\n",              # something after the sealed entry
], ids=["unsealed", "wrong-sum", "leading-newline", "trailing-space", "trailing-x"])
def test_only_a_proven_sealed_line_is_put_in_the_chain_anything_else_is_written_as_it_is(tmp_path, line):
    path = tmp_path / "j.jsonl"
    lines = journal(path, 2)
    append(path, line)
    assert path.read_bytes() == b"".join(lines) + line
    assert not read(path).ok


@pytest.mark.parametrize("size", [5, 4096, 9000])
def test_without_pread_as_on_windows_the_torn_tail_and_the_chain_are_found_alike(tmp_path, monkeypatch, size):
    monkeypatch.delattr(os, "pread")
    path = tmp_path / "j.jsonl"
    journal(path, 2)
    with path.open("ab") as out:
        out.write(b"y" * size)
    append(path, seal(entry(3)), torn_entry={"session": "s"})
    lines = path.read_bytes().splitlines()
    assert [fields(line)["seq"] for line in lines[3:]] == [3, 4] and fields(lines[3])["prev"] == fields(lines[1])["sum"]
    got = read(path)
    assert got.ok and got.torn_closed == 1 and got.entries[2] == {"session": "s", "event": "torn_tail", "bytes": size}
