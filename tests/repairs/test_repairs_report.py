"""The customer repair report (Reparaturprotokoll), German and English, HTML and Markdown."""

from __future__ import annotations

import json
import os
import time
from html.parser import HTMLParser

import pytest

from techcare import config
from techcare.diagnosis import Diagnosis, Finding
from techcare.errors import RepairError
from techcare.repairs import parse_approval, plan, purge_backups, report, sessions
from techcare.system.runner import CommandResult, Entry, ReplayRunner


class Machine(ReplayRunner):
    def __init__(self):
        super().__init__([Entry("fact", "is_admin", True)], platform="windows", fallback=self.answer)
        self.firewall_on = False
        self.spooler_running = False

    def answer(self, argv):
        text = " ".join(argv)
        if "Get-NetFirewallProfile" in text:
            state = "True" if self.firewall_on else "False"
            out = json.dumps([{"Name": p, "Enabled": state} for p in ("Domain", "Private", "Public")])
            return CommandResult(argv, 0, out + "\r\n", "", 0.0)
        if "Set-NetFirewallProfile" in text:
            self.firewall_on = text.endswith("-Enabled True")
            return CommandResult(argv, 0, "", "", 0.0)
        if argv[:2] == ("sc.exe", "query"):
            return CommandResult(argv, 0, "        STATE              : 1  STOPPED\r\n", "", 0.0)
        if "Restart-Service" in text:
            return CommandResult(argv, 1, "", "Restart-Service : Service 'Print Spooler (Spooler)' cannot be "
                                              "started due to the following error: Cannot start service Spooler.", 0.0)
        return CommandResult(argv, 0, "", "", 0.0)


def run_session(monkeypatch):
    monkeypatch.setenv("TECHNICIAN_NAME", "Anna Berger")
    monkeypatch.setenv("COMPANY", "PC-Hilfe Berger & Söhne")
    config.reset_settings()
    d = Diagnosis(host={"hostname": "PC-MUELLER"}, os="windows", probes={}, items=[
        Finding("firewall", "services", "critical", "Firewall ist aus: Profile Public.", "Firewall is off: profiles Public.",
                repairs=["win.enable_firewall"], repair_params={"win.enable_firewall": {"profiles": ["Public"]}}),
        Finding("service:Spooler", "services", "warning", "Dienst Druckwarteschlange ist stopped.",
                "Service Print Spooler is stopped.", repairs=["win.restart_service"],
                repair_params={"win.restart_service": {"name": "Spooler"}}),
    ])
    p = plan(d)
    machine = Machine()
    result = p.run(parse_approval("GO REPAIR: 1,2", p), machine, progress=lambda _: None)
    assert [s.status for s in result.steps] == ["finished", "failed"]
    p.rollback(progress=lambda _: None)
    assert machine.firewall_on is False
    return p, result


class _Checker(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.text = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in ("meta", "br", "hr"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack)
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_german_report_in_markdown_and_html(monkeypatch, tmp_path):
    _, result = run_session(monkeypatch)
    rep = report(result.session, lang="de", out_dir=tmp_path / "out")
    assert rep.markdown_path.read_text(encoding="utf-8") == rep.markdown
    assert rep.html_path.read_text(encoding="utf-8") == rep.html
    md = rep.markdown
    assert md.startswith("# Reparaturprotokoll")
    for expected in ("PC-MUELLER", "Anna Berger", "PC-Hilfe Berger & Söhne", "## Befund",
                     "Firewall ist aus: Profile Public.", "## Freigegeben", "GO REPAIR: 1,2",
                     "1. Windows-Firewall einschalten", "## Durchgeführt", "| 1 | Windows-Firewall einschalten | Erledigt |",
                     "| 2 | Dienst (neu) starten | Fehlgeschlagen |", "## Rückgängig gemacht",
                     "1. Windows-Firewall einschalten: zurückgenommen"):
        assert expected in md, expected
    assert "**kritisch**: Firewall ist aus" in md
    # undone in the order it happened: the failed step right away, then the rollback of step 1
    assert md.index("2. Dienst (neu) starten: nach dem Fehler zurückgenommen") < md.index(
        "1. Windows-Firewall einschalten: zurückgenommen")
    checker = _Checker()
    checker.feed(rep.html)
    assert checker.stack == []
    text = "".join(checker.text)
    assert "Reparaturprotokoll" in text and "PC-Hilfe Berger & Söhne" in text and "Erledigt" in text
    assert "&amp; Söhne" in rep.html  # escaped


def test_english_report_and_latest_session_default(monkeypatch):
    _, result = run_session(monkeypatch)
    rep = report(lang="en")
    assert rep.session == result.session
    assert rep.markdown.startswith("# Repair report")
    for expected in ("What was found", "Firewall is off: profiles Public.", "What was approved", "What was done",
                     "| 1 | Enable Windows Firewall | Done |", "| 2 | Restart a service | Failed |", "What was undone",
                     "Enable Windows Firewall: undone"):
        assert expected in rep.markdown, expected
    assert rep.html_path.name == f"{result.session}.en.html" and '<html lang="en">' in rep.html
    assert rep.markdown_path.parent.name == "reports"


def test_report_errors_are_clear(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with pytest.raises(RepairError, match="No repair session yet"):
        report()
    with pytest.raises(RepairError, match="Invalid session id"):
        report("../../etc/passwd")
    with pytest.raises(RepairError, match="Allowed: de, en"):
        report(lang="fr")


def test_purge_backups_removes_old_session_dirs_only(monkeypatch):
    run_session(monkeypatch)
    folder = config.get_settings().sessions_dir
    [session_dir] = list(folder.iterdir())
    assert purge_backups(30) == []
    old = time.time() - 40 * 86400
    os.utime(session_dir, (old, old))
    assert purge_backups(30) == [session_dir.name] and not session_dir.exists()
    assert sessions()  # the changelog itself is never purged
    with pytest.raises(RepairError):
        purge_backups(-1)
