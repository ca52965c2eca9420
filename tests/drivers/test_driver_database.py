"""Custom driver database: validation errors with index and field, merge of the user file, broken JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from techcare.errors import DriverDatabaseError
from techcare.i18n import set_language
from techcare.tools.drivers import load_database, parse_database, user_database_path
from techcare.tools.drivers.database import SHIPPED_PATH

GOOD = {
    "hardware_id": "PCI\\VEN_10DE&DEV_2206",
    "name": "NVIDIA GeForce RTX 3080",
    "vendor": "NVIDIA",
    "category": "Graphics",
    "latest_version": "528.49",
    "release_date": "2023-02-08",
    "download_url": "https://www.nvidia.com/download/index.aspx",
    "notes": "Game Ready",
}


def test_product_documentation_entry_is_valid():
    db = parse_database(json.dumps([GOOD, {**GOOD, "hardware_id": "10de:2684", "importance": "critical"}]))
    assert not db.problems
    first, second = db.offers
    assert first.hardware_id == "PCI\\VEN_10DE&DEV_2206" and first.latest_version == "528.49"
    assert first.release_date.isoformat() == "2023-02-08" and first.importance is None
    assert second.hardware_id == "PCI\\VEN_10DE&DEV_2684" and second.importance == "CRITICAL"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({k: v for k, v in GOOD.items() if k != "hardware_id"}, "hardware_id"),
        ({**GOOD, "name": ""}, "name"),
        ({**GOOD, "latest_version": None}, "latest_version"),
        ({**GOOD, "latest_version": "latest"}, "latest_version"),
        ({**GOOD, "release_date": "08.02.2023"}, "release_date"),
        ({**GOOD, "release_date": "2023-02-30"}, "release_date"),
        ({**GOOD, "download_url": "ftp://x"}, "download_url"),
        ({**GOOD, "importance": "URGENT"}, "importance"),
        ({**GOOD, "hardware_id": "PCI\\VEN_XXXX&DEV_YYYY"}, "hardware_id"),
        ({**GOOD, "vendor": 5}, "vendor"),
    ],
)
def test_invalid_entries_are_reported_with_index_and_field_and_skipped(entry, field):
    set_language("en")
    db = parse_database(json.dumps([GOOD, entry]), "db.json")
    assert len(db.offers) == 1
    (problem,) = db.problems
    assert (problem.index, problem.field) == (1, field)
    assert str(problem).startswith("db.json entry 1 '" + field + "'")


def test_not_an_object_and_unknown_field():
    db = parse_database(json.dumps(["x", {**GOOD, "colour": "red"}]))
    assert [p.index for p in db.problems] == [0, 1]
    assert db.problems[1].field == "colour" and len(db.offers) == 1  # unknown field: reported, entry kept


@pytest.mark.parametrize("text", ['[{"hardware_id": "PCI\\\\VEN_10DE&DEV_2206",}]', "{not json", '"just a string"'])
def test_malformed_file_is_a_clear_error(text):
    set_language("en")
    with pytest.raises(DriverDatabaseError) as info:
        parse_database(text, "/x/driver_database.json")
    assert "/x/driver_database.json" in str(info.value)


def test_shipped_database_is_valid():
    db = parse_database(SHIPPED_PATH.read_text(encoding="utf-8"), str(SHIPPED_PATH))
    assert db.problems == []


def test_user_file_in_techcare_home_is_merged_over_shipped(tmp_path: Path):
    shipped = tmp_path / "shipped.json"
    shipped.write_text(
        json.dumps(
            [GOOD, {**GOOD, "hardware_id": "PCI\\VEN_8086&DEV_15BC", "name": "I219-V", "latest_version": "12.19.2.45"}]
        )
    )
    user = user_database_path()
    user.parent.mkdir(parents=True, exist_ok=True)
    assert str(user).startswith(str(tmp_path))  # isolated TECHCARE_HOME
    user.write_text(
        json.dumps(
            [
                {**GOOD, "hardware_id": "pci\\ven_10de&dev_2206", "latest_version": "531.18"},
                {**GOOD, "hardware_id": "USB\\VID_046D&PID_C52B", "name": "Unifying", "latest_version": "1.2"},
            ]
        )
    )
    db = load_database(shipped)
    assert [(o.hardware_id, o.latest_version) for o in db.offers] == [
        ("PCI\\VEN_10DE&DEV_2206", "531.18"),
        ("PCI\\VEN_8086&DEV_15BC", "12.19.2.45"),
        ("USB\\VID_046D&PID_C52B", "1.2"),
    ]
    assert db.files == [str(shipped), str(user)]
    assert len(load_database(shipped, user=False).offers) == 2


def test_broken_user_file_raises(tmp_path: Path):
    user = user_database_path()
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text("[{")
    with pytest.raises(DriverDatabaseError):
        load_database()
