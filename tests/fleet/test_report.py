"""The monthly maintenance report (techcare.fleet.report): what the customer reads for a month with ran, failed,
missed, skipped and planned occurrences, in German and English; hostile data escaped in HTML and Markdown."""

from __future__ import annotations

import re
from typing import Any

import pytest

from techcare import fleet
from techcare.fleet import MaintenanceReport, render_report
from techcare.i18n import set_language

SID = "a" * 32
OTHER_SID = "b" * 32
HOSTILE = "<img src=x onerror=alert(1)>|**kasse**"


def occurrence(day: int, status: str, reason: str | None = None, steps: list[dict[str, Any]] | None = None,
               schedule_id: str = SID, name: str = "Wochenwartung Bäckerei Müller") -> dict[str, Any]:
    return {"schedule_id": schedule_id, "schedule": name, "occurrence": f"2026-11-{day:02d}T02:00",
            "timezone": "Europe/Berlin", "planned_local": f"2026-11-{day:02d}T02:00:00+01:00",
            "planned_utc": f"2026-11-{day:02d}T01:00:00+00:00", "status": status, "reason": reason,
            "message": None, "steps": steps or []}


DONE = [{"number": 1, "action": "win.clear_temp_files", "status": "finished", "detail": "1.2 GB"},
        {"number": 2, "action": "win.flush_dns", "status": "finished", "detail": ""}]
FAILED = [{"number": 1, "action": "win.clear_temp_files", "status": "finished", "detail": ""},
          {"number": 2, "action": "win.reset_winsock", "status": "failed", "undo": "undone",
           "detail": "netsh: Zugriff verweigert"}]


def host(name: str, occurrences: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    base = {"host": name, "os": "windows", "timezone": "Europe/Berlin", "timezone_known": True,
            "tags": ["kunde:baeckerei-mueller"], "status": "online", "last_seen": "2026-12-01T07:59:00+00:00",
            "sample_at": "2026-12-01T07:59:00+00:00", "disk_max_percent": 71.0, "smart_failing": False,
            "pending_updates": 0, "pending_reboot": False, "diagnosis_at": None, "occurrences": occurrences,
            "counts": {}, "findings": []}
    return {**base, **fields}


def report_data(hosts: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    hosts = hosts if hosts is not None else [
        host("kasse-01", [occurrence(1, "ran", steps=DONE), occurrence(8, "failed", "step_failed", FAILED),
                          occurrence(15, "ran", steps=DONE), occurrence(22, "missed", "not_fetched"),
                          occurrence(29, "pending")],
             disk_max_percent=93.4, pending_updates=4, pending_reboot=True,
             findings=[{"source": "sample", "check": "disk_warning", "severity": "warning",
                        "summary": "Laufwerk C: zu 93 % belegt"},
                       {"source": "diagnosis", "check": "defender", "severity": "critical",
                        "summary": "Virenschutz-Signaturen 40 Tage alt"},
                       {"source": "sample", "check": "pending_updates", "severity": "warning",
                        "summary": "4 ausstehende Updates"}]),
        host("buero-pc", [occurrence(1, "ran", steps=DONE), occurrence(8, "skipped", "disabled"),
                          occurrence(15, "missed", "no_report")], os="linux", smart_failing=True)]
    data = {"v": 1, "kind": "maintenance_report", "organisation": "PC-Service Schmidt",
            "tag": "kunde:baeckerei-mueller", "month": "2026-11",
            "period": {"from": "2026-11-01T00:00:00+00:00", "until": "2026-12-01T00:00:00+00:00"},
            "generated_at": "2026-12-01T08:00:00+00:00", "lang": "de",
            "schedules": [{"schedule_id": SID, "name": "Wochenwartung Bäckerei Müller",
                           "tag": "kunde:baeckerei-mueller", "revision": 1,
                           "rrule": "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0", "dtstart": "2026-11-01T02:00:00",
                           "window_minutes": 120, "catch_up": False, "allow_high_risk": False,
                           "allow_reboot": False, "signer": "Anna", "platforms": ["linux", "windows"],
                           "status": "active", "hosts": ["buero-pc", "kasse-01"]}],
            "hosts": hosts, "totals": {}}
    return {**data, **fields}


def section(markdown: str, name: str) -> str:
    """The Markdown section of one PC (from its heading to the next PC's)."""
    start = markdown.index(f"## {name}")
    following = markdown.find("\n## ", start + 3)
    return markdown[start:following if following != -1 else None]


def test_german_report_for_a_month_with_ran_failed_and_missed_runs():
    markdown, document = render_report(report_data(), "de")
    assert markdown.startswith("# Wartungsbericht November 2026\n")
    assert "- **Zeitraum:** 01.11.2026 – 30.11.2026" in markdown and "PC-Service Schmidt" in markdown
    assert ("2 PC(s), 7 Wartungstermin(e) im Zeitraum: 3 durchgeführt, 1 fehlgeschlagen, 2 verpasst, "
            "1 nicht ausgeführt. 1 weitere(r) Termin(e) folgen in diesem Monat.") in markdown
    assert "Wochenwartung Bäckerei Müller: wöchentlich sonntags um 02:00 Uhr (Wartungsfenster 2 h)" in markdown
    kasse = section(markdown, "kasse-01")
    assert kasse.startswith("## kasse-01 (Windows)")
    rows = [line for line in kasse.splitlines() if line.startswith("| So ")]
    assert [r.split(" | ")[1] for r in rows] == ["✓ Durchgeführt", "✗ Fehlgeschlagen", "✓ Durchgeführt",
                                                  "⚠ Verpasst", "· Geplant"]
    assert rows[0] == ("| So 01.11.2026 02:00 | ✓ Durchgeführt | 1. Temporäre Dateien bereinigen: erledigt; "
                       "2. DNS-Cache leeren: erledigt |")
    assert "2. Winsock und TCP/IP zurücksetzen: fehlgeschlagen (automatisch zurückgenommen)" in rows[1]
    assert "Ein Schritt ist fehlgeschlagen; seine Änderungen wurden automatisch zurückgenommen." in rows[1]
    assert "netsh: Zugriff verweigert" in rows[1]
    assert "nicht erreichbar (ausgeschaltet oder ohne Internetverbindung)" in rows[3]
    assert "- Festplatten: die vollste ist zu 93 % belegt." in kasse and "- Updates: 4 ausstehend." in kasse
    assert "- Ein Neustart steht aus" in kasse
    findings = kasse[kasse.index("### Offene Befunde"):]
    assert findings.index("**Kritisch:** Virenschutz") < findings.index("**Warnung:** Laufwerk C")
    assert "ausstehende Updates" not in findings  # counted once, in the condition lines
    buero = section(markdown, "buero-pc")
    assert buero.startswith("## buero-pc (Linux)") and "Die Fernwartung ist auf diesem PC ausgeschaltet." in buero
    assert "aber kein Ergebnis gemeldet" in buero and "eine Festplatte meldet Fehler" in buero
    # customer-readable: no status codes, reasons or action ids
    for code in ("not_fetched", "no_report", "step_failed", "disabled", "win.clear_temp_files", "win.reset_winsock",
                 "pending_updates", "disk_warning", "FREQ="):
        assert code not in markdown and code not in document, code
    assert document.startswith("<!DOCTYPE html>") and "<html lang='de'>" in document
    assert "<h2>kasse-01 (Windows)</h2>" in document and "✗ Fehlgeschlagen" in document


def test_english_report_says_the_same_in_english():
    markdown, document = render_report(report_data(), "en")
    assert markdown.startswith("# Maintenance report November 2026\n")
    assert "- **Period:** 2026-11-01 – 2026-11-30" in markdown
    assert "2 PC(s), 7 maintenance date(s) in the period: 3 done, 1 failed, 2 missed, 1 not run." in markdown
    assert "weekly Sundays at 02:00 (maintenance window 2 h)" in markdown
    kasse = section(markdown, "kasse-01")
    assert ("| Sun 2026-11-01 02:00 | ✓ Done | 1. Clear temporary files: done; 2. Flush the DNS cache: done |"
            in kasse), kasse
    assert "failed (undone automatically)" in kasse and "A step failed; its changes were undone automatically." in kasse
    assert "The PC could not be reached during the maintenance window (switched off or offline)." in kasse
    assert "- Updates: 4 pending." in kasse and "**Critical:**" in kasse
    assert "Remote maintenance is switched off on this PC." in section(markdown, "buero-pc")
    for german in ("Durchgeführt", "Verpasst", "Festplatten", "Zeitraum", "erledigt"):
        assert german not in markdown and german not in document, german
    assert "<html lang='en'>" in document


def test_hostile_host_names_and_messages_are_escaped():
    evil = host(HOSTILE, [occurrence(8, "failed", "step_failed", [
        {"number": 1, "action": "win.flush_dns", "status": "failed", "detail": "<script>steal()</script> | x"}])],
        findings=[{"source": "diagnosis", "check": "x", "severity": "error", "summary": "<b onmouseover=x>böse</b>"}])
    data = report_data([evil], organisation="<iframe src=//evil>", tag="kunde:<x>")
    markdown, document = render_report(data, "de")
    for raw in ("<img", "<script>", "<b onmouseover", "<iframe"):
        assert raw not in document, raw
    assert "&lt;img src=x onerror=alert(1)&gt;|**kasse**" in document
    assert "&lt;script&gt;steal()&lt;/script&gt; | x" in document and "&lt;iframe src=//evil&gt;" in document
    # Markdown: every < of the data escaped (no raw tag), and a | in the data does not add table columns
    assert not re.search(r"(?<!\\)<", markdown)
    assert "## \\<img src=x onerror=alert(1)\\>\\|\\*\\*kasse\\*\\*" in markdown
    [row] = [line for line in markdown.splitlines() if line.startswith("| So ")]
    assert len(re.findall(r"(?<!\\)\|", row)) == 4  # three cells


def test_each_open_finding_once():
    findings = [{"source": "diagnosis", "check": "firewall", "severity": "critical",
                 "summary": "Firewall (Windows Firewall) ist aus: Profile Public."},
                {"source": "sample", "check": "firewall_off", "severity": "critical", "summary": "Firewall ist aus"},
                {"source": "diagnosis", "check": "smart:PhysicalDisk1", "severity": "critical",
                 "summary": "Datenträger PhysicalDisk1 meldet einen Defekt"},
                {"source": "sample", "check": "smart_failing", "severity": "critical",
                 "summary": "SMART meldet einen ausfallenden Datenträger"},
                {"source": "diagnosis", "check": "pending_reboot", "severity": "warning",
                 "summary": "Neustart ausstehend (RebootPending)"},
                {"source": "sample", "check": "host_overdue", "severity": "warning", "summary": "meldet sich nicht"}]
    markdown, _ = render_report(report_data([host("kasse-01", [], findings=findings, pending_reboot=True)]), "de")
    lines = [line for line in markdown.splitlines() if line.startswith("- **")][4:]  # after the meta lines
    assert lines == ["- **Kritisch:** Firewall (Windows Firewall) ist aus: Profile Public.",
                     "- **Kritisch:** Datenträger PhysicalDisk1 meldet einen Defekt",
                     "- **Warnung:** meldet sich nicht"]
    assert "- Ein Neustart steht aus (Updates werden erst danach wirksam)." in markdown


def test_condition_lines_and_a_pc_without_occurrences():
    quiet = host("lager-pc", [], disk_max_percent=None, smart_failing=None, pending_updates=None,
                 status="overdue", last_seen="2026-11-20T10:00:00+00:00")
    markdown, _ = render_report(report_data([quiet]), "de")
    part = section(markdown, "lager-pc")
    assert "In diesem Monat war keine Wartung geplant." in part and "Keine aktuellen Messwerte." in part
    assert "Zuletzt gemeldet: 20.11.2026 10:00 UTC – meldet sich derzeit nicht." in part
    assert "Keine offenen Befunde." in part
    markdown, _ = render_report(report_data([]), "en")
    assert "No PCs in this group." in markdown and "0 PC(s), 0 maintenance date(s) in the period." in markdown


def test_several_schedules_name_each_run_and_unusual_rules_stay_in_words():
    data = report_data([host("kasse-01", [occurrence(1, "ran", steps=DONE),
                                          occurrence(2, "ran", steps=DONE, schedule_id=OTHER_SID,
                                                     name="Monatsupdate")])])
    data["schedules"].append({**data["schedules"][0], "schedule_id": OTHER_SID, "name": "Monatsupdate",
                              "rrule": "FREQ=MONTHLY;BYDAY=1MO;BYSETPOS=1;BYHOUR=3", "status": "paused"})
    markdown, _ = render_report(data, "de")
    assert "- Monatsupdate: nach Wartungsplan (pausiert)" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| ")][1:]
    assert "Wochenwartung Bäckerei Müller; 1. Temporäre" in rows[0] and "Monatsupdate; 1. Temporäre" in rows[1]


def test_refuses_other_data_and_languages():
    with pytest.raises(ValueError, match="kind maintenance_report"):
        render_report({"v": 1, "kind": "something"}, "de")
    with pytest.raises(ValueError, match="de, en"):
        render_report(report_data(), "fr")


def test_maintenance_report_object_saves_and_displays(tmp_path):
    set_language("en")
    report = MaintenanceReport.from_data(report_data(), "de")
    assert report.totals == {"ran": 3, "failed": 1, "missed": 2, "skipped": 1, "pending": 1}
    assert report.title == "Wartungsbericht November 2026"
    html_path = report.save(tmp_path / "out" / "bericht.html")
    md_path = report.save(tmp_path / "bericht.md")
    assert html_path.read_text(encoding="utf-8") == report.html
    assert md_path.read_text(encoding="utf-8") == report.markdown
    with pytest.raises(fleet.FleetError, match=r"use the file extension \.md \(Markdown\) or \.html"):
        report.save(tmp_path / "bericht.pdf")
    fragment = report._repr_html_()
    assert fragment.startswith("<div class='techcare-maintenance-report'>") and "<html" not in fragment
    assert "kunde:baeckerei-mueller 2026-11 de: 2 PCs" in repr(report)


@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_refusal_a_pc_can_report_has_its_own_words(lang: str) -> None:
    """Each reason the host's checks give for not running an occurrence (SCHEDULE_REASONS, plus
    ``signature_unverified`` for a signature check without a reason code) reads as itself in the report, never
    as the generic 'did not carry out' line or another reason's text."""
    from techcare.fleet.report import _REASONS, _reason
    from techcare.monitoring.executor import SCHEDULE_REASONS

    generic = _reason({"status": "skipped", "reason": "no-such-reason"}, lang)
    texts = {}
    for reason in (*SCHEDULE_REASONS, "signature_unverified"):
        assert reason in _REASONS, reason
        texts[reason] = _reason({"status": "skipped", "reason": reason}, lang)
        assert texts[reason] and texts[reason] != generic, reason
    assert "Unterschrift" in texts["signature_unverified"] if lang == "de" else \
        "signature could not be verified" in texts["signature_unverified"]
    separate = [r for r in texts if r not in ("plan_mismatch", "malformed", "needs_reboot")]
    assert len({texts[r] for r in separate}) == len(separate), "two reasons read the same"
