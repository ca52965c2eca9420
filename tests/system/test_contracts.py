"""Pins which probe exists where: every per-OS module defines every probe with the same signature, and the
probes supported on each platform are exactly this table (a change here is a conscious product decision)."""

import inspect

import pytest

from techcare import system
from techcare.system.records import PROBES
from techcare.system.runner import ReplayRunner

SUPPORTED = {
    "linux": set(PROBES),
    "windows": set(PROBES),
    "darwin": set(PROBES),
}


@pytest.mark.parametrize("platform", sorted(SUPPORTED))
def test_every_module_defines_every_probe(platform):
    module = system.platform_module(platform)
    for name in PROBES:
        function = getattr(module, name, None)
        assert callable(function), f"{platform} lacks probe {name}"
        assert list(inspect.signature(function).parameters) == ["runner"], f"{platform}.{name} signature"


@pytest.mark.parametrize("platform", sorted(SUPPORTED))
def test_supported_table(platform):
    # An empty replay answers nothing: supported probes say "unknown" (with a reason), others "unsupported".
    runner = ReplayRunner([], platform=platform)
    for name in PROBES:
        result = system.probe(name, runner)
        assert result.probe == name
        if name in SUPPORTED[platform]:
            assert result.status in ("unknown", "ok"), (platform, name, result)
            if result.status == "unknown":
                assert result.reason and result.reason_code, (platform, name, result)
        else:
            assert result.status == "unsupported"


def test_public_functions_exist_for_every_probe():
    for name in PROBES:
        assert callable(getattr(system, name))


def test_probe_that_raises_becomes_unknown(monkeypatch):
    module = system.platform_module("linux")

    def broken(runner):
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "firewall", broken)
    result = system.probe("firewall", ReplayRunner([], platform="linux"))
    assert result.status == "unknown" and "boom" in result.reason


def test_unknown_probe_name_is_refused():
    with pytest.raises(ValueError, match="known"):
        system.probe("coffee")
