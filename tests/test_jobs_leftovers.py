"""Leftovers of the remote-jobs host side and of the code structure, one promise per test.

- The host reports each refusal of the signature check under its own reason (``malformed``, ``unknown_signer``,
  ``bad_signature``); a reason the check gains later keeps its own code instead of passing for ``unknown_signer``.
- Occurrence keys and payload times are ASCII digits only: another script's digits (which ``\\d`` and ``strptime``
  take) are ``malformed`` at the first check, not ``not_an_occurrence`` (or, for a time, accepted) a step later.
- ``techcare doctor`` reads repair journals through the public ``techcare.repairs.read_journal_file``.
- Plugin checks and driver sources share one validation of identifier, function and platforms (texts unchanged).
"""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from refusals import refused

from techcare import repairs, signing
from techcare.monitoring import executor as ex
from techcare.monitoring.executor import Executor
from techcare.plugins import _manager
from techcare.plugins._types import AssistantTool, DiagnosisCheck, DriverSource
from techcare.signing import SignatureError, SigningKey, TrustStore

ROOT = Path(__file__).resolve().parents[1]
HOST = "WS-EMPFANG-01"
T0 = int(datetime(2026, 12, 13, 1, 30, tzinfo=UTC).timestamp())  # Sunday 13 December 2026, 02:30 in Berlin
OCCURRENCE = "2026-12-13T02:00"                                   # that Sunday's 02:00 window is open
NOT_AN_ENVELOPE = ("Auftrag ist kein signierter Umschlag (payload, key_id, signature).",
                   "The job is not a signed envelope (payload, key_id, signature).")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WindowsRunner:
    platform = "windows"

    def run(self, *args, **kwargs):  # pragma: no cover - verification never asks the host anything
        raise AssertionError("verification ran a command")


class Reports:
    """The backend as the executor's ``client=`` seam sees it: every report it was sent."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, dict]] = []

    def report_job(self, job_id: str, *, host: str, **body) -> dict:
        self.jobs.append((job_id, body))
        return {}


def host(tmp_path: Path, *, client=None) -> Executor:
    settings = SimpleNamespace(techcare_home=str(tmp_path / "home"), remote_jobs="on")
    return Executor(settings, runner=WindowsRunner(), client=client, hostname=HOST, clock=lambda: T0,
                    timezone="Europe/Berlin")


@pytest.fixture
def signer(tmp_path) -> SigningKey:
    key = SigningKey.generate()
    TrustStore(tmp_path / "home").add(key.public_key, name="Anna")
    return key


def job(**over) -> dict:
    p = {"v": 1, "job_id": "5f0c2a6e9d8b4f0e8a1b2c3d4e5f6a7b", "kind": "diagnose", "hosts": [HOST], "platform": None,
         "steps": [], "approval": "", "approved_steps": [], "plan_fingerprint": "", "confirm_high_risk": False,
         "rollback_of": None, "not_before": iso(T0 - 60), "expires": iso(T0 + 3600), "issued_at": iso(T0 - 60),
         "signer": "Anna Technikerin"}
    p.update(over)
    return p


def schedule() -> dict:
    """Every Sunday 02:00 host-local time, a two-hour window, valid December 2026 to November 2027."""
    plan = repairs.Plan.from_actions([{"action": "win.restart_service", "params": {"name": "Spooler"}}],
                                     platform="windows")
    ok = repairs.parse_approval(f"GO REPAIR: 1-{len(plan.steps)}", plan)
    variant = {"steps": [{"number": s.number, "action": s.action_id, "params": dict(s.params)} for s in plan.steps],
               "approval": ok.text, "approved_steps": list(ok.steps), "plan_fingerprint": plan.fingerprint()}
    return {"v": 1, "kind": "schedule", "schedule_id": "ab" * 16, "revision": 1, "name": "Wochenwartung",
            "tag": None, "hosts": [HOST], "variants": {"windows": variant},
            "rrule": "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0", "dtstart": "2026-12-06T02:00:00",
            "window_minutes": 120, "catch_up": False, "allow_high_risk": False, "allow_reboot": False,
            "valid_from": "2026-12-01T00:00:00Z", "valid_until": "2027-11-30T00:00:00Z",
            "issued_at": "2026-12-01T00:00:00Z", "signer": "Anna Technikerin"}


def other_digits(text: str, digits: str, positions: slice = slice(None)) -> str:
    """``text`` with its ASCII digits at ``positions`` (indexes into ``text``) written in another script."""
    chars = list(text)
    for i in range(len(chars))[positions]:
        if chars[i].isascii() and chars[i].isdigit():
            chars[i] = digits[int(chars[i])]
    return "".join(chars)


ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"
EXTENDED_ARABIC_INDIC = "۰۱۲۳۴۵۶۷۸۹"
FULLWIDTH = "０１２３４５６７８９"
DEVANAGARI = "०१२३४५६७८९"


# ---- 1a. the signature check's reasons, each reported as itself -------------------------------------------------

def test_each_reason_of_the_signature_check_is_the_hosts_refusal_reason_with_its_text(tmp_path, signer):
    me = host(tmp_path)
    assert refused(lambda: me._verify_signature({"payload": []})) == ("malformed", *NOT_AN_ENVELOPE)
    stranger = SigningKey.generate()
    assert refused(lambda: me.verify(stranger.sign(job())))[:2] == (
        "unknown_signer", f"Signiert mit Schlüssel {stranger.key_id}, der auf diesem Rechner nicht hinterlegt ist.")
    changed = signer.sign(job())
    changed["payload"]["signer"] = "Mallory"
    assert refused(lambda: me.verify(changed))[:2] == (
        "bad_signature", "Signatur passt nicht zum Inhalt: der Auftrag wurde nach der Freigabe verändert.")
    assert me.verify(signer.sign(job())) == job()


def test_a_reason_the_signature_check_gains_later_is_reported_as_itself_never_as_unknown_signer(
        tmp_path, signer, monkeypatch):
    def refuse(envelope, trusted):
        raise SignatureError("revoked_key", "Schlüssel widerrufen / key revoked")

    monkeypatch.setattr(signing, "verify_envelope", refuse)
    reports = Reports()
    me = host(tmp_path, client=reports)
    envelope = signer.sign(job())
    assert refused(lambda: me.verify(envelope)) == ("revoked_key", "Schlüssel widerrufen / key revoked",
                                                    "Schlüssel widerrufen / key revoked")
    outcome = me.process({"job_id": envelope["payload"]["job_id"], "envelope": envelope})
    assert (outcome.status, outcome.reason) == ("refused", "revoked_key")
    assert reports.jobs == [(envelope["payload"]["job_id"],
                             {"status": "refused", "reason": "revoked_key",
                              "message": "Schlüssel widerrufen / key revoked", "steps": []})]
    # the signature was not confirmed: the refusal is garbage, it uses up nothing and counts as unverified
    [record] = [r for r in me.log.records() if r["event"] == "refused"]
    assert (record["reason"], record["verified"]) == ("revoked_key", False)
    assert not me.log.seen(envelope["payload"]["job_id"])


@pytest.mark.parametrize("reason", ["wrong_host", "replayed", "expired", "plan_mismatch", "disabled", "not_valid",
                                    "outside_window", "Revoked", "revoked key", "", "r" * 41, "1st"])
def test_a_later_reason_that_cannot_stand_for_itself_is_signature_unverified_not_another_checks_name(
        tmp_path, signer, monkeypatch, reason):
    """A name of the host's own checks would say the signature passed (or something else failed); what is no
    reason code would not reach the backend (its report routes take ``[a-z][a-z0-9_]{0,39}``)."""
    def refuse(envelope, trusted):
        raise SignatureError(reason, "kaputt / broken")

    monkeypatch.setattr(signing, "verify_envelope", refuse)
    assert refused(lambda: host(tmp_path).verify(signer.sign(job())))[:2] == ("signature_unverified",
                                                                               "kaputt / broken")
    assert "signature_unverified" not in ex.REASONS and "signature_unverified" not in ex.SCHEDULE_REASONS


def test_a_damaged_list_of_pinned_keys_still_trusts_nobody(tmp_path, signer):
    store = TrustStore(tmp_path / "home")
    store.path.write_text("[]", "utf-8")
    assert refused(lambda: host(tmp_path).verify(signer.sign(job())))[0] == "unknown_signer"


# ---- 1b. ASCII digits only in occurrence keys and payload times -------------------------------------------------

@pytest.mark.parametrize("key", [
    other_digits(OCCURRENCE, ARABIC_INDIC, slice(0, 4)),          # the year (strptime's %Y takes any digits)
    other_digits(OCCURRENCE, ARABIC_INDIC, slice(-1, None)),      # the last minute digit
    other_digits(OCCURRENCE, EXTENDED_ARABIC_INDIC, slice(12, 13)),  # the hour's second digit
    other_digits(OCCURRENCE, FULLWIDTH, slice(-1, None)),
    other_digits(OCCURRENCE, DEVANAGARI, slice(0, 4)),
    other_digits(OCCURRENCE, ARABIC_INDIC),                       # every digit
])
def test_an_occurrence_key_with_other_scripts_digits_is_malformed_at_the_first_check(tmp_path, signer, key):
    assert key != OCCURRENCE and not key.isascii()
    me = host(tmp_path)
    p = schedule()
    item = {"schedule_id": p["schedule_id"], "occurrence": key, "envelope": signer.sign(p)}
    assert ex._delivered(item)[2] is None
    assert refused(lambda: me.verify_occurrence(item)) == (
        "malformed", "Wartungsplan fehlerhaft: geliefert ohne gültige schedule_id (32 Hex-Zeichen) und occurrence "
        "(JJJJ-MM-TTTHH:MM).", "Malformed maintenance schedule: delivered without a valid schedule_id (32 hex) and "
        "occurrence (YYYY-MM-DDTHH:MM).")
    payload, occ = me.verify_occurrence(dict(item, occurrence=OCCURRENCE))  # the same in ASCII digits runs
    assert occ.start == datetime(2026, 12, 13, 1, 0, tzinfo=UTC) and payload == p


@pytest.mark.parametrize("field", ["not_before", "expires", "issued_at"])
def test_a_signed_job_time_with_other_scripts_digits_is_malformed(tmp_path, signer, field):
    value = job()[field]
    bad = value[:-2] + other_digits(value[-2:], ARABIC_INDIC)   # ...:0٠Z: strptime's %S took it
    assert refused(lambda: host(tmp_path).verify(signer.sign(job(**{field: bad})))) == (
        "malformed", f"Auftrag fehlerhaft: {field} ist keine UTC-Zeit wie 2026-12-02T07:00:00Z.",
        f"Malformed job: {field} is not a UTC time like 2026-12-02T07:00:00Z.")


def test_a_schedule_time_with_other_scripts_digits_is_malformed(tmp_path, signer):
    p = schedule()
    p["valid_until"] = other_digits(p["valid_until"], DEVANAGARI, slice(0, 4))
    item = {"schedule_id": p["schedule_id"], "occurrence": OCCURRENCE, "envelope": signer.sign(p)}
    assert refused(lambda: host(tmp_path).verify_occurrence(item))[:2] == (
        "malformed", "Wartungsplan fehlerhaft: valid_until ist keine UTC-Zeit wie 2026-12-02T07:00:00Z.")


# ---- 2. the doctor reads journals through the public repairs API -------------------------------------------------

def _private_imports(path: Path) -> list[str]:
    """The imports of ``path`` (at any depth, lazy ones too) that name a private module or name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.module else []
            names += [f"{node.module or ''}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [n for n in names if any(part.startswith("_") and part != "__future__" for part in n.split("."))]
    return found


def test_the_doctor_imports_no_private_module():
    assert _private_imports(ROOT / "techcare" / "doctor.py") == []


def test_read_journal_file_is_public_and_says_what_cannot_be_proven(tmp_path):
    assert {"read_journal_file", "JournalError", "JournalRead"} <= set(repairs.__all__)
    assert repairs.__all__ == sorted(repairs.__all__, key=lambda n: (not n.isupper(), n[0].islower(), n))
    assert "read_journal_file" in repairs.__doc__ and repairs.read_journal_file.__doc__
    from techcare.repairs._journal import append, seal

    path = tmp_path / "20261202T100000Z-aaaaaa-1111.jsonl"
    path.write_text(json.dumps({"event": "started", "step": 1}) + "\n", "utf-8")   # an older version's entry
    for n in (2, 3):
        append(path, seal({"event": "started", "step": n}))
    path.write_bytes(path.read_bytes().replace(b'"step": 3', b'"step": 9'))
    result = repairs.read_journal_file(str(path))                                   # str or Path
    assert isinstance(result, repairs.JournalRead)
    assert (result.damaged, result.unverified, len(result.entries)) == ([3], 1, 2)
    assert repairs.read_journal_file(tmp_path / "missing.jsonl").entries == []
    folder = tmp_path / "a-folder.jsonl"
    folder.mkdir()
    with pytest.raises(repairs.JournalError) as caught:
        repairs.read_journal_file(folder)
    assert folder.name in str(caught.value)


def test_the_doctor_checks_every_journal_with_the_public_function(tmp_path, monkeypatch):
    from techcare.config import load_settings
    from techcare.doctor import Doctor
    from techcare.system.runner import ReplayRunner

    settings = load_settings(techcare_home=str(tmp_path / "h"), techcare_data_dir=str(tmp_path / "data"))
    settings.changelogs_dir.mkdir(parents=True)
    for name in ("20261202T100000Z-aaaaaa-1111", "notes"):
        (settings.changelogs_dir / f"{name}.jsonl").write_text(json.dumps({"event": "started"}) + "\n", "utf-8")
    read = []
    real = repairs.read_journal_file
    monkeypatch.setattr(repairs, "read_journal_file", lambda path: read.append(Path(path).name) or real(path))
    doctor = Doctor(settings, runner=ReplayRunner(platform="linux"))
    doctor.check_journals()
    check = doctor.checks[-1]
    assert read == ["20261202T100000Z-aaaaaa-1111.jsonl", "notes.jsonl"]
    assert check.status == "ok" and "2 Sitzungen" in check.detail and "2 Einträge ohne Prüfsumme" in check.detail


# ---- 3. plugin items: one validation of identifier, function and platforms ----------------------------------------

def _texts(problems) -> list[tuple[str, str]]:
    return [(p.de, p.en) for p in problems]


PLATFORMS = ("platforms muss eine Auswahl aus windows, linux, darwin sein",
             "platforms must be a selection of windows, linux, darwin")
RESERVED = ("win.x: der Namensraum win gehört TechCare selbst; ein Plugin nimmt seinen eigenen (z.B. acme.x)",
            "win.x: the namespace win belongs to TechCare itself; a plugin uses its own (e.g. acme.x)")


def test_a_diagnosis_checks_problems_in_order_with_their_texts():
    ok = DiagnosisCheck(id="acme.disk", run=lambda runner: None, title_de="Platte", title_en="Disk")
    assert _manager._check_problems(ok) == []
    bad = DiagnosisCheck(id="Acme", run="nope", platforms=("windows", "beos"))
    assert _texts(_manager._check_problems(bad)) == [
        ("id 'Acme' muss wie 'anbieter.name' aussehen (Kleinbuchstaben, Ziffern, _)",
         "id 'Acme' must look like 'vendor.name' (lowercase letters, digits, _)"),
        ("run muss eine Funktion run(runner) sein", "run must be a function run(runner)"),
        PLATFORMS, ("title_de und title_en fehlen", "title_de and title_en are missing")]
    reserved = DiagnosisCheck(id="win.x", run=print, title_de="a", title_en="b", platforms=())
    assert _texts(_manager._check_problems(reserved)) == [RESERVED, PLATFORMS]
    assert _texts(_manager._check_problems(DiagnosisCheck(id=7, run=print, title_de="a", title_en="b"))) == [
        ("id 7 muss wie 'anbieter.name' aussehen (Kleinbuchstaben, Ziffern, _)",
         "id 7 must look like 'vendor.name' (lowercase letters, digits, _)")]
    assert _texts(_manager._check_problems("acme.disk")) == [
        ("keine DiagnosisCheck, sondern str", "not a DiagnosisCheck but str")]


def test_a_driver_sources_problems_in_order_with_their_texts():
    assert _manager._source_problems(DriverSource(name="acme.vendor", offers=lambda runner: [])) == []
    bad = DriverSource(name="acme", offers=None, platforms=("amiga",))
    assert _texts(_manager._source_problems(bad)) == [
        ("name 'acme' muss wie 'anbieter.name' aussehen", "name 'acme' must look like 'vendor.name'"),
        ("offers muss eine Funktion offers(runner) sein", "offers must be a function offers(runner)"), PLATFORMS]
    assert _texts(_manager._source_problems(DriverSource(name="win.x", offers=print))) == [RESERVED]
    assert _texts(_manager._source_problems(object())) == [
        ("keine DriverSource, sondern object", "not a DriverSource but object")]


def test_an_assistant_tools_name_is_checked_by_the_same_identifier_rule():
    tool = AssistantTool(name="acme-stock", description="Lager", run=lambda a, c: {})
    assert _manager._tool_problems(tool) == []
    assert _texts(_manager._tool_problems(AssistantTool(name="acme.stock", description="x", run=print))) == [
        ("name 'acme.stock' muss wie 'anbieter-name' aussehen (Kleinbuchstaben, Ziffern, _ und -; ein - trennt den "
         "Namensraum)", "name 'acme.stock' must look like 'vendor-name' (lowercase letters, digits, _ and -; a - "
         "separates the namespace)")]
    assert _texts(_manager._tool_problems(AssistantTool(name="win-x", description="x", run=print))) == [
        ("win-x: der Namensraum win gehört TechCare selbst; ein Plugin nimmt seinen eigenen (z.B. acme.win-x)",
         "win-x: the namespace win belongs to TechCare itself; a plugin uses its own (e.g. acme.win-x)")]


def test_the_identifier_and_platform_checks_are_written_once():
    source = (ROOT / "techcare" / "plugins" / "_manager.py").read_text("utf-8")
    assert source.count("platforms muss eine Auswahl aus") == 1
    assert source.count("namespace_problem(") == 2   # its definition and the one shared identifier check
