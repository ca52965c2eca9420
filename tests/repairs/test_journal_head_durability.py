"""The journal's ``.head`` record under failure, and a journal deleted while its head remains.

The head (the last entry's place and checksum) used to be overwritten in place: a write that failed or a crash
midway left a record half new, half old, which still parses and names a checksum no entry has, so an intact
journal read as damaged (undo blocked). It is now replaced atomically. The failures are injected (a write that
puts half of its bytes on the file, then fails or the process dies), whichever way the bytes are written.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
from pathlib import Path

import pytest

from techcare.errors import RepairError
from techcare.repairs._journal import append, head_path, read, seal


def entry(n: int, **more) -> dict:
    return {"ts": f"2026-12-02T10:00:{n:02d}.000Z", "session": "s", "event": "started", "step": n, **more}


def journal(path: Path, count: int) -> None:
    for n in range(1, count + 1):
        append(path, seal(entry(n)))


class Crash(BaseException):
    """The process dies here (power cut, kill -9): nothing after this point runs."""


def _target(fd: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None


def head_writes_fail_midway(monkeypatch, path: Path, failure: BaseException) -> list[Path]:
    """Every write to a file in the journal's folder other than the journal itself (its head, or a temp file for
    it) puts the first half of its bytes on the file and then raises ``failure`` — through ``os.write`` or
    through a file object (``open``/``os.fdopen``). Returns the files hit (a test checks the injection fired)."""
    folder = path.parent.resolve()
    hit: list[Path] = []

    def aimed(target: Path | None) -> bool:
        return target is not None and target.parent == folder and target.name != path.name

    def half_then_fail(write, data) -> None:
        data = bytes(data)
        write(data[:len(data) // 2])
        raise failure

    real_write = os.write

    def fake_write(fd, data):
        target = _target(fd)
        if not aimed(target):
            return real_write(fd, data)
        hit.append(target)
        half_then_fail(lambda part: real_write(fd, part), data)

    class HalfWriter:
        def __init__(self, handle):
            self._handle = handle

        def write(self, data):
            hit.append(_target(self._handle.fileno()))

            def put(part):
                self._handle.write(part)
                self._handle.flush()

            half_then_fail(put, data)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._handle.close()

        def __getattr__(self, name):
            return getattr(self._handle, name)

    real_open = io.open

    def fake_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        writing = any(flag in mode for flag in "wax+")
        if writing and aimed(_target(handle.fileno()) if hasattr(handle, "fileno") else None):
            return HalfWriter(handle)
        return handle

    monkeypatch.setattr(os, "write", fake_write)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(builtins, "open", fake_open)
    return hit


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds a descriptor's file through /proc")
@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), Crash()],
                         ids=["disk-full-midway", "crash-midway"])
def test_a_head_write_that_fails_midway_leaves_the_previous_record_whole(tmp_path, monkeypatch, failure):
    path = tmp_path / "changelogs" / "j.jsonl"
    journal(path, 3)
    before = head_path(path).read_bytes()
    with monkeypatch.context() as patched:
        hit = head_writes_fail_midway(patched, path, failure)
        if isinstance(failure, Crash):
            with pytest.raises(Crash):
                append(path, seal(entry(4)))
        else:
            append(path, seal(entry(4)))        # the entry counts: a head that cannot be written is no error
    assert hit, "the injected failure never fired: the head is written some other way now"
    assert head_path(path).read_bytes() == before        # not torn, not half the new record over the old one
    got = read(path)
    assert got.ok and got.damaged == [] and [e["step"] for e in got.entries] == [1, 2, 3, 4]
    append(path, seal(entry(5)))                        # after the failure (or the restart) the head goes on
    assert read(path).ok and head_path(path).read_bytes().startswith(b"000000000005 ")
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:4]))
    assert read(path).cut_off == 1                      # and still sees lines cut off the end


def test_the_head_is_fsynced_renamed_into_place_then_its_folder_fsynced(tmp_path, monkeypatch):
    path = tmp_path / "changelogs" / "j.jsonl"
    journal(path, 2)
    old_inode = head_path(path).stat().st_ino
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        target = Path(os.readlink(f"/proc/self/fd/{fd}")) if Path("/proc/self/fd").is_dir() else None
        calls.append("fsync folder" if target == path.parent.resolve() else
                     "fsync journal" if target == path.resolve() else "fsync temp")
        return real_fsync(fd)

    def replace(src, dst):
        calls.append("replace head" if Path(dst) == head_path(path) else "replace other")
        return real_replace(src, dst)

    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", fsync)
        patched.setattr(os, "replace", replace)
        append(path, seal(entry(3)))
    assert calls == ["fsync journal", "fsync temp", "replace head", "fsync folder"]
    assert head_path(path).stat().st_ino != old_inode    # a new file put in place, never the old one rewritten
    assert sorted(p.name for p in path.parent.iterdir()) == ["j.jsonl", "j.jsonl.head"]   # no temp file left


def test_a_journal_deleted_while_its_head_remains_is_missing_not_an_empty_session(tmp_path):
    path = tmp_path / "j.jsonl"
    journal(path, 3)
    path.unlink()
    got = read(path)
    assert got.missing and not got.ok and got.entries == []
    assert got.damaged == [1] and got.cut_off == 3
    assert got.message("de") == (
        "Das Änderungsprotokoll j.jsonl fehlt, obwohl j.jsonl.head belegt, dass 3 Einträge geschrieben wurden "
        "(gelöscht oder verschoben?). Was diese Sitzung getan hat, ist nicht belegt; ein automatisches "
        "Zurücknehmen ist gesperrt. Bitte die Datei aus einer Sicherung zurückholen oder die Schritte von Hand "
        "prüfen.")
    assert got.message("en") == (
        "The changelog j.jsonl is missing, although j.jsonl.head shows that 3 entries were written (deleted or "
        "moved?). What this session did cannot be proven; automatic undo is blocked. Please restore the file from "
        "a backup or check the steps by hand.")


def test_a_missing_journal_with_an_unreadable_head_is_still_missing_and_without_a_head_is_empty(tmp_path):
    path = tmp_path / "j.jsonl"
    journal(path, 2)
    path.unlink()
    head_path(path).write_bytes(b"0000000")             # a head torn by an older version: entries were written
    got = read(path)
    assert got.missing and got.damaged == [1] and got.cut_off == 0
    assert "dass Einträge geschrieben wurden" in got.message("de")
    assert "shows that entries were written" in got.message("en")
    head_path(path).unlink()                             # neither file: a session that never wrote anything
    got = read(path)
    assert got.ok and not got.missing and got.entries == [] and got.message("en") == ""


def test_undo_of_a_session_whose_journal_was_deleted_says_so_in_both_languages(monkeypatch):
    from techcare.repairs._changelog import ChangelogWriter, changelog, read_journal, session_path
    from techcare.repairs._execute import rollback_session

    session = "20261202T100000Z-abcdef-1234"
    writer = ChangelogWriter(session, {"plan_id": "abcdef", "host": "pc", "platform": "linux"})
    writer.write("run", plan={"steps": []}, approved=[1])
    writer.write("started", step=1, action_id="clear_temp", params={})
    writer.write("finished", step=1, action_id="clear_temp", params={}, state={})
    session_path(session).unlink()
    for lang, text in (("de", "fehlt, obwohl {f}.head belegt, dass 3 Einträge"),
                       ("en", "is missing, although {f}.head shows that 3 entries")):
        monkeypatch.setenv("TECHCARE_LANG", lang)
        with pytest.raises(RepairError) as refused:
            rollback_session(session, progress=lambda _line: None)
        message = str(refused.value)
        assert text.format(f=f"{session}.jsonl") in message
        assert "Keine Einträge" not in message and "No entries" not in message
    assert read_journal(session).missing
    frame = changelog(session)
    assert list(frame["event"]) == ["damaged"] and frame.attrs["damaged"] == {session: [1]}


def test_the_report_of_a_session_whose_journal_was_deleted_says_so_in_both_languages(tmp_path):
    """The customer report cannot be written without the journal: it says the journal is missing (as undo does),
    not that the session has no entries."""
    from techcare.repairs import report
    from techcare.repairs._changelog import ChangelogWriter, session_path

    session = "20261202T110000Z-abcdef-5678"
    writer = ChangelogWriter(session, {"plan_id": "abcdef", "host": "pc", "platform": "linux"})
    writer.write("run", plan={"steps": []}, approved=[1])
    writer.write("started", step=1, action_id="clear_temp", params={})
    session_path(session).unlink()
    for lang, text in (("de", "fehlt, obwohl {f}.head belegt, dass 2 Einträge"),
                       ("en", "is missing, although {f}.head shows that 2 entries")):
        with pytest.raises(RepairError) as refused:
            report(session, lang=lang, out_dir=tmp_path / "reports")
        message = str(refused.value)
        assert text.format(f=f"{session}.jsonl") in message
        assert "Keine Einträge" not in message and "No entries" not in message
    assert not (tmp_path / "reports").exists() or not list((tmp_path / "reports").iterdir()), "no report written"


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_doctor_names_a_journal_deleted_while_its_head_remains(tmp_path, monkeypatch, lang):
    """Listing only ``*.jsonl`` made such a session invisible to ``techcare doctor``: its ``.head`` proves it."""
    from techcare.config import load_settings
    from techcare.doctor import Doctor
    from techcare.system.runner import ReplayRunner

    monkeypatch.setenv("TECHCARE_LANG", lang)
    settings = load_settings(techcare_home=str(tmp_path / "h"), techcare_data_dir=str(tmp_path / "data"))
    folder = settings.changelogs_dir
    folder.mkdir(parents=True)
    kept, gone = folder / "20261202T100000Z-aaaaaa-1111.jsonl", folder / "20261202T110000Z-bbbbbb-2222.jsonl"
    journal(kept, 2)
    journal(gone, 3)
    gone.unlink()
    doctor = Doctor(settings, runner=ReplayRunner(platform="linux"))
    doctor.check_journals()
    check = doctor.checks[-1]
    assert check.status == "warn", check
    expected = {"de": "2 Sitzungen; beschädigt: {f} fehlt (3 Einträge laut .head)",
                "en": "2 sessions; damaged: {f} is missing (3 entries by its .head)"}[lang]
    assert expected.format(f=gone.name) in check.detail
    assert kept.name not in check.detail and kept.stem not in check.detail
