"""The sensor spool against damage to its real file (issue 22, items 1-5): flipped bytes, a cut or garbled page,
the old format, the spool path a directory, a read-only disk, a full disk (a tmpfs of 300 KB), an outage's cost,
and two sensors on one home. The count that must hold: samples taken = delivered once + quarantined (reported)
+ reported as dropped."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from fs_faults import fill, read_only, tiny_fs
from techcare.config import load_settings
from techcare.doctor import Doctor
from techcare.monitoring import sensor as sensor_mod
from techcare.monitoring.sensor import InstanceLock, Sensor, SensorRunning
from techcare.monitoring.spool import Spool, SpoolError, record_checksum
from techcare.system.runner import ReplayRunner

from .test_sensor import Clock, FakeMetricsBackend, backend_client, results

SPOOL = "sensor-spool.sqlite3"


def sensor(home, monkeypatch, fake=None, **kw):
    monkeypatch.setattr("techcare.system.run_probes", lambda names, runner, timeout: {n: results()[n] for n in names})
    settings = load_settings(techcare_home=str(home), sensor_interval=60)
    return Sensor(settings=settings, runner=ReplayRunner(platform="linux"), hostname="PC-1", clock=Clock(),
                  client=backend_client(fake) if fake is not None else None, **kw)


def take(s, n):
    return [s.take()["sample_id"] for _ in range(n)]


def doctor_spool(home):
    doctor = Doctor(load_settings(techcare_home=str(home), sensor_interval=60), runner=ReplayRunner(platform="linux"))
    doctor.check_spool()
    return doctor.checks[-1]


def no_tracebacks(caplog):
    assert not [r for r in caplog.records if r.exc_info], "a spool problem was logged with a traceback"


# ---- 1 + 4: unreadable records are quarantined, everything else is sent -----------------------------------

def test_a_flipped_digit_and_a_garbled_record_are_quarantined_the_rest_delivered(tmp_path, monkeypatch, caplog):
    home = tmp_path / "home"
    fake = FakeMetricsBackend()
    s = sensor(home, monkeypatch, fake)
    fake.mode = "down"
    taken = take(s, 12)
    s.close()
    spool_file = home / SPOOL
    assert not (home / f"{SPOOL}-wal").exists()          # closed: everything is in the main file
    # a flipped digit: still valid JSON, a wrong value (cpu 12.5 -> 92.5): only the checksum sees it
    data = spool_file.read_bytes()
    at = data.index(f'"sample_id":"{taken[3]}"'.encode())
    cpu = data.index(b'"cpu_percent":12.5', at)
    spool_file.write_bytes(data[:cpu + 14] + b"9" + data[cpu + 15:])
    # a torn record: one byte that is not UTF-8 in the middle of another sample
    data = spool_file.read_bytes()
    at = data.index(f'"sample_id":"{taken[7]}"'.encode())
    spool_file.write_bytes(data[:at + 3] + b"\xff" + data[at + 4:])

    s = sensor(home, monkeypatch, fake)
    fake.mode = "ok"
    with caplog.at_level(logging.WARNING, logger="techcare"):
        outcome = s.flush()
    assert outcome.error is None and outcome.remaining == 0
    assert sorted(fake.stored) == sorted(set(taken) - {taken[3], taken[7]})
    assert all(sample["cpu_percent"] == 12.5 for sample in fake.stored.values())      # no wrong value sent
    stats = s.spool.stats()
    assert stats["quarantined"] == stats["quarantined_total"] == 2
    reasons = {q["sample_id"]: q["reason"] for q in s.spool.quarantined()}
    assert reasons[taken[3]] == "checksum mismatch" and reasons[taken[7]] == "checksum mismatch"
    assert b"92.5" in next(q["payload"] for q in s.spool.quarantined() if q["sample_id"] == taken[3])
    logged = caplog.text
    assert taken[3] in logged and taken[7] in logged and "Quarantäne" in logged
    no_tracebacks(caplog)
    # the count: taken = delivered + quarantined
    assert len(taken) == len(fake.stored) + stats["quarantined"]
    check = doctor_spool(home)
    assert check.status == "warn" and "2 unlesbare Messungen in Quarantäne" in check.detail
    assert "nichts geht verloren" not in (check.fix or "")
    s.close()


def test_the_first_spool_format_is_still_read_and_gets_checksums(tmp_path):
    path = tmp_path / SPOOL
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE samples (seq INTEGER PRIMARY KEY AUTOINCREMENT, sample_id TEXT NOT NULL UNIQUE,
                              created REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, payload TEXT NOT NULL);
        CREATE TABLE rejected (sample_id TEXT PRIMARY KEY, rejected REAL NOT NULL, error TEXT NOT NULL,
                               payload TEXT NOT NULL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """)
    for i in range(4):
        old.execute("INSERT INTO samples(sample_id, created, payload) VALUES(?, ?, ?)",
                    (f"s{i}", 1.0, f'{{"sample_id":"s{i}","dropped_samples":0}}'))
    old.execute("INSERT INTO samples(sample_id, created, payload) VALUES('s4', 1.0, '{\"sample_id\":\"s4\",\"cp')")
    old.commit()
    old.close()
    with Spool(path, repair=False) as doctor_view:         # doctor: reads it as it is, changes nothing
        assert doctor_view.scan() == {"records": 5, "unreadable": 1}
    with Spool(path) as spool:
        assert [s["sample_id"] for s in spool.pending()] == ["s0", "s1", "s2", "s3"]
        assert [q["sample_id"] for q in spool.quarantined()] == ["s4"]
        spool.add({"sample_id": "s5"})
    con = sqlite3.connect(path)
    rows = con.execute("SELECT payload, checksum FROM samples ORDER BY seq").fetchall()
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    con.close()
    assert len(rows) == 5 and all(check == record_checksum(payload) for payload, check in rows)


def test_a_garbled_page_is_moved_aside_and_every_readable_sample_still_delivered(tmp_path, monkeypatch, caplog):
    home = tmp_path / "home"
    fake = FakeMetricsBackend()
    s = sensor(home, monkeypatch, fake)
    fake.mode = "down"
    taken = take(s, 60)                                    # ~1.3 KB each: several pages
    s.close()
    spool_file = home / SPOOL
    data = bytearray(spool_file.read_bytes())
    page = 4096
    pages = len(data) // page
    victim = next(i for i in range(pages // 2, pages) if f'"sample_id":"'.encode() in data[i * page:(i + 1) * page])
    data[victim * page + 100:(victim + 1) * page - 100] = os.urandom(page - 200)
    spool_file.write_bytes(bytes(data))
    check = doctor_spool(home)                            # doctor only looks: names the damage
    assert check.status == "fail" and SPOOL in check.detail and ".damaged-" in check.fix
    assert spool_file.exists()

    with caplog.at_level(logging.WARNING, logger="techcare"):
        s = sensor(home, monkeypatch, fake)
    recovered = s.spool.recovered
    assert recovered["damaged_file"] and (home / os.path.basename(recovered["damaged_file"])).exists()
    assert 0 < recovered["salvaged"] < len(taken)
    fake.mode = "ok"
    more = take(s, 1)                                      # the next sample carries the count of the lost ones
    assert s.flush().remaining == 0
    stats = s.spool.stats()
    dropped = sum(sample["dropped_samples"] for sample in fake.stored.values())
    assert dropped == recovered["unreadable"] == stats["unreadable_total"]
    assert len(taken + more) == len(fake.stored) + stats["quarantined"] + dropped
    assert set(fake.stored) <= set(taken + more)
    assert "beschädigt" in caplog.text
    no_tracebacks(caplog)
    check = doctor_spool(home)
    assert check.status == "warn" and "beiseitegelegt" in check.detail
    s.close()


def test_a_cut_spool_file_is_salvaged_not_a_traceback(tmp_path, monkeypatch, caplog):
    home = tmp_path / "home"
    fake = FakeMetricsBackend()
    s = sensor(home, monkeypatch, fake)
    fake.mode = "down"
    taken = take(s, 40)
    s.close()
    spool_file = home / SPOOL
    spool_file.write_bytes(spool_file.read_bytes()[: 3 * 4096 + 123])   # power loss mid-copy: a cut file
    s = sensor(home, monkeypatch, fake)
    fake.mode = "ok"
    assert s.flush().remaining == 0
    assert set(fake.stored) <= set(taken)
    assert s.spool.recovered["damaged_file"]
    no_tracebacks(caplog)
    s.close()


# ---- 2: spool errors never stop sampling or sending ------------------------------------------------------

def test_spool_path_a_directory_keeps_sampling_and_sending(tmp_path, monkeypatch, caplog):
    home = tmp_path / "home"
    (home / SPOOL).mkdir(parents=True)
    fake = FakeMetricsBackend()
    with caplog.at_level(logging.INFO, logger="techcare"):
        s = sensor(home, monkeypatch, fake)
        taken = take(s, 3)
        outcome = s.flush()
    assert outcome.created == 3 and outcome.remaining == 0 and sorted(fake.stored) == sorted(taken)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and str(home / SPOOL) in errors[0] and "Ordner" in errors[0]
    no_tracebacks(caplog)
    check = doctor_spool(home)
    assert check.status == "fail" and str(home / SPOOL) in check.detail
    s.close()


def test_read_only_spool_sends_what_it_holds_and_keeps_new_samples(tmp_path, monkeypatch, caplog):
    home = tmp_path / "home"
    fake = FakeMetricsBackend()
    s = sensor(home, monkeypatch, fake)
    fake.mode = "down"
    stored = take(s, 5)
    s.close()
    fake.mode = "ok"
    with read_only(home):
        with caplog.at_level(logging.INFO, logger="techcare"):
            s = sensor(home, monkeypatch, fake)
            assert s.spool.read_only
            new = take(s, 2)
            first = s.flush()
            second = s.flush()                             # nothing delivered twice by this process
        assert first.created == 7 and first.remaining == 0 and second.sent == 0
        assert sorted(fake.stored) == sorted(stored + new)
        assert "schreibgeschützt" in caplog.text or "nur gelesen" in caplog.text
        no_tracebacks(caplog)
        assert s.spool.read_only
    # writable again while the same sensor runs: the next tick opens it for writing, the held samples move in
    fake.mode = "down"
    more = take(s, 1)
    assert not s.spool.read_only and len(s._held) == 0 and len(s.spool) == 6   # 5 unsent-acked + 1 new
    fake.mode = "ok"
    outcome = s.flush()
    assert outcome.duplicates == 5 and outcome.created == 1 and len(s.spool) == 0
    assert sorted(fake.stored) == sorted(stored + new + more)
    s.close()


def test_full_disk_keeps_sampling_in_memory_and_loses_nothing(tmp_path, monkeypatch, caplog):
    with tiny_fs(tmp_path / "tiny", "300k") as tiny:
        home = tiny / "home"
        fake = FakeMetricsBackend()
        s = sensor(home, monkeypatch, fake)
        fake.mode = "down"
        taken = take(s, 3)
        filler = fill(tiny)
        with caplog.at_level(logging.INFO, logger="techcare"):
            taken += take(s, 20)                           # the disk is full: held in memory
            assert s._held is not None and len(s._held) > 0
            errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
            assert errors and all(str(home / SPOOL) in e for e in errors)
            assert "voll" in errors[0]
            fake.mode = "ok"
            outcome = s.flush()
        no_tracebacks(caplog)
        assert outcome.created == len(taken) and sorted(fake.stored) == sorted(taken)
        # acks that could not be written are not sent again
        assert s.flush().sent == 0
        filler.unlink()                                    # space again: new samples go to the file
        fake.mode = "down"
        later = take(s, 2)
        assert len(s.spool) == 2 and len(s._held) == 0
        fake.mode = "ok"
        assert s.flush().created == 2
        assert len(fake.stored) == len(taken + later)
        s.close()


def test_a_failed_commit_on_a_full_disk_reports_the_full_disk_not_the_rollback(tmp_path):
    with tiny_fs(tmp_path / "tiny", "300k") as tiny:
        spool = Spool(tiny / SPOOL)
        spool.add({"sample_id": "first"})
        filler = fill(tiny)
        with pytest.raises(SpoolError) as caught:
            for i in range(200):
                spool.add({"sample_id": f"s{i}", "pad": "x" * 4000})
        assert caught.value.kind == "full" and str(tiny / SPOOL) in caught.value.message
        assert "rollback" not in caught.value.message.lower()
        filler.unlink()
        assert spool.pending(1)[0]["sample_id"] == "first"
        spool.close()


# ---- 3: an outage costs the new samples, not a rewrite of the waiting ones ---------------------------------

def test_an_outage_does_not_rewrite_waiting_samples_and_the_wal_shrinks(tmp_path, monkeypatch):
    home = tmp_path / "home"
    fake = FakeMetricsBackend()
    s = sensor(home, monkeypatch, fake)
    fake.mode = "down"
    take(s, 300)
    wal = home / f"{SPOOL}-wal"
    before = wal.stat().st_size
    for _ in range(30):
        assert s.flush().error
    assert wal.stat().st_size == before                   # failed sends wrote nothing
    take(s, 1)
    assert wal.stat().st_size - before < 5 * 4096 + 1024   # one sample: a few pages, not 300 rewritten
    fake.mode = "ok"
    assert s.flush().remaining == 0
    assert wal.stat().st_size <= 64 * 1024                 # delivered: truncated
    s.close()


# ---- 5: one sensor per home ------------------------------------------------------------------------------

HOLD = "import sys, time; from techcare.monitoring.sensor import InstanceLock; InstanceLock(sys.argv[1]).acquire(); " \
       "print('held', flush=True); time.sleep(60)"


def test_a_second_sensor_on_the_same_home_refuses_and_a_crash_frees_the_lock(techcare_env, capsys):
    home = techcare_env / "techcare-home"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(home)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SensorRunning) as refused:
            InstanceLock(home).acquire()
        assert f"PID {holder.pid}" in refused.value.message
        assert sensor_mod.main(["--once"]) == 2
        err = capsys.readouterr().err
        assert "läuft schon ein Sensor" in err and f"PID {holder.pid}" in err
        assert sensor_mod.main(["--status"]) == 0           # looking is allowed meanwhile
        holder.send_signal(signal.SIGKILL)                 # a crash: no clean-up runs
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
    deadline = time.monotonic() + 5
    while True:
        try:
            with InstanceLock(home):
                break
        except SensorRunning:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_read_only_home_still_locks_or_says_why_it_cannot(tmp_path, caplog):
    home = tmp_path / "home"
    home.mkdir()
    with read_only(home):                                  # no lock file yet and none can be made: said, not fatal
        with caplog.at_level(logging.WARNING, logger="techcare"):
            with InstanceLock(home):
                pass
    assert str(home / "sensor.lock") in caplog.text and "zweiter Sensor" in caplog.text
    with InstanceLock(home):                               # made once, then a read-only home still locks
        pass
    with read_only(home):
        with InstanceLock(home):
            with pytest.raises(SensorRunning):
                InstanceLock(home).acquire()
