"""Windows parsers on recorded PowerShell 5.1 / 7 outputs (fixtures/windows, see SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from techcare.i18n import Message, localize
from techcare.system import _windows as win
from techcare.system.runner import decode_output

FIXTURES = Path(__file__).parent / "fixtures" / "windows"


def fixture(name: str) -> str:
    """The fixture decoded exactly as a runner decodes command output (BOM dropped, CRLF kept)."""
    return decode_output((FIXTURES / name).read_bytes())


# ---- the fixtures themselves -------------------------------------------------------------------------------

def test_fixtures_are_stored_byte_exact_with_crlf():
    jsons = sorted(FIXTURES.glob("*.json"))
    assert len(jsons) >= 30
    for path in jsons:
        raw = path.read_bytes()
        assert b"\r\n" in raw, path.name
        assert b"\n" not in raw.replace(b"\r\n", b""), f"{path.name} has a bare LF"
    assert (FIXTURES / "firewall_single_object_named_ps51.json").read_bytes().startswith(b"\xef\xbb\xbf")
    assert b'"\\/Date(' in (FIXTURES / "events_win10_ps51.json").read_bytes()
    assert b'":  ' in (FIXTURES / "events_win10_ps51.json").read_bytes()        # 5.1: two spaces
    assert b'": "' in (FIXTURES / "events_win11_ps7.json").read_bytes()         # 7: one space


def test_every_fixture_is_named_in_sources():
    import fnmatch

    rows = [line.split("|")[1] for line in (FIXTURES / "SOURCES.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and not line.startswith("| fixture")]
    patterns = [name.strip() for row in rows for name in row.split(",")]
    for path in FIXTURES.iterdir():
        if path.name not in ("SOURCES.md", "build_fixtures.py", "__pycache__"):
            assert any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns), path.name


# ---- dates -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("/Date(1692057600000)/", "2023-08-15T00:00:00+00:00"),                     # 5.1 after JSON decoding
    ("\\/Date(1692057600000)\\/", "2023-08-15T00:00:00+00:00"),                 # still escaped
    ("/Date(1692057600000+0200)/", "2023-08-15T00:00:00+00:00"),                # offset is display only
    ({"value": "/Date(1692057600000)/", "DisplayHint": 2, "DateTime": "Tuesday, August 15, 2023"},
     "2023-08-15T00:00:00+00:00"),                                              # ETS-wrapped DateTime
    ("2023-08-15T10:00:00.1234567+02:00", "2023-08-15T10:00:00.123456+02:00"),  # PowerShell 7
    ("2023-08-15T08:00:00Z", "2023-08-15T08:00:00+00:00"),
    ("20230815000000.000000-000", "2023-08-15T00:00:00+00:00"),                 # WMI
    ("20230815101500.500000+120", "2023-08-15T10:15:00.500000+02:00"),
    (None, None),
    ("", None),
    ("18-10-2022 09:18:29 AM", "18-10-2022 09:18:29 AM"),                       # unknown: kept, never guessed
])
def test_parse_ps_date_accepts_every_form(raw, expected):
    assert win.parse_ps_date(raw) == expected


# ---- firewall ----------------------------------------------------------------------------------------------

def test_firewall_all_profiles_on_ps51():
    fw = win.parse_firewall(fixture("firewall_win10_ps51.json"))
    assert fw.enabled is True and fw.product == "Windows Firewall"
    assert [(p.name, p.enabled) for p in fw.profiles] == [("Domain", True), ("Private", True), ("Public", True)]


def test_firewall_public_off_ps7():
    fw = win.parse_firewall(fixture("firewall_win11_ps7_public_off.json"))
    assert fw.enabled is False
    assert [p.name for p in fw.profiles if p.enabled is False] == ["Public"]
    assert "Public" in fw.detail


def test_firewall_numeric_enums():
    fw = win.parse_firewall(fixture("firewall_numeric_enums_ps51.json"))
    assert [(p.name, p.enabled) for p in fw.profiles] == [("Domain", True), ("Private", False), ("Public", True)]


def test_firewall_single_object_with_named_enum_and_bom():
    fw = win.parse_firewall(fixture("firewall_single_object_named_ps51.json"))
    assert [(p.name, p.enabled) for p in fw.profiles] == [("Domain", True)]


def test_firewall_not_configured_is_not_reported_as_on():
    fw = win.parse_firewall('[{"Name":"Domain","Enabled":2},{"Name":"Public","Enabled":1}]')
    assert fw.enabled is None
    assert fw.profiles[0].enabled is None


@pytest.mark.parametrize("text", ["[]", "", "not json", '"text"', "[1, 2]"])
def test_firewall_without_profiles_is_a_parse_error(text):
    with pytest.raises(ValueError):
        win.parse_firewall(text)


# ---- antivirus ---------------------------------------------------------------------------------------------

def test_defender_healthy_values_from_the_documentation():
    av = win.parse_defender(fixture("defender_win10_ps51.json"))
    assert av is not None
    assert (av.name, av.enabled, av.realtime, av.up_to_date, av.signature_age_days) == (
        "Microsoft Defender Antivirus", True, True, True, 0)
    assert "2022-10-18T09:18:29+00:00" in av.detail


def test_defender_outdated_signatures_ps7():
    av = win.parse_defender(fixture("defender_win11_ps7_outdated.json"))
    assert av.enabled is True and av.up_to_date is False and av.signature_age_days == 12


def test_defender_passive_mode_is_not_the_active_engine():
    av = win.parse_defender(fixture("defender_passive_ps51.json"))
    assert av.enabled is False and "another antivirus is active" in av.detail


def test_defender_signature_age_fallback_and_never_updated():
    recent = win.parse_defender('{"AMServiceEnabled":true,"AntivirusEnabled":true,"AntivirusSignatureAge":3}')
    old = win.parse_defender('{"AMServiceEnabled":true,"AntivirusEnabled":true,"AntivirusSignatureAge":9}')
    never = win.parse_defender('{"AMServiceEnabled":true,"AntivirusEnabled":true,"AntivirusSignatureAge":65535}')
    assert (recent.up_to_date, old.up_to_date, never.up_to_date, never.signature_age_days) == (True, False, False, None)


def test_defender_service_off_and_missing_fields():
    off = win.parse_defender('[{"AMServiceEnabled":false,"AntivirusEnabled":false}]')
    assert off.enabled is False and "service disabled" in off.detail
    vague = win.parse_defender('[{"AntivirusEnabled":true}]')
    assert vague.enabled is None
    assert win.parse_defender("[]") is None


@pytest.mark.parametrize("state, expected", [
    (397568, (True, True, "on")),       # 0x061100 Defender on, up to date
    (393472, (False, True, "off")),     # 0x060100 Defender off
    (266240, (True, True, "on")),       # 0x041000 third party on
    (266256, (True, False, "on")),      # 0x041010 on, signatures out of date
    (262144, (False, True, "off")),
    (270336, (False, True, "snoozed")),  # 0x042000
    (274432, (False, True, "expired")),  # 0x043000
])
def test_security_center_product_state(state, expected):
    assert win.decode_product_state(state) == expected


def test_security_center_third_party_and_defender_deduplication():
    text = fixture("securitycenter_win11_thirdparty_ps7.json")
    everything = win.parse_security_center(text)
    assert [(p.name, p.enabled) for p in everything] == [("Windows Defender", False), ("Avast Antivirus", True)]
    assert [p.name for p in win.parse_security_center(text, skip_defender=True)] == ["Avast Antivirus"]


def test_antivirus_passive_defender_with_active_third_party_is_protected():
    status = win.parse_antivirus(fixture("defender_passive_ps51.json"),
                                 fixture("securitycenter_win11_thirdparty_ps7.json"))
    assert [p.name for p in status.products] == ["Microsoft Defender Antivirus", "Avast Antivirus"]
    assert status.protected is True


def test_antivirus_defender_listed_once():
    status = win.parse_antivirus(fixture("defender_win10_ps51.json"), fixture("securitycenter_win10_defender_ps51.json"))
    assert [p.name for p in status.products] == ["Microsoft Defender Antivirus"]


def test_antivirus_nothing_enabled_is_unprotected():
    status = win.parse_antivirus('[{"AMServiceEnabled":false,"AntivirusEnabled":false}]', "[]")
    assert status.protected is False


# ---- update service ----------------------------------------------------------------------------------------

def test_wuauserv_manual_and_stopped_is_normal():
    us = win.parse_update_service(fixture("wuauserv_win10_ps51.json"))
    assert (us.name, us.state, us.start_type, us.problem) == ("wuauserv", "stopped", "manual", False)


def test_wuauserv_disabled_is_the_problem():
    us = win.parse_update_service(fixture("wuauserv_win11_ps7_disabled.json"))
    assert (us.start_type, us.problem) == ("disabled", True)


def test_wuauserv_named_enums_single_object():
    us = win.parse_update_service(fixture("wuauserv_named_enums_de_ps51.json"))
    assert (us.state, us.start_type, us.problem) == ("running", "manual", False)


def test_wuauserv_missing_cannot_deliver_updates():
    us = win.parse_update_service(fixture("wuauserv_missing_ps51.json"))
    assert (us.name, us.state, us.start_type, us.problem) == ("wuauserv", "missing", None, True)


@pytest.mark.parametrize("start, expected", [(2, "auto"), ("Automatic", "auto"), ("AutomaticDelayedStart", "auto"),
                                             (3, "manual"), (4, "disabled"), ("Disabled", "disabled")])
def test_wuauserv_start_types(start, expected):
    import json

    us = win.parse_update_service(json.dumps([{"Name": "wuauserv", "Status": 4, "StartType": start}]))
    assert us.start_type == expected and us.problem is (expected == "disabled")


# ---- services ----------------------------------------------------------------------------------------------

def test_services_only_really_failed_or_stopped_automatic_ones():
    found = win.parse_services(fixture("services_win10_ps51.json"))
    assert [(s.name, s.state) for s in found] == [("Spooler", "failed"), ("Audiosrv", "stopped")]
    spooler = found[0]
    assert spooler.display_name == "Print Spooler" and spooler.start_type == "auto" and "1067" in spooler.description
    assert "since boot" in found[1].description


def test_services_german_machine_and_service_specific_exit_code():
    found = win.parse_services(fixture("services_win11_de_ps7.json"))
    assert [(s.name, s.display_name, s.state) for s in found] == [
        ("Spooler", "Druckwarteschlange", "failed"), ("MySQL80", "MySQL80", "failed")]
    assert "service-specific code 1" in found[1].description


def test_services_normally_stopped_list_and_per_user_instances():
    assert win._normally_stopped("gupdate") and win._normally_stopped("CDPUserSvc_4a7f3")
    assert win._normally_stopped("SPPSVC")
    assert not win._normally_stopped("Spooler") and not win._normally_stopped("CDPUserSvc_notahex")


def test_services_delayed_with_error_is_reported():
    text = '{"Name":"WSearch","DisplayName":"Windows Search","State":"Stopped","StartMode":"Auto","ExitCode":1067,' \
           '"DelayedAutoStart":true,"TriggerStart":false}'
    found = win.parse_services(text)
    assert [(s.name, s.state, s.start_type) for s in found] == [("WSearch", "failed", "delayed-auto")]


def test_services_none():
    assert win.parse_services(fixture("services_none_ps7.json")) == []


# ---- pending updates ---------------------------------------------------------------------------------------

def test_updates_security_critical_and_driver():
    pu = win.parse_updates(fixture("updates_win11_security_ps51.json"))
    assert pu.manager == "windows_update" and pu.count == 4 and pu.security_count == 2
    first = pu.updates[0]
    assert first.kb == ["KB5030219"] and first.severity == "Critical" and first.security is True
    assert first.source == "Security Updates, Windows 11"
    defs, driver = pu.updates[2], pu.updates[3]
    assert defs.security is False and defs.severity is None
    assert driver.source == "Drivers" and driver.kb == []


def test_updates_german_categories_detected_by_id():
    pu = win.parse_updates(fixture("updates_win10_de_ps51.json"))
    assert [u.security for u in pu.updates] == [True, False]
    assert pu.updates[0].name.startswith("2023-09 Kumulatives Update für Windows 10")


def test_updates_none():
    pu = win.parse_updates(fixture("updates_none_ps7.json"))
    assert pu.count == 0 and pu.manager == "windows_update"


def test_updates_failed_result_code_is_an_error():
    with pytest.raises(ValueError, match="ResultCode 4"):
        win.parse_updates('{"ResultCode": 4, "Updates": []}')


@pytest.mark.parametrize("name, code, words", [
    ("updates_error_8024402C.stderr", 0x8024402C, "no connection"),
    ("updates_error_uncaught_de.stderr", 0x80072EE2, "timed out"),
    ("updates_error_service_disabled.stderr", 0x80070422, "disabled"),
])
def test_hresult_explained(name, code, words):
    found = win.explain_hresult(fixture(name))
    assert found is not None and found[0] == code and words in found[1]


def test_unknown_wu_hresult_still_named():
    assert win.explain_hresult("HRESULT 0x80240FFF") == (0x80240FFF, Message("Fehler des Windows-Update-Agenten",
                                                                             "Windows Update Agent error"))
    assert win.explain_hresult("exit 1, nothing useful") is None


# ---- pending reboot ----------------------------------------------------------------------------------------

def test_reboot_all_three_signals_named():
    pr = win.parse_pending_reboot(fixture("reboot_pending_ps51.json"))
    assert pr.required is True
    assert pr.sources == ["Component Based Servicing\\RebootPending", "WindowsUpdate\\Auto Update\\RebootRequired",
                          "Session Manager\\PendingFileRenameOperations"]


def test_reboot_none_and_renames_only():
    assert win.parse_pending_reboot(fixture("reboot_none_ps7.json")).required is False
    only = win.parse_pending_reboot(fixture("reboot_renames_only_ps51.json"))
    assert only.required is True and only.sources == ["Session Manager\\PendingFileRenameOperations"]


def test_reboot_missing_signal_is_an_error_not_a_no():
    with pytest.raises(ValueError, match="WURebootRequired"):
        win.parse_pending_reboot('{"CBSRebootPending": false, "PendingFileRenameOperations": []}')


# ---- events ------------------------------------------------------------------------------------------------

def test_events_ps51_dates_levels_order():
    evs = win.parse_events(fixture("events_win10_ps51.json"))
    assert len(evs) == 5
    assert [e.event_id for e in evs] == [7031, 1000, 41, 10016, 1001]
    assert evs[0].time == "2023-09-15T07:05:22+00:00" and evs[0].level == "error" and evs[0].log == "System"
    assert evs[2].level == "critical" and evs[2].source == "Microsoft-Windows-Kernel-Power"
    assert "\r" not in evs[1].message and evs[1].message.count("\n") == 2


def test_events_ps7_are_sorted_newest_first_and_cut_to_five():
    evs = win.parse_events(fixture("events_win11_ps7.json"))
    assert len(evs) == 5
    assert [e.event_id for e in evs] == [7023, 41, 1000, 10010, 129]
    assert evs[0].time == "2023-09-15T09:13:05.102998+02:00"


def test_events_german_machine():
    evs = win.parse_events(fixture("events_win10_de_ps51.json"))
    assert [e.level for e in evs] == ["error", "critical", "error"]
    assert evs[0].message.startswith('Der Dienst "Druckwarteschlange"')
    assert "ordnungsgemäß" in evs[1].message


def test_events_level_from_localised_name_when_number_missing():
    evs = win.parse_events('[{"TimeCreated":null,"LevelDisplayName":"Kritisch","ProviderName":"x","Message":null}]')
    assert evs[0].level == "critical" and evs[0].message == "" and evs[0].time is None


def test_events_none():
    assert win.parse_events(fixture("events_none_ps51.json")) == []


# ---- disks -------------------------------------------------------------------------------------------------

def test_disks_admin_healthy():
    disks = win.parse_disks(fixture("disks_win10_admin_healthy_ps51.json"))
    assert [(d.device, d.health, d.protocol) for d in disks] == [("PhysicalDisk0", "passed", "NVMe"),
                                                                 ("PhysicalDisk1", "passed", "SATA")]
    nvme, hdd = disks
    assert (nvme.temperature_c, nvme.power_on_hours, nvme.percentage_used, nvme.smart_passed) == (38.0, 5321, 2, True)
    assert hdd.model == "ST2000DM008-2FR102" and hdd.temperature_c == 28.0


def test_disks_failing_disk():
    disks = win.parse_disks(fixture("disks_win11_failing_ps51.json"))
    failing = disks[1]
    assert failing.health == "failing" and failing.smart_passed is False
    assert "OperationalStatus=predictive failure" in failing.failing_attributes
    assert "152 uncorrected read errors" in en(failing.issues)
    assert "152 nicht korrigierte Lesefehler" in [localize(i, "de") for i in failing.issues]
    assert disks[0].health == "passed"


def test_disks_without_admin_are_unknown_never_healthy():
    disks = win.parse_disks(fixture("disks_win11_nonadmin_ps7.json"))
    assert len(disks) == 1
    assert disks[0].health == "unknown"
    assert any(issue.startswith("needs elevation: run TechCare as administrator") for issue in en(disks[0].issues))


def test_disks_not_admin_known_from_host_fact_when_wrapper_missing():
    text = '[{"DeviceId":"0","FriendlyName":"X","HealthStatus":0,"OperationalStatus":[2],"Reliability":null}]'
    assert win.parse_disks(text, is_admin=False)[0].health == "unknown"


def test_disks_string_enums_warning_and_unsupported_counters():
    warn, usb = win.parse_disks(fixture("disks_warning_strings_ps7.json"))
    assert warn.health == "warning" and warn.percentage_used == 93
    assert any("wear 93" in i for i in warn.issues) and any("degraded" in i for i in warn.issues)
    assert usb.health == "passed" and usb.protocol == "USB"
    assert any("Not Supported" in i for i in usb.issues)


def test_disks_unknown_health_status():
    disk = win.parse_disks('{"IsAdmin":true,"Disks":[{"DeviceId":"2","HealthStatus":5,"OperationalStatus":[0],'
                           '"Reliability":{"Temperature":30}}]}')[0]
    assert disk.health == "unknown" and disk.smart_passed is None


def test_disks_hot_and_write_errors_warn():
    disk = win.parse_disks('{"IsAdmin":true,"Disks":[{"DeviceId":"0","HealthStatus":0,"OperationalStatus":[2],'
                           '"Reliability":{"Temperature":74,"WriteErrorsUncorrected":3}}]}')[0]
    assert disk.health == "warning"
    assert "temperature 74 °C" in en(disk.issues) and "3 uncorrected write errors" in en(disk.issues)


def test_events_verbatim_unprojected_ps51_record():
    text = fixture("events_unprojected_information_ps51_verbatim.json")
    assert win.parse_events(text) == []                 # Level 4 Information is not an error event
    as_error = win.parse_events(text.replace('"Level":  4,', '"Level":  2,'))
    assert len(as_error) == 1
    event = as_error[0]
    assert (event.time, event.level, event.source, event.event_id, event.log) == (
        "2020-07-21T23:34:18.918000+00:00", "error", "Microsoft-Windows-Hyper-V-Netvsc", 13, "System")
    assert event.message == "Miniport NIC 'Microsoft Hyper-V Network Adapter #3' disconnected"


def test_events_warning_level_is_skipped():
    assert win.parse_events('[{"Level":3,"LevelDisplayName":"Warning","ProviderName":"x"}]') == []


def test_firewall_named_gpo_booleans():
    fw = win.parse_firewall('[{"Name":"Domain","Enabled":"True"},{"Name":"Private","Enabled":"False"},'
                            '{"Name":"Public","Enabled":"NotConfigured"}]')
    assert [p.enabled for p in fw.profiles] == [True, False, None] and fw.enabled is False


def test_text_in_front_of_the_json_is_skipped_but_broken_json_is_not_accepted():
    text = "WARNING: The names of some imported commands include unapproved verbs.\r\n" + fixture("firewall_win10_ps51.json")
    assert win.parse_firewall(text).enabled is True
    truncated = fixture("firewall_win10_ps51.json")[:-20]
    with pytest.raises(ValueError, match="not JSON"):
        win.parse_firewall(truncated)


def test_cut_off_array_never_yields_its_last_complete_element():
    text = '[\r\n    {\r\n        "Name":  "Domain",\r\n        "Enabled":  "False"\r\n    },\r\n' \
           '    {\r\n        "Name":  "Public",\r\n        "Enabled":  "True"\r\n    }\r\n'
    with pytest.raises(ValueError, match="not JSON"):
        win.parse_firewall(text)


def en(items) -> list[str]:
    """Issues as the English reader sees them (explanations are German/English messages, data is text)."""
    return [localize(i, "en") for i in items]
