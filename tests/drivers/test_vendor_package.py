"""Own-database updates as repair steps: a vendor package given by path with its SHA-256, copied into the step's
backup directory, checked and only then run (``drivers.install_vendor_package``); bad entries named clearly."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from techcare.errors import RepairError
from techcare.i18n import set_language
from techcare.repairs import Plan, get_action, parse_approval
from techcare.repairs._model import ps_command
from techcare.repairs._vendor import installer_argv, package_name, stage
from techcare.repairs._windows import RESTORE_POINT_QUERY
from techcare.system.runner import CommandResult, Entry, ReplayRunner, decode_output
from techcare.tools.drivers import _macos, _windows, parse_database, repair_for
from techcare.tools.drivers.core import Row, build_report
from techcare.tools.drivers.database import load_database

FIX = Path(__file__).parent / "fixtures"
NTFS = "com.paragon-software.filesystems.ntfs"
ACTION = "drivers.install_vendor_package"

BASE = {"hardware_id": "PCI\\VEN_10DE&DEV_2206", "name": "NVIDIA GeForce RTX 3080", "latest_version": "528.49",
        "importance": "CRITICAL"}
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


# ---- database entries ------------------------------------------------------------------------------------------


def test_entry_with_a_unc_package_and_its_checksum_becomes_a_repair():
    entry = {**BASE, "package": r"\\fileserver\treiber\nvidia\528.49-desktop.exe", "sha256": SHA.upper(),
             "install_args": "-s -noreboot"}
    db = parse_database(json.dumps([entry]))
    assert db.problems == []
    (offer,) = db.offers
    assert offer.details["package"] == {"package": entry["package"], "sha256": SHA, "install_args": "-s -noreboot",
                                        "kind": "exe", "platform": "windows"}
    action_id, params = repair_for(Row(None, offer, "available", "source"))
    assert action_id == ACTION
    assert get_action(ACTION).validate_params(params) == {**params, "sha256": SHA}
    assert "drivers.install_vendor_package" in offer.install_hint()


def test_entry_without_a_package_has_no_repair_and_says_where_to_get_it():
    (offer,) = parse_database(json.dumps([{**BASE, "download_url": "https://www.nvidia.com/x"}])).offers
    assert repair_for(Row(None, offer, "available", "source")) is None
    assert "https://www.nvidia.com/x" in offer.install_hint()


@pytest.mark.parametrize(
    ("extra", "field", "said"),
    [
        ({"package": "https://download.nvidia.com/x.exe", "sha256": SHA, "install_args": "-s"}, "package",
         "put the address in download_url"),
        ({"package": "nvidia/x.msi", "sha256": SHA}, "package", "is not a Windows path"),
        ({"package": "srv/x.deb", "sha256": SHA}, "package", "is not an absolute path"),
        ({"package": r"\\server-only\x.msi", "sha256": SHA}, "package", "is not a Windows path"),
        ({"package": "/srv/x.zip", "sha256": SHA}, "package", "Allowed: .msi, .exe, .pkg, .cab, .deb, .rpm"),
        ({"package": r"C:\Treiber\x.msi"}, "sha256", "(missing) is not a SHA-256 checksum"),
        ({"package": r"C:\Treiber\x.msi", "sha256": SHA[:-1]}, "sha256", "64 hex digits"),
        ({"package": r"C:\Treiber\x.exe", "sha256": SHA}, "install_args", "needs its silent-install switches"),
        ({"package": r"C:\Treiber\x.exe", "sha256": SHA, "install_args": '/S "x"'}, "install_args", "no quotes"),
        ({"package": r"C:\Treiber\x.msi", "sha256": SHA, "install_args": "/qb"}, "install_args",
         "Allowed only for .exe installers"),
        ({"sha256": SHA}, "package", "is missing or empty"),
        ({"package": 5, "sha256": SHA}, "package", "must be text"),
    ],
)
def test_bad_package_entries_name_entry_field_and_what_is_allowed(extra, field, said):
    set_language("en")
    db = parse_database(json.dumps([BASE, {**BASE, "hardware_id": "PCI\\VEN_8086&DEV_15BC", **extra}]), "db.json")
    assert [o.hardware_id for o in db.offers] == ["PCI\\VEN_10DE&DEV_2206"]  # the bad entry is skipped
    (problem,) = db.problems
    assert (problem.index, problem.field) == (1, field)
    assert str(problem).startswith(f"db.json entry 1 '{field}'") and said in str(problem), str(problem)


def test_bad_package_entry_in_german():
    set_language("de")
    db = parse_database(json.dumps([{**BASE, "package": "https://x/y.msi", "sha256": SHA}]), "db.json")
    assert "Reparaturen laden nichts herunter" in str(db.problems[0]) and "Eintrag 0" in str(db.problems[0])


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"package": "/tmp/x.pkg; rm -rf /", "sha256": SHA}, "unknown package kind"),
        ({"package": "https://x/y.pkg", "sha256": SHA}, "repairs do not download"),
        ({"package": "/tmp/x.pkg", "sha256": "nothex"}, "sha256"),
        ({"package": r"C:\x.exe", "sha256": SHA}, "install_args"),
        ({"package": "/tmp/x.pkg", "sha256": SHA, "install_args": "--evil"}, "Allowed only for .exe"),
    ],
)
def test_the_action_refuses_the_same_bad_parameters(params, said):
    set_language("en")
    with pytest.raises(RepairError, match=ACTION) as info:
        get_action(ACTION).validate_params({"hardware_id": NTFS, "version": "17.1", **params})
    assert said in str(info.value)


def test_installer_commands_per_kind():
    assert installer_argv("msi", r"C:\b\x.msi") == ["msiexec.exe", "/i", r"C:\b\x.msi", "/qn", "/norestart"]
    assert installer_argv("exe", r"C:\b\x.exe", "-s  -noreboot") == [r"C:\b\x.exe", "-s", "-noreboot"]
    assert installer_argv("pkg", "/b/x.pkg") == ["/usr/sbin/installer", "-target", "/", "-pkg", "/b/x.pkg"]
    assert installer_argv("cab", "/b/x.cab")[:3] == ["fwupdmgr", "local-install", "/b/x.cab"]
    assert package_name(r"\\srv\share\Treiber 1.0\setup.exe") == "setup.exe"
    assert package_name("/Volumes/USB/NTFS for Mac.pkg") == "NTFS for Mac.pkg"


# ---- the stage command (real files in a temporary directory) -----------------------------------------------------


def test_stage_keeps_only_a_copy_with_the_right_checksum(tmp_path: Path):
    package = tmp_path / "share" / "driver.msi"
    package.parent.mkdir()
    package.write_bytes(b"vendor installer" * 1000)
    good = hashlib.sha256(package.read_bytes()).hexdigest()
    code, data = stage(str(package), str(tmp_path / "backup"), good.upper())
    assert code == 0 and data == {"staged": str(tmp_path / "backup" / "driver.msi"), "sha256": good, "bytes": 16000}
    assert (tmp_path / "backup" / "driver.msi").read_bytes() == package.read_bytes()
    code, data = stage(str(package), str(tmp_path / "other"), SHA)
    assert code == 3 and data["error"] == "sha256_mismatch" and data["actual"] == good
    assert list((tmp_path / "other").iterdir()) == []  # nothing of a mismatching file is kept
    code, data = stage(str(tmp_path / "absent.msi"), str(tmp_path / "x"), SHA)
    assert code == 2 and data["error"] == "not_readable"


def test_stage_as_a_command_prints_one_json_object(tmp_path: Path):
    package = tmp_path / "x.pkg"
    package.write_bytes(b"pkg")
    argv = get_action(ACTION).commands(
        get_action(ACTION).validate_params({"hardware_id": NTFS, "version": "17.1", "package": str(package),
                                            "sha256": hashlib.sha256(b"pkg").hexdigest()}))[0]
    argv[argv.index("--dest") + 1] = str(tmp_path / "dest")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["staged"] == str(tmp_path / "dest" / "x.pkg")


# ---- a whole repair on a replayed Mac / Windows PC (installers recorded, staging real) ----------------------------


def _kexts(version: str) -> str:
    data = json.loads(decode_output((FIX / "sp_extensions_new.json").read_bytes()))
    for ext in data["SPExtensionsDataType"]:
        if ext.get("spext_bundleid") == NTFS:
            ext["spext_version"] = version
    return json.dumps(data)


class Machine:
    """Answers the inventory with the version before/after the installer ran; runs the stage command for real
    (it only writes into the step's backup directory under the test's TECHCARE_HOME); records the rest."""

    def __init__(self, platform: str, inventory_argv: tuple[str, ...], before: str, after: str,
                 installer_rc: int = 0, install_worked: bool = True, share: dict[str, str] | None = None) -> None:
        self.before, self.after, self.inventory_argv = before, after, inventory_argv
        self.share = share or {}  # a Windows/UNC path of the plan -> the file standing in for it here
        self.installer_rc, self.install_worked = installer_rc, install_worked
        self.installed = False
        self.installer_calls: list[tuple[str, ...]] = []
        self.runner = ReplayRunner([Entry("fact", "is_admin", True)], platform=platform, fallback=self.answer)

    def answer(self, argv: tuple[str, ...]) -> CommandResult:
        if argv == self.inventory_argv:
            return CommandResult(argv, 0, self.after if self.installed else self.before, "")
        if argv[1:4] == ("-m", "techcare.repairs._vendor", "stage"):
            real = [*argv[:-1], self.share.get(argv[-1], argv[-1])]
            done = subprocess.run(real, capture_output=True, text=True, timeout=120, check=False)
            return CommandResult(argv, done.returncode, done.stdout, done.stderr)
        if argv == tuple(ps_command(RESTORE_POINT_QUERY)):
            return CommandResult(argv, 0, '{"SequenceNumber":41,"Description":"TechCare","AgeHours":3.2}', "")
        if argv[0] in ("msiexec.exe", "/usr/sbin/installer") or argv[0].endswith("desktop.exe"):
            self.installer_calls.append(argv)
            self.installed = self.install_worked
            return CommandResult(argv, self.installer_rc, "", "")
        return CommandResult(argv, 0, "", "")


def _mac_machine(**kw) -> Machine:
    m = Machine("darwin", _macos.EXTENSIONS_ARGV, _kexts("17.0.72"), _kexts("17.1.5"), **kw)
    m.runner.add_command(list(_macos.SYSEXT_ARGV), 0, "0 extension(s)\n")
    return m


def _run(plan: Plan, runner, approval: str = "GO REPAIR: 1"):
    return plan.run(parse_approval(approval, plan), runner=runner, confirm=lambda step: True,
                    progress=lambda line: None)


def test_mac_package_is_checked_staged_installed_and_verified(tmp_path: Path):
    package = tmp_path / "Volumes" / "USB" / "Microsoft NTFS for Mac.pkg"
    package.parent.mkdir(parents=True)
    package.write_bytes(b"xar!" + b"\0" * 4000)
    machine = _mac_machine()
    plan = Plan.from_actions([{"action": ACTION, "params": {
        "hardware_id": NTFS, "version": "17.1.5", "package": str(package),
        "sha256": hashlib.sha256(package.read_bytes()).hexdigest()}}], platform="darwin")
    (step,) = plan.steps
    assert step.risk == "high"
    result = _run(plan, machine.runner)
    assert result.ok, result
    (install,) = machine.installer_calls
    staged = Path(install[-1])
    assert install[:-1] == ("/usr/sbin/installer", "-target", "/", "-pkg")
    assert staged.name == package.name and staged != package and staged.read_bytes() == package.read_bytes()
    assert "17.1.5" in result.steps[0].detail


def test_a_changed_package_never_runs(tmp_path: Path):
    set_language("en")
    package = tmp_path / "ntfs.pkg"
    package.write_bytes(b"original")
    planned = hashlib.sha256(b"original").hexdigest()
    package.write_bytes(b"swapped on the share after the entry was written")
    machine = _mac_machine()
    plan = Plan.from_actions([{"action": ACTION, "params": {"hardware_id": NTFS, "version": "17.1.5",
                                                             "package": str(package), "sha256": planned}}],
                             platform="darwin")
    result = _run(plan, machine.runner)
    assert not result.ok and machine.installer_calls == []
    assert "Checksum mismatch" in result.steps[0].detail and "was not run" in result.steps[0].detail


def test_already_installed_version_is_not_installed_again(tmp_path: Path):
    machine = _mac_machine()
    plan = Plan.from_actions([{"action": ACTION, "params": {"hardware_id": NTFS, "version": "17.0.72",
                                                             "package": str(tmp_path / "x.pkg"), "sha256": SHA}}],
                             platform="darwin")
    result = _run(plan, machine.runner)
    assert result.steps[0].status == "skipped" and machine.installer_calls == []


def test_a_package_for_another_system_is_refused_before_anything_runs(tmp_path: Path):
    set_language("en")
    machine = _mac_machine()
    plan = Plan.from_actions([{"action": ACTION, "params": {"hardware_id": NTFS, "version": "17.1.5",
                                                             "package": r"C:\Treiber\ntfs.msi", "sha256": SHA}}],
                             platform="darwin")
    result = _run(plan, machine.runner)
    assert not result.ok and machine.installer_calls == []
    assert "A .msi package is for windows; this computer is darwin" in result.steps[0].detail


def _pnp(version: str) -> str:
    rows = json.loads(decode_output((FIX / "win_pnpsigneddriver_ps7.json").read_bytes()))
    rows = rows if isinstance(rows, list) else [rows]
    nvidia = next(r for r in rows if "VEN_10DE" in str(r.get("HardWareID") or ""))
    nvidia["DriverVersion"] = version
    return json.dumps(rows)


def _nvidia_hwid() -> str:
    from techcare.tools.drivers.hwids import normalise_hardware_id

    rows = json.loads(decode_output((FIX / "win_pnpsigneddriver_ps7.json").read_bytes()))
    return normalise_hardware_id(next(r["HardWareID"] for r in rows if "VEN_10DE" in str(r.get("HardWareID"))))


def test_windows_exe_runs_with_its_switches_and_a_needed_restart_is_no_failure(tmp_path: Path):
    package = tmp_path / "528.49-desktop.exe"
    package.write_bytes(b"MZ" + b"\0" * 100)
    unc = r"\\fileserver\treiber\nvidia\528.49-desktop.exe"
    machine = Machine("windows", _windows.INVENTORY_ARGV, _pnp("31.0.15.2849"), _pnp("31.0.15.2849"),
                      installer_rc=3010, share={unc: str(package)})
    plan = Plan.from_actions([{"action": ACTION, "params": {
        "hardware_id": _nvidia_hwid(), "version": "31.0.15.2850", "package": unc,
        "sha256": hashlib.sha256(package.read_bytes()).hexdigest(), "install_args": "-s -noreboot"}}],
        platform="windows")
    assert [s.action_id for s in plan.steps] == ["win.create_restore_point", ACTION]
    result = plan.run(parse_approval("GO REPAIR: 1,2", plan), runner=machine.runner, confirm=lambda s: True,
                      progress=lambda line: None)
    (install,) = machine.installer_calls
    assert install[1:] == ("-s", "-noreboot") and install[0].endswith("528.49-desktop.exe")
    assert result.steps[1].status == "finished", result
    assert "restart" in result.steps[1].detail or "Neustart" in result.steps[1].detail


# ---- the driver report and the diagnosis -------------------------------------------------------------------------


def test_report_frame_carries_the_repair_of_each_update(tmp_path: Path):
    from techcare.tools.drivers import user_database_path
    from techcare.tools.drivers import drivers as drivers_frame

    package = tmp_path / "ntfs.pkg"
    path = user_database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"hardware_id": NTFS, "name": "Paragon NTFS", "latest_version": "17.1.5",
                                 "importance": "CRITICAL", "package": str(package), "sha256": SHA}]))
    machine = _mac_machine()
    frame = drivers_frame(runner=machine.runner)
    row = frame[frame.driver == NTFS].iloc[0]
    assert (row.status, row.source, row.latest_version) == ("outdated", "custom_db", "17.1.5")
    repair = frame.attrs["repairs"][row.update_id]
    assert repair == {"action": ACTION, "params": {"hardware_id": NTFS.upper(), "version": "17.1.5",
                                                   "package": str(package), "sha256": SHA, "install_args": ""}}
    rep = build_report(runner=_mac_machine().runner, database=load_database(user=path))
    (update,) = [r for r in rep.updates if r.offer.source == "custom_db"]
    assert repair_for(update) == (ACTION, repair["params"])
    get_action(ACTION).validate_params(repair["params"])  # what the report proposes is a valid step


def test_the_assistant_proposes_the_reports_repair_and_none_for_entries_without_a_package(tmp_path: Path):
    from techcare.assistant.tools import ToolBox
    from techcare.tools.drivers import driver_updates, user_database_path

    path = user_database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([
        {"hardware_id": NTFS, "name": "Paragon NTFS", "latest_version": "17.1.5", "importance": "CRITICAL",
         "package": str(tmp_path / "ntfs.pkg"), "sha256": SHA},
        {"hardware_id": "com.softraid.driver.SoftRAID", "name": "SoftRAID", "latest_version": "9.0",
         "download_url": "https://www.softraid.com/"},
    ]))
    machine = _mac_machine()
    machine.runner.add_command(list(_macos.EXTENSIONS_ARGV), 0, _kexts("17.0.72"))
    frame = driver_updates(runner=machine.runner)
    box = ToolBox(language="en", platform="darwin", diagnosis=lambda fresh: None)
    entries = box.driver_install_entries(frame)
    assert [e["action"] for e in entries if e["params"].get("hardware_id") == NTFS.upper()] == [ACTION]
    assert not any(e["params"].get("source") == "custom_db" for e in entries)  # never the invalid source
    plan = Plan.from_actions(entries, platform="darwin")  # every proposal is a valid catalogue step
    assert ACTION in [s.action_id for s in plan.steps]


def test_stage_refuses_what_is_not_a_regular_file(tmp_path: Path):
    code, data = stage(str(tmp_path), str(tmp_path / "dest"), SHA)  # a directory
    assert code == 2 and data == {"error": "not_readable", "detail": f"{tmp_path}: not a regular file"}
    code, data = stage("/dev/zero", str(tmp_path / "dest"), SHA)  # would never end
    assert code == 2 and "not a regular file" in data["detail"]
