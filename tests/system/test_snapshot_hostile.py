"""Hostile snapshots (a crafted or damaged file from a customer machine): refused on load with a clear error naming
the entry and what is allowed, or shown as "unknown" with the reason; never a traceback, never obeyed by the
technician's terminal, never printed without bound (outside tester, finding 7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from techcare.diagnosis import diagnose
from techcare.errors import SnapshotError
from techcare.system.records import visible
from techcare.system.snapshot import MAX_DISKS, load_snapshot

METRICS = {"cpu_percent": 10.0, "ram_percent": 20.0, "cpu_count": 2,
           "disks": [{"mount": "/", "total": 100, "used": 50, "free": 50, "percent": 50.0}]}
HOSTILE_NAME = "vm\x1b[31mRED\x1b]0;pwned\x07"


@pytest.fixture(autouse=True)
def english():
    from techcare import i18n

    i18n.set_language("en")
    yield
    i18n.set_language(None)


def _snapshot(tmp_path: Path, host=None, metrics=None, *, name="s.json") -> Path:
    entries = [{"kind": "fact", "name": "host", "value": {"hostname": "pc1"} if host is None else host},
               {"kind": "fact", "name": "metrics", "value": METRICS if metrics is None else metrics}]
    path = tmp_path / name
    path.write_text(json.dumps({"format": "techcare-snapshot", "version": 1, "platform": "linux", "entries": entries}),
                    encoding="utf-8")
    return path


def _cli(tmp_path: Path, *args: str, lang: str = "en") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TECHCARE_HOME": str(tmp_path / "home"), "TECHCARE_LANG": lang, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "techcare", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


# ---- refused on load --------------------------------------------------------------------------------------

@pytest.mark.parametrize("host", [[1, 2], "abc", 5, False])
def test_a_host_fact_that_is_no_object_is_refused_naming_the_entry(tmp_path, host):
    with pytest.raises(SnapshotError, match=r"entries\[0\]\.value \(fact host\) must be an object"):
        load_snapshot(_snapshot(tmp_path, host=host))


def test_a_null_host_fact_is_refused(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"format": "techcare-snapshot", "version": 1, "platform": "linux",
                                "entries": [{"kind": "fact", "name": "host", "value": None}]}))
    with pytest.raises(SnapshotError, match=r"entries\[0\]\.value \(fact host\) must be an object"):
        load_snapshot(path)


@pytest.mark.parametrize(("metrics", "said"), [
    (None, None), ("fast", "entries[1].value (fact metrics) must be an object"),
    ([1], "entries[1].value (fact metrics) must be an object"),
    ({**METRICS, "disks": "C:"}, "entries[1].value.disks must be a list of objects or null"),
    ({**METRICS, "disks": [1, 2]}, "entries[1].value.disks must be a list of objects or null"),
])
def test_a_metrics_fact_of_the_wrong_shape_is_refused(tmp_path, metrics, said):
    if metrics is None:   # the null written out: the default of _snapshot would replace it
        path = tmp_path / "s.json"
        path.write_text(json.dumps({"format": "techcare-snapshot", "version": 1, "platform": "linux", "entries": [
            {"kind": "fact", "name": "host", "value": {"hostname": "x"}},
            {"kind": "fact", "name": "metrics", "value": None}]}))
        said = "entries[1].value (fact metrics) must be an object"
    else:
        path = _snapshot(tmp_path, metrics=metrics)
    with pytest.raises(SnapshotError) as caught:
        load_snapshot(path)
    assert said in str(caught.value)


def test_a_hostname_that_is_no_text_is_refused(tmp_path):
    with pytest.raises(SnapshotError, match=r"entries\[0\]\.value\.hostname must be a string"):
        load_snapshot(_snapshot(tmp_path, host={"hostname": ["a"]}))


def test_more_disks_than_allowed_are_refused_quickly(tmp_path):
    disks = [{"mount": f"/m{i}", "total": 100, "used": 50, "free": 50, "percent": 50} for i in range(20_000)]
    with pytest.raises(SnapshotError) as caught:
        load_snapshot(_snapshot(tmp_path, metrics={**METRICS, "disks": disks}))
    assert f"entries[1].value.disks has 20000 entries; at most {MAX_DISKS} are allowed" in str(caught.value)


def test_json_nested_too_deeply_is_refused_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"format": "techcare-snapshot", "version": 1, "platform": "linux", "entries": ['
                    + "[" * 100_000 + "]" * 100_000 + "]}")
    with pytest.raises(SnapshotError, match="JSON is nested too deeply"):
        load_snapshot(path)


def test_the_refusal_is_said_in_german_too(tmp_path):
    from techcare import i18n

    i18n.set_language("de")
    with pytest.raises(SnapshotError, match=r"entries\[0\]\.value \(Fakt host\) muss ein Objekt sein"):
        load_snapshot(_snapshot(tmp_path, host="abc"))


def test_the_cli_says_the_refusal_without_a_traceback(tmp_path):
    done = _cli(tmp_path, "diagnose", "--snapshot", str(_snapshot(tmp_path, host=[1])))
    assert done.returncode != 0
    assert "entries[0].value (fact host) must be an object" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


# ---- lengths bounded, values out of range unknown ---------------------------------------------------------------

def test_a_huge_hostname_is_cut_with_a_mark(tmp_path):
    snap = load_snapshot(_snapshot(tmp_path, host={"hostname": "h" * 5_000_000}))
    assert snap.hostname == "h" * 253 + " … [4999747 characters cut off]"


@pytest.mark.parametrize(("key", "value", "check"), [
    ("cpu_percent", 1e18, "cpu"), ("cpu_percent", -1, "cpu"), ("ram_percent", -5, "ram"),
    ("ram_percent", 100.5, "ram")])
def test_a_percentage_out_of_range_is_unknown_and_says_why(tmp_path, key, value, check):
    d = diagnose(_snapshot(tmp_path, metrics={**METRICS, key: value}), probes=["metrics"], drivers=False)
    f = d.by_check(check)
    assert f.severity == "unknown"
    assert "was not measured correctly" in f.summary_en and "is outside the possible range" in f.summary_en
    assert "nicht richtig gemessen" in f.summary_de and "außerhalb des möglichen Bereichs" in f.summary_de
    assert len(f.summary_en) < 120   # not 19 digits and more


def test_a_cpu_load_of_1e308_is_refused_on_load(tmp_path):
    with pytest.raises(SnapshotError, match=r"entries\[1\]\.value\.cpu_percent is out of range"):
        load_snapshot(_snapshot(tmp_path, metrics={**METRICS, "cpu_percent": 1e308}))


def test_a_disk_percentage_out_of_range_is_unknown(tmp_path):
    disks = [{"mount": "/", "total": 100, "used": 50, "free": 50, "percent": 250.0}]
    f = diagnose(_snapshot(tmp_path, metrics={**METRICS, "disks": disks}), probes=["metrics"],
                 drivers=False).by_check("disk_usage:/")
    assert f.severity == "unknown" and "250 is outside the possible range" in f.summary_en


# ---- terminal escapes shown, not obeyed ------------------------------------------------------------------------

def test_visible_escapes_control_characters_and_keeps_the_text():
    assert visible(HOSTILE_NAME) == "vm\\x1b[31mRED\\x1b]0;pwned\\x07"
    assert visible("a\u202eb\x9bc\x7f") == "a\\u202eb\\x9bc\\x7f"
    assert visible("Müller-PC\tok") == "Müller-PC\tok"


def test_the_diagnosis_shows_a_hostile_hostname_escaped(tmp_path):
    path = _snapshot(tmp_path, host={"hostname": HOSTILE_NAME})
    done = _cli(tmp_path, "diagnose", "--snapshot", str(path))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "vm\\x1b[31mRED\\x1b]0;pwned\\x07" in done.stdout
    info = _cli(tmp_path, "snapshot", "info", str(path))
    assert "\x1b" not in info.stdout and "vm\\x1b[31mRED" in info.stdout


def test_diagnose_json_escapes_c1_controls_and_bidi_overrides_and_stays_the_same_json(tmp_path):
    """JSON escapes C0 controls itself; C1 controls (U+009B is CSI to some terminals) and bidi overrides would be
    printed as they are: ``diagnose --json`` writes them as \\u escapes, which every JSON reader reads back as is."""
    name = "vm\x9b31mC1\u202eevil"
    path = _snapshot(tmp_path, host={"hostname": name})
    done = _cli(tmp_path, "diagnose", "--snapshot", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert "\x9b" not in done.stdout and "\u202e" not in done.stdout and "\x1b" not in done.stdout
    assert '"host": "vm\\u009b31mC1\\u202eevil"' in done.stdout
    assert json.loads(done.stdout)["host"] == name


def test_a_number_too_large_for_a_machine_is_refused_naming_it(tmp_path):
    disks = [{"mount": "/", "total": 10 ** 400, "used": 50, "free": 50, "percent": 50.0}]
    with pytest.raises(SnapshotError, match=r"entries\[1\]\.value\.disks\[0\]\.total is out of range \(allowed: a "
                                            r"number between -2\^63 and 2\^63\)"):
        load_snapshot(_snapshot(tmp_path, metrics={**METRICS, "disks": disks}))


def test_a_number_with_too_many_digits_is_refused_not_a_value_error(tmp_path):
    path = _snapshot(tmp_path)
    path.write_text(path.read_text().replace('"cpu_count": 2', '"cpu_count": ' + "9" * 5000))
    with pytest.raises(SnapshotError, match=r"not readable JSON \(a number has too many digits\)"):
        load_snapshot(path)


def test_the_shell_banner_shows_a_hostile_host_escaped(tmp_path):
    from techcare.session import Session
    from techcare.shell import _machine_line

    path = _snapshot(tmp_path, host={"hostname": HOSTILE_NAME, "os": "linux",
                                     "distro": {"PRETTY_NAME": "Debian\x1b]0;x\x07"}, "os_release": "6.1"})
    line = _machine_line(Session(snapshot=str(path)))
    assert "\x1b" not in line and "\x07" not in line
    assert "vm\\x1b[31mRED" in line and "Debian\\x1b]0;x\\x07" in line
