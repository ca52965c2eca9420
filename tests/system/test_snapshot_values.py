"""A snapshot's entry values have the types a replay hands to the probes; anything else is refused on load, with
the entry and what is allowed (a crafted or damaged file must not turn into "0 drivers, ok")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from techcare.errors import SnapshotError
from techcare.system.snapshot import load_snapshot


@pytest.fixture(autouse=True)
def english():
    from techcare import i18n

    i18n.set_language("en")
    yield
    i18n.set_language(None)


def _write(tmp_path: Path, entry: dict) -> Path:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"format": "techcare-snapshot", "version": 1, "platform": "linux",
                                "entries": [{"kind": "fact", "name": "host", "value": {"hostname": "x"}}, entry]}))
    return path


@pytest.mark.parametrize(("entry", "said"), [
    ({"kind": "dir", "name": "/sys/bus/pci/devices", "value": [1, None]}, "entries[1].value must be a list of names"),
    ({"kind": "dir", "name": "/sys/bus/pci/devices", "value": ["../../etc"]}, "no '/'"),
    ({"kind": "dir", "name": "/sys/bus/pci/devices", "value": [".."]}, "not '.' or '..'"),
    ({"kind": "dir", "name": "/boot", "value": "vmlinuz"}, "list of names"),
    ({"kind": "link", "name": "/sys/x/driver", "value": 123}, "entries[1].value must be a string or null"),
    ({"kind": "which", "name": "ufw", "value": ["/usr/sbin/ufw"]}, "must be a string or null"),
    ({"kind": "file", "path": "/etc/x", "content": {"a": 1}}, "entries[1].content must be a string or null"),
    ({"kind": "cmd", "argv": ["ufw", "status"], "returncode": 0, "stdout": 5}, "entries[1].stdout must be a string"),
    ({"kind": "cmd", "argv": ["ufw"], "returncode": None, "error": 1}, "entries[1].error must be a string"),
])
def test_wrong_value_types_are_refused_naming_entry_and_allowed(tmp_path, entry, said):
    with pytest.raises(SnapshotError) as caught:
        load_snapshot(_write(tmp_path, entry))
    assert said in str(caught.value)


@pytest.mark.parametrize("entry", [
    {"kind": "dir", "name": "/sys/bus/usb/devices", "value": None},
    {"kind": "dir", "name": "/sys/block", "value": ["sda", "nvme0n1", ".hidden"]},
    {"kind": "link", "name": "/sys/x/driver", "value": None},
    {"kind": "link", "name": "/sys/x/driver", "value": "../../bus/pci/drivers/e1000e"},
    {"kind": "file", "path": "/etc/x", "content": None, "error": "not_found"},
    {"kind": "cmd", "argv": ["ufw", "status"], "returncode": None, "stdout": None, "error": "timeout"},
])
def test_right_value_types_load(tmp_path, entry):
    assert len(load_snapshot(_write(tmp_path, entry)).entries) == 2


def test_the_refusal_is_said_in_german_too(tmp_path):
    from techcare import i18n

    i18n.set_language("de")
    with pytest.raises(SnapshotError, match=r"entries\[1\]\.value muss ein Text oder null sein"):
        load_snapshot(_write(tmp_path, {"kind": "link", "name": "/sys/x/driver", "value": 1}))
