"""A sample the server acknowledged but the spool could not delete (disk full, read-only) is delivered: the
spool's bound must not drop it before the next ack deletes it, or it is counted twice — delivered, and in the
``dropped_samples`` the backend is told. Every sample taken is exactly one of delivered, queued or reported
dropped; the failures are injected into a real SQLite spool at the ack's DELETE."""

from __future__ import annotations

import sqlite3

import pytest

from techcare.monitoring.spool import Spool, SpoolError


class DeleteFails:
    """A real connection whose ``DELETE`` statements fail as on a full disk (everything else goes through)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args):
        if sql.lstrip().upper().startswith("DELETE"):
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


class Server:
    """What the backend counts: the samples it stored (by id, once each) and the drops they reported."""

    def __init__(self) -> None:
        self.stored: set[str] = set()
        self.reported_dropped = 0

    def receive(self, batch: list[dict]) -> list[str]:
        for sample in batch:
            if sample["sample_id"] not in self.stored:
                self.stored.add(sample["sample_id"])
                self.reported_dropped += int(sample.get("dropped_samples") or 0)
        return [sample["sample_id"] for sample in batch]


def ack_fails(spool: Spool, ids: list[str]) -> None:
    real = spool._conn
    spool._conn = DeleteFails(real)
    try:
        with pytest.raises(SpoolError) as caught:
            spool.ack(ids)
        assert caught.value.kind == "full"
    finally:
        spool._conn = real


def deliver_all(spool: Spool, server: Server) -> None:
    while True:
        with spool.sending() as batch:
            if not batch:
                return
            spool.ack(server.receive(batch))


def test_a_sample_added_after_an_ack_that_could_not_be_saved_does_not_drop_the_delivered_ones(tmp_path):
    server = Server()
    taken = [f"s{i}" for i in range(4)]
    with Spool(tmp_path / "s.sqlite3", max_samples=3) as spool:
        for sample_id in taken[:3]:
            spool.add({"sample_id": sample_id})
        with spool.sending() as batch:
            ack_fails(spool, server.receive(batch))          # the server has s0..s2; the spool still holds them
        stored = spool.add({"sample_id": taken[3]})          # the bound: 3 rows + 1 > 3
        assert stored["dropped_samples"] == 0                 # s0 was delivered, not dropped
        assert len(spool) == 1
        deliver_all(spool, server)
        stats = spool.stats()
    assert server.stored == set(taken)
    assert len(server.stored) + server.reported_dropped == len(taken)    # each sample counted once
    assert stats["acked_total"] == 4 and stats["dropped_total"] == 0 and stats["pending"] == 0


def test_the_bound_restored_after_a_send_does_not_drop_what_that_send_delivered(tmp_path):
    server = Server()
    with Spool(tmp_path / "s.sqlite3", max_samples=2) as spool:
        spool.add({"sample_id": "a"})
        spool.add({"sample_id": "b"})
        with spool.sending() as batch:
            assert spool.add({"sample_id": "c"})["dropped_samples"] == 0   # a, b on the wire: over the bound
            ack_fails(spool, server.receive(batch))
        # leaving the send restores the bound: a and b are delivered, so nothing is dropped for c
        assert [s["sample_id"] for s in spool.pending()] == ["c"] and len(spool) == 1
        deliver_all(spool, server)
        stats = spool.stats()
    assert server.stored == {"a", "b", "c"} and server.reported_dropped == 0
    assert stats["acked_total"] == 3 and stats["dropped_total"] == 0


def test_when_the_bound_must_drop_it_drops_queued_samples_and_reports_exactly_those(tmp_path):
    server = Server()
    taken = [f"s{i}" for i in range(7)]
    with Spool(tmp_path / "s.sqlite3", max_samples=3) as spool:
        for sample_id in taken[:2]:
            spool.add({"sample_id": sample_id})
        with spool.sending() as batch:
            ack_fails(spool, server.receive(batch))          # s0, s1 delivered, not deleted
        for sample_id in taken[2:]:                           # s2..s6 while the backend is away: 5 > 3
            spool.add({"sample_id": sample_id})
        deliver_all(spool, server)
        stats = spool.stats()
    assert len(server.stored) + server.reported_dropped == len(taken)
    assert server.stored == {"s0", "s1", "s4", "s5", "s6"} and server.reported_dropped == 2    # s2, s3
    assert stats["acked_total"] == 5 and stats["dropped_total"] == 2


def test_a_write_that_fails_again_keeps_the_ack_remembered_for_the_next_one(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=2) as spool:
        spool.add({"sample_id": "a"})
        spool.add({"sample_id": "b"})
        with spool.sending() as batch:
            ack_fails(spool, [s["sample_id"] for s in batch])
        real = spool._conn
        spool._conn = DeleteFails(real)
        with pytest.raises(SpoolError):
            spool.add({"sample_id": "c"})                     # the disk is still full: nothing changes
        spool._conn = real
        assert spool.stats()["acked_total"] == 0 and spool.pending() == [] and len(spool) == 0
        assert spool.add({"sample_id": "c"})["dropped_samples"] == 0
        stats = spool.stats()
        assert stats["acked_total"] == 2 and stats["dropped_total"] == 0 and stats["pending"] == 1
        assert [s["sample_id"] for s in spool.pending()] == ["c"] and len(spool) == 1
