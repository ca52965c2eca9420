"""Windows parsers on real, unprojected outputs from public sources (extra columns, missing fields, enum
numbers, PowerShell 5.1 layout; see fixtures/windows/SOURCES.md, label [V])."""

from __future__ import annotations

from pathlib import Path

from techcare.system import _windows as W
from techcare.system.runner import decode_output

FIX = Path(__file__).parent / "fixtures" / "windows"


def text(name: str) -> str:
    return decode_output((FIX / name).read_bytes())


def test_firewall_full_cim_objects_of_windows_server_2022():
    # every MSFT_NetFirewallProfile property incl. CimClass metadata; Enabled as the GpoBoolean number 1
    status = W.parse_firewall(text("firewall_cnquery_ws2022_full_ps51.json"))
    assert status.enabled is True
    assert [(p.name, p.enabled) for p in status.profiles] == [("Domain", True), ("Private", True), ("Public", True)]


def test_defender_full_status_of_windows_server_2022():
    # all ~60 properties, dates as /Date(ms)/ without the backslashes, tamper protection off on a VM
    product = W.parse_defender(text("defender_cnquery_ws2022_full.json"))
    assert (product.enabled, product.realtime, product.up_to_date, product.signature_age_days) == (True, True, True, 0)
    assert product.detail.en == ("mode: Normal; signatures from 2026-08-24T20:41:36+00:00; tamper protection off")


def test_defender_of_windows_10_1607_without_running_mode_and_old_signatures():
    # 1607 has no AMRunningMode / DefenderSignaturesOutOfDate: the age decides (29 days > 7)
    product = W.parse_defender(text("defender_realmjoin_win10_1607_full.json"))
    assert (product.enabled, product.realtime, product.up_to_date, product.signature_age_days) == (True, True, False, 29)
    assert product.detail.de == "Signaturen vom 2017-08-15T14:37:46+00:00"
