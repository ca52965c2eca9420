"""Live tests on this Linux machine (read-only): every probe answers, and nothing the probes run changes anything."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

import techcare
from techcare import system
from techcare.system.runner import LocalRunner, RecordingRunner

pytestmark = [pytest.mark.live, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")]

REASONS = {"needs_admin", "tool_missing", "timeout", "no_systemd", "parse_error", "failed"}

#: Every command a Linux probe may run, written out here on purpose (not imported from _linux): a probe that
#: starts running anything else — above all something that installs, refreshes or restarts — fails this test.
READ_ONLY = [
    r"ufw status", r"firewall-cmd --state", r"nft list ruleset", r"iptables -S",
    r"systemctl show -p Id,LoadState,ActiveState,SubState,UnitFileState( [\w@.-]+)+",
    r"systemctl --failed --output=json --no-pager", r"systemctl --failed --no-legend --plain --no-pager",
    r"clamscan --version",
    r"apt list --upgradable", r"dnf --cacheonly check-update", r"dnf --cacheonly updateinfo list",
    r"zypper --non-interactive --no-refresh --xmlout list-updates",
    r"zypper --non-interactive --no-refresh --xmlout list-patches", r"checkupdates", r"pacman -Qu",
    r"apk --no-network version -l <", r"rc-status --all --nocolor",
    r"needs-restarting -r", r"dnf needs-restarting -r",
    r"journalctl -p err -b -n 5 -o json --no-pager",
    r"smartctl --json -a /dev/[\w]+",
]

#: Package-manager and journal state that a careless probe would touch (apt update, dnf makecache, vacuum, ...).
WATCHED = ["/var/lib/apt/lists", "/var/lib/apt/lists/partial", "/var/lib/dpkg/status", "/var/lib/dpkg/lock",
           "/var/cache/apt", "/var/cache/apt/archives", "/var/cache/dnf", "/var/lib/dnf", "/var/log/journal",
           "/var/lib/pacman/sync", "/var/cache/zypp", "/var/cache/apk", "/lib/apk/db", "/etc/ufw",
           "/etc/systemd/system"]


def fingerprint() -> dict[str, tuple[int, int, tuple[str, ...]] | None]:
    out: dict[str, tuple[int, int, tuple[str, ...]] | None] = {}
    for path in WATCHED:
        try:
            st = os.stat(path)
        except OSError:
            out[path] = None
            continue
        listing = tuple(sorted(os.listdir(path))) if os.path.isdir(path) else ()
        out[path] = (st.st_mtime_ns, st.st_size, listing)
    return out


def test_live_diagnose_every_probe_answers_or_explains():
    diagnosis = techcare.diagnose()
    assert set(diagnosis.probes) == set(system.PROBES)
    for name, res in diagnosis.probes.items():
        assert res.status in ("ok", "unknown"), (name, res.status)
        if res.status == "unknown":
            assert res.reason_code in REASONS and res.reason, (name, res.reason_code, res.reason)
        else:
            assert res.data is not None, name
    assert diagnosis.probes["metrics"].ok
    checks = {f.check for f in diagnosis}
    for name in ("firewall", "antivirus", "update_service", "pending_updates", "pending_reboot", "events"):
        assert name in checks
    assert diagnosis.duration < 30


def test_live_probes_only_run_read_only_commands_and_change_nothing():
    before = fingerprint()
    recorder = RecordingRunner(LocalRunner())
    results = system.run_probes(runner=recorder)
    after = fingerprint()
    assert after == before
    assert all(r.status in ("ok", "unknown") for r in results.values())
    patterns = [re.compile(p + r"\Z") for p in READ_ONLY]
    for command in recorder.commands:
        line = " ".join(command.argv)
        assert any(p.match(line) for p in patterns), f"probe ran a command not known to be read-only: {line}"
    # whatever was read is a file of system state, never something written
    for entry in recorder.entries:
        if entry.kind == "file":
            assert entry.key.startswith(("/etc/", "/proc/", "/var/run/", "/run/", "/sys/")), entry.key


def test_live_snapshot_round_trip(tmp_path: Path):
    from techcare.system.snapshot import load_snapshot, save_snapshot

    path = tmp_path / "live.json.gz"
    save_snapshot(path)
    replayed = techcare.diagnose(snapshot=path)
    assert all(res.reason_code != "not_recorded" for res in replayed.probes.values()), {
        n: r.reason for n, r in replayed.probes.items() if r.reason_code == "not_recorded"}
    snap = load_snapshot(path)
    assert snap.platform == "linux"
