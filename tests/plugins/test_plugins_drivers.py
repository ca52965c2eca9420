"""A plugin driver source: its offers become rows of the driver report (replayed Windows PC), its failure the
source's error status; the report never breaks."""

from __future__ import annotations

from pathlib import Path

from plugin_texts import LOB, write_plugin

from techcare.system.runner import Entry, FileResult
from techcare.system.snapshot import load_snapshot
from techcare.tools import drivers

SNAPSHOT = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "windows11-problems.json"
PAGE = "/opt/acme/printer-drivers.txt"


def _runner(page: str | None):
    runner = load_snapshot(SNAPSHOT).runner()
    if page is not None:
        runner.add(Entry("file", PAGE, FileResult(PAGE, page, None)))
    return runner


def test_a_plugin_driver_source_gives_report_rows(home):
    write_plugin(home, "acme_lob.py", LOB)
    report = drivers.report(runner=_runner("PCI\\VEN_8086&DEV_15BC 12.20.0.1\n"))
    (row,) = [r for r in report.updates if r.offer.source == "acme.printer_portal"]
    data = row.to_dict()
    assert (data["device"], data["installed_version"], data["latest_version"], data["status"], data["importance"]) \
        == ("Intel(R) Ethernet Connection (7) I219-V", "12.19.1.37", "12.20.0.1", "outdated", "CRITICAL")
    assert "https://acme.example/drv" in data["install_hint"]
    (status,) = [s for s in report.sources if s.name == "acme.printer_portal"]
    assert status.status == "ok" and status.count == 1 and "acme-lob 1.2.0" in status.to_dict("en")["detail"]


def test_a_failing_plugin_driver_source_is_an_error_status_not_a_broken_report(home):
    write_plugin(home, "acme_lob.py", LOB)
    report = drivers.report(runner=_runner("not-two-fields\n"))
    (status,) = [s for s in report.sources if s.name == "acme.printer_portal"]
    assert status.status == "error" and "ValueError" in status.to_dict("en")["detail"]
    assert "Plugin acme-lob" in status.to_dict("de")["detail"]
    assert report.stats()["installed"] > 0  # the rest of the report is there


def test_without_plugins_the_report_has_no_plugin_source(home):
    report = drivers.report(runner=_runner(None))
    assert not [s for s in report.sources if "." in s.name]


def test_snapshot_save_records_what_a_plugin_driver_source_reads(home, tmp_path):
    from techcare import save_snapshot
    from techcare.system.snapshot import load_snapshot

    write_plugin(home, "acme_lob.py", LOB)
    path = tmp_path / "pc.json"
    save_snapshot(path, runner=_runner("PCI\\VEN_8086&DEV_15BC 12.20.0.1\n"))
    assert PAGE in [e.key for e in load_snapshot(path).entries if e.kind == "file"]
    report = drivers.report(snapshot=path)
    assert [r.offer.latest_version for r in report.updates if r.offer.source == "acme.printer_portal"] == ["12.20.0.1"]
