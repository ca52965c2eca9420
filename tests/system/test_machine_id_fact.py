"""The machine id is a system fact read through the runner; the license only keeps an HMAC of it."""

from __future__ import annotations

import ast
from pathlib import Path

import techcare.license
from techcare.system import _facts
from techcare.system.runner import Entry, FileResult, ReplayRunner


def test_linux_reads_machine_id_then_the_dbus_copy():
    runner = ReplayRunner([Entry("file", "/var/lib/dbus/machine-id", FileResult("/var/lib/dbus/machine-id", "d0\n"))])
    assert _facts.machine_id(runner) == "d0"
    assert runner.calls == [("file", "/etc/machine-id"), ("file", "/var/lib/dbus/machine-id")]


def test_no_readable_id_is_none_never_a_guess():
    assert _facts.machine_id(ReplayRunner(platform="linux")) is None
    windows = ReplayRunner(platform="windows")
    windows.add_command(list(_facts.WINDOWS_MACHINE_GUID_ARGV), 1, "", "ERROR: access denied")
    assert _facts.machine_id(windows) is None
    assert _facts.machine_id(ReplayRunner(platform="plan9")) is None


def test_the_raw_id_is_never_a_recorded_fact():
    assert "machine_id" not in _facts.PROVIDERS     # a snapshot never carries it


def test_the_license_does_no_os_access_of_its_own():
    tree = ast.parse(Path(techcare.license.__file__).read_text(encoding="utf-8"))
    calls = {node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute)}
    assert not calls & {"run", "read_file", "list_dir", "which"}
