"""The public API: every name in techcare.__all__ resolves, __all__ is sorted, and importing stays lazy."""

import subprocess
import sys

import techcare


def test_all_is_sorted_and_resolves():
    assert techcare.__all__ == sorted(techcare.__all__)
    for name in techcare.__all__:
        assert getattr(techcare, name) is not None, name


def test_import_is_lazy():
    code = ("import sys, techcare; heavy = [m for m in ('pandas', 'rich', 'IPython', 'pydantic', 'httpx', 'psutil') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == ""


def test_cli_report_without_runs_is_a_clear_error(techcare_env):
    out = subprocess.run([sys.executable, "-m", "techcare", "report"], capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "TECHCARE_LANG": "en"})
    assert out.returncode != 0 and "Traceback" not in out.stderr and out.stderr.strip()


def test_fleet_api_is_pinned_and_light():
    """``techcare.fleet`` is the technician's remote-work API: exactly these names, and importing it loads no
    pandas, HTTP client, cryptography or repairs engine (those come with the first call)."""
    assert techcare.fleet.__all__ == ["FleetError", "FleetTimeout", "Job", "MaintenanceReport", "Schedule",
                                      "build_payload", "build_schedule_payload", "cancel", "diagnose", "drivers",
                                      "get_schedule", "hosts", "job", "jobs", "occurrences", "parse_window", "queue",
                                      "render_report", "report", "rollback", "schedule", "schedules", "signing_key",
                                      "tag", "tags", "untag"]
    code = ("import sys, techcare.fleet; heavy = [m for m in ('pandas', 'httpx', 'cryptography', 'techcare.repairs', "
            "'IPython') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr
