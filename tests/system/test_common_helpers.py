"""The helpers the per-OS probe modules share (system/_common.py) and the runner's notion of "now"."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest

from techcare.system import _common, _macos, _windows
from techcare.system.runner import DryRunRunner, Entry, RecordingRunner, ReplayRunner

SYSTEM = Path(_common.__file__).parent


@pytest.mark.parametrize(("value", "expected"), [
    (7, 7), (7.9, 7), ("42", 42), ("3.5", 3), (" 12 ", 12),
    (None, None), (True, None), (False, None), ("", None), ("n/a", None), ([1], None), (float("inf"), None),
])
def test_to_int_reads_numbers_and_refuses_the_rest(value, expected):
    assert _common.to_int(value) == expected


def test_time_sort_key_orders_newest_first_and_puts_unknown_times_last():
    times = ["2024-05-01T10:00:00+02:00", None, "2024-05-01T09:30:00+00:00", "garbage", "2024-05-01T08:00:00"]
    ordered = sorted(times, key=_common.time_sort_key, reverse=True)
    assert ordered[:3] == ["2024-05-01T09:30:00+00:00", "2024-05-01T10:00:00+02:00", "2024-05-01T08:00:00"]
    assert set(ordered[3:]) == {None, "garbage"}


def test_time_sort_key_takes_a_time_without_offset_as_utc():
    assert _common.time_sort_key("2024-05-01T08:00:00") == _common.time_sort_key("2024-05-01T08:00:00+00:00")


@pytest.mark.parametrize(("older", "newer"), [
    ("14.9", "14.10"), ("6.1.0-9-amd64", "6.1.0-13-amd64"), ("6.5.6-300.fc39.x86_64", "6.5.11-300.fc39.x86_64"),
    ("5287", "5288"), ("1.2", "1.2.1"), ("1.2.0", "1.2.a"),
])
def test_version_key_compares_numbers_as_numbers(older, newer):
    assert _common.version_key(older) < _common.version_key(newer)


def test_version_key_ignores_separators_and_case():
    assert _common.version_key("1.2-RC") == _common.version_key("1_2.rc")
    assert _common.version_key("") == ()


def test_one_parse_error_for_every_os_module():
    assert _windows.ParseError is _macos.ParseError is _common.ParseError
    assert issubclass(_common.ParseError, ValueError)


def test_os_modules_keep_no_copies_of_the_shared_helpers():
    shared = {"ParseError", "_int", "_sort_key", "_version_key", "_now", "to_int", "time_sort_key", "version_key"}
    for module in ("_linux.py", "_windows.py", "_macos.py"):
        tree = ast.parse((SYSTEM / module).read_text(encoding="utf-8"))
        defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        assert not defined & shared, f"{module} defines its own {sorted(defined & shared)}"


def test_replay_now_is_the_snapshot_capture_time_and_not_a_request():
    runner = ReplayRunner([Entry("fact", "metrics", {"timestamp": 1_700_000_000.5})])
    assert runner.now() == 1_700_000_000.5
    assert runner.calls == []                       # asking for the time is not a probe request


def test_replay_without_a_capture_time_is_looked_at_now():
    for entries in ([], [Entry("fact", "metrics", {"timestamp": "yesterday"})], [Entry("fact", "metrics", None)]):
        before = time.time()
        assert before <= ReplayRunner(entries).now() <= time.time()


def test_wrapping_runners_answer_the_time_of_what_they_wrap():
    inner = ReplayRunner([Entry("fact", "metrics", {"timestamp": 1_600_000_000})])
    assert RecordingRunner(inner).now() == 1_600_000_000
    assert DryRunRunner(inner).now() == 1_600_000_000

