"""A spool damaged so badly that not one waiting sample can be read (tester's finding 5): cut with ``truncate``,
or one byte flipped in the samples table's first page. The loss is never reported as 0: it is counted from the
damaged file's own sequence and counters, else from the counters kept next to it (``<name>.counters``), else said
to be unknown; the count goes to the backend in ``dropped_samples`` and ``acked_total`` goes on."""

from __future__ import annotations

import logging
import os
import subprocess
import uuid

from techcare.config import load_settings
from techcare.doctor import Doctor
from techcare.monitoring.spool import Spool
from techcare.system.runner import ReplayRunner


def filled(path, waiting=3, delivered=2):
    spool = Spool(path)
    ids = [spool.add({"sample_id": str(uuid.uuid4()), "metrics": {"cpu": n}})["sample_id"]
           for n in range(waiting + delivered)]
    assert spool.ack(ids[:delivered]) == delivered
    spool.close()
    return ids


def flip(path, offset):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([byte ^ 0xFF]))


def reopened(path, caplog):
    with caplog.at_level(logging.ERROR, logger="techcare"):
        spool = Spool(path)
    return spool


def check_reported(spool, lost, caplog):
    assert spool.recovered["salvaged"] == 0 and spool.recovered["unreadable"] == lost
    stats = spool.stats()
    assert stats["acked_total"] == 2 and stats["unreadable_total"] == lost and stats["dropped_pending"] == lost
    sample = spool.add({"sample_id": "next", "metrics": {}})          # tells the backend
    assert sample["dropped_samples"] == lost
    assert f"{lost} unlesbar (als verworfen gemeldet)" in caplog.text


def test_a_flipped_byte_in_the_samples_page_reports_the_waiting_samples_lost(tmp_path, caplog):
    path = tmp_path / "spool.sqlite3"
    filled(path)
    (tmp_path / "spool.sqlite3.counters").unlink()      # only the damaged file's own sequence and counters tell
    flip(path, 4099)
    spool = reopened(path, caplog)
    check_reported(spool, 3, caplog)
    spool.close()


def test_a_cut_file_reports_the_last_known_waiting_count(tmp_path, caplog):
    path = tmp_path / "spool.sqlite3"
    filled(path)
    subprocess.run(["truncate", "-s", "10000", str(path)], check=True)
    spool = reopened(path, caplog)
    check_reported(spool, 3, caplog)
    spool.close()


def test_when_nothing_tells_the_loss_is_unknown_not_zero(tmp_path, caplog):
    path = tmp_path / "sensor-spool.sqlite3"
    filled(path)
    os.unlink(tmp_path / "sensor-spool.sqlite3.counters")
    subprocess.run(["truncate", "-s", "10000", str(path)], check=True)
    spool = reopened(path, caplog)
    assert spool.recovered["unreadable"] is None
    stats = spool.stats()
    assert stats["unknown_losses"] == 1 and stats["dropped_pending"] == 0
    assert "wie viele wartende Messungen verloren sind, ist unbekannt" in caplog.text
    assert "0 unlesbar" not in caplog.text
    spool.close()
    doctor = Doctor(load_settings(techcare_home=str(tmp_path), sensor_interval=60),
                    runner=ReplayRunner(platform="linux"))
    (tmp_path / "sensor-spool.sqlite3.counters").unlink()
    doctor.check_spool()
    assert not (tmp_path / "sensor-spool.sqlite3.counters").exists()    # the doctor only looks
    assert doctor.checks[-1].status == "warn" and "unbekannt wie viele Messungen" in doctor.checks[-1].detail


def test_salvaging_twice_still_counts_only_the_second_files_losses(tmp_path, caplog):
    path = tmp_path / "spool.sqlite3"
    filled(path)
    flip(path, 4099)
    first = reopened(path, caplog)
    assert first.recovered["unreadable"] == 3
    ids = [first.add({"sample_id": f"s{n}", "metrics": {}})["sample_id"] for n in range(4)]
    first.ack(ids[:1])
    first.close()
    os.unlink(tmp_path / "spool.sqlite3.counters")
    flip(path, 4099)
    second = reopened(path, caplog)
    assert second.recovered["unreadable"] == 3                 # s1..s3 waited; s0 was delivered
    stats = second.stats()
    assert stats["acked_total"] == 3 and stats["damaged_files"] == 2 and stats["unreadable_total"] == 6
    second.close()
