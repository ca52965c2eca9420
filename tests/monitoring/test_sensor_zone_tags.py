"""What the sensor reports for maintenance schedules and groups (docs/remote-jobs.md §5): its IANA time zone, found
through the runner (the /etc/localtime link, /etc/timezone, sysconfig, Windows' tzutil, a recorded fact; UTC when
nothing is known, e.g. a replayed snapshot that did not record it), its ``SENSOR_TAGS`` (validated, with a clear
error), and ``service install --tag``. Replayed runners only: nothing here reads this machine's settings."""

from __future__ import annotations

import io
import json

import pytest

from techcare.config import get_settings, parse_tags, reset_settings
from techcare.errors import ConfigError
from techcare.monitoring import service
from techcare.monitoring.hostzone import WINDOWS_ZONES, host_zone, valid_zone
from techcare.monitoring.sensor import Sensor, main
from techcare.system.runner import Entry, FileResult, ReplayRunner

from remote_job_payloads import WINDOWS


def linux(*entries: Entry) -> ReplayRunner:
    return ReplayRunner(entries, platform="linux")


# ---- the host's time zone ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("runner", "expected"), [
    (linux(Entry("link", "/etc/localtime", "/usr/share/zoneinfo/Europe/Berlin")), ("Europe/Berlin", True)),
    (linux(Entry("link", "/etc/localtime", "../usr/share/zoneinfo/America/New_York")), ("America/New_York", True)),
    (ReplayRunner([Entry("link", "/etc/localtime", "/var/db/timezone/zoneinfo/Europe/Vienna")], platform="darwin"),
     ("Europe/Vienna", True)),
    (linux(Entry("link", "/etc/localtime", "/usr/share/zoneinfo/Etc/UTC")), ("UTC", True)),
    (linux(Entry("file", "/etc/timezone", FileResult("/etc/timezone", "Australia/Lord_Howe\n"))),
     ("Australia/Lord_Howe", True)),
    (linux(Entry("file", "/etc/sysconfig/clock",
                 FileResult("/etc/sysconfig/clock", 'ZONE="Asia/Kolkata"\nUTC=true\n'))),
     ("Asia/Kolkata", True)),
    (linux(Entry("fact", "timezone", "Europe/Zurich")), ("Europe/Zurich", True)),
    (linux(Entry("fact", "host", {"hostname": "x", "timezone": "Europe/Paris"})), ("Europe/Paris", True)),
    (linux(Entry("link", "/etc/localtime", "/usr/share/zoneinfo/Mars/Base")), ("UTC", False)),
    (linux(), ("UTC", False)),
])
def test_zone_from_the_os_through_the_runner(runner, expected):
    assert host_zone(runner) == expected


@pytest.mark.parametrize(("answer", "expected"), [
    ("W. Europe Standard Time\r\n", ("Europe/Berlin", True)),
    ("Eastern Standard Time_dstoff\r\n", ("America/New_York", True)),
    ("Lord Howe Standard Time", ("Australia/Lord_Howe", True)),
    ("Klingon Standard Time", ("UTC", False)),
])
def test_windows_zone_from_tzutil(answer, expected):
    runner = ReplayRunner(platform="windows")
    runner.add_command(["tzutil", "/g"], stdout=answer)
    assert host_zone(runner) == expected


def test_every_windows_zone_in_the_table_is_known_here():
    assert all(valid_zone(name) for name in WINDOWS_ZONES.values())


def test_a_replayed_snapshot_without_a_recorded_zone_is_utc_and_says_so(caplog):
    from techcare.monitoring.simulated import SimulatedPC

    assert host_zone(SimulatedPC.from_snapshot(WINDOWS).runner()) == ("UTC", False)


def test_valid_zone_refuses_paths_and_unknown_names():
    assert valid_zone("Europe/Berlin") == "Europe/Berlin"
    assert valid_zone("Etc/UTC") == "UTC"
    for bad in ("../../etc/passwd", "/etc/localtime", "", "Nowhere/Special", None, 5):
        assert valid_zone(bad) is None


# ---- SENSOR_TAGS ---------------------------------------------------------------------------------------------

def test_sensor_tags_are_trimmed_lowercased_and_deduplicated(monkeypatch):
    monkeypatch.setenv("SENSOR_TAGS", " Kunde:Baeckerei-Mueller, rolle:kasse,,rolle:kasse ")
    reset_settings()
    settings = get_settings()
    assert settings.sensor_tags == "kunde:baeckerei-mueller,rolle:kasse"
    assert settings.tags == ["kunde:baeckerei-mueller", "rolle:kasse"]


def test_no_sensor_tags_is_an_empty_list():
    assert get_settings().tags == []


@pytest.mark.parametrize("value", ["kunde mueller", "a:b:c", "-start", "kunde:" + "x" * 64, "ümlaut",
                                   ",".join(f"t{i}" for i in range(33))])
def test_invalid_sensor_tags_are_a_clear_configuration_error(monkeypatch, value):
    monkeypatch.setenv("SENSOR_TAGS", value)
    monkeypatch.setenv("TECHCARE_LANG", "en")
    reset_settings()
    with pytest.raises(ConfigError) as err:
        get_settings()
    assert "SENSOR_TAGS" in str(err.value) and "comma-separated tags such as kunde:baeckerei-mueller" in str(err.value)


def test_parse_tags_names_the_bad_tag():
    with pytest.raises(ValueError, match="'a b'"):
        parse_tags("ok,a b")


# ---- the sample carries zone and tags ----------------------------------------------------------------------

def test_the_sample_carries_the_zone_and_the_tags(monkeypatch):
    monkeypatch.setenv("SENSOR_TAGS", "kunde:baeckerei-mueller,rolle:kasse")
    reset_settings()
    from techcare.monitoring.simulated import SimulatedPC

    runner = SimulatedPC.from_snapshot(WINDOWS).runner()
    runner.add(Entry("fact", "timezone", "Europe/Berlin"))  # a snapshot that recorded its zone
    sensor = Sensor(settings=get_settings(), runner=runner, persist=False, cache_ttl={}, client=object())
    sample = sensor.sample()
    assert sample["timezone"] == "Europe/Berlin"
    assert sample["tags"] == ["kunde:baeckerei-mueller", "rolle:kasse"]
    assert sensor.executor().timezone == "Europe/Berlin"  # schedules run in the zone the samples report
    runner.add(Entry("fact", "timezone", "America/New_York"))  # the host was moved to another zone
    sensor.clock = lambda: 10**10  # an hour and more later: the zone is asked again
    assert sensor.sample()["timezone"] == "America/New_York"
    assert sensor.executor().timezone == "America/New_York"


def test_dry_run_of_a_replayed_snapshot_reports_utc_and_empty_tags(capsys):
    assert main(["--dry-run", "--snapshot", str(WINDOWS)]) == 0
    sample = json.loads(capsys.readouterr().out)
    assert sample["hostname"] == "WS-EMPFANG-01" and sample["timezone"] == "UTC" and sample["tags"] == []


# ---- service install --tag ---------------------------------------------------------------------------------

def install(*args: str, platform: str = "linux") -> tuple[int, str]:
    out = io.StringIO()
    code = service.main(["install", "--dry-run", "--platform", platform, "--env-file", "/etc/techcare/sensor.env",
                         "--remote-jobs", "off", *args], out=out)
    return code, out.getvalue()


def test_install_tag_sets_sensor_tags_in_the_service_environment():
    code, text = install("--tag", "kunde:baeckerei-mueller", "--tag", "Rolle:Kasse")
    assert code == 0
    assert "Environment=SENSOR_TAGS=kunde:baeckerei-mueller,rolle:kasse" in text.splitlines()
    code, text = install("--tag", "standort:filiale-2", platform="windows")
    assert code == 0 and "SENSOR_TAGS=standort:filiale-2" in text
    code, text = install("--tag", "standort:filiale-2", platform="darwin")
    assert code == 0 and "<key>SENSOR_TAGS</key>" in text and "<string>standort:filiale-2</string>" in text


def test_install_without_tag_leaves_sensor_tags_to_the_env_file():
    code, text = install()
    assert code == 0 and "SENSOR_TAGS" not in text


def test_an_invalid_tag_is_refused_with_what_is_allowed(capsys, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    code, text = install("--tag", "ok", "--tag", "kunde mueller")
    assert code == 2 and text == ""
    err = capsys.readouterr().err
    assert "--tag 'kunde mueller' is not valid" in err and "kunde:baeckerei-mueller" in err


def test_tag_belongs_to_install_only(capsys):
    assert service.main(["status", "--dry-run", "--platform", "linux", "--tag", "x"], out=io.StringIO()) == 2
    assert "--tag" in capsys.readouterr().err
