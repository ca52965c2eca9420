"""Client side: ``techcare.changelog_upload`` sends a real local changelog and never fails a repair run."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import httpx
import pytest
from dashboard_helpers import Fleet


def _write_session(session: str, host: str) -> None:
    from techcare.repairs._changelog import ChangelogWriter

    writer = ChangelogWriter(session, {"plan_id": session.split("-")[1], "technician": "Uwe Upload",
                                       "company": "ACME", "host": host, "platform": "linux"})
    writer.write("run", dry_run=False, approval="GO REPAIR: 1", approved=[1])
    writer.write("started", step=1, action="linux.apt_clean", params={})
    writer.write("finished", step=1, action="linux.apt_clean", params={}, detail="ok")


def test_upload_of_a_local_session_and_idempotent_retry(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    from techcare import config
    from techcare.changelog_upload import on_run_finished, upload_sessions

    session = "20261127T130000Z-eeee5555-0e0e"
    _write_session(session, "alpha-pc-09")
    monkeypatch.setenv("BACKEND_URL", fleet.url)
    monkeypatch.setenv("TECHCARE_API_KEY", fleet.a.keys["technician"])
    config.reset_settings()
    result = on_run_finished(None, SimpleNamespace(session=session))
    assert result == {"session": session, "created": 3, "duplicates": 0}
    stored = httpx.get(f"{fleet.url}/api/changelogs/{session}", headers=fleet.a.headers("admin")).json()
    assert [e["action"] for e in stored if e["event"] == "finished"] == ["linux.apt_clean"]
    assert stored[0]["technician"] == "Uwe Upload"
    again = upload_sessions()  # everything local, again: nothing new stored
    assert again["failed"] == {} and again["uploaded"][0]["duplicates"] == 3


def test_unreachable_backend_never_fails_the_run(monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    from techcare import config
    from techcare.changelog_upload import on_run_finished
    from techcare.repairs._changelog import read_entries

    session = "20261127T140000Z-ffff6666-0f0f"
    _write_session(session, "pc")
    monkeypatch.setenv("BACKEND_URL", "http://127.0.0.1:9")  # discard port: connection refused
    monkeypatch.setenv("TECHCARE_API_KEY", "tck_" + "z" * 40)
    config.reset_settings()
    with caplog.at_level(logging.WARNING, logger="techcare.changelog_upload"):
        assert on_run_finished(None, SimpleNamespace(session=session)) is None
    assert session in caplog.text
    assert len(read_entries(session)) == 3  # the local changelog is untouched


def test_refused_upload_is_logged_not_raised(fleet: Fleet, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    from techcare import config
    from techcare.changelog_upload import on_run_finished, upload_session
    from techcare.errors import BackendError

    session = "20261127T150000Z-abab7777-1a1a"
    _write_session(session, "pc")
    monkeypatch.setenv("BACKEND_URL", fleet.url)
    monkeypatch.setenv("TECHCARE_API_KEY", fleet.a.keys["sensor"])  # sensor keys may not upload
    config.reset_settings()
    with pytest.raises(BackendError):
        upload_session(session)
    with caplog.at_level(logging.WARNING, logger="techcare.changelog_upload"):
        assert on_run_finished(None, SimpleNamespace(session=session)) is None
    assert "403" in caplog.text


def test_not_configured_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from techcare.changelog_upload import configured, on_run_finished

    assert configured() is False
    assert on_run_finished(None, SimpleNamespace(session="20261127T150000Z-abab7777-1a1a")) is None


def test_a_real_repairs_changelog_is_accepted_and_shown(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    """The entries the repairs engine really writes (nested plan, command lists, ...) pass the API as they are."""
    from dashboard_helpers import login

    from techcare import config
    from techcare.changelog_upload import upload_session
    from techcare.repairs import Plan, parse_approval
    from techcare.repairs._changelog import read_entries
    from techcare.system.runner import LocalRunner

    monkeypatch.setenv("BACKEND_URL", fleet.url)
    monkeypatch.setenv("TECHCARE_API_KEY", fleet.a.keys["technician"])
    config.reset_settings()
    plan = Plan.from_actions([{"action": "linux.flush_dns"}, {"action": "linux.apt_clean"}], platform="linux",
                             host="alpha-pc-11")
    result = plan.run(parse_approval("GO REPAIR: 1,2", plan), LocalRunner(), dry_run=True, progress=lambda _: None)
    assert result.status == "dry_run"
    local = read_entries(result.session)
    assert upload_session(result.session) == {"session": result.session, "created": len(local), "duplicates": 0}
    with httpx.Client(base_url=fleet.url) as client:
        login(client, fleet.a.keys["admin"])
        overview = client.get("/dashboard/changelogs").text
        row = overview.split(result.session)[1].split("</tr>")[0]
        assert "alpha-pc-11" in row and "Probelauf" in row and "linux.flush_dns" in row
        detail = client.get(f"/dashboard/changelogs/{result.session}").text
        assert detail.count("<tr class=\"ev-dry_run\">") == 2 and "GO REPAIR: 1,2" in detail


@pytest.fixture
def wired():
    """The hooks a technician's program has: the composition root the shell, REPL, magics, widgets and the
    assistant call (``techcare._wiring.install``); afterwards the hook lists are as they were."""
    from techcare._wiring import install
    from techcare.repairs import on_changelog_written, on_run_finished

    saved = on_changelog_written[:], on_run_finished[:]
    install()
    yield
    on_changelog_written[:], on_run_finished[:] = saved


def test_a_rolled_back_repair_reaches_the_dashboard_as_rolled_back(fleet: Fleet, monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path, wired) -> None:
    """The upload follows the changelog, not only the run: the rollback's ``undone`` entries are sent as well."""
    import os
    import time

    from dashboard_helpers import login

    from techcare import config
    from techcare.repairs import Plan, parse_approval
    from techcare.system.runner import LocalRunner

    monkeypatch.setenv("BACKEND_URL", fleet.url)
    monkeypatch.setenv("TECHCARE_API_KEY", fleet.a.keys["technician"])
    config.reset_settings()
    target = tmp_path / "temp"
    target.mkdir()
    (target / "old.log").write_bytes(b"x" * 100)
    old = time.time() - 30 * 86400
    os.utime(target / "old.log", (old, old))
    plan = Plan.from_actions([{"action": "linux.clear_temp_files", "params": {"path": str(target)}}],
                             platform="linux", host="alpha-pc-12")
    result = plan.run(parse_approval("GO REPAIR: 1", plan), LocalRunner(), progress=lambda _: None)
    assert result.completed == [1]

    def status() -> str:
        with httpx.Client(base_url=fleet.url) as client:
            login(client, fleet.a.keys["admin"])
            return client.get("/dashboard/changelogs").text.split(result.session)[1].split("</tr>")[0]

    assert "erfolgreich" in status()
    assert plan.rollback(progress=lambda _: None)[0]["status"] == "undone"
    assert (target / "old.log").exists()
    stored = httpx.get(f"{fleet.url}/api/changelogs/{result.session}", headers=fleet.a.headers("admin")).json()
    assert [e["event"] for e in stored][-2:] == ["undo_started", "undone"]
    assert "zurückgerollt" in status()
