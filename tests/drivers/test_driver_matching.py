"""Hardware id normalisation, matching (index, SUBSYS/REV variants) and version comparison tables."""

from __future__ import annotations

from datetime import date

import pytest

from techcare.tools.drivers import candidates, compare_versions, match, normalise_hardware_id
from techcare.tools.drivers.core import evaluate
from techcare.tools.drivers.hwids import from_pci, from_usb
from techcare.tools.drivers.records import InstalledDriver, UpdateOffer, default_importance
from techcare.tools.drivers.versions import nvidia_display_version, parse_date


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462&REV_A1", "PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462&REV_A1"),
        ("pci\\ven_10de&dev_2206", "PCI\\VEN_10DE&DEV_2206"),
        ("PCI\\VEN_10DE&DEV_2206&REV_A1&SUBSYS_38971462", "PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462&REV_A1"),
        ("PCI\\VEN_10DE&DEV_2206&CC_030000", "PCI\\VEN_10DE&DEV_2206"),
        ("10de:2206", "PCI\\VEN_10DE&DEV_2206"),
        ("0x10de:0x2206", "PCI\\VEN_10DE&DEV_2206"),
        ("USB\\VID_046D&PID_C52B&REV_1211&MI_00", "USB\\VID_046D&PID_C52B&REV_1211"),
        ("HID\\VID_046D&PID_C52B&MI_00", "USB\\VID_046D&PID_C52B"),
        (
            "HDAUDIO\\FUNC_01&VEN_10EC&DEV_0887&SUBSYS_10438698&REV_1003",
            "HDAUDIO\\FUNC_01&VEN_10EC&DEV_0887&SUBSYS_10438698&REV_1003",
        ),
        ("ACPI\\PNP0103", "ACPI\\PNP0103"),
        ("  ", None),
        (None, None),
    ],
)
def test_normalise(raw, expected):
    assert normalise_hardware_id(raw) == expected


def test_linux_and_windows_ids_agree():
    windows = normalise_hardware_id("PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462&REV_A1")
    linux = from_pci("0x10de", "0x2206", "0x1462", "0x3897", "0xa1")
    assert linux == windows
    assert from_usb("046d", "c52b", "1211") == "USB\\VID_046D&PID_C52B&REV_1211"
    assert from_pci("0x10de", None) is None


def test_candidates_most_specific_first():
    assert candidates("PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462&REV_A1") == [
        "PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462&REV_A1",
        "PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462",
        "PCI\\VEN_10DE&DEV_2206&REV_A1",
        "PCI\\VEN_10DE&DEV_2206",
    ]
    assert candidates("USB\\VID_046D&PID_C52B") == ["USB\\VID_046D&PID_C52B"]
    assert candidates("ACPI\\PNP0103") == ["ACPI\\PNP0103"]


def _drv(hwid, version="1.0", **kw):
    return InstalledDriver(
        device=kw.pop("device", hwid), hardware_id=normalise_hardware_id(hwid), installed_version=version, **kw
    )


def _offer(hwid, version, source="custom_db", **kw):
    return UpdateOffer(
        source=source, name=kw.pop("name", "x"), hardware_id=normalise_hardware_id(hwid), latest_version=version, **kw
    )


def test_ids_differing_only_in_subsys_or_rev():
    board_a = _drv("PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462&REV_A1", "512.95", vendor="NVIDIA")
    board_b = _drv("PCI\\VEN_10DE&DEV_2206&SUBSYS_147E10DE&REV_A1", "512.95", vendor="NVIDIA")
    generic = _offer("PCI\\VEN_10DE&DEV_2206", "528.49")
    msi_only = _offer("PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462", "530.10")
    rows = match([board_a, board_b], [generic, msi_only])
    assert rows[0].offer is msi_only and rows[1].offer is generic
    assert all(r.status == "outdated" for r in rows)
    # an entry for another revision does not apply
    rows = match([board_a], [_offer("PCI\\VEN_10DE&DEV_2206&REV_B1", "999.0")])
    assert rows[0].status == "no_data"
    # other chip -> nothing
    assert match([_drv("PCI\\VEN_10DE&DEV_2207")], [generic])[0].status == "no_data"


def test_unmatched_source_offers_are_listed_as_available():
    apple = UpdateOffer(
        source="apple", name="macOS 14.2", hardware_id=None, latest_version="14.2", source_says_newer=True
    )
    db_only = _offer("PCI\\VEN_1234&DEV_0001", "2.0")
    rows = match([], [apple, db_only])
    assert [(r.offer.name, r.status) for r in rows] == [("macOS 14.2", "available")]


def test_best_offer_per_driver_prefers_outdated_and_importance():
    drv = _drv("PCI\\VEN_8086&DEV_15BC", "12.19.1.37", category="Network")
    same = _offer("PCI\\VEN_8086&DEV_15BC", "12.19.1.37")
    newer = _offer("PCI\\VEN_8086&DEV_15BC", "12.19.2.45", source="windows_update", importance="CRITICAL")
    (row,) = match([drv], [same, newer])
    assert row.offer is newer and row.status == "outdated" and row.importance == "CRITICAL"


@pytest.mark.parametrize(
    ("installed", "available", "kw", "expected"),
    [
        ("512.95", "528.49", {}, -1),
        ("528.49", "528.49", {}, 0),
        ("31.0.15.2849", "31.0.15.1295", {}, 1),
        ("31.0.15.1295", "31.0.15.2849", {}, -1),
        ("31.0.15.1295", "528.49", {"vendor": "NVIDIA"}, -1),
        ("31.0.15.2849", "528.49", {"hardware_id": "PCI\\VEN_10DE&DEV_2206"}, 0),
        ("512.95", "31.0.15.2849", {}, None),  # different schemes, no vendor mapping
        ("10.0.19041.1", "10.0.19041.1889", {}, -1),
        ("2.0.6", "2.0.7", {}, -1),
        ("2.0.10", "2.0.9", {}, 1),  # numeric, not lexical
        ("1.2", "1.2.0", {}, 0),
        ("1.2.3-rc1", "1.2.3", {}, -1),
        ("1.2.3-beta2", "1.2.3-beta10", {}, -1),
        ("1.2.3-k1", "1.2.3-k2", {}, -1),
        ("5.10.0-amd64", "5.10.0-generic", {}, 0),
        ("1.0-custom", "1.0-patched", {}, None),
        ("0x000000de", "0x000000f0", {}, -1),
        ("0x000000de", "222", {}, None),
        ("v2.5", "2.6", {}, -1),
        ("", "1.0", {}, None),
        (None, "1.0", {}, None),
        ("unknown", "1.0", {}, None),
    ],
)
def test_compare_versions_table(installed, available, kw, expected):
    assert compare_versions(installed, available, **kw) == expected


def test_nvidia_display_version():
    assert nvidia_display_version("31.0.15.2849") == "528.49"
    assert nvidia_display_version("30.0.15.1295") == "512.95"
    assert nvidia_display_version("1.2.3") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\\/Date(1150848000000)\\/", date(2006, 6, 21)),
        ("/Date(1651795200000)/", date(2022, 5, 6)),
        ("2006-06-21T00:00:00", date(2006, 6, 21)),
        ("2022-05-06T02:00:00+02:00", date(2022, 5, 6)),
        ("20230815000000.000000-000", date(2023, 8, 15)),
        ("20210201000000.******+000", date(2021, 2, 1)),
        ("21.06.2006", date(2006, 6, 21)),
        ("06/21/2006", date(2006, 6, 21)),
        (1482901200, date(2016, 12, 28)),
        ({"value": "\\/Date(1150848000000)\\/", "DisplayHint": 2, "DateTime": "Mittwoch, 21. Juni 2006 02:00:00"},
         date(2006, 6, 21)),
        ("2023-02-30", None),
        ("soon", None),
        (None, None),
        ("", None),
    ],
)
def test_parse_date_shapes(raw, expected):
    assert parse_date(raw) == expected


def test_date_fallback_and_inbox_rule():
    offer = _offer("PCI\\VEN_8086&DEV_A352", "Build 2023", release_date=date(2023, 1, 1))
    dated = _drv("PCI\\VEN_8086&DEV_A352", "Rel A", driver_date=date(2020, 1, 1))
    row = evaluate(dated, offer)
    assert (row.status, row.basis) == ("outdated", "date")
    inbox = _drv("PCI\\VEN_8086&DEV_A352", "Rel A", driver_date=date(2006, 6, 21), inbox=True)
    row = evaluate(inbox, offer)
    assert row.status == "unknown" and "no update claimed" in row.note or "kein Update" in row.note
    # no dates, no comparable versions: say so
    row = evaluate(_drv("PCI\\VEN_8086&DEV_A352", "Rel A"), _offer("PCI\\VEN_8086&DEV_A352", "Build 2023"))
    assert row.status == "unknown"


def test_source_claim_used_only_when_versions_are_not_comparable():
    wu = _offer("PCI\\VEN_1234&DEV_2206", "31.0.15.2849", source="windows_update", source_says_newer=True)
    row = evaluate(_drv("PCI\\VEN_1234&DEV_2206", "512.95"), wu)
    assert (row.status, row.basis) == ("outdated", "source") and row.note
    # NVIDIA: the two schemes are mapped, so the versions decide
    nv = _offer("PCI\\VEN_10DE&DEV_2206", "31.0.15.2849", source="windows_update", source_says_newer=True)
    assert evaluate(_drv("PCI\\VEN_10DE&DEV_2206", "512.95"), nv).basis == "version"
    already = evaluate(_drv("PCI\\VEN_1234&DEV_2206", "31.0.15.2849"), wu)
    assert already.status == "current" and already.note


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("Display", "RECOMMENDED"),
        ("Graphics", "RECOMMENDED"),
        ("Network", "RECOMMENDED"),
        ("Storage", "RECOMMENDED"),
        ("Firmware", "RECOMMENDED"),
        ("Audio", "OPTIONAL"),
        ("Printer", "OPTIONAL"),
        ("", "OPTIONAL"),
    ],
)
def test_default_importance_rule(category, expected):
    assert default_importance(category) == expected


def test_device_without_driver():
    unbound = InstalledDriver(device="Wi-Fi", hardware_id="PCI\\VEN_8086&DEV_2723", kind="device")
    (row,) = match([unbound], [])
    assert row.status == "no_driver" and not row.is_update
    (row,) = match([unbound], [_offer("PCI\\VEN_8086&DEV_2723", "22.200.0", category="Network")])
    assert (row.status, row.basis) == ("missing", "no_driver") and row.is_update and row.importance == "RECOMMENDED"
