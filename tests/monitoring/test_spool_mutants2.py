"""What the sensor spool promises when things go wrong, one behaviour per test (the survivors of
`scripts/mutation spool` in the damage paths): every error names the file, the action and the fix in German and
English; a spool that can only be read is still sent; a damaged file is moved aside with its -wal and -shm, every
readable record is carried over through the same checks, and the loss is counted exactly (from the damaged file's
sequence and counters, from the gaps between what could be read, from the counters kept next to it, else said to
be unknown); the counters file; the first format and the doctor's read-only view.

Damage is made exactly where each rule needs it: a healthy file the opener is told is damaged (the salvage then
reads what was crafted into it), a reader that fails on given sequence numbers (torn pages), and real flipped bytes.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from techcare.monitoring import spool as spool_mod
from techcare.monitoring.spool import Spool, SpoolError, _kind, _read_only_file, record_checksum, spool_error

DE_FIX = {
    "corrupt": "Die Datei ist beschädigt. Der Sensor legt sie beim nächsten Start beiseite (.damaged-…) und "
               "übernimmt alle noch lesbaren Messungen in einen neuen Zwischenspeicher.",
    "full": "Der Datenträger ist voll: Platz schaffen (z. B. Temp-Dateien löschen); bis dahin hält der Sensor "
            "neue Messungen im Speicher und sendet sie.",
    "readonly": "Die Datei oder der Datenträger ist schreibgeschützt: Schreibrechte für das Sensor-Konto "
                "herstellen (Dateirechte, Mount-Optionen).",
    "unavailable": "Der Pfad muss eine schreibbare Datei sein (kein Ordner); Rechte und TECHCARE_HOME prüfen.",
    "io": "Datenträger prüfen (Ereignisanzeige/dmesg); der Sensor versucht es weiter.",
}
EN_FIX = {
    "corrupt": "The file is damaged. On its next start the sensor moves it aside (.damaged-…) and carries "
               "every sample that can still be read into a new spool.",
    "full": "The disk is full: free some space (e.g. delete temporary files); until then the sensor keeps new "
            "samples in memory and sends them.",
    "readonly": "The file or the disk is read-only: give the sensor's account write access (file permissions, "
                "mount options).",
    "unavailable": "The path must be a writable file (not a directory); check the permissions and TECHCARE_HOME.",
    "io": "Check the disk (event log/dmesg); the sensor keeps trying.",
}


def files(directory: Path) -> list[str]:
    """The spool's files in ``directory`` (the test's own environment file aside)."""
    return sorted(n for n in os.listdir(directory) if n.startswith(("s.", ":memory:")))


def ids(spool: Spool) -> list[str]:
    return [s["sample_id"] for s in spool.pending()]


def both(monkeypatch, make):
    """``make()`` once in German and once in English: ``(de, en)``."""
    monkeypatch.setenv("TECHCARE_LANG", "de")
    de = make()
    monkeypatch.setenv("TECHCARE_LANG", "en")
    en = make()
    monkeypatch.setenv("TECHCARE_LANG", "de")
    return de, en


class BrokenConnection:
    """A real connection on which every statement fails with ``error`` (a disk that stopped answering)."""

    def __init__(self, conn: sqlite3.Connection, error: Exception):
        self._conn, self._error = conn, error

    def execute(self, sql, *args):
        raise self._error

    def __getattr__(self, name):
        return getattr(self._conn, name)


# ---- errors: the file, the action, what happened and the fix, in both languages ---------------------------------

ACTIONS = [
    ("add", lambda s: s.add({"sample_id": "new"}), "Speichern einer Messung", "storing a sample"),
    ("ack", lambda s: s.ack(["a"]), "Löschen gesendeter Messungen", "removing delivered samples"),
    ("reject", lambda s: s.reject("a", "bad"), "Beiseitelegen einer abgelehnten Messung",
     "setting a rejected sample aside"),
    ("pending", lambda s: s.pending(), "Lesen der wartenden Messungen", "reading the waiting samples"),
    ("scan", lambda s: s.scan(), "Prüfen der Messungen", "checking the samples"),
    ("len", lambda s: len(s), "Zählen", "counting"),
    ("stats", lambda s: s.stats(), "Lesen des Status", "reading the status"),
    ("rejected", lambda s: s.rejected(), "Lesen der abgelehnten Messungen", "reading the rejected samples"),
    ("quarantined", lambda s: s.quarantined(), "Lesen der Quarantäne", "reading the quarantine"),
]


@pytest.mark.parametrize(("name", "call", "de_action", "en_action"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_every_failing_operation_names_the_file_its_action_the_cause_and_the_fix(tmp_path, monkeypatch, name, call,
                                                                                 de_action, en_action):
    path = tmp_path / "s.sqlite3"
    spool = Spool(path, max_samples=5)
    spool.add({"sample_id": "a"})
    real = spool._conn
    spool._conn = BrokenConnection(real, sqlite3.OperationalError("disk I/O error"))

    def fail():
        with pytest.raises(SpoolError) as caught:
            call(spool)
        return caught.value

    de, en = both(monkeypatch, fail)
    assert (de.kind, de.path, en.kind) == ("io", str(path), "io")
    assert de.message == f"Sensor-Zwischenspeicher {path}: {de_action} fehlgeschlagen (disk I/O error)."
    assert en.message == f"Sensor spool {path}: {en_action} failed (disk I/O error)."
    assert (de.hint, en.hint) == (DE_FIX["io"], EN_FIX["io"])
    assert isinstance(de.__cause__, sqlite3.OperationalError)
    spool._conn = real
    spool.close()


def test_a_failed_bound_after_a_send_is_logged_and_the_send_goes_on(tmp_path, monkeypatch, caplog):
    path = tmp_path / "s.sqlite3"
    with Spool(path, max_samples=5) as spool:
        spool.add({"sample_id": "a"})
        real = spool._conn
        for lang, text in (("de", f"Sensor-Zwischenspeicher {path}: Einhalten der Obergrenze fehlgeschlagen "
                                  "(disk I/O error)."),
                           ("en", f"Sensor spool {path}: keeping the bound failed (disk I/O error).")):
            monkeypatch.setenv("TECHCARE_LANG", lang)
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="techcare"):
                with spool.sending() as batch:
                    assert [s["sample_id"] for s in batch] == ["a"]
                    spool._conn = BrokenConnection(real, sqlite3.OperationalError("disk I/O error"))
            spool._conn = real
            assert [r.getMessage() for r in caplog.records] == [text]
        assert ids(spool) == ["a"] and spool._in_flight == {}


@pytest.mark.parametrize(("exc", "kind"), [
    (OSError(errno.ENOSPC, "No space left on device"), "full"),
    (sqlite3.DatabaseError("database disk image is malformed"), "corrupt"),
    (OSError(errno.EROFS, "Read-only file system"), "readonly"),
    (PermissionError(errno.EACCES, "Permission denied"), "unavailable"),
    (OSError(errno.EIO, "Input/output error"), "io"),
])
def test_each_kind_of_error_gets_its_own_fix_in_both_languages(tmp_path, monkeypatch, exc, kind):
    path = tmp_path / "missing" / "spool.sqlite3"
    de, en = both(monkeypatch, lambda: spool_error(exc, path, "Speichern|storing"))
    assert (de.kind, en.kind, de.path) == (kind, kind, str(path))
    detail = getattr(exc, "strerror", None) or str(exc)
    assert de.message == f"Sensor-Zwischenspeicher {path}: Speichern fehlgeschlagen ({detail})."
    assert en.message == f"Sensor spool {path}: storing failed ({detail})."
    assert (de.hint, en.hint) == (DE_FIX[kind], EN_FIX[kind])


def test_the_error_detail_is_the_system_text_else_the_message_else_the_error_type(tmp_path, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    path = tmp_path / "s.sqlite3"
    assert spool_error(OSError(errno.EIO, "Input/output error"), path, "x|reading").message == \
        f"Sensor spool {path}: reading failed (Input/output error)."
    assert spool_error(sqlite3.OperationalError("disk I/O error"), path, "x|reading").message == \
        f"Sensor spool {path}: reading failed (disk I/O error)."
    assert spool_error(sqlite3.OperationalError(), path, "x|reading").message == \
        f"Sensor spool {path}: reading failed (OperationalError)."
    # an action without an English part is said as it is
    assert spool_error(sqlite3.OperationalError("x"), path, "Öffnen").message == f"Sensor spool {path}: Öffnen failed (x)."
    assert spool_error(sqlite3.OperationalError("x"), path, "a|b|c").message == f"Sensor spool {path}: b|c failed (x)."


def test_a_file_that_cannot_be_opened_on_a_read_only_disk_is_said_to_be_read_only(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"")
    unable = sqlite3.OperationalError("unable to open database file")
    assert spool_error(unable, path, "a|b").kind == "unavailable"            # a writable disk: not read-only
    real = os.statvfs
    monkeypatch.setattr(os, "statvfs", lambda p: os.statvfs_result(
        tuple(real(p))[:8] + (real(p).f_flag | os.ST_RDONLY,) + tuple(real(p))[9:]))
    err = spool_error(unable, path, "a|b")
    assert err.kind == "readonly" and err.hint == DE_FIX["readonly"]
    assert spool_error(sqlite3.OperationalError("disk I/O error"), path, "a|b").kind == "io"   # only 'unavailable'
    assert spool_error(unable, tmp_path / "nope.sqlite3", "a|b").kind == "unavailable"      # no such file


def test_read_only_means_a_file_on_a_read_only_file_system(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    assert _read_only_file(path) is False                                 # missing
    assert _read_only_file(tmp_path) is False                             # a directory
    path.write_bytes(b"x")
    assert _read_only_file(path) is False
    real = os.statvfs
    seen = []

    def ro(p):
        seen.append(Path(p))
        r = real(p)
        return os.statvfs_result(tuple(r)[:8] + (r.f_flag | os.ST_RDONLY,) + tuple(r)[9:])

    monkeypatch.setattr(os, "statvfs", ro)
    assert _read_only_file(path) is True and seen == [tmp_path]          # the file system of its directory
    monkeypatch.setattr(os, "statvfs", real)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)              # the file system decides, not the mode
    assert _read_only_file(path) is False

    def broken(p):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "statvfs", broken)
    assert _read_only_file(path) is False


@pytest.mark.parametrize(("name", "kind"), [
    ("SQLITE_CORRUPT", "corrupt"), ("SQLITE_CORRUPT_INDEX", "corrupt"), ("SQLITE_NOTADB", "corrupt"),
    ("SQLITE_FULL", "full"), ("SQLITE_READONLY_DBMOVED", "readonly"), ("SQLITE_CANTOPEN", "unavailable"),
    ("SQLITE_PERM", "unavailable"), ("SQLITE_AUTH", "unavailable"), ("SQLITE_BUSY", "unavailable"),
    ("SQLITE_LOCKED_SHAREDCACHE", "unavailable"), ("SQLITE_IOERR", "io"), (None, "io"),
])
def test_sqlite_error_names_decide_the_kind_whatever_the_text(name, kind):
    exc = sqlite3.OperationalError("something went wrong")
    exc.sqlite_errorname = name
    assert _kind(exc) == kind


@pytest.mark.parametrize(("exc", "kind"), [
    (sqlite3.DatabaseError("Database Disk Image Is MALFORMED"), "corrupt"),
    (sqlite3.DatabaseError("File is NOT A DATABASE"), "corrupt"),
    (sqlite3.OperationalError("Database or DISK IS FULL"), "full"),
    (sqlite3.OperationalError("attempt to write a READONLY database"), "readonly"),
    (sqlite3.OperationalError("UNABLE TO OPEN database file"), "unavailable"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory"), "unavailable"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory"), "unavailable"),
    (OSError(errno.EROFS, "Read-only file system"), "readonly"),
    (OSError(errno.ENOSPC, "x"), "full"),
    (OSError(29, "x"), "io"),
    (OSError(31, "x"), "io"),
])
def test_error_texts_are_read_whatever_their_case(exc, kind):
    assert _kind(exc) == kind


def test_a_closed_spool_says_so_in_both_languages(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    spool = Spool(path)
    spool.close()

    def closed():
        with pytest.raises(SpoolError) as caught:
            spool.pending()
        return caught.value

    de, en = both(monkeypatch, closed)
    assert de.message == f"Sensor-Zwischenspeicher {path} ist geschlossen."
    assert en.message == f"Sensor spool {path} is closed."
    assert (de.kind, de.path, de.hint) == ("unavailable", str(path), None)


# ---- opening ------------------------------------------------------------------------------------------------------

def test_the_default_bound_is_thirty_days_at_five_minutes_and_folders_are_made(tmp_path):
    path = tmp_path / "a" / "b" / "s.sqlite3"
    with Spool(path) as spool:
        assert spool.max_samples == 8640 and spool.repair is True and spool.read_only is False
        assert spool.recovered == {}
        conn = spool._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2          # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
        assert conn.execute("PRAGMA journal_size_limit").fetchone()[0] == 1 << 20
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    with Spool(path, max_samples=1) as again:                         # the folders exist now: opened again
        assert again.max_samples == 1 and isinstance(again.max_samples, int)
    assert Spool(path, max_samples=2.0).max_samples == 2


def test_the_spool_may_be_used_from_another_thread(tmp_path):
    with Spool(tmp_path / "s.sqlite3") as spool:
        errors = []

        def other():
            try:
                spool.add({"sample_id": "t"})
            except Exception as exc:   # noqa: BLE001 - reported below
                errors.append(exc)

        worker = threading.Thread(target=other)
        worker.start()
        worker.join()
        assert errors == [] and ids(spool) == ["t"]


def test_a_memory_spool_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Spool(":memory:", max_samples=2) as spool:
        spool.add({"sample_id": "a"})
        spool.ack(["a"])
        assert len(spool) == 0
    assert files(tmp_path) == []


def test_a_directory_in_the_way_is_refused_naming_it(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    path.mkdir()

    def refused():
        with pytest.raises(SpoolError) as caught:
            Spool(path)
        return caught.value

    de, en = both(monkeypatch, refused)
    assert de.kind == "unavailable" and de.path == str(path)
    assert de.message == f"Sensor-Zwischenspeicher {path}: Öffnen fehlgeschlagen ({os.strerror(errno.EISDIR)})."
    assert en.message == f"Sensor spool {path}: opening failed ({os.strerror(errno.EISDIR)})."
    assert (de.hint, en.hint) == (DE_FIX["unavailable"], EN_FIX["unavailable"])
    assert isinstance(de.__cause__, IsADirectoryError) and de.__cause__.errno == errno.EISDIR
    assert de.__cause__.filename == str(path)
    assert files(tmp_path) == ["s.sqlite3"]


def filled(path: Path, n: int = 6, **kw) -> list[str]:
    with Spool(path, max_samples=100, **kw) as spool:
        return [spool.add({"sample_id": f"s{i}", "pad": "x" * 300})["sample_id"] for i in range(n)]


def leaf_pages(path: Path) -> list[int]:
    data = path.read_bytes()
    return [i for i in range(len(data) // 4096) if b'"pad"' in data[i * 4096:(i + 1) * 4096]]


def garble(path: Path, page: int, start: int = 0, end: int = 4096) -> None:
    with open(path, "r+b") as handle:
        handle.seek(page * 4096 + start)
        handle.write(b"\x5a" * (end - start))


def test_the_doctor_sees_a_damaged_file_and_leaves_it_as_it_is(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    filled(path, 30)
    garble(path, leaf_pages(path)[1], 8, 4000)            # cells of one page: opens, but the check fails
    before = path.read_bytes()

    def refused():
        with pytest.raises(SpoolError) as caught:
            Spool(path, repair=False)
        return caught.value

    de, en = both(monkeypatch, refused)
    assert de.kind == "corrupt" and (de.hint, en.hint) == (DE_FIX["corrupt"], EN_FIX["corrupt"])
    assert de.message.startswith(f"Sensor-Zwischenspeicher {path}: Öffnen fehlgeschlagen (database disk image is "
                                 "malformed (")
    assert en.message.startswith(f"Sensor spool {path}: opening failed (database disk image is malformed (")
    assert path.read_bytes() == before
    assert files(tmp_path) == ["s.sqlite3", "s.sqlite3.counters"]


def test_a_file_that_is_no_database_is_refused_by_the_doctor_and_salvaged_by_the_sensor(tmp_path, caplog):
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(SpoolError) as caught:
        Spool(path, repair=False)
    assert caught.value.kind == "corrupt"
    assert files(tmp_path) == ["s.sqlite3"]
    with caplog.at_level(logging.ERROR, logger="techcare"), Spool(path) as spool:
        assert spool.recovered["salvaged"] == 0 and spool.recovered["unreadable"] is None
        assert spool.stats()["unknown_losses"] == 1 and spool.stats()["damaged_files"] == 1
        spool.add({"sample_id": "a"})
        assert ids(spool) == ["a"]


@pytest.mark.parametrize("kind", ["io", "full"])
def test_other_open_errors_are_raised_even_for_an_existing_file(tmp_path, monkeypatch, kind):
    path = tmp_path / "s.sqlite3"
    filled(path, 1)

    def fails(self):
        raise SpoolError("no", kind=kind, path=self.path)

    monkeypatch.setattr(Spool, "_open", fails)
    with pytest.raises(SpoolError) as caught:
        Spool(path)
    assert caught.value.kind == kind and files(tmp_path) == ["s.sqlite3", "s.sqlite3.counters"]


# ---- a spool that can only be read ---------------------------------------------------------------------------------

def refuse_writing(monkeypatch):
    """The opener fails as on a read-only disk (the read-only open that follows is real)."""
    def fails(self):
        raise spool_error(sqlite3.OperationalError("attempt to write a readonly database"), self.path, "Öffnen|opening")

    monkeypatch.setattr(Spool, "_open", fails)


def test_a_read_only_spool_sends_what_it_holds_and_says_so(tmp_path, monkeypatch, caplog):
    path = tmp_path / "s.sqlite3"
    taken = filled(path, 3)
    kept = path.with_name("s.sqlite3.counters").read_text("utf-8")
    refuse_writing(monkeypatch)
    for lang, error, warning in (
            ("de", f"Sensor-Zwischenspeicher {path}: Öffnen fehlgeschlagen (attempt to write a readonly database). "
                   + DE_FIX["readonly"],
             f"Sensor-Zwischenspeicher {path} wird nur gelesen: die wartenden Messungen werden gesendet, neue bleiben "
             "im Speicher, bis die Datei wieder beschreibbar ist."),
            ("en", f"Sensor spool {path}: opening failed (attempt to write a readonly database). " + EN_FIX["readonly"],
             f"Sensor spool {path} is read only: the waiting samples are sent, new ones stay in memory until the "
             "file is writable again.")):
        monkeypatch.setenv("TECHCARE_LANG", lang)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="techcare"):
            spool = Spool(path, max_samples=5)
        assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.ERROR, error),
                                                                          (logging.WARNING, warning)]
        assert spool.read_only is True and spool._legacy is False
        assert ids(spool) == taken and spool.stats()["read_only"] is True
        with pytest.raises(SpoolError) as caught:
            spool.add({"sample_id": "new"})
        assert caught.value.kind == "readonly"
        spool.close()
    assert path.with_name("s.sqlite3.counters").read_text("utf-8") == kept          # nothing written


def test_a_read_only_spool_is_readable_from_the_sender_thread(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    taken = filled(path, 2)
    refuse_writing(monkeypatch)
    spool = Spool(path)
    seen = []
    worker = threading.Thread(target=lambda: seen.append(ids(spool)))
    worker.start()
    worker.join()
    assert seen == [taken]
    spool.close()


def test_when_even_the_wal_index_cannot_be_made_the_file_is_read_as_immutable(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    taken = filled(path, 2)
    refuse_writing(monkeypatch)
    real = sqlite3.connect
    opened = []

    def connect(target, *args, **kw):
        opened.append(str(target))
        if "mode=ro" in str(target):
            raise sqlite3.OperationalError("unable to open database file")
        return real(target, *args, **kw)

    monkeypatch.setattr(sqlite3, "connect", connect)
    spool = Spool(path)
    assert opened == [f"file:{path}?mode=ro", f"file:{path}?immutable=1"]
    assert spool.read_only and ids(spool) == taken
    with pytest.raises(SpoolError) as caught:
        spool.add({"sample_id": "new"})
    assert caught.value.kind == "readonly"
    spool.close()


def test_a_read_only_open_whose_first_read_fails_tries_the_next_way(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    taken = filled(path, 2)
    refuse_writing(monkeypatch)
    real = sqlite3.connect
    closed = []

    class NoWal:
        def __init__(self, conn):
            self._conn = conn

        def execute(self, *a):
            raise sqlite3.OperationalError("unable to open database file")

        def close(self):
            closed.append(True)
            self._conn.close()

    def connect(target, *args, **kw):
        conn = real(target, *args, **kw)
        return NoWal(conn) if "mode=ro" in str(target) else conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    spool = Spool(path)
    assert closed == [True] and spool.read_only and ids(spool) == taken
    spool.close()


def test_a_read_only_file_that_is_no_spool_is_refused_with_the_first_error(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE notes(x)")
    other.commit()
    other.close()
    refuse_writing(monkeypatch)
    real = sqlite3.connect
    opened = []

    def connect(target, *args, **kw):
        opened.append(str(target))
        return real(target, *args, **kw)

    monkeypatch.setattr(sqlite3, "connect", connect)
    with pytest.raises(SpoolError) as caught:
        Spool(path)
    assert caught.value.kind == "readonly" and "attempt to write a readonly database" in caught.value.message
    assert opened == [f"file:{path}?mode=ro"]                    # a spool without samples: not tried further


def test_a_read_only_spool_of_the_first_format_is_read_without_checksums(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    first_format(path, good=2, bad=1)
    refuse_writing(monkeypatch)
    spool = Spool(path)
    assert spool._legacy is True and ids(spool) == ["s0", "s1"]
    assert spool.scan() == {"records": 3, "unreadable": 1}       # read only: skipped, not moved
    spool.close()


def test_a_missing_or_directory_path_is_not_opened_read_only(tmp_path, monkeypatch):
    refuse_writing(monkeypatch)
    with pytest.raises(SpoolError) as caught:
        Spool(tmp_path / "missing.sqlite3")
    assert caught.value.kind == "readonly"
    with pytest.raises(SpoolError):
        Spool(":memory:")


# ---- the first format -------------------------------------------------------------------------------------------

def first_format(path: Path, good: int, bad: int) -> None:
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE samples (seq INTEGER PRIMARY KEY AUTOINCREMENT, sample_id TEXT NOT NULL UNIQUE,
                              created REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, payload TEXT NOT NULL);
        CREATE TABLE rejected (sample_id TEXT PRIMARY KEY, rejected REAL NOT NULL, error TEXT NOT NULL,
                               payload TEXT NOT NULL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """)
    for i in range(good):
        old.execute("INSERT INTO samples(sample_id, created, payload) VALUES(?, 1.0, ?)",
                    (f"s{i}", f'{{"sample_id":"s{i}","dropped_samples":0}}'))
    for i in range(bad):
        old.execute("INSERT INTO samples(sample_id, created, payload) VALUES(?, 1.0, ?)", (f"b{i}", '{"cut'))
    old.commit()
    old.close()


def test_the_doctor_reads_the_first_format_and_changes_nothing(tmp_path):
    path = tmp_path / "s.sqlite3"
    first_format(path, good=2, bad=1)
    with Spool(path, repair=False) as doctor:
        assert doctor._legacy is True
        assert doctor.scan() == {"records": 3, "unreadable": 1}
        assert ids(doctor) == ["s0", "s1"] and doctor.quarantined() == []
    con = sqlite3.connect(path)
    assert [r[1] for r in con.execute("PRAGMA table_info(samples)")] == ["seq", "sample_id", "created", "attempts",
                                                                          "payload"]
    assert con.execute("PRAGMA user_version").fetchone()[0] == 0
    assert con.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 3
    con.close()
    assert files(tmp_path) == ["s.sqlite3"]


def test_a_spool_without_format_number_is_checked_once_and_gets_its_checksums(tmp_path, caplog):
    path = tmp_path / "s.sqlite3"
    filled(path, 3)
    con = sqlite3.connect(path)       # a file whose checksums and format number were never written
    con.execute("UPDATE samples SET checksum = NULL")
    con.execute("UPDATE samples SET payload = '{\"sample_id\":\"other\"}' WHERE sample_id = 's1'")
    con.execute("PRAGMA user_version = 0")
    con.commit()
    con.close()
    with caplog.at_level(logging.WARNING, logger="techcare"), Spool(path) as spool:
        assert spool._legacy is False
        assert [(q["sample_id"], q["reason"]) for q in spool.quarantined()] == [("s1", "not a sample of this record")]
        assert ids(spool) == ["s0", "s2"] and spool.scan() == {"records": 2, "unreadable": 0}
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    rows = con.execute("SELECT payload, checksum FROM samples ORDER BY seq").fetchall()
    con.close()
    assert all(check == record_checksum(payload) for payload, check in rows)


# ---- quarantine while reading ---------------------------------------------------------------------------------------

def spoil(path: Path, *sample_ids: str) -> None:
    con = sqlite3.connect(path)
    for sid in sample_ids:
        con.execute("UPDATE samples SET checksum = 'x' WHERE sample_id = ?", (sid,))
    con.commit()
    con.close()


def test_unreadable_records_are_quarantined_once_and_said_in_both_languages(tmp_path, monkeypatch, caplog):
    path = tmp_path / "s.sqlite3"
    filled(path, 4)
    spoil(path, "s1")
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with Spool(path) as spool:
        with caplog.at_level(logging.WARNING, logger="techcare"):
            assert ids(spool) == ["s0", "s2", "s3"]
        assert [r.getMessage() for r in caplog.records] == [
            f"sample s1 in the spool {path} cannot be read (checksum mismatch): quarantined, not sent."]
        assert len(spool) == 3 and spool.scan() == {"records": 3, "unreadable": 0}     # moved, not copied
        assert ids(spool) == ["s0", "s2", "s3"] and len(spool.quarantined()) == 1
        assert spool.stats()["quarantined_total"] == 1
    spoil(path, "s2")
    monkeypatch.setenv("TECHCARE_LANG", "de")
    caplog.clear()
    with Spool(path) as spool, caplog.at_level(logging.WARNING, logger="techcare"):
        assert ids(spool) == ["s0", "s3"]
        assert [r.getMessage() for r in caplog.records] == [
            f"Messung s2 im Zwischenspeicher {path} ist unlesbar (checksum mismatch): in Quarantäne gelegt, "
            "wird nicht gesendet."]
        assert spool.stats()["quarantined_total"] == 2 == spool.stats()["quarantined"]


def test_reading_fills_the_batch_past_unreadable_records(tmp_path):
    path = tmp_path / "s.sqlite3"
    filled(path, 7)
    spoil(path, "s0", "s2", "s3")
    with Spool(path) as spool:
        assert [s["sample_id"] for s in spool.pending(2)] == ["s1", "s4"]
        assert [s["sample_id"] for s in spool.pending(3)] == ["s1", "s4", "s5"]
        assert [q["sample_id"] for q in spool.quarantined()] == ["s0", "s2", "s3"]


def test_the_doctor_and_a_read_only_spool_skip_unreadable_records_without_moving_them(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    filled(path, 3)
    spoil(path, "s1")
    with Spool(path, repair=False) as doctor:
        assert ids(doctor) == ["s0", "s2"] and doctor.quarantined() == []
        assert doctor.scan() == {"records": 3, "unreadable": 1}
    refuse_writing(monkeypatch)
    with Spool(path) as reader:
        assert ids(reader) == ["s0", "s2"] and reader.scan() == {"records": 3, "unreadable": 1}


def test_a_quarantine_that_cannot_be_written_is_logged_and_the_record_still_not_sent(tmp_path, monkeypatch, caplog):
    path = tmp_path / "s.sqlite3"
    filled(path, 3)
    spoil(path, "s1")
    with Spool(path) as spool:
        real = spool._conn

        class NoQuarantine:
            def execute(self, sql, *args):
                if sql.startswith("INSERT INTO quarantine"):
                    raise sqlite3.OperationalError("database or disk is full")
                return real.execute(sql, *args)

            def __getattr__(self, name):
                return getattr(real, name)

        spool._conn = NoQuarantine()
        for lang, text in (("de", f"Sensor-Zwischenspeicher {path}: Quarantäne fehlgeschlagen (database or disk is "
                                  "full)."),
                           ("en", f"Sensor spool {path}: quarantine failed (database or disk is full).")):
            monkeypatch.setenv("TECHCARE_LANG", lang)
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="techcare"):
                assert ids(spool) == ["s0", "s2"]
            assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING][-1] == text
        spool._conn = real
        assert spool.quarantined() == [] and spool.scan() == {"records": 3, "unreadable": 1}


def test_a_full_batch_is_a_thousand_samples(tmp_path):
    path = tmp_path / "s.sqlite3"
    with Spool(path):
        pass
    con = sqlite3.connect(path)
    for i in range(1001):
        payload = json.dumps({"sample_id": f"s{i:04}"}, separators=(",", ":"))
        con.execute("INSERT INTO samples(sample_id, created, payload, checksum) VALUES(?, 1.0, ?, ?)",
                    (f"s{i:04}", payload, record_checksum(payload)))
    con.commit()
    con.close()
    with Spool(path) as spool:
        batch = spool.pending()
        assert len(batch) == 1000 and batch[-1]["sample_id"] == "s0999"
        assert len(spool) == 1001


def test_acks_that_could_not_be_saved_are_not_counted_as_waiting(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=10) as spool:
        spool.add({"sample_id": "a"})
        spool.add({"sample_id": "b"})
        real = spool._conn
        spool._conn = BrokenConnection(real, sqlite3.OperationalError("database or disk is full"))
        with pytest.raises(SpoolError):
            spool.ack(["a"])
        spool._conn = real
        assert len(spool) == 1 and ids(spool) == ["b"]
        spool._conn = BrokenConnection(real, sqlite3.OperationalError("database or disk is full"))
        with pytest.raises(SpoolError):
            spool.ack(["b", "c", "d"])
        spool._conn = real
        assert len(spool) == 0 and ids(spool) == []


# ---- the counters kept next to the spool ---------------------------------------------------------------------------

COUNTER_KEYS = ["acked_total", "dropped_total", "quarantined_total", "unreadable_total", "damaged_files",
                "dropped_pending", "unknown_losses", "acked_base", "dropped_base", "quarantined_base", "waiting"]


def counters_file(path: Path) -> dict:
    return json.loads(path.with_name(path.name + ".counters").read_text("utf-8"))


def test_the_counters_file_holds_every_counter_and_the_waiting_count(tmp_path):
    path = tmp_path / "s.sqlite3"
    with Spool(path, max_samples=3) as spool:
        for name in "abcde":
            spool.add({"sample_id": name})                       # a, b dropped
        spool.ack(["c"])
        assert counters_file(path) == dict.fromkeys(COUNTER_KEYS, 0) | {"acked_total": 1, "dropped_total": 2,
                                                                        "waiting": 2}
        spool.add({"sample_id": "f"})
    assert counters_file(path) == dict.fromkeys(COUNTER_KEYS, 0) | {"acked_total": 1, "dropped_total": 2,
                                                                    "waiting": 3}
    assert stat.S_IMODE(path.with_name("s.sqlite3.counters").stat().st_mode) == 0o600


def test_no_counters_file_without_a_repairing_writer(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    filled(path, 2)
    (tmp_path / "s.sqlite3.counters").unlink()
    with Spool(path, repair=False) as doctor:
        doctor.ack(["s0"])
    assert not (tmp_path / "s.sqlite3.counters").exists()
    refuse_writing(monkeypatch)
    with Spool(path) as reader:
        assert ids(reader) == ["s1"]
    assert not (tmp_path / "s.sqlite3.counters").exists()


def test_a_counters_file_that_cannot_be_written_is_no_error(tmp_path):
    path = tmp_path / "s.sqlite3"
    path.with_name("s.sqlite3.counters").mkdir()
    with Spool(path) as spool:
        spool.add({"sample_id": "a"})
        assert spool.ack(["a"]) == 1


@pytest.mark.parametrize(("text", "known"), [
    ('{"acked_total": 3, "waiting": 2, "junk": 5, "dropped_total": -1, "quarantined_total": "7", '
     '"damaged_files": 1.5, "unknown_losses": 0}', {"acked_total": 3, "waiting": 2, "unknown_losses": 0}),
    ("not json", {}),
    ("[1, 2]", {}),
    ("null", {}),
    (None, {}),
])
def test_only_whole_non_negative_counters_are_believed(tmp_path, text, known):
    path = tmp_path / "s.sqlite3"
    spool = Spool(path)
    spool.close()
    counters = path.with_name("s.sqlite3.counters")
    counters.unlink()
    if text is not None:
        counters.write_text(text, encoding="utf-8")
    assert spool._last_known() == known


# ---- salvage: a damaged file is moved aside and every readable record carried over --------------------------------

def salvaged(path: Path, monkeypatch, **kw) -> Spool:
    """Open ``path`` as the sensor does after the opener found it damaged (what the file holds is then read as it
    is: crafted by the test)."""
    real = Spool._open
    calls = []

    def first_damaged(self):
        calls.append(1)
        if len(calls) == 1:
            raise spool_error(sqlite3.DatabaseError("database disk image is malformed"), self.path, "Öffnen|opening")
        return real(self)

    monkeypatch.setattr(Spool, "_open", first_damaged)
    try:
        return Spool(path, **kw)
    finally:
        monkeypatch.setattr(Spool, "_open", real)


def craft(path: Path, *, good: int = 3, bad: int = 1, meta: dict | None = None, top: int | str | None = 20,
          rejected: int = 2) -> list[str]:
    """A spool file holding ``good`` readable samples, ``bad`` with a wrong checksum, ``rejected`` rejected ones,
    the counters ``meta`` and ``top`` as the last sequence number handed out."""
    taken = []
    with Spool(path, max_samples=100) as spool:
        for i in range(good + bad):
            taken.append(spool.add({"sample_id": f"s{i}", "n": i})["sample_id"])
    path.with_name(path.name + ".counters").unlink()
    con = sqlite3.connect(path)
    for sid in taken[good:]:
        con.execute("UPDATE samples SET checksum = 'x' WHERE sample_id = ?", (sid,))
    for i in range(rejected):
        con.execute("INSERT INTO rejected VALUES(?, 1.0, 'bad', '{}')", (f"r{i}",))
    con.execute("DELETE FROM meta")
    for key, value in (meta or {}).items():
        con.execute("INSERT INTO meta VALUES(?, ?)", (key, value))
    if top is not None:
        con.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'samples'", (top,))
    con.commit()
    con.close()
    return taken[:good]


META = {"acked_total": 10, "acked_base": 7, "dropped_total": 5, "dropped_base": 1, "quarantined_total": 3,
        "quarantined_base": 1, "unreadable_total": 2, "damaged_files": 1, "dropped_pending": 4, "unknown_losses": 1}


def test_a_salvage_carries_every_readable_sample_and_counts_what_the_file_lost(tmp_path, monkeypatch, caplog):
    path = tmp_path / "s.sqlite3"
    good = craft(path, meta=META)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").write_bytes(suffix.encode())
    with caplog.at_level(logging.INFO, logger="techcare"):
        spool = salvaged(path, monkeypatch)
    [damaged] = [p for p in os.listdir(tmp_path) if p.startswith("s.sqlite3.damaged-") and "-wal" not in p
                 and "-shm" not in p]
    assert (tmp_path / f"{damaged}-wal").exists() and (tmp_path / f"{damaged}-shm").exists()   # with its journal
    # 20 numbers handed out in this file: 3 acknowledged, 4 dropped, 2 quarantined, 2 rejected, 4 read: 5 lost
    assert spool.recovered == {"damaged_file": str(tmp_path / damaged), "salvaged": 3, "quarantined": 1,
                               "unreadable": 5}
    assert ids(spool) == good
    assert [(q["sample_id"], q["reason"]) for q in spool.quarantined()] == [("s3", "checksum mismatch")]
    stats = spool.stats()
    assert {k: stats[k] for k in ("acked_total", "dropped_total", "quarantined_total", "unreadable_total",
                                  "damaged_files", "dropped_pending", "unknown_losses", "pending", "rejected")} == {
        "acked_total": 10, "dropped_total": 5, "quarantined_total": 4, "unreadable_total": 7, "damaged_files": 2,
        "dropped_pending": 9, "unknown_losses": 1, "pending": 3, "rejected": 0}
    assert counters_file(path) == {"acked_total": 10, "dropped_total": 5, "quarantined_total": 4,
                                   "unreadable_total": 7, "damaged_files": 2, "dropped_pending": 9,
                                   "unknown_losses": 1, "acked_base": 10, "dropped_base": 5, "quarantined_base": 4,
                                   "waiting": 3}
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        f"Sensor-Zwischenspeicher {path} war beschädigt: beiseitegelegt als {tmp_path / damaged}; 3 Messungen "
        "übernommen, 1 in Quarantäne, 5 unlesbar (als verworfen gemeldet)."]
    assert spool.add({"sample_id": "next"})["dropped_samples"] == 9      # the loss reaches the backend
    spool.close()


def test_a_salvaged_sample_keeps_its_time_and_its_exact_payload(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    craft(path, good=2, bad=0, meta=META)
    con = sqlite3.connect(path)
    con.execute("UPDATE samples SET created = 1234.5 WHERE sample_id = 's0'")
    con.execute("UPDATE samples SET created = 'soon' WHERE sample_id = 's1'")
    before = {sid: (payload, check) for sid, payload, check in con.execute("SELECT sample_id, payload, checksum "
                                                                           "FROM samples")}
    con.commit()
    con.close()
    start = time.time()
    with salvaged(path, monkeypatch) as spool:
        rows = {sid: (created, payload, check) for sid, created, payload, check in spool._conn.execute(
            "SELECT sample_id, created, payload, checksum FROM samples")}
    assert rows["s0"] == (1234.5, *before["s0"])
    assert start <= rows["s1"][0] <= time.time() and rows["s1"][1:] == before["s1"]   # no time: now
    assert isinstance(rows["s0"][1], str)


def test_salvaging_the_same_ids_twice_keeps_one(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    craft(path, good=3, bad=0, meta=META)
    con = sqlite3.connect(path)        # a damaged file may hold one id twice (its index is what broke)
    con.executescript("""
        CREATE TABLE dup (seq INTEGER PRIMARY KEY AUTOINCREMENT, sample_id TEXT, created REAL, attempts INTEGER,
                          payload TEXT, checksum TEXT);
        INSERT INTO dup(sample_id, created, payload, checksum)
            SELECT sample_id, created, payload, checksum FROM samples ORDER BY seq;
        INSERT INTO dup(sample_id, created, payload, checksum)
            SELECT sample_id, created, payload, checksum FROM samples WHERE sample_id = 's1';
        DROP TABLE samples;
        ALTER TABLE dup RENAME TO samples;
    """)
    con.close()
    with salvaged(path, monkeypatch) as spool:
        assert ids(spool) == ["s0", "s1", "s2"] and spool.recovered["salvaged"] == 3


def test_a_second_salvage_counts_only_the_second_files_own_losses(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    craft(path, meta=META)
    first = salvaged(path, monkeypatch)
    first.add({"sample_id": "n1"})
    first.add({"sample_id": "n2"})
    first.ack(["s0"])
    first.close()
    # the new file handed out 5 numbers (3 carried over, 2 new): 1 acknowledged, 4 waiting, none lost
    second = salvaged(path, monkeypatch)
    assert second.recovered["unreadable"] == 0 and second.recovered["salvaged"] == 4
    stats = second.stats()
    assert (stats["acked_total"], stats["damaged_files"], stats["unreadable_total"], stats["quarantined_total"]) == \
        (11, 3, 7, 4)
    assert counters_file(path)["acked_base"] == 11 and counters_file(path)["quarantined_base"] == 4
    second.close()


def test_a_salvage_that_lost_nothing_reports_nothing(tmp_path, monkeypatch, caplog):
    path = tmp_path / "s.sqlite3"
    craft(path, good=2, bad=0, rejected=0, top=2, meta={"acked_total": 0, "dropped_pending": 0})
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with caplog.at_level(logging.ERROR, logger="techcare"), salvaged(path, monkeypatch) as spool:
        assert spool.recovered["unreadable"] == 0 and spool.recovered["salvaged"] == 2
        assert spool.stats()["dropped_pending"] == 0 and spool.stats()["unknown_losses"] == 0
        damaged = spool.recovered["damaged_file"]
    assert [r.getMessage() for r in caplog.records] == [
        f"Sensor spool {path} was damaged: moved aside as {damaged}; 2 samples carried over, 0 quarantined, "
        "0 unreadable (reported as dropped)."]


def test_more_records_than_numbers_handed_out_is_no_negative_loss(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    craft(path, good=4, bad=0, rejected=0, top=1, meta={"acked_total": 1})
    with salvaged(path, monkeypatch) as spool:
        assert spool.recovered["unreadable"] == 0 and spool.stats()["dropped_pending"] == 0


def test_without_counters_the_gaps_between_readable_records_are_the_loss(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    craft(path, good=6, bad=0, rejected=1, top=9, meta={})
    con = sqlite3.connect(path)
    con.execute("DELETE FROM samples WHERE sample_id IN ('s2', 's3')")        # seq 3, 4 gone; 7..9 never read
    con.commit()
    con.close()
    with salvaged(path, monkeypatch) as spool:
        assert spool.recovered["unreadable"] == 5 and spool.recovered["salvaged"] == 4
        assert spool.stats()["dropped_pending"] == 5 and spool.stats()["unknown_losses"] == 0


def test_without_counters_or_sequence_only_the_gaps_count(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    craft(path, good=6, bad=0, rejected=0, top="many", meta={})
    con = sqlite3.connect(path)
    con.execute("DELETE FROM samples WHERE sample_id IN ('s1', 's4')")
    con.commit()
    con.close()
    with salvaged(path, monkeypatch) as spool:
        assert spool.recovered["unreadable"] == 2


@pytest.mark.parametrize("breakage", ["sequence text", "sequence null", "no rejected table", "counters text",
                                      "counters null"])
def test_a_file_whose_numbers_cannot_be_read_falls_back_to_the_gaps(tmp_path, monkeypatch, breakage):
    path = tmp_path / "s.sqlite3"
    craft(path, good=3, bad=0, rejected=1, top=6, meta=META)
    con = sqlite3.connect(path)
    if breakage == "sequence text":
        con.execute("UPDATE sqlite_sequence SET seq = 'x'")
    elif breakage == "sequence null":
        con.execute("UPDATE sqlite_sequence SET seq = NULL")
    elif breakage == "no rejected table":
        con.execute("DROP TABLE rejected")
    else:
        con.execute("DROP TABLE meta")
        con.execute("CREATE TABLE meta (key TEXT, value)")
        con.execute("INSERT INTO meta VALUES('acked_total', 10)")
        con.execute("INSERT INTO meta VALUES('x', ?)", ("many" if breakage == "counters text" else None,))
    con.commit()
    con.close()
    expected = 0 if breakage.startswith("sequence") else 3       # with the sequence: 4, 5, 6 were handed out
    with salvaged(path, monkeypatch) as spool:
        assert spool.recovered["unreadable"] == expected


def test_a_file_with_nothing_readable_and_nothing_handed_out_lost_nothing(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    craft(path, good=0, bad=0, rejected=0, top=None, meta={})
    with salvaged(path, monkeypatch) as spool:
        assert spool.recovered["unreadable"] == 0 and spool.stats()["unknown_losses"] == 0


def test_a_file_whose_samples_cannot_be_read_counts_from_its_counters_or_says_unknown(tmp_path, monkeypatch, caplog):
    first = tmp_path / "a" / "s.sqlite3"
    first.parent.mkdir()
    craft(first, good=3, bad=0, rejected=1, top=15, meta=META)
    torn(monkeypatch, set(), tail_from=1)                         # not one sample can be read
    with salvaged(first, monkeypatch) as spool:                  # 15 handed out - (3 + 4 + 2) gone - 1 rejected
        assert spool.recovered == {"damaged_file": spool.recovered["damaged_file"], "salvaged": 0,
                                   "quarantined": 0, "unreadable": 5}
    path = tmp_path / "s.sqlite3"
    craft(path, good=2, bad=0, rejected=0, top=5, meta={})      # no counters, no counters file: unknown
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="techcare"), salvaged(path, monkeypatch) as spool:
        assert spool.recovered["unreadable"] is None
        stats = spool.stats()
        assert stats["unknown_losses"] == 1 and stats["dropped_pending"] == 0 and stats["unreadable_total"] == 0
        damaged = spool.recovered["damaged_file"]
    assert [r.getMessage() for r in caplog.records] == [
        f"Sensor-Zwischenspeicher {path} war beschädigt: beiseitegelegt als {damaged}; 0 Messungen übernommen, "
        "0 in Quarantäne; wie viele wartende Messungen verloren sind, ist unbekannt (die Datei verrät es nicht mehr; "
        "sie bleibt zur Prüfung liegen)."]


def test_an_unknown_loss_is_said_in_english_too(tmp_path, monkeypatch, caplog):
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"garbage" * 1000)
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with caplog.at_level(logging.ERROR, logger="techcare"), Spool(path) as spool:
        damaged = spool.recovered["damaged_file"]
        assert spool.recovered == {"damaged_file": damaged, "salvaged": 0, "quarantined": 0, "unreadable": None}
    assert [r.getMessage() for r in caplog.records] == [
        f"Sensor spool {path} was damaged: moved aside as {damaged}; 0 samples carried over, 0 quarantined; how many "
        "waiting samples are lost is unknown (the file no longer tells; it is kept for inspection)."]
    assert Path(damaged).read_bytes() == b"garbage" * 1000


def test_the_counters_kept_next_to_the_file_tell_what_its_own_cannot(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    craft(path, good=2, bad=0, rejected=0, top=None, meta={})
    known = {"acked_total": 6, "dropped_total": 2, "quarantined_total": 1, "unreadable_total": 0,
             "damaged_files": 0, "dropped_pending": 3, "unknown_losses": 0, "acked_base": 0, "dropped_base": 0,
             "quarantined_base": 0, "waiting": 4}
    path.with_name("s.sqlite3.counters").write_text(json.dumps(known), encoding="utf-8")
    torn(monkeypatch, set(), tail_from=1)
    with salvaged(path, monkeypatch) as spool:
        assert spool.recovered["unreadable"] == 4                           # 4 were waiting, none read
        stats = spool.stats()
        assert (stats["acked_total"], stats["dropped_total"], stats["quarantined_total"], stats["dropped_pending"],
                stats["unreadable_total"], stats["damaged_files"]) == (6, 2, 1, 7, 4, 1)
        assert counters_file(path)["acked_base"] == 6 and spool._meta("waiting") == 0


def test_kept_counters_fill_in_what_is_missing_but_never_the_files_own_numbers(tmp_path, monkeypatch):
    one, two, three = (tmp_path / n for n in "abc")
    for d in (one, two, three):
        d.mkdir()
    path = one / "s.sqlite3"
    craft(path, good=3, bad=0, rejected=0, top=5, meta={})
    path.with_name("s.sqlite3.counters").write_text(json.dumps({"acked_total": 1, "waiting": 9}), encoding="utf-8")
    with salvaged(path, monkeypatch) as spool:
        # the file's own sequence tells: 5 handed out, 3 read, gap-counted 2 lost (not 9 - 3)
        assert spool.recovered["unreadable"] == 2 and spool.stats()["acked_total"] == 1
    path = two / "s.sqlite3"
    craft(path, good=1, bad=0, rejected=0, top=1, meta={"acked_total": 2})
    path.with_name("s.sqlite3.counters").write_text(json.dumps({"acked_total": 50, "waiting": 9}), encoding="utf-8")
    con = sqlite3.connect(path)
    con.execute("DROP TABLE rejected")                             # the file's numbers cannot tell the loss
    con.commit()
    con.close()
    with salvaged(path, monkeypatch) as spool:
        assert spool.recovered["unreadable"] == 0 and spool.stats()["acked_total"] == 2    # the file's own counters
    path = three / "s.sqlite3"
    craft(path, good=3, bad=0, rejected=0, top=None, meta={})
    path.with_name("s.sqlite3.counters").write_text(json.dumps({"acked_total": 50, "waiting": 1}), encoding="utf-8")
    con = sqlite3.connect(path)
    con.execute("DELETE FROM sqlite_sequence")
    con.execute("DROP TABLE rejected")
    con.commit()
    con.close()
    with salvaged(path, monkeypatch) as spool:   # read without gaps, nothing handed out beyond: none lost
        assert spool.recovered["unreadable"] == 0 and spool.stats()["acked_total"] == 50


def test_records_of_a_damaged_file_that_fail_the_checks_are_quarantined_as_they_were(tmp_path, monkeypatch, caplog):
    path = tmp_path / "s.sqlite3"
    craft(path, good=1, bad=0, rejected=0, top=None, meta={})
    con = sqlite3.connect(path)
    con.execute("INSERT INTO samples(sample_id, created, payload, checksum) VALUES(X'6162', 1.0, '{}', NULL)")
    con.execute("INSERT INTO samples(sample_id, created, payload, checksum) VALUES('torn', 1.0, X'ff00', NULL)")
    con.commit()
    con.close()
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with caplog.at_level(logging.WARNING, logger="techcare"), salvaged(path, monkeypatch) as spool:
        assert ids(spool) == ["s0"]
        kept = spool.quarantined()
        assert [(q["sample_id"], q["reason"], q["payload"]) for q in kept] == [
            ("b'ab'", "not a sample of this record", b"{}"), ("torn", "not UTF-8", b"\xff\x00")]
        assert spool.stats()["quarantined_total"] == 2 and spool.recovered["quarantined"] == 2
    assert f"sample torn in the spool {path} cannot be read (not UTF-8): quarantined, not sent." in \
        [r.getMessage() for r in caplog.records]


def test_a_damaged_file_that_cannot_be_moved_aside_is_said(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    craft(path, meta=META)

    def refuse(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)

    def fails():
        with pytest.raises(SpoolError) as caught:
            salvaged(path, monkeypatch)
        return caught.value

    de, en = both(monkeypatch, fails)
    assert de.kind == "unavailable" and de.path == str(path)
    assert de.message == f"Sensor-Zwischenspeicher {path}: Beiseitelegen der beschädigten Datei fehlgeschlagen " \
                         "(Permission denied)."
    assert en.message == f"Sensor spool {path}: moving the damaged file aside failed (Permission denied)."


# ---- reading a damaged file past its broken parts -----------------------------------------------------------------

def torn(monkeypatch, broken, *, tail_from: int | None = None):
    """Reading the damaged file fails on the given sequence numbers (and on everything from ``tail_from`` on, also
    where nothing follows): pages SQLite cannot read. Returns the list of ``seq >`` values asked."""
    real = sqlite3.connect
    asked = []

    class Torn:
        def __init__(self, conn):
            self._conn = conn

        def execute(self, sql, *args):
            if sql.startswith("SELECT seq, sample_id, created"):
                asked.append(args[0][0])
            cur = self._conn.execute(sql, *args)
            if sql.startswith("SELECT seq, sample_id, created"):
                row = cur.fetchone()
                if (row is not None and row[0] in broken) or (tail_from is not None and args[0][0] + 1 >= tail_from):
                    raise sqlite3.DatabaseError("database disk image is malformed")
                return FakeCursor(row)
            return cur

        def close(self):
            self._conn.close()

    class FakeCursor:
        def __init__(self, row):
            self.row = row

        def fetchone(self):
            return self.row

    def connect(target, *args, **kw):
        conn = real(target, *args, **kw)
        return Torn(conn) if ".damaged-" in str(target) else conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    return asked


def test_reading_jumps_over_a_broken_part_further_each_time(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    craft(path, good=14, bad=0, rejected=0, top=14, meta={})
    asked = torn(monkeypatch, {4, 5, 6, 10})
    with salvaged(path, monkeypatch) as spool:
        # 1-3 read; 4 broken (jump 1), 5 broken (jump 2), 7-9 read; 10 broken (jump 1 again), 11-14 read
        assert ids(spool) == [f"s{i - 1}" for i in (1, 2, 3, 7, 8, 9, 11, 12, 13, 14)]
        assert asked == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14]
        assert spool.recovered["unreadable"] == 4


def test_reading_a_broken_end_gives_up_after_64_tries_even_past_the_last_possible_number(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    craft(path, good=5, bad=0, rejected=0, top=5, meta={})
    asked = torn(monkeypatch, set(), tail_from=3)
    with salvaged(path, monkeypatch) as spool:
        assert ids(spool) == ["s0", "s1"]
        # the 64th jump asks beyond 2^63 - 1 (Python: OverflowError): one more miss, not a crash of the sensor
        assert asked == [0, 1] + [2 + (1 << n) - 1 for n in range(64)] and asked[-1] > (1 << 63) - 1
        assert spool.recovered["unreadable"] == 3


def test_a_real_flipped_page_is_salvaged_around(tmp_path, caplog):
    path = tmp_path / "s.sqlite3"
    taken = filled(path, 30)
    pages = leaf_pages(path)
    garble(path, pages[len(pages) // 2], 0, 4096)
    with caplog.at_level(logging.ERROR, logger="techcare"), Spool(path) as spool:
        kept = ids(spool)
        assert 0 < len(kept) < len(taken) and set(kept) < set(taken)
        assert spool.recovered["unreadable"] == len(taken) - len(kept)
        assert spool.recovered["damaged_file"].startswith(f"{path}.damaged-")


# ---- the bound with unreadable or odd records, and with sends in flight -------------------------------------------

def rewrite(path: Path, sample_id: str, payload: str, checksum: str | None = "ok") -> None:
    con = sqlite3.connect(path)
    con.execute("UPDATE samples SET payload = ?, checksum = ? WHERE sample_id = ?",
                (payload, record_checksum(payload) if checksum == "ok" else checksum, sample_id))
    con.commit()
    con.close()


def test_a_sample_needs_a_non_empty_text_id(tmp_path):
    with Spool(tmp_path / "s.sqlite3") as spool:
        for bad in ({}, {"sample_id": 5}, {"sample_id": ""}, {"sample_id": None}):
            with pytest.raises(ValueError) as caught:
                spool.add(bad)
            assert str(caught.value) == "a sample needs a non-empty string sample_id"
        assert len(spool) == 0


@pytest.mark.parametrize(("payload", "checksum", "reported"), [
    ('{"sample_id":"a","dropped_samples":5}', "ok", 6),        # its own 5 go with it
    ('{"sample_id":"a","dropped_samples":5}', "bad", 1),       # unreadable: its claim is not believed
    ('{"sample_id":"a","dropped_samples":"many"}', "ok", 1),
    ('{"sample_id":"a","dropped_samples":[1]}', "ok", 1),
    ('{"sample_id":"a","dropped_samples":-3}', "ok", 1),
    ('{"sample_id":"a"}', "ok", 1),
])
def test_a_dropped_sample_passes_on_only_the_drop_count_it_truly_carried(tmp_path, payload, checksum, reported):
    path = tmp_path / "s.sqlite3"
    with Spool(path, max_samples=2) as spool:
        spool.add({"sample_id": "a"})
        spool.add({"sample_id": "b"})
    rewrite(path, "a", payload, checksum)
    with Spool(path, max_samples=2) as spool:
        assert spool.add({"sample_id": "c"})["dropped_samples"] == reported
        assert spool.stats()["dropped_total"] == 1 and ids(spool) == ["b", "c"]


def test_the_bound_drops_the_oldest_samples_not_on_the_wire(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=1) as spool:
        spool.add({"sample_id": "a"})
        with spool.sending():
            spool.add({"sample_id": "b"})                  # a on the wire: b is the one over the bound
            assert spool.add({"sample_id": "c"})["dropped_samples"] == 1     # b goes, a stays
            assert ids(spool) == ["a", "c"] and spool.stats()["dropped_total"] == 1


def test_a_restored_bound_whose_newest_sample_is_unreadable_reports_on_the_next_one(tmp_path):
    path = tmp_path / "s.sqlite3"
    with Spool(path, max_samples=1) as spool:
        spool.add({"sample_id": "a"})
        with spool.sending():
            spool.add({"sample_id": "b"})
            rewrite(path, "b", '{"sample_id":"b","dropped_samples":0}', "bad")
        # a dropped when the send ended; b cannot carry the count: the next sample does
        assert spool.stats()["dropped_pending"] == 1 and spool.stats()["dropped_total"] == 1
        assert ids(spool) == []                             # b quarantined
        assert spool.add({"sample_id": "c"})["dropped_samples"] == 1


def test_a_restored_bound_reports_on_the_newest_sample_not_on_the_wire(tmp_path):
    path = tmp_path / "s.sqlite3"
    with Spool(path, max_samples=2) as spool:
        spool.add({"sample_id": "a"})
        with spool.sending():                               # a on the wire
            spool.add({"sample_id": "b"})
            with spool.sending():                           # a and b on the wire
                spool.add({"sample_id": "c"})
                assert spool.add({"sample_id": "d"})["dropped_samples"] == 1          # c dropped
            # b's send ended: b (oldest not on the wire) dropped, reported on d; a still on the wire
            assert ids(spool) == ["a", "d"]
            assert [s["dropped_samples"] for s in spool.pending()] == [0, 2]
            assert spool.stats()["dropped_pending"] == 0 and spool.stats()["dropped_total"] == 2
            assert spool.scan() == {"records": 2, "unreadable": 0}


def test_without_statvfs_read_only_means_this_process_may_not_write_the_file(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"x")
    monkeypatch.delattr(os, "statvfs")                      # Windows: no file-system flags, the access check decides
    asked = []

    def access(p, mode):
        asked.append((Path(p), mode))
        return writable

    monkeypatch.setattr(os, "access", access)
    writable = False
    assert _read_only_file(path) is True
    writable = True
    assert _read_only_file(path) is False
    assert asked == [(path, os.W_OK), (path, os.W_OK)]


@pytest.mark.parametrize(("interval", "retention"), [(1.1, 320160.5), (3.3, 2089408.1999999997), (7, 2_592_000),
                                                     (300, 2_592_000), (7.7, 7068330.5)])
def test_the_bound_holds_whole_samples_that_fit_into_the_retention(interval, retention):
    n = spool_mod.default_max_samples(interval, retention)
    assert n * float(interval) <= retention < (n + 2) * float(interval)     # never more than fit, at most one short


def test_a_restored_bound_with_only_samples_on_the_wire_left_reports_on_the_next_sample(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=1) as spool:
        spool.add({"sample_id": "a"})
        with spool.sending():                               # a on the wire
            spool.add({"sample_id": "b"})
            with spool.sending():                           # a and b on the wire
                assert spool.add({"sample_id": "c"})["dropped_samples"] == 0
            # b's send ended: b and c dropped; only a (on the wire) is left to carry the count: the next sample does
            assert ids(spool) == ["a"] and spool.pending()[0]["dropped_samples"] == 0
            assert spool.stats()["dropped_pending"] == 2 and spool.stats()["dropped_total"] == 2
        assert spool.add({"sample_id": "d"})["dropped_samples"] == 3       # b, c, and a dropped when its send ended


def test_a_drop_count_waiting_for_the_next_sample_grows_until_one_carries_it(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    craft(path, good=2, bad=0, rejected=0, top=2, meta={"dropped_pending": 3})
    with salvaged(path, monkeypatch, max_samples=1) as spool:
        assert spool.stats()["dropped_pending"] == 3
        with spool.sending() as batch:
            assert [s["sample_id"] for s in batch] == ["s0", "s1"]
            rewrite(path, "s1", '{"sample_id":"s1","dropped_samples":0}', "bad")
        # s0 dropped when the send ended; s1 cannot carry it: the 3 waiting and this 1
        assert spool.stats()["dropped_pending"] == 4
        assert spool.add({"sample_id": "n"})["dropped_samples"] == 5       # and s1, dropped for n
        assert spool.stats()["dropped_pending"] == 0                         # reported once: n carries it
        assert spool.add({"sample_id": "m"})["dropped_samples"] == 6       # n dropped for m, with the 5 it carried


def test_a_partial_delivery_does_not_truncate_the_write_ahead_file(tmp_path):
    path = tmp_path / "s.sqlite3"
    wal = path.with_name("s.sqlite3-wal")
    with Spool(path, max_samples=10) as spool:
        for name in "abc":
            spool.add({"sample_id": name})
        spool.ack(["a"])
        assert wal.stat().st_size > 0                       # the queue is not empty: no checkpoint on every ack
        spool.ack(["b", "c"])
        assert wal.stat().st_size == 0


def test_a_write_ahead_file_that_cannot_be_truncated_now_is_no_error(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=10) as spool:
        spool.add({"sample_id": "a"})
        real = spool._conn

        class Busy:
            def execute(self, sql, *args):
                if sql.startswith("PRAGMA wal_checkpoint"):
                    raise sqlite3.OperationalError("database table is locked")
                return real.execute(sql, *args)

            def __getattr__(self, name):
                return getattr(real, name)

        spool._conn = Busy()
        assert spool.ack(["a"]) == 1                        # delivered and deleted; the next empty queue truncates
        spool._conn = real
        assert len(spool) == 0 and spool.stats()["acked_total"] == 1


def test_a_batch_never_holds_more_than_asked_when_unreadable_records_are_skipped(tmp_path):
    path = tmp_path / "s.sqlite3"
    filled(path, 6)
    spoil(path, "s0")
    with Spool(path) as spool:
        assert [s["sample_id"] for s in spool.pending(2)] == ["s1", "s2"]
    spoil(path, "s1", "s3")
    with Spool(path, repair=False) as doctor:                  # skipped, not moved: every read meets them again
        assert [s["sample_id"] for s in doctor.pending(2)] == ["s2", "s4"]
        assert [s["sample_id"] for s in doctor.pending(1)] == ["s2"]


def test_file_names_with_options_are_opened_as_uris(tmp_path, monkeypatch):
    """``file:…?mode=ro`` is an SQLite URI only with ``uri=True``; a build without URI file names by default would
    otherwise create (and read) an empty file of that name instead of the spool."""
    path = tmp_path / "s.sqlite3"
    filled(path, 2)
    real = sqlite3.connect
    uris = []

    def connect(target, *args, **kw):
        if str(target).startswith("file:"):
            uris.append((str(target).split("?")[1], kw.get("uri")))
        return real(target, *args, **kw)

    monkeypatch.setattr(sqlite3, "connect", connect)
    refuse_writing(monkeypatch)
    with Spool(path):
        pass
    monkeypatch.undo()
    monkeypatch.setattr(sqlite3, "connect", connect)
    with salvaged(path, monkeypatch):
        pass
    assert uris == [("mode=ro", True), ("mode=ro", True)]


def test_reading_a_damaged_file_whose_first_records_are_broken(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    craft(path, good=6, bad=0, rejected=0, top=6, meta={})
    asked = torn(monkeypatch, {1, 2})
    with salvaged(path, monkeypatch) as spool:
        # 1 broken (jump 1), 2 broken (jump 2): 3 is skipped with them, 4-6 read
        assert ids(spool) == ["s3", "s4", "s5"] and asked == [0, 1, 3, 4, 5, 6]
        assert spool.recovered["unreadable"] == 0     # without counters, numbers before the first read count as
                                                       # delivered (acknowledgements go oldest first)


def test_a_damaged_file_with_nothing_readable_is_tried_64_times(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    craft(path, good=3, bad=0, rejected=0, top=3, meta={})
    asked = torn(monkeypatch, set(), tail_from=1)
    with salvaged(path, monkeypatch) as spool:
        assert asked == [(1 << n) - 1 for n in range(64)] and spool.recovered["salvaged"] == 0


def test_a_damaged_file_of_the_first_format_is_salvaged_with_checksums(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    first_format(path, good=3, bad=1)
    with salvaged(path, monkeypatch) as spool:
        assert ids(spool) == ["s0", "s1", "s2"] and spool.recovered["salvaged"] == 3
        assert [(q["sample_id"], q["reason"]) for q in spool.quarantined()] == [("b0", "not JSON")]
        assert spool.recovered["unreadable"] == 0
        rows = spool._conn.execute("SELECT payload, checksum FROM samples").fetchall()
        assert all(check == record_checksum(payload) for payload, check in rows)


def test_samples_only_in_the_write_ahead_file_go_with_the_damaged_file_and_are_salvaged(tmp_path, monkeypatch):
    live = tmp_path / "live"
    live.mkdir()
    spool = Spool(live / "s.sqlite3", max_samples=10)
    taken = [spool.add({"sample_id": f"w{i}"})["sample_id"] for i in range(4)]
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for suffix in ("", "-wal", "-shm"):                     # a copy as a power cut leaves it: the samples are in -wal
        (crashed / f"s.sqlite3{suffix}").write_bytes((live / f"s.sqlite3{suffix}").read_bytes())
    spool.close()
    assert (crashed / "s.sqlite3-wal").stat().st_size > 0
    with salvaged(crashed / "s.sqlite3", monkeypatch) as rescued:
        assert ids(rescued) == taken and rescued.recovered["salvaged"] == 4


def no_numbers(path: Path, *, waiting: int | None, meta: dict) -> None:
    """A damaged file whose samples cannot be read and whose own numbers cannot tell how many were lost."""
    craft(path, good=3, bad=0, rejected=0, top=5, meta=meta)
    con = sqlite3.connect(path)
    con.execute("DROP TABLE rejected")
    con.commit()
    con.close()
    if waiting is not None:
        path.with_name("s.sqlite3.counters").write_text(json.dumps({"waiting": waiting, "acked_total": 99}),
                                                        encoding="utf-8")


def test_when_the_files_numbers_cannot_tell_the_kept_waiting_count_does(tmp_path, monkeypatch):
    for name, waiting, lost in (("a", 4, 4), ("b", 0, 0)):
        path = tmp_path / name / "s.sqlite3"
        path.parent.mkdir()
        no_numbers(path, waiting=waiting, meta={"acked_total": 5, "unknown_losses": 2})
        torn(monkeypatch, set(), tail_from=1)
        with salvaged(path, monkeypatch) as spool:
            assert spool.recovered["unreadable"] == lost
            stats = spool.stats()
            assert (stats["acked_total"], stats["unknown_losses"], stats["dropped_pending"]) == (5, 2, lost)
        monkeypatch.undo()


def test_an_unknown_loss_is_added_to_the_unknown_losses_the_file_already_had(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    no_numbers(path, waiting=None, meta={"acked_total": 5, "unknown_losses": 2, "dropped_pending": 1})
    torn(monkeypatch, set(), tail_from=1)
    with salvaged(path, monkeypatch) as spool:
        assert spool.recovered["unreadable"] is None
        stats = spool.stats()
        assert (stats["unknown_losses"], stats["dropped_pending"], stats["acked_total"]) == (3, 1, 5)


def test_the_bound_drops_no_more_than_it_must_while_acknowledged_samples_are_still_counted_on_the_wire(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=2) as spool:
        spool.add({"sample_id": "a"})
        spool.add({"sample_id": "b"})
        with spool.sending() as batch:
            spool.ack([s["sample_id"] for s in batch])       # delivered; the send has not ended yet
            spool.add({"sample_id": "c"})
            spool.add({"sample_id": "d"})
            assert spool.add({"sample_id": "e"})["dropped_samples"] == 1          # c, and only c
            assert ids(spool) == ["d", "e"] and spool.stats()["dropped_total"] == 1


def test_the_first_format_is_migrated_once_by_the_sensor(tmp_path):
    path = tmp_path / "s.sqlite3"
    first_format(path, good=2, bad=1)
    with Spool(path) as spool:
        assert spool._legacy is False and ids(spool) == ["s0", "s1"]
        assert [(q["sample_id"], q["reason"]) for q in spool.quarantined()] == [("b0", "not JSON")]
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    rows = con.execute("SELECT payload, checksum FROM samples ORDER BY seq").fetchall()
    con.close()
    assert len(rows) == 2 and all(check == record_checksum(payload) for payload, check in rows)


def test_the_doctor_checks_checksums_of_a_file_without_format_number(tmp_path):
    path = tmp_path / "s.sqlite3"
    filled(path, 3)
    con = sqlite3.connect(path)
    con.execute("UPDATE samples SET checksum = 'x' WHERE sample_id = 's1'")
    con.execute("PRAGMA user_version = 0")
    con.commit()
    con.close()
    with Spool(path, repair=False) as doctor:
        assert doctor._legacy is False and doctor.scan() == {"records": 3, "unreadable": 1}


def test_a_damaged_file_is_named_with_what_the_check_found(tmp_path):
    path = tmp_path / "s.sqlite3"
    filled(path, 30)
    garble(path, leaf_pages(path)[1], 8, 4000)
    with pytest.raises(SpoolError) as caught:
        Spool(path, repair=False)
    detail = caught.value.message.split("database disk image is malformed (", 1)[1]
    assert detail not in ("-).", ").") and len(detail) > 4


def test_a_bound_below_one_is_refused_with_its_exact_reason(tmp_path):
    with pytest.raises(ValueError) as caught:
        Spool(tmp_path / "s.sqlite3", max_samples=0)
    assert str(caught.value) == "max_samples must be at least 1"


def test_a_spool_file_this_account_may_not_open_for_writing_is_read(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite3"
    taken = filled(path, 2)

    def denied(self):
        raise spool_error(PermissionError(errno.EACCES, "Permission denied"), self.path, "Öffnen|opening")

    monkeypatch.setattr(Spool, "_open", denied)
    with Spool(path) as spool:
        assert spool.read_only and ids(spool) == taken


def test_closing_a_spool_whose_disk_stopped_answering_is_no_error(tmp_path):
    spool = Spool(tmp_path / "s.sqlite3")
    spool.add({"sample_id": "a"})
    real = spool._conn

    class Gone(BrokenConnection):
        def close(self):
            real.close()
            raise sqlite3.OperationalError("disk I/O error")

    spool._conn = Gone(real, sqlite3.OperationalError("disk I/O error"))
    spool.close()                                   # the counters cannot be read, the close fails: both said nowhere
    assert spool._conn is None
    spool.close()
