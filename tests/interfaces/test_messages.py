"""i18n.Message: a text made before anyone knows the reader's language keeps both and picks one when shown."""

from __future__ import annotations

import pytest

from techcare.i18n import Message, localize, msg, set_language
from techcare.system.records import ProbeResult, command_problem, unknown
from techcare.system.runner import CommandResult


def test_a_message_is_shown_in_the_active_language(monkeypatch):
    said = msg("{t} ist nicht installiert", "{t} is not installed", t="smartctl")
    assert str(said) == f"{said}" == "smartctl ist nicht installiert"  # German is the default
    monkeypatch.setenv("TECHCARE_LANG", "en")
    assert str(said) == "smartctl is not installed" and said.text("de") == "smartctl ist nicht installiert"
    set_language("de")
    assert f"[{said}]" == "[smartctl ist nicht installiert]"


def test_messages_nest_join_and_keep_data_unchanged():
    inner = msg("nicht im Snapshot", "not in the snapshot")
    outer = msg("Grund: {r} ({tool})", "Reason: {r} ({tool})", r=inner, tool="lspci -vmm")
    assert (outer.de, outer.en) == ("Grund: nicht im Snapshot (lspci -vmm)", "Reason: not in the snapshot (lspci -vmm)")
    joined = Message.join("; ", [inner, "raw tool line"])
    assert joined == Message("nicht im Snapshot; raw tool line", "not in the snapshot; raw tool line")
    assert ("x" + inner + "y").en == "xnot in the snapshoty" and "Snapshot" in inner and "snapshot" in inner
    assert localize(None) == "" and localize("data", "en") == "data" and not Message("", "")


@pytest.mark.parametrize(("error", "returncode", "stderr", "code", "de", "en"), [
    ("not_found", None, "", "tool_missing", "smartctl ist nicht installiert", "smartctl is not installed"),
    ("not_recorded", None, "", "not_recorded", "Ausgabe von smartctl ist nicht im Snapshot",
     "smartctl output is not in the snapshot"),
    (None, 1, "System has not been booted with systemd", "no_systemd", "systemd läuft auf diesem Rechner nicht",
     "systemd is not running on this machine"),
    (None, 2, "Smartctl open device: /dev/sda failed: Permission denied", "needs_admin", "braucht Administratorrechte",
     "needs elevation"),
    (None, 3, "boom happened\nmore", "failed", "smartctl ist fehlgeschlagen (Exit 3): boom happened",
     "smartctl failed (exit 3): boom happened"),
])
def test_a_failed_command_is_explained_in_both_languages(error, returncode, stderr, code, de, en):
    found, said = command_problem(CommandResult(("smartctl", "-a"), returncode, "", stderr, 0.0, error))
    assert found == code and de in said.de and en in said.en


def test_probe_results_say_why_in_both_languages_and_take_plain_text_as_data(monkeypatch):
    result = unknown("smart", "tool_missing", msg("smartctl fehlt", "smartctl is missing"))
    assert result.to_dict("en")["reason"] == "smartctl is missing" and result.to_dict("de")["reason"] == "smartctl fehlt"
    assert result.to_dict()["reason_en"] == "smartctl is missing"
    plain = ProbeResult("smart", "unknown", None, "from a remote host", "failed")
    assert plain.reason == Message.data("from a remote host")
