"""What the sensor spool promises, stated one behaviour per test (the survivors of `scripts/mutation spool`):
the bound's exact numbers, the checksum, acks beyond one 500-id chunk, every rollback path (a failed write
leaves nothing half done, a failed rollback never hides the error), the error kinds, rejects and the status."""

from __future__ import annotations

import errno
import hashlib
import json
import sqlite3
import time

import pytest

from techcare.monitoring.spool import (
    DEFAULT_RETENTION_SECONDS,
    Spool,
    SpoolError,
    _decode,
    _kind,
    default_max_samples,
    record_checksum,
    spool_error,
)


def ids(spool: Spool) -> list[str]:
    return [s["sample_id"] for s in spool.pending()]


class FailingConnection:
    """A real connection, except that statements matching ``fail`` (and ROLLBACK, with ``rollback_fails``)
    raise the given error: a full disk or a broken file at an exact point of a transaction."""

    def __init__(self, conn: sqlite3.Connection, fail: str, error: Exception, *, rollback_fails: bool = False):
        self._conn, self._fail, self._error, self._rollback_fails = conn, fail, error, rollback_fails

    def execute(self, sql: str, *args):
        if self._fail and sql.lstrip().upper().startswith(self._fail):
            raise self._error
        if self._rollback_fails and sql.strip().upper() == "ROLLBACK":
            self._conn.execute("ROLLBACK")
            raise sqlite3.OperationalError("cannot rollback - no transaction is active")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


# ---- the bound ------------------------------------------------------------------------------------------------

def test_default_bound_is_thirty_days_of_samples_and_never_zero():
    assert DEFAULT_RETENTION_SECONDS == 2_592_000
    assert default_max_samples(300) == 8640
    assert default_max_samples(60) == 43_200
    assert default_max_samples(7) == 370_285          # whole samples: 2,592,000 // 7, not 370,285.71
    assert default_max_samples(0.25) == 2_592_000     # an interval under one second counts as one second
    assert default_max_samples(1) == 2_592_000
    assert default_max_samples(60, 30) == 1           # less than one interval of retention still keeps one
    assert default_max_samples(3 * DEFAULT_RETENTION_SECONDS) == 1
    assert default_max_samples(60, 125) == 2


def test_a_bound_below_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="max_samples must be at least 1"):
        Spool(tmp_path / "s.sqlite3", max_samples=0)
    with Spool(tmp_path / "s.sqlite3", max_samples=1) as spool:
        spool.add({"sample_id": "a"})
        spool.add({"sample_id": "b"})
        assert ids(spool) == ["b"] and spool.max_samples == 1


def test_drops_are_reported_once_with_the_counts_the_victims_carried(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=2) as spool:
        spool.add({"sample_id": "a"})
        spool.add({"sample_id": "b", "dropped_samples": 4})   # b reports 4 samples lost before it
        assert spool.add({"sample_id": "c"})["dropped_samples"] == 1    # a dropped
        stored = spool.add({"sample_id": "d"})                             # b dropped, with its 4
        assert stored["dropped_samples"] == 5
        assert [s["dropped_samples"] for s in spool.pending()] == [1, 5]
        stats = spool.stats()
        assert stats["dropped_total"] == 2 and stats["dropped_pending"] == 0
        # e's own 2, plus c dropped now (1) with the 1 it carried
        assert spool.add({"sample_id": "e", "dropped_samples": 2})["dropped_samples"] == 4


def test_a_finished_send_restores_the_bound_and_reports_on_the_newest_queued_sample(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=3) as spool:
        for i in range(3):
            spool.add({"sample_id": f"s{i}"})
        with spool.sending() as batch:                         # s0, s1, s2 on the wire: none may be dropped
            assert [s["sample_id"] for s in batch] == ["s0", "s1", "s2"]
            assert spool.add({"sample_id": "s3"})["dropped_samples"] == 0
            assert len(spool) == 4                             # one over the bound while sending
            assert spool.add({"sample_id": "s4"})["dropped_samples"] == 1   # s3 goes, not a sample on the wire
            assert ids(spool) == ["s0", "s1", "s2", "s4"]
        assert ids(spool) == ["s1", "s2", "s4"]                # the send ended (unacked): s0, the oldest, goes
        assert [s["dropped_samples"] for s in spool.pending()] == [0, 0, 2]    # reported on the newest
        stats = spool.stats()
        assert stats["dropped_total"] == 2 and stats["dropped_pending"] == 0
        assert spool.scan() == {"records": 3, "unreadable": 0}     # the rewritten record has a valid checksum


def test_a_send_that_is_acknowledged_leaves_nothing_to_restore(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=2) as spool:
        spool.add({"sample_id": "a"})
        spool.add({"sample_id": "b"})
        with spool.sending() as batch:
            spool.add({"sample_id": "c"})
            spool.ack([s["sample_id"] for s in batch])
        assert ids(spool) == ["c"] and spool.pending()[0]["dropped_samples"] == 0
        assert spool.stats()["dropped_total"] == 0


def test_a_send_in_flight_twice_stays_protected_until_both_end(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=1) as spool:
        spool.add({"sample_id": "a"})
        with spool.sending() as outer:
            with spool.sending() as inner:
                assert [s["sample_id"] for s in outer] == [s["sample_id"] for s in inner] == ["a"]
            spool.add({"sample_id": "b"})      # a is still on the wire (outer send): b is the one over the bound
            assert "a" in ids(spool)
        assert ids(spool) == ["b"]             # after both sends the bound drops a, the oldest
        assert spool.pending()[0]["dropped_samples"] == 1


def test_restoring_the_bound_with_only_in_flight_samples_left_reports_on_the_next_sample(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=1) as spool:
        spool.add({"sample_id": "a"})
        with spool.sending() as batch:
            assert len(batch) == 1
            spool.add({"sample_id": "b"})      # kept: a is in flight, b is the newest
            with spool.sending():              # b goes on the wire too; a is acked
                spool.ack(["a"])
        assert ids(spool) == ["b"] and spool.stats()["dropped_pending"] == 0


# ---- checksum and decoding --------------------------------------------------------------------------------------

def test_checksum_is_the_first_128_bits_of_sha256_of_the_utf8_bytes():
    assert record_checksum("abc") == "ba7816bf8f01cfea414140de5dae2223"
    assert record_checksum(b"abc") == record_checksum("abc")
    assert record_checksum("ä") == hashlib.sha256("ä".encode()).hexdigest()[:32]
    assert len(record_checksum("")) == 32


def test_a_record_is_trusted_only_when_every_check_passes():
    good = b'{"sample_id":"x","n":1}'
    assert _decode(good, record_checksum(good), "x") == ({"sample_id": "x", "n": 1}, "")
    assert _decode(good, None, "x") == ({"sample_id": "x", "n": 1}, "")      # first format: no checksum yet
    assert _decode(None, None, "x") == (None, "empty record")
    assert _decode(good, record_checksum(good)[:-1] + "0", "x") == (None, "checksum mismatch")
    assert _decode(b"\xff\xfe", None, "x") == (None, "not UTF-8")
    assert _decode(b"{nope", None, "x") == (None, "not JSON")
    assert _decode(b"[1]", None, "x") == (None, "not a sample of this record")
    assert _decode(good, None, "y") == (None, "not a sample of this record")


# ---- acknowledgements -------------------------------------------------------------------------------------------

def test_acking_more_than_one_chunk_of_500_removes_every_sample_and_shrinks_the_wal(tmp_path):
    path = tmp_path / "s.sqlite3"
    with Spool(path, max_samples=5000):
        pass
    taken = [f"s{i:04}" for i in range(1203)]
    con = sqlite3.connect(path)                          # one transaction (1,203 adds would take seconds)
    for sample_id in taken:
        payload = json.dumps({"sample_id": sample_id, "dropped_samples": 0}, separators=(",", ":"))
        con.execute("INSERT INTO samples(sample_id, created, payload, checksum) VALUES(?, 1.0, ?, ?)",
                    (sample_id, payload, record_checksum(payload)))
    con.commit()
    con.close()
    with Spool(path, max_samples=5000) as spool:
        assert ids(spool) == taken[:1000]
        assert spool.ack([]) == 0
        assert spool.ack(taken[:1201]) == 1201
        assert ids(spool) == taken[1201:]
        assert spool.stats()["acked_total"] == 1201
        assert spool.ack(taken) == 2                       # already removed ones are not counted again
        assert len(spool) == 0 and spool.stats()["acked_total"] == 1203
        wal = path.with_name(path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0  # the delivered queue leaves no write-ahead file


def test_an_ack_that_cannot_be_saved_is_remembered_and_never_sent_again(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=10) as spool:
        for i in range(4):
            spool.add({"sample_id": f"s{i}"})
        real = spool._conn
        spool._conn = FailingConnection(real, "DELETE", sqlite3.OperationalError("database or disk is full"))
        with pytest.raises(SpoolError) as caught:
            spool.ack(["s0", "s1"])
        assert caught.value.kind == "full"
        spool._conn = real
        assert ids(spool) == ["s2", "s3"] and len(spool) == 2      # acked ones are not sent twice
        assert spool.stats()["acked_total"] == 0                   # the failed transaction wrote nothing
        assert spool.ack(["s2"]) == 3                              # the remembered acks go with the next one
        assert ids(spool) == ["s3"] and len(spool) == 1 and spool.stats()["acked_total"] == 3
        assert spool.ack(["s3"]) == 1 and len(spool) == 0


# ---- rollback paths ---------------------------------------------------------------------------------------------

def test_a_failed_insert_rolls_back_the_drop_that_made_room_for_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "de")
    with Spool(tmp_path / "s.sqlite3", max_samples=2) as spool:
        spool.add({"sample_id": "a"})
        spool.add({"sample_id": "b"})
        with pytest.raises(sqlite3.IntegrityError):        # a duplicate id is the caller's bug, said as such
            spool.add({"sample_id": "b"})
        assert ids(spool) == ["a", "b"]                   # the drop of a was rolled back with the insert
        stats = spool.stats()
        assert stats["dropped_total"] == 0 and stats["dropped_pending"] == 0
        spool._conn = FailingConnection(spool._conn, "INSERT INTO SAMPLES",
                                        sqlite3.OperationalError("disk I/O error"))
        with pytest.raises(SpoolError) as caught:
            spool.add({"sample_id": "c"})
        assert caught.value.kind == "io"
        assert "Speichern einer Messung fehlgeschlagen (disk I/O error)" in caught.value.message
        spool._conn = spool._conn._conn
        assert ids(spool) == ["a", "b"] and spool.stats()["dropped_total"] == 0


def test_a_failed_rollback_is_noted_on_the_real_error_never_instead_of_it(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=2) as spool:
        spool.add({"sample_id": "a"})
        real = spool._conn
        spool._conn = FailingConnection(real, "INSERT INTO SAMPLES", sqlite3.OperationalError("database or disk is full"),
                                        rollback_fails=True)
        with pytest.raises(SpoolError) as caught:
            spool.add({"sample_id": "b"})
        assert caught.value.kind == "full"
        cause = caught.value.__cause__
        assert isinstance(cause, sqlite3.OperationalError) and "disk is full" in str(cause)
        assert any("rollback also failed" in note for note in getattr(cause, "__notes__", []))
        spool._conn = real
        assert not real.in_transaction and ids(spool) == ["a"]


def test_a_failed_reject_keeps_the_sample_queued(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=5) as spool:
        spool.add({"sample_id": "a", "n": 1})
        real = spool._conn
        spool._conn = FailingConnection(real, "DELETE", sqlite3.OperationalError("disk I/O error"))
        with pytest.raises(SpoolError):
            spool.reject("a", "bad")
        spool._conn = real
        assert ids(spool) == ["a"] and spool.rejected() == []


# ---- rejects, status, errors ------------------------------------------------------------------------------------

def test_a_rejected_sample_is_kept_with_its_error_and_leaves_the_queue(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=5) as spool:
        spool.add({"sample_id": "a", "n": 1})
        spool.add({"sample_id": "b", "n": 2})
        before = time.time()
        spool.reject("a", "x" * 1500)
        spool.reject("nope", "unknown ids change nothing")
        assert ids(spool) == ["b"]
        [kept] = spool.rejected()
        assert kept["sample_id"] == "a" and kept["error"] == "x" * 1000
        assert kept["payload"] == {"sample_id": "a", "n": 1, "dropped_samples": 0}
        assert before <= kept["rejected"] <= time.time()
        spool.reject("b", "second")
        assert [r["sample_id"] for r in spool.rejected()] == ["a", "b"]
        assert spool.stats()["rejected"] == 2 and len(spool) == 0


def test_status_names_every_count(tmp_path):
    path = tmp_path / "s.sqlite3"
    with Spool(path, max_samples=2) as spool:
        before = time.time()
        assert spool.stats()["oldest_created"] is None
        for name in "abcd":
            spool.add({"sample_id": name})                 # a and b dropped by the bound
        spool.ack(["c"])
        spool.reject("x", "unknown")
        stats = spool.stats()
        assert before <= stats.pop("oldest_created") <= time.time()
        assert stats == {"pending": 1, "rejected": 0, "quarantined": 0, "quarantined_total": 0,
                         "damaged_files": 0, "unreadable_total": 0, "unknown_losses": 0, "read_only": False, "dropped_total": 2,
                         "acked_total": 1, "dropped_pending": 0, "max_samples": 2, "path": str(path)}
        assert spool.quarantined() == []


def test_a_closed_spool_says_so():
    spool = Spool(":memory:", max_samples=3)
    spool.add({"sample_id": "a"})
    spool.close()
    spool.close()                                        # twice is harmless
    with pytest.raises(SpoolError) as caught:
        spool.add({"sample_id": "b"})
    assert caught.value.kind == "unavailable"


@pytest.mark.parametrize(("exc", "kind"), [
    (sqlite3.DatabaseError("database disk image is malformed"), "corrupt"),
    (sqlite3.DatabaseError("file is not a database"), "corrupt"),
    (sqlite3.OperationalError("database or disk is full"), "full"),
    (OSError(errno.ENOSPC, "No space left on device"), "full"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "readonly"),
    (OSError(errno.EROFS, "Read-only file system"), "readonly"),
    (sqlite3.OperationalError("unable to open database file"), "unavailable"),
    (PermissionError(errno.EACCES, "Permission denied"), "unavailable"),
    (IsADirectoryError(errno.EISDIR, "Is a directory"), "unavailable"),
    (sqlite3.OperationalError("disk I/O error"), "io"),
])
def test_each_error_has_its_kind(exc, kind):
    assert _kind(exc) == kind


def test_a_spool_error_names_the_file_the_action_and_the_fix_in_both_languages(tmp_path, monkeypatch):
    path = tmp_path / "spool.sqlite3"
    err = spool_error(sqlite3.OperationalError("database or disk is full"), path, "Speichern|storing")
    assert isinstance(err, SpoolError) and err.kind == "full" and err.path == str(path)
    monkeypatch.setenv("TECHCARE_LANG", "en")
    en = spool_error(OSError(errno.ENOSPC, "No space left on device"), path, "Speichern|storing")
    assert str(path) in en.message and "storing failed (No space left on device)" in en.message
    assert "disk is full" in (en.hint or "")
    monkeypatch.setenv("TECHCARE_LANG", "de")
    de = spool_error(OSError(errno.ENOSPC, "No space left on device"), path, "Speichern|storing")
    assert "Speichern fehlgeschlagen" in de.message and "Datenträger ist voll" in (de.hint or "")


# ---- quarantine and damaged files --------------------------------------------------------------------------------

def test_quarantined_records_keep_their_id_reason_raw_bytes_and_time_oldest_first(tmp_path):
    path = tmp_path / "s.sqlite3"
    with Spool(path, max_samples=10) as spool:
        for name in "abc":
            spool.add({"sample_id": name})
    conn = sqlite3.connect(path)
    conn.execute("UPDATE samples SET payload = '{\"sample_id\":\"a\",\"x\":1}' WHERE sample_id = 'a'")
    conn.execute("UPDATE samples SET checksum = 'nope' WHERE sample_id = 'c'")
    conn.commit()
    conn.close()
    before = time.time()
    with Spool(path, max_samples=10) as spool:
        assert ids(spool) == ["b"]
        kept = spool.quarantined()
        assert [(q["sample_id"], q["reason"]) for q in kept] == [("a", "checksum mismatch"),
                                                                 ("c", "checksum mismatch")]
        assert set(kept[0]) == {"sample_id", "quarantined", "reason", "payload"}
        assert kept[0]["payload"] == b'{"sample_id":"a","x":1}'
        assert all(before <= q["quarantined"] <= time.time() for q in kept)
        assert spool.stats()["quarantined"] == 2 == spool.stats()["quarantined_total"]


def test_a_damaged_file_is_moved_aside_under_a_utc_stamp_and_never_over_an_earlier_one(tmp_path, monkeypatch):
    from datetime import datetime as real_datetime

    from techcare.monitoring import spool as spool_mod

    class Frozen(real_datetime):
        @classmethod
        def now(cls, tz=None):
            assert tz is not None, "the stamp must be UTC"
            return real_datetime(2026, 12, 2, 10, 5, 9, tzinfo=tz)

    monkeypatch.setattr(spool_mod, "datetime", Frozen)
    path = tmp_path / "s.sqlite3"
    first = spool_mod._damaged_name(path)
    assert first.name == "s.sqlite3.damaged-20261202T100509Z"
    first.touch()
    second = spool_mod._damaged_name(path)
    assert second.name == "s.sqlite3.damaged-20261202T100509Z-2"
    second.touch()
    assert spool_mod._damaged_name(path).name == "s.sqlite3.damaged-20261202T100509Z-3"
