"""Windows probe outputs with a field taken away (issue 20 item 4): a value that was not read never gives "ok".

Walks the real Windows fixtures field by field (removed, null, text): nothing raises past the parsers' own
``ParseError`` (which the probe turns into an explained unknown), and no finding becomes "ok" that was not.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from techcare.diagnosis import findings_from_results
from techcare.system import _windows as W
from techcare.system import records as R
from techcare.system._common import ParseError

FIXTURES = Path(__file__).parent / "fixtures" / "windows"

CASES = {
    "firewall": ("firewall_win11_ps7_public_off.json", W.parse_firewall),
    "antivirus": ("defender_win11_ps7_outdated.json", lambda text: W.parse_antivirus(text, None)),
    "update_service": ("wuauserv_win11_ps7_disabled.json", W.parse_update_service),
    "pending_reboot": ("reboot_pending_ps51.json", W.parse_pending_reboot),
    "pending_updates": ("updates_win11_security_ps51.json", W.parse_updates),
    "smart": ("disks_win11_failing_ps51.json", W.parse_disks),
}


def severities(probe: str, data: Any) -> dict[str, str]:
    found = findings_from_results({probe: R.ProbeResult(probe, "ok", data)}, "windows")
    return {f.check: f.severity for f in found}


def paths(value: Any, path: tuple = ()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:2]):
            yield from paths(item, (*path, i))


@pytest.mark.parametrize("probe", list(CASES))
def test_a_windows_field_gone_never_turns_a_finding_ok(probe):
    name, parse = CASES[probe]
    text = (FIXTURES / name).read_text(encoding="utf-8-sig")
    before = severities(probe, parse(text))
    assert "ok" not in before.values() or probe == "smart"      # every case starts from a problem
    for path in paths(json.loads(text)):
        if path[-1] in ("DeviceId", "Name", "FriendlyName"):
            continue                                             # names a finding, its check id changes with it
        for bad in ("removed", None, "garbage"):
            data = copy.deepcopy(json.loads(text))
            holder = data
            for step in path[:-1]:
                holder = holder[step]
            if bad == "removed":
                if not isinstance(holder, dict):
                    continue
                del holder[path[-1]]
            else:
                holder[path[-1]] = bad
            if probe == "pending_updates" and path == ("Updates",) and bad is None:
                continue                                         # null is how PowerShell writes an empty list
            try:
                after = severities(probe, parse(json.dumps(data)))
            except ParseError:
                continue                                         # the probe says "unknown: ... not understood"
            for check, severity in after.items():
                if severity == "ok":
                    assert before.get(check) == "ok", (probe, path, bad, check)


def test_wuauserv_without_start_type_is_not_fine():
    text = json.dumps({"Name": "wuauserv", "Status": 1})
    with pytest.raises(ParseError, match="start type"):
        W.parse_update_service(text)


def test_a_search_result_without_updates_field_is_not_no_updates():
    with pytest.raises(ParseError, match="Updates"):
        W.parse_updates(json.dumps({"ResultCode": 2}))
    assert W.parse_updates(json.dumps({"ResultCode": 2, "Updates": None})).updates == []   # PowerShell's empty list
