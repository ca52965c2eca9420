"""The setup wizard as a new user meets it: questions numbered as asked, "<" goes back, the local backend that
scripts/start prints is accepted (and offered as the default), Ctrl-C saves nothing."""

from __future__ import annotations

import re

import pytest

from techcare.config import load_settings, write_env_file
from techcare.errors import ConfigError, TechCareError
from techcare.setup_wizard import run_setup


class Script:
    """Answers in order (plain and secret questions share one queue) and records every prompt."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        answer = self.answers.pop(0)
        if answer == "^C":
            raise KeyboardInterrupt
        return answer

    def numbers(self) -> list[tuple[int, int]]:
        return [(int(m[1]), int(m[2])) for p in self.prompts if (m := re.match(r"(\d+)/(\d+) ", p))]


def wizard(tmp_path, *answers: str, defaults=None):
    script = Script(*answers)
    said: list[str] = []
    run_setup(env_file=tmp_path / "w.env", ask=script, ask_secret=script, say=said.append,
              defaults={} if defaults is None else defaults)
    return script, said, load_settings(tmp_path / "w.env")


@pytest.fixture(autouse=True)
def _no_defaults_file(monkeypatch):
    monkeypatch.delenv("TECHCARE_SETUP_DEFAULTS", raising=False)


def test_questions_are_numbered_as_asked_without_gaps_or_repeats(tmp_path):
    # Community: no license key, no learning database -> 8 questions, 1/8 .. 8/8
    script, _, _ = wizard(tmp_path, "Erika", "Muster IT", "", "", "", "", "", "")
    assert script.numbers() == [(i, 8) for i in range(1, 9)]
    # Enterprise: the license key and the learning database are asked too -> the total grows to 10 from there on
    script, _, s = wizard(tmp_path, "Erika", "", "enterprise", "TECHCARE-ENTERPRISE-ABCD-1234", "", "vpn",
                          "http://192.168.1.100", "", "", "")
    assert [n for n, _ in script.numbers()] == list(range(1, 11))
    assert script.numbers()[:3] == [(1, 8), (2, 8), (3, 8)] and script.numbers()[3:] == [(i, 10) for i in range(4, 11)]
    assert s.edition == "enterprise"


@pytest.mark.parametrize("method", ["cloudflare", "direct", "vpn", "tailscale"])
def test_the_local_backend_url_is_accepted_with_every_network_method(tmp_path, method):
    _, said, s = wizard(tmp_path, "Erika", "", "", "", method, "http://127.0.0.1:8000", "", "")
    assert s.backend_url == "http://127.0.0.1:8000" and s.network_method == method
    assert not [line for line in said if line.startswith("✖")]


def test_a_refused_url_says_what_would_be_accepted(tmp_path):
    _, said, s = wizard(tmp_path, "Erika", "", "", "", "", "http://techcare.firma.de", "https://techcare.firma.de",
                        "", "")
    errors = [line for line in said if line.startswith("✖")]
    assert len(errors) == 1
    assert "https://" in errors[0] and "127.0.0.1" in errors[0] and "vpn/tailscale" in errors[0]
    assert '"<"' in errors[0]                              # and how to get back to the network method
    assert s.backend_url == "https://techcare.firma.de"


def test_back_goes_to_the_previous_question_and_keeps_the_answers(tmp_path):
    # edition pro + key, then back twice from the Anthropic question to the edition: community drops the key
    script, said, s = wizard(tmp_path, "Erika", "Muster IT", "pro", "TECHCARE-PRO-ABCD-1234", "<", "<", "community",
                             "", "vpn", "<", "", "http://192.168.1.100", "", "")
    assert s.edition == "community" and s.license_key is None
    assert s.network_method == "vpn" and s.backend_url == "http://192.168.1.100" and s.company == "Muster IT"
    # the edition was asked again with the earlier answer as its default; "<" at the backend URL brought back the
    # network method with "vpn" offered
    assert any(p.startswith("3/") and "[pro]" in p for p in script.prompts)
    assert any("Netzwerkverbindung" in p and "[vpn]" in p for p in script.prompts)
    assert "LICENSE_KEY" not in (tmp_path / "w.env").read_text()


def test_back_at_the_first_question_stays_there(tmp_path):
    script, said, s = wizard(tmp_path, "<", "Erika", "", "", "", "", "", "", "")
    assert script.numbers()[:2] == [(1, 8), (1, 8)] and s.technician_name == "Erika"
    assert any("erste Frage" in line for line in said)


def test_defaults_carry_the_local_backend_and_its_technician_key(tmp_path, monkeypatch):
    defaults = tmp_path / "local-backend.env"
    write_env_file(defaults, {"BACKEND_URL": "http://127.0.0.1:8000", "EDITION": "enterprise",
                              "LICENSE_KEY": "TECHCARE-ENTERPRISE-ABCD-1234", "TECHCARE_API_KEY": "tck_local_key_123"})
    monkeypatch.setenv("TECHCARE_SETUP_DEFAULTS", str(defaults))
    script = Script("Erika", *[""] * 9)
    said: list[str] = []
    run_setup(env_file=tmp_path / "w.env", ask=script, ask_secret=script, say=said.append)   # Enter everywhere
    s = load_settings(tmp_path / "w.env")
    assert (s.edition, s.license_key, s.backend_url) == ("enterprise", "TECHCARE-ENTERPRISE-ABCD-1234",
                                                         "http://127.0.0.1:8000")
    assert s.techcare_api_key == "tck_local_key_123" and s.network_method == "cloudflare"
    assert any("[http://127.0.0.1:8000]" in p for p in script.prompts)
    assert any("tck_loca…" in line for line in said) and not any(line.startswith("✖") for line in said)


def test_the_technician_key_never_goes_to_another_backend(tmp_path):
    defaults = {"BACKEND_URL": "http://127.0.0.1:8000", "TECHCARE_API_KEY": "tck_local_key_123"}
    _, _, s = wizard(tmp_path, "Erika", "", "", "", "", "https://techcare.firma.de", "", "", defaults=defaults)
    assert s.backend_url == "https://techcare.firma.de" and s.techcare_api_key is None


def test_an_existing_env_wins_over_the_defaults(tmp_path):
    write_env_file(tmp_path / "w.env", {"BACKEND_URL": "https://techcare.firma.de", "TECHNICIAN_NAME": "Max"})
    script, _, s = wizard(tmp_path, *[""] * 8, defaults={"BACKEND_URL": "http://127.0.0.1:8000"})
    assert s.backend_url == "https://techcare.firma.de" and s.technician_name == "Max"


def test_a_missing_defaults_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("TECHCARE_SETUP_DEFAULTS", str(tmp_path / "nope.env"))
    with pytest.raises(ConfigError) as info:
        run_setup(env_file=tmp_path / "w.env", ask=Script(), say=lambda s: None)
    assert info.value.key == "TECHCARE_SETUP_DEFAULTS" and "nope.env" in info.value.message
    assert not (tmp_path / "w.env").exists()


@pytest.mark.parametrize("at", [1, 7])          # a plain question and the (secret) password question
def test_ctrl_c_cancels_and_saves_nothing(tmp_path, at):
    answers = ["Erika", "", "", "", "", "", "", ""][:at - 1] + ["^C"]
    with pytest.raises(TechCareError, match="nichts wurde gespeichert"):
        wizard(tmp_path, *answers)
    assert not (tmp_path / "w.env").exists()


def test_non_interactive_takes_the_defaults_file_too(tmp_path):
    run_setup(env_file=tmp_path / "w.env", interactive=False, answers={"name": "CI"}, say=lambda s: None,
              defaults={"BACKEND_URL": "http://localhost:8000", "TECHCARE_API_KEY": "tck_local_key_123"})
    s = load_settings(tmp_path / "w.env")
    assert s.backend_url == "http://localhost:8000" and s.techcare_api_key == "tck_local_key_123"
