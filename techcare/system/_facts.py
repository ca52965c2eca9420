"""System facts gathered in Python (psutil, platform) rather than by a command.

They are recorded in snapshots as ``fact`` entries, so the standalone capture scripts produce the same JSON
shapes (see docs/snapshot-format.md). Every function returns plain JSON-ready data.
"""

from __future__ import annotations

import getpass
import os
import platform
import re
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .runner import CommandRunner

# Pseudo and special file systems that are not "disks" for a technician.
_SKIP_FSTYPES = {
    "tmpfs", "devtmpfs", "squashfs", "overlay", "proc", "sysfs", "devfs", "autofs", "ramfs", "cgroup", "cgroup2",
    "nsfs", "tracefs", "debugfs", "securityfs", "pstore", "bpf", "configfs", "fusectl", "mqueue", "hugetlbfs",
    "efivarfs", "binfmt_misc", "rpc_pipefs", "nfsd", "fuse.lxcfs", "fuse.portal", "fuse.gvfsd-fuse",
}


def host() -> dict[str, Any]:
    system = platform.system()
    os_name = {"Windows": "windows", "Darwin": "darwin"}.get(system, "linux")
    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "os": os_name,
        "os_release": platform.release(),
        "os_version": platform.version(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "user": _user(),
        "is_admin": is_admin(),
    }
    if os_name == "linux":
        info["distro"] = _os_release()
    elif os_name == "darwin":
        info["mac_version"] = platform.mac_ver()[0]
    elif os_name == "windows":
        info["win_edition"] = getattr(platform, "win32_edition", lambda: None)()
    return info


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not an error worth failing a fact for
        return ""


def _os_release() -> dict[str, str]:
    try:
        return dict(platform.freedesktop_os_release())
    except OSError:
        return {}


def is_admin() -> bool:
    if sys.platform.startswith("win"):
        try:
            import ctypes

            return bool(ctypes.windll.shell32.IsUserAnAdmin())  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001
            return False
    return os.geteuid() == 0


def metrics() -> dict[str, Any]:
    import psutil

    cpu = psutil.cpu_percent(interval=0.2)
    mem = psutil.virtual_memory()
    try:
        swap = psutil.swap_memory()
        swap_info = {"total": swap.total, "used": swap.used, "percent": swap.percent}
    except (OSError, RuntimeError):
        swap_info = None
    disks = []
    seen_devices: set[str] = set()
    for part in psutil.disk_partitions(all=False):
        if part.fstype.lower() in _SKIP_FSTYPES or "cdrom" in part.opts:
            continue
        if part.device in seen_devices and not sys.platform.startswith("win"):
            continue  # bind mounts of the same device
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except (PermissionError, OSError):
            continue
        if usage.total == 0:
            continue
        seen_devices.add(part.device)
        disks.append({"mount": part.mountpoint, "device": part.device, "fstype": part.fstype,
                      "total": usage.total, "used": usage.used, "free": usage.free, "percent": usage.percent})
    try:
        load = list(os.getloadavg())
    except (AttributeError, OSError):
        load = None
    return {
        "cpu_percent": cpu,
        "cpu_count": psutil.cpu_count() or 1,
        "ram_total": mem.total,
        "ram_available": mem.available,
        "ram_percent": mem.percent,
        "swap": swap_info,
        "disks": disks,
        "boot_time": psutil.boot_time(),
        "uptime_seconds": max(0.0, time.time() - psutil.boot_time()),
        "load_avg": load,
        "timestamp": time.time(),
    }


#: Where each OS keeps the id it gives this installation (stable across reboots, changed by a reinstall).
LINUX_MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
WINDOWS_MACHINE_GUID_ARGV = ("reg", "query", r"HKLM\SOFTWARE\Microsoft\Cryptography", "/v", "MachineGuid")
MACOS_PLATFORM_UUID_ARGV = ("ioreg", "-rd1", "-c", "IOPlatformExpertDevice")


def machine_id(runner: CommandRunner) -> str | None:
    """The OS's own id of the machine the runner talks to — Linux ``/etc/machine-id`` (or D-Bus's copy),
    Windows ``MachineGuid``, macOS ``IOPlatformUUID`` — or ``None`` when it has none that can be read.

    Read through the runner like every other fact, so a replay or a test answers it; it is deliberately not one
    of the :data:`PROVIDERS`, so a snapshot never carries the raw id (the license keeps only an HMAC of it).
    """
    if runner.platform == "linux":
        for path in LINUX_MACHINE_ID_FILES:
            result = runner.read_file(path)
            if result.ok and result.content and result.content.strip():
                return result.content.strip()
        return None
    if runner.platform == "windows":
        res = runner.run(list(WINDOWS_MACHINE_GUID_ARGV), timeout=10)
        match = re.search(r"MachineGuid\s+REG_SZ\s+(\S+)", res.stdout or "")
    elif runner.platform == "darwin":
        res = runner.run(list(MACOS_PLATFORM_UUID_ARGV), timeout=10)
        match = re.search(r'"IOPlatformUUID"\s*=\s*"([^"]+)"', res.stdout or "")
    else:
        return None
    return match.group(1) if res.ok and match else None


PROVIDERS = {"host": host, "metrics": metrics, "is_admin": is_admin}
