"""The magic layer itself: loading, %config, usage errors and error rendering (no repairs needed)."""

from techcare.errors import TechCareError
from techcare.i18n import get_language
from techcare.magics import TechCareMagics


def test_load_ext_is_idempotent(ip):
    before = [m for m in ip.configurables if isinstance(m, TechCareMagics)]
    ip.run_line_magic("load_ext", "techcare")
    ip.run_line_magic("reload_ext", "techcare")
    after = [m for m in ip.configurables if isinstance(m, TechCareMagics)]
    assert len(after) == len(before) == 1
    assert {"techcare", "repair", "drivers", "diagnose", "sensor", "changelog", "unlock"} <= set(ip.magics_manager.magics["line"])
    assert "techcare" in ip.magics_manager.magics["cell"]


def test_config_language_switches_text(ip):
    ip.run_line_magic("config", "TechCareMagics.language = 'en'")
    assert get_language() == "en"
    ip.run_line_magic("config", "TechCareMagics.language = 'de'")
    assert get_language() == "de"
    ip.run_cell("%config TechCareMagics.language = 'fr'")  # IPython logs the trait error and keeps the old value
    assert get_language() == "de"


def test_usage_errors_fail_the_cell(ip):
    for cell in ("%techcare", "%drivers --bogus", "%repair --dry-run", "%repair nonsense", "%diagnose --nope",
                 "%changelog extra", "%repair --undo 3", "%sensor --since 2026-01-01"):
        result = ip.run_cell(cell)
        assert not result.success, cell
        assert type(result.error_in_exec).__name__ == "UsageError", (cell, result.error_in_exec)


def test_chat_keeps_braces_and_dollars(ip, monkeypatch):
    seen = []
    monkeypatch.setattr(type(ip.user_ns["tc"]), "ask", lambda self, message, on_text=None: seen.append(message) or message)
    ip.run_line_magic("config", "TechCareMagics.streaming = False")
    ip.user_ns["x"] = "EXPANDED"
    result = ip.run_cell("%techcare Fehler {x} und $x im Pfad C:\\Users\\$USER")
    assert result.success
    assert seen == ["Fehler {x} und $x im Pfad C:\\Users\\$USER"]
    result = ip.run_cell("%%techcare\nZeile 1 {x}\nZeile 2")
    assert seen[-1] == "Zeile 1 {x}\nZeile 2"


def test_techcare_error_renders_one_line_and_fails_the_cell(ip, monkeypatch, capsys):
    def boom(self, message, on_text=None):
        raise TechCareError("Backend nicht erreichbar")

    monkeypatch.setattr(type(ip.user_ns["tc"]), "ask", boom)
    ip.run_line_magic("config", "TechCareMagics.streaming = False")
    result = ip.run_cell("%techcare hallo")
    assert not result.success and isinstance(result.error_in_exec, TechCareError)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "TechCareError: Backend nicht erreichbar" in text and "Traceback" not in text


def test_repair_without_plan_is_an_error(ip):
    result = ip.run_cell("%repair")
    assert not result.success and "Reparaturplan" in str(result.error_in_exec)
