"""The sensor: sample this machine every ``SENSOR_INTERVAL`` seconds and forward the samples to the backend.

    python -m techcare.monitoring.sensor [--interval S] [--once] [--dry-run] [--hostname NAME] [--log-file PATH]
                                         [--snapshot FILE]
    python -m techcare.monitoring.sensor trust list|add KEY [--name N]|remove KEY_ID   (= techcare sensor trust ...)

Each tick: probes -> payload (the backend's metrics contract) -> committed to the local spool. A sender thread
forwards the spool (``POST /api/monitoring/metrics``, or ``/batch`` when catching up) and deletes what was
acknowledged; while the backend is unreachable it backs off (``SEND_BACKOFF``) and sampling keeps its own schedule.
Metrics, firewall/antivirus/update-service/critical services and the last error events are probed every tick;
pending updates, pending reboot and SMART are cached (they are expensive and change slowly).

Remote jobs (``docs/remote-jobs.md``): only with ``REMOTE_JOBS=on`` a third thread long-polls the backend for
signed jobs (``GET /api/sensor/jobs?wait=25``) and hands them to :mod:`techcare.monitoring.executor`, which checks
them against the signer keys pinned on this host (``trust`` subcommand) and runs them through the repairs engine.
Offline it backs off and asks again at least once per sampling interval. ``--once`` also runs the jobs due now.
Nothing of the executor, the repairs or the diagnosis is imported until a job arrives.

``--snapshot FILE`` makes the sensor act as the replayed PC of a snapshot: host name and OS from the snapshot,
probes answered by the recording, repairs by :class:`techcare.monitoring.simulated.SimulatedPC` (its state kept in
``TECHCARE_HOME/simulated-pc.json``) — for demos, runbooks and tests; nothing on this machine is changed.

Needs the ``sensor_mode`` entitlement (Pro Business or higher) and a sensor API key (``TECHCARE_API_KEY``).
Exit codes: 0 ok, 2 usage/config error, 3 license error.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import TechCareError
from ..i18n import tr
from ..i18n_argparse import Parser
from .spool import Spool, SpoolError, default_max_samples

__all__ = ["CACHED_PROBES", "TICK_PROBES", "FlushResult", "InstanceLock", "Sensor", "SensorRunning", "build_payload",
           "main", "setup_logging"]

log = logging.getLogger("techcare.sensor")

#: probed every tick
TICK_PROBES = ("metrics", "firewall", "antivirus", "update_service", "services", "events")
#: probed rarely: name -> seconds a result stays fresh
CACHED_PROBES = {"pending_updates": 6 * 3600, "pending_reboot": 3600, "smart": 6 * 3600}
MAX_EVENTS = 5
SLOW_PROBE_TIMEOUT = 300.0
BATCH_LIMIT = 1000
#: a long-running sensor re-validates its license this often (online; the offline grace applies)
LICENSE_RECHECK_SECONDS = 6 * 3600
EXIT_LICENSE = 3
#: seconds the sender waits after a failed send, doubling per failure (with jitter) up to the maximum
SEND_BACKOFF = (5.0, 900.0)
#: long-poll of the job thread (seconds the backend may hold the request)
JOB_WAIT = 25
#: seconds the job thread waits after the backend could not be reached, doubling up to the sampling interval
JOB_BACKOFF = 5.0
#: polls of the job thread start at least this many seconds apart, whatever they returned (a backend or proxy that
#: does not hold requests, or one whose every answer holds jobs, never makes the job thread poll in a tight loop)
JOB_MIN_POLL = 2.0
#: seconds a stopping sensor waits for its sender and job threads
STOP_GRACE = 20.0


# ---- payload ---------------------------------------------------------------------------------------------

def _sent_line(outcome: Any) -> str:
    """The log line after a send, in the sensor's language."""
    return tr("{s} gesendet ({c} neu, {d} doppelt, {r} abgelehnt), {w} wartend",
              "sent {s} ({c} new, {d} duplicates, {r} rejected), {w} waiting",
              s=tr("1 Messung", "1 sample") if outcome.sent == 1 else tr("{n} Messungen", "{n} samples", n=outcome.sent),
              c=outcome.created, d=outcome.duplicates, r=outcome.rejected, w=outcome.remaining)


def _on_off(value: bool | None) -> str:
    return "on" if value is True else "off" if value is False else "unknown"


def _utc_now_iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _services_part(results: dict[str, Any]) -> dict[str, Any]:
    firewall = results.get("firewall")
    antivirus = results.get("antivirus")
    update = results.get("update_service")
    services = results.get("services")
    fw = _on_off(firewall.data.enabled) if firewall is not None and firewall.ok and firewall.data is not None else "unknown"
    av, av_products = "unknown", None
    if antivirus is not None and antivirus.ok and antivirus.data is not None:
        av = _on_off(antivirus.data.protected)
        av_products = len(antivirus.data.products)  # 0: "no antivirus found", not "off" (the backend tells them apart)
    upd = "unknown"
    if update is not None and update.ok and update.data is not None:
        upd = "problem" if update.data.problem else "ok"
    failed: list[str] = []
    if services is not None and services.ok and isinstance(services.data, list):
        # The per-OS probes already return only the services that are down when they should run (failed systemd
        # units, automatic Windows services that stopped, failed launchd jobs).
        for svc in services.data:
            if (getattr(svc, "state", "") or "").lower() != "running":
                failed.append(str(svc.name))
    return {"firewall": fw, "antivirus": av, "antivirus_products": av_products, "update_service": upd,
            "failed": sorted(set(failed))}


def _events_part(result: Any) -> list[dict[str, Any]]:
    if result is None or not result.ok or not isinstance(result.data, list):
        return []
    records = sorted(result.data, key=lambda e: e.time or "", reverse=True)[:MAX_EVENTS]
    return [{"time": e.time, "level": e.level, "source": e.source, "message": (e.message or "")[:500],
             "event_id": e.event_id} for e in records]


def _updates_part(result: Any) -> dict[str, int | None] | None:
    """``security`` is null when the package manager cannot tell security updates apart (pacman, apk, a failed
    advisory read): not measured is never sent as 0."""
    if result is None or not result.ok or result.data is None:
        return None
    known = getattr(result.data, "security_known", True)
    return {"count": int(result.data.count), "security": int(result.data.security_count) if known else None}


def _reboot_part(result: Any) -> bool | None:
    if result is None or not result.ok or result.data is None:
        return None
    return bool(result.data.required)


def _smart_part(result: Any) -> list[dict[str, Any]]:
    if result is None or not result.ok or not isinstance(result.data, list):
        return []
    allowed = ("passed", "warning", "failing", "unknown")
    return [{"device": d.device, "health": d.health if d.health in allowed else "unknown", "model": d.model or "",
             "temperature_c": d.temperature_c} for d in result.data]


def build_payload(results: dict[str, Any], *, hostname: str, os_name: str, now: float,
                  sample_id: str | None = None, cached: dict[str, Any] | None = None, timezone: str | None = None,
                  tags: list[str] | None = None) -> dict[str, Any]:
    """The metrics sample of the backend contract from probe results (``ProbeResult`` per probe name).

    ``cached`` holds already mapped values for ``pending_updates``, ``pending_reboot`` and ``smart``; names not
    in it are mapped from ``results``. ``timezone`` (the host's IANA zone) and ``tags`` (``SENSOR_TAGS``) are
    sent when given (docs/remote-jobs.md §5: maintenance schedules run in the host's zone; tags route them).
    """
    cached = cached or {}
    metrics = results.get("metrics")
    m = metrics.data if metrics is not None and metrics.ok else None
    disks = [{"mount": d.mount, "total": int(d.total), "used": int(d.used), "free": int(d.free),
              "percent": float(d.percent)} for d in (m.disks if m else [])
             if None not in (d.total, d.used, d.free, d.percent)]   # a disk not measured is not sent as 0

    def slow(name: str) -> Any:
        return cached[name] if name in cached else _MAPPERS[name](results.get(name))

    return {
        "sample_id": sample_id or str(uuid.uuid4()),
        "timestamp": _utc_now_iso(now),
        "hostname": hostname,
        "os": os_name,
        "cpu_percent": float(m.cpu_percent) if m and m.cpu_percent is not None else None,
        "ram_percent": float(m.ram_percent) if m and m.ram_percent is not None else None,
        "swap_percent": m.swap_percent if m else None,
        "disks": disks,
        "services": _services_part(results),
        "pending_updates": slow("pending_updates"),
        "pending_reboot": slow("pending_reboot"),
        "events": _events_part(results.get("events")),
        "smart": slow("smart") or [],
        "dropped_samples": 0,
        "agent_version": __version__,
        "uptime_seconds": int(m.uptime_seconds) if m and m.uptime_seconds is not None else None,
        **({"timezone": timezone} if timezone else {}),
        **({"tags": list(tags)} if tags is not None else {}),
    }


_MAPPERS: dict[str, Callable[[Any], Any]] = {"pending_updates": _updates_part, "pending_reboot": _reboot_part,
                                             "smart": _smart_part}


# ---- the sensor ------------------------------------------------------------------------------------------

@dataclass
class FlushResult:
    sent: int = 0
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    remaining: int = 0
    error: str | None = None
    errors: list[str] = field(default_factory=list)


class Sensor:
    """Samples, spools and forwards. Every dependency is injectable (runner, backend client, spool, clock)."""

    def __init__(self, *, settings: Any = None, runner: Any = None, client: Any = None, spool: Spool | None = None,
                 interval: float | None = None, hostname: str | None = None, clock: Callable[[], float] = time.time,
                 cache_ttl: dict[str, float] | None = None, probe_timeout: float | None = None,
                 max_samples: int | None = None, license_check: Callable[[], Any] | None = None,
                 license_interval: float = LICENSE_RECHECK_SECONDS, persist: bool = True,
                 jobs: bool | None = None, send_backoff: tuple[float, float] = SEND_BACKOFF) -> None:
        """``persist=False`` (dry runs, notebooks): no spool file and no probe cache file are written.
        ``jobs``: run remote jobs (default: ``REMOTE_JOBS=on`` in the settings)."""
        if settings is None:
            from ..config import get_settings

            settings = get_settings()
        self.settings = settings
        if runner is None:
            from ..system import default_runner

            runner = default_runner()
        self.runner = runner
        self.interval = float(interval if interval is not None else settings.sensor_interval)
        self._client = client
        self.home = Path(settings.techcare_home)
        self.persist = persist
        self.max_samples = max_samples or default_max_samples(self.interval)
        #: samples taken while the spool file could not be written (disk full, read-only, a directory, damaged):
        #: kept in memory under the same bound, sent like the others, moved into the file once it works again
        self._held: Spool | None = None
        self._spool_problem: str | None = None
        self._spool_error: SpoolError | None = None
        self.spool_path = self.home / "sensor-spool.sqlite3" if persist else None
        if spool is None:
            try:
                spool = Spool(self.spool_path or ":memory:", max_samples=self.max_samples)
            except SpoolError as exc:
                self._spool_failed(exc)
                spool = self._memory_spool()
        self.spool = spool
        self._hostname = hostname
        self.clock = clock
        self.cache_ttl = dict(CACHED_PROBES if cache_ttl is None else cache_ttl)
        self.probe_timeout = float(probe_timeout if probe_timeout is not None else settings.probe_timeout)
        self.cache_path = self.home / "sensor-cache.json"
        self._cache: dict[str, dict[str, Any]] = self._load_cache() if persist else {}
        self.stop_event = threading.Event()
        self.license_check = license_check
        self.license_interval = float(license_interval)
        self._license_checked = time.monotonic()
        self.jobs = (getattr(settings, "remote_jobs", "off") == "on") if jobs is None else bool(jobs)
        self.send_backoff = send_backoff
        self._wake_sender = threading.Event()
        self._halt = threading.Event()    # ends the sender and job threads (run() returning)
        self._executor: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from ..backend_client import BackendClient

            self._client = BackendClient(settings=self.settings, retries=2, timeout=15.0)
        return self._client

    # ---- cache of slow probes ----------------------------------------------------------------------------
    def _load_cache(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.cache_path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_cache(self) -> None:
        if not self.persist:
            return
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._cache), encoding="utf-8")
            os.replace(tmp, self.cache_path)
        except OSError as exc:
            log.warning("%s", tr("Probe-Cache {p} nicht geschrieben: {e}", "could not write the probe cache {p}: {e}",
                                 p=self.cache_path, e=exc))

    def _stale(self, now: float) -> list[str]:
        stale = []
        for name, ttl in self.cache_ttl.items():
            entry = self._cache.get(name)
            if entry is None or not (0 <= now - float(entry.get("at", 0)) < ttl):
                stale.append(name)
        return stale

    def hostname(self) -> str:
        if self._hostname:
            return self._hostname
        entry = self._cache.get("_host")
        now = self.clock()
        if entry is None or not (0 <= now - float(entry.get("at", 0)) < 3600):
            from ..system import host_info

            entry = {"at": now, "value": str(host_info(self.runner).get("hostname") or "unknown")}
            self._cache["_host"] = entry
        return str(entry["value"])

    def timezone(self) -> str:
        """This host's IANA time zone (asked through the runner at most hourly; ``UTC`` when it cannot be found,
        e.g. a replayed snapshot that did not record it). Maintenance schedules run in it."""
        entry = self._cache.get("_zone")
        now = self.clock()
        host = self.hostname()  # a replayed PC sharing this home has its own zone
        if entry is None or entry.get("host") != host or not (0 <= now - float(entry.get("at", 0)) < 3600):
            from .hostzone import host_zone

            zone, known = host_zone(self.runner)
            if not known and entry is None:
                log.info("%s", tr("Zeitzone von {h} nicht gefunden; Wartungspläne laufen in UTC",
                                  "time zone of host {h} not found; maintenance schedules run in UTC", h=host))
            entry = {"at": now, "value": zone, "host": host}
            self._cache["_zone"] = entry
            if self._executor is not None:  # the zone was changed on this host: schedules follow the samples
                self._executor.timezone = zone
        return str(entry["value"])

    # ---- one sample --------------------------------------------------------------------------------------
    def sample(self) -> dict[str, Any]:
        """Probe and build one payload (not spooled)."""
        from ..system import run_probes

        now = self.clock()
        stale = self._stale(now)
        results: dict[str, Any] = run_probes(list(TICK_PROBES), self.runner, timeout=self.probe_timeout)
        if stale:  # slow probes (a Windows Update search can take minutes) get their own, longer budget
            results.update(run_probes(stale, self.runner, timeout=max(self.probe_timeout, SLOW_PROBE_TIMEOUT)))
        changed = bool(stale)
        for name in stale:
            result = results[name]
            mapped = _MAPPERS[name](result)
            # an "unknown" answer is retried sooner (at most every tenth of the TTL) instead of cached for hours
            at = now if result.ok else now - self.cache_ttl[name] * 0.9
            self._cache[name] = {"at": at, "value": mapped}
        cached = {name: self._cache.get(name, {}).get("value") for name in self.cache_ttl}
        had = ("_host" in self._cache, "_zone" in self._cache)
        hostname = self.hostname()
        zone = self.timezone()
        if changed or ("_host" in self._cache, "_zone" in self._cache) != had:
            self._save_cache()
        return build_payload(results, hostname=hostname, os_name=self.runner.platform, now=now, cached=cached,
                             timezone=zone, tags=list(getattr(self.settings, "tags", []) or []))

    def take(self) -> dict[str, Any] | None:
        """Sample and commit to the spool. Returns the stored sample, or ``None`` when the metrics probe gave no
        CPU/RAM values (the backend contract requires them, so such a sample could never be delivered)."""
        sample = self.sample()
        if sample["cpu_percent"] is None or sample["ram_percent"] is None:
            log.warning("%s", tr("diesmal keine CPU/RAM-Werte (Messprobe unbekannt); Messung ausgelassen",
                                 "no CPU/RAM metrics this time (metrics probe unknown); sample skipped"))
            return None
        self._reopen_spool()
        try:
            if self.spool is self._held:   # the spool file cannot even be opened (still)
                raise self._spool_error
            stored = self.spool.add(sample)
        except SpoolError as exc:
            self._spool_failed(exc)
            stored = self._memory_spool().add(sample)
            log.info("%s", tr("Messung {s} im Speicher gehalten ({n} wartend)", "sample {s} held in memory ({n} waiting)",
                              s=stored["sample_id"], n=self.waiting()))
            return stored
        if self._spool_problem is not None:
            log.info("%s", tr("Sensor-Zwischenspeicher {p} ist wieder beschreibbar.", "Sensor spool {p} is writable "
                              "again.", p=self.spool.path))
            self._spool_problem = None
        self._move_held()
        log.info("%s", tr("Messung {s} zwischengespeichert ({n} wartend)", "sample {s} spooled ({n} waiting)",
                          s=stored["sample_id"], n=self.waiting()))
        return stored

    # ---- spool trouble ------------------------------------------------------------------------------------
    def report_spool(self) -> None:
        """Say at start what the spool set aside: quarantined records, a damaged file moved aside."""
        try:
            stats = self.spool.stats()
        except SpoolError as exc:
            self._spool_failed(exc)
            return
        if stats.get("quarantined"):
            log.warning("%s", tr("{n} unlesbare Messungen liegen in der Quarantäne von {p} (nicht gesendet; "
                                 "techcare doctor zeigt sie).",
                                 "{n} unreadable samples are quarantined in {p} (not sent; techcare doctor shows "
                                 "them).", n=stats["quarantined"], p=stats["path"]))
    def _memory_spool(self) -> Spool:
        if self._held is None:
            self._held = Spool(":memory:", max_samples=self.max_samples)
        return self._held

    def _spool_failed(self, exc: SpoolError) -> None:
        """Say once per kind of trouble what is wrong with the spool file and what to do (no traceback)."""
        if self._spool_problem != exc.kind:
            log.error("%s", f"{exc.message} {exc.hint or ''}".strip())
        self._spool_problem = exc.kind
        self._spool_error = exc

    def _reopen_spool(self) -> None:
        """While the sensor runs on the memory fallback, try the spool file again (it may be fixed by now); a
        damaged one is moved aside and salvaged by :class:`Spool`."""
        if self.spool_path is None:
            return
        if self.spool is not self._held and self._spool_problem != "corrupt":
            from .spool import _read_only_file

            if not (self.spool.read_only and not _read_only_file(self.spool_path)):
                return   # a read-only spool is tried again only once its file looks writable (no error per tick)
        try:
            fresh = Spool(self.spool_path, max_samples=self.max_samples)
        except SpoolError as exc:
            self._spool_failed(exc)
            return
        old, self.spool = self.spool, fresh
        if old is not self._held:
            old.close()

    def _move_held(self) -> None:
        """Carry samples held in memory into the spool file (it works again)."""
        if self._held is None or self.spool is self._held or not len(self._held):
            return
        moved = []
        try:
            for sample in self._held.pending(self.max_samples):
                try:
                    self.spool.add(sample)
                except Exception as exc:  # noqa: BLE001 - sqlite3.IntegrityError: already there (sent meanwhile)
                    if isinstance(exc, SpoolError):
                        raise
                moved.append(sample["sample_id"])
        except SpoolError as exc:
            self._spool_failed(exc)
        self._held.ack(moved)

    def waiting(self) -> int:
        """Samples not yet delivered: in the spool file plus those held in memory."""
        total = 0
        for spool in self._spools():
            try:
                total += len(spool)
            except SpoolError:
                pass
        return total

    def _spools(self) -> list[Spool]:
        return [self.spool] + ([self._held] if self._held is not None and self._held is not self.spool else [])

    # ---- forwarding -------------------------------------------------------------------------------------
    def flush(self, *, max_batches: int | None = None) -> FlushResult:
        """Send what the spool holds (and what is held in memory while the spool file cannot be written), oldest
        first, until it is empty or the backend is unreachable. A spool that cannot be read ends this flush with
        its error in ``error``; it never raises."""
        result = FlushResult()
        batches = [0]
        for spool in self._spools():
            if self.stop_event.is_set() or not self._flush_from(spool, result, batches, max_batches):
                break
        result.remaining = self.waiting()
        return result

    def _flush_from(self, spool: Spool, result: FlushResult, batches: list[int], max_batches: int | None) -> bool:
        """Send from one spool; False when sending should stop (backend or spool trouble, stop, batch limit)."""
        from ..backend_client import BackendHTTPError, BackendUnavailable
        from ..errors import BackendError

        while not self.stop_event.is_set():
            if max_batches is not None and batches[0] >= max_batches:
                return False
            # the batch is in flight until the block ends: the spool bound does not drop it meanwhile (a tick of
            # the sampling thread during the send would otherwise count a sample the server stores as dropped)
            try:
                with spool.sending(BATCH_LIMIT) as pending:
                    if not pending:
                        return True
                    batches[0] += 1
                    ids = [s["sample_id"] for s in pending]
                    try:
                        if len(pending) == 1:
                            answer = self.client.post_metrics(pending[0])
                            answers = [{"sample_id": ids[0], "status": answer.get("status", "created")}]
                        else:
                            answer = self.client.post_metrics_batch(pending)
                            answers = answer.get("results") or []
                    except BackendUnavailable as exc:
                        result.error = exc.message
                        log.warning("%s", tr("Backend nicht erreichbar, {n} Messungen bleiben im Zwischenspeicher: {m}",
                                             "backend unavailable, {n} samples kept in the spool: {m}",
                                             n=self.waiting(), m=exc.message))
                        return False
                    except BackendHTTPError as exc:
                        if exc.status_code == 422 and len(pending) == 1:
                            spool.reject(ids[0], exc.message)
                            result.rejected += 1
                            log.error("%s", tr("Messung {s} vom Server abgelehnt: {m}",
                                               "sample {s} rejected by the server: {m}", s=ids[0], m=exc.message))
                            continue
                        result.error = exc.message
                        log.error("%s", tr("Backend lehnt die Messungen ab (HTTP {c}), sie bleiben im "
                                           "Zwischenspeicher: {m}",
                                           "backend refused the samples (HTTP {c}), kept in the spool: {m}",
                                           c=exc.status_code, m=exc.message))
                        return False
                    except BackendError as exc:
                        result.error = exc.message
                        log.error("%s", exc.message)
                        return False
                    acked = []
                    for item in answers:
                        status = item.get("status")
                        sid = item.get("sample_id")
                        if sid not in ids:
                            continue
                        if status in ("created", "duplicate"):
                            acked.append(sid)
                            result.created += status == "created"
                            result.duplicates += status == "duplicate"
                        elif status == "error":
                            spool.reject(sid, str(item.get("error") or "rejected"))
                            result.rejected += 1
                            result.errors.append(f"{sid}: {item.get('error')}")
                            log.error("%s", tr("Messung {s} vom Server abgelehnt: {m}",
                                               "sample {s} rejected by the server: {m}", s=sid, m=item.get("error")))
                    result.sent += len(pending)
                    try:
                        spool.ack(acked)
                    except SpoolError as exc:   # remembered by the spool: not sent again by this process, and
                        self._spool_failed(exc)  # a resend after a restart is a duplicate the server counts once
                    if not acked and not result.rejected:
                        result.error = "server acknowledged nothing"
                        return False
            except SpoolError as exc:
                # what the server acknowledged but could not be deleted is sent again later: the server counts
                # it once (sample_id)
                self._spool_failed(exc)
                result.error = exc.message
                return False
        return False

    # ---- the loop ---------------------------------------------------------------------------------------
    def run(self, *, once: bool = False) -> int:
        """Sample every ``interval`` seconds until stopped (or once). Sending runs in its own thread and remote
        jobs (when enabled) in another: sampling never waits for the backend, its retries or a job."""
        if once:
            return self._run_once()
        self._halt.clear()
        threads = [threading.Thread(target=self._send_loop, name="techcare-sensor-send", daemon=True)]
        if self.jobs:
            threads.append(threading.Thread(target=self._job_loop, name="techcare-sensor-jobs", daemon=True))
        for thread in threads:
            thread.start()
        code = 0
        next_tick = time.monotonic()
        try:
            while not self.stop_event.is_set():
                try:
                    self.take()
                except Exception as exc:
                    log.exception("%s", tr("Messung fehlgeschlagen: {t}", "sampling failed: {t}", t=type(exc).__name__))
                self._wake_sender.set()
                if not self._license_still_valid():
                    code = EXIT_LICENSE
                    break
                next_tick += self.interval
                now = time.monotonic()
                if next_tick < now:  # we fell behind (slow probes): skip missed ticks
                    next_tick = now + self.interval
                self.stop_event.wait(next_tick - now)
        finally:
            self._halt.set()
            self._wake_sender.set()
            deadline = time.monotonic() + STOP_GRACE  # a job's current step may finish; systemd waits 30 s
            for thread in threads:
                if thread.name == "techcare-sensor-jobs" and not (self._executor is not None and self._executor.busy):
                    continue  # only waiting in a long-poll: nothing to finish
                thread.join(timeout=max(0.1, deadline - time.monotonic()))
        if code == 0 or self.stop_event.is_set():
            return code
        outcome = self.flush()  # leaving for a license reason: deliver what is spooled if the backend answers
        if outcome.error:
            log.warning("%d samples stay in the spool: %s", outcome.remaining, outcome.error)
        return code

    def _run_once(self) -> int:
        try:
            self.take()
        except Exception as exc:
            log.exception("%s", tr("Messung fehlgeschlagen: {t}", "sampling failed: {t}", t=type(exc).__name__))
        outcome = self.flush()
        if outcome.sent:
            log.info("%s", _sent_line(outcome))
        jobs_ok = self.run_jobs(wait=0) if self.jobs else True
        return 0 if outcome.error is None and jobs_ok else 1

    def _send_loop(self) -> None:
        """Forward the spool after every new sample; after a failure wait (backoff) instead of retrying per tick."""
        import random

        failures = 0
        while not (self._halt.is_set() or self.stop_event.is_set()):
            if failures:
                low, high = self.send_backoff
                delay = min(high, low * 2 ** (failures - 1)) * (0.5 + random.random() / 2)
                self._halt.wait(delay)
            else:
                self._wake_sender.wait()
            self._wake_sender.clear()
            if self._halt.is_set() or self.stop_event.is_set():
                break
            try:
                outcome = self.flush()
            except Exception as exc:  # noqa: BLE001 - a bug must not end forwarding for good
                log.exception("%s", tr("Senden fehlgeschlagen: {t}", "sending failed: {t}", t=type(exc).__name__))
                failures += 1
                continue
            if outcome.sent:
                log.info("%s", _sent_line(outcome))
            failures = failures + 1 if outcome.error else 0

    # ---- remote jobs --------------------------------------------------------------------------------------
    def executor(self) -> Any:
        """The remote-job executor of this host (created on first use; imports nothing heavy)."""
        if self._executor is None:
            from .executor import Executor

            self._executor = Executor(self.settings, runner=self.runner, client=self.client,
                                      hostname=self.hostname(), stop=self._halt, timezone=self.timezone())
        return self._executor

    def run_jobs(self, *, wait: int = 0) -> bool:
        """Report jobs a killed sensor left unfinished, then fetch and run the jobs due now (``--once``).
        False when the backend could not be asked."""
        from ..errors import BackendError

        executor = self.executor()
        try:
            executor.recover()
            executor.poll(wait=wait)
        except BackendError as exc:
            log.warning("%s", tr("Fernaufträge nicht abgerufen: {m}", "remote jobs not fetched: {m}", m=exc.message))
            return False
        return True

    def _job_loop(self) -> None:
        """Long-poll for jobs while online; offline, ask again after a backoff of at most one interval."""
        import random

        from ..errors import BackendError

        try:
            executor = self.executor()
            executor.recover()
        except Exception:  # noqa: BLE001 - recovery must not keep the sensor from its work
            log.exception("%s", tr("Nachbehandlung unterbrochener Fernaufträge fehlgeschlagen", "recovering interrupted remote jobs failed"))
        failures = 0
        while not (self._halt.is_set() or self.stop_event.is_set()):
            started = time.monotonic()
            try:
                self.executor().poll(wait=JOB_WAIT if failures == 0 else 0)
                failures = 0
                quick = time.monotonic() - started
                if quick < JOB_MIN_POLL:  # also after jobs: a backend that always answers with some sets no pace
                    self._halt.wait(JOB_MIN_POLL - quick)
                continue
            except BackendError as exc:
                failures += 1
                if failures == 1:
                    status = getattr(exc, "status_code", None)
                    if status in (401, 403):  # reached, but refused: say so (e.g. HOST_BOUND: another key serves it)
                        log.warning("%s", tr("Fernaufträge: das Backend lehnt diesen Rechner ab (HTTP {s}), später "
                                             "erneut: {m}", "remote jobs: the backend refuses this host (HTTP {s}), "
                                             "asking again later: {m}", s=status, m=exc.message))
                    else:
                        log.warning("%s", tr("Fernaufträge: Backend nicht erreichbar, später erneut: {m}",
                                             "remote jobs: backend not reachable, asking again later: {m}",
                                             m=exc.message))
            except Exception:  # noqa: BLE001 - a bug in one poll must not end the job thread
                failures += 1
                log.exception("%s", tr("Schleife der Fernaufträge fehlgeschlagen", "remote job loop failed"))
            delay = min(max(self.interval, JOB_BACKOFF), JOB_BACKOFF * 2 ** (failures - 1))
            self._halt.wait(delay * (0.5 + random.random() / 2))

    def _license_still_valid(self) -> bool:
        """Re-check the license every ``license_interval`` seconds; a revoked, expired or offline-too-long license
        (or one that lost the sensor entitlement) ends the sensor with exit status 3. Spooled samples stay."""
        if self.license_check is None or time.monotonic() - self._license_checked < self.license_interval:
            return True
        self._license_checked = time.monotonic()
        from .. import features

        try:
            status = self.license_check()
        except Exception as exc:  # noqa: BLE001 - a bug in the check must not count as a valid license
            log.error("%s", tr("Erneute Lizenzprüfung fehlgeschlagen: {e}", "license re-check failed: {e}", e=exc))
            return False
        if not status.ok:
            log.error("%s", status.message)
            return False
        if status.code == "OFFLINE_GRACE":
            log.warning("%s", status.message)
        if not features.allowed("sensor_mode"):
            log.error("%s", tr("Die Lizenz enthält den Sensor-Mode nicht mehr (Pro Business oder höher nötig).",
                               "The license no longer includes sensor mode (needs Pro Business or higher)."))
            return False
        return True

    def stop(self, *_: object) -> None:
        self.stop_event.set()
        self._halt.set()
        self._wake_sender.set()

    def close(self) -> None:
        for spool in self._spools():
            spool.close()


# ---- one sensor per home ---------------------------------------------------------------------------------

class SensorRunning(TechCareError):
    """Another sensor already works on this ``TECHCARE_HOME``."""

    exit_code = 2


class InstanceLock:
    """An exclusive lock on ``TECHCARE_HOME/sensor.lock`` held for the life of the process: a second sensor on
    the same home refuses to start. The operating system releases it when the process ends in any way (also
    ``kill -9`` or a power loss), so a crash never leaves a stale lock; the file keeps the holder's PID and start
    time only to name it in the refusal."""

    def __init__(self, home: str | Path) -> None:
        self.path = Path(home) / "sensor.lock"
        self._fd: int | None = None

    def acquire(self) -> InstanceLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            try:   # a read-only home: an existing lock file still locks (flock needs no write access)
                fd = os.open(self.path, os.O_RDONLY)
            except OSError:
                # no lock possible (read-only home without one, the path a directory): sampling matters more
                # than the guard against a second sensor, so say it and go on
                log.warning("%s", tr("Sperrdatei {p} nicht nutzbar ({e}): ein zweiter Sensor auf diesem "
                                     "TECHCARE_HOME würde nicht erkannt. Der Pfad muss eine Datei sein.",
                                     "lock file {p} cannot be used ({e}): a second sensor on this TECHCARE_HOME "
                                     "would not be noticed. The path must be a file.", p=self.path,
                                     e=exc.strerror or exc))
                return self
        try:
            _lock_file(fd)
        except OSError:
            holder = ""
            with contextlib.suppress(OSError):
                os.lseek(fd, 0, os.SEEK_SET)
                holder = os.read(fd, 200).decode("utf-8", "replace").strip()
            os.close(fd)
            raise SensorRunning(
                tr("Auf {h} läuft schon ein Sensor ({w}); ein zweiter würde jede Messung doppelt senden.",
                   "A sensor is already running on {h} ({w}); a second one would send every sample twice.",
                   h=self.path.parent, w=holder or tr("PID unbekannt", "PID unknown")),
                hint=tr("Den laufenden Sensor nutzen (Dienst) oder ihn erst beenden; zum Ansehen: --status.",
                        "Use the running sensor (service) or stop it first; to look: --status.")) from None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"PID {os.getpid()}, {_utc_now_iso(time.time())}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)   # closing the descriptor releases the lock
            self._fd = None

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


_WINDOWS_LOCK_OFFSET = 1 << 20


def _lock_file(fd: int) -> None:
    """Take an exclusive, non-blocking lock on ``fd`` (OSError when another process holds it)."""
    if os.name == "nt":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)   # a byte past the text, so the PID stays readable
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


# ---- logging -------------------------------------------------------------------------------------------

class _LineFormatter(logging.Formatter):
    """One record, one line, nothing a terminal obeys: a message can carry a backend's or a machine's words (a
    refusal's text, a host name), so control characters are shown as escapes and line breaks as ``\\n`` (no forged
    log lines, no escape sequences when someone reads the log with ``cat`` or ``journalctl``)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        from ..system.records import visible

        record.message = visible(record.message, limit=20_000).replace("\n", "\\n")
        return super().formatMessage(record)


class _JournalFormatter(_LineFormatter):
    """stderr under systemd: ``<priority>message`` so journald records the level (sd-daemon(3) prefixes)."""

    _PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

    def format(self, record: logging.LogRecord) -> str:
        prio = self._PRIORITY.get(record.levelno, 6)
        return f"<{prio}>{super().format(record)}"


def setup_logging(*, platform: str | None = None, log_file: str | None = None, verbose: bool = False) -> None:
    """stderr everywhere (journald picks it up under systemd); plus a log file (macOS launchd service) and the
    Windows Application event log when running as a Windows service."""
    from ..system.runner import current_platform

    platform = platform or current_platform()
    root = logging.getLogger("techcare")
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stderr = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        stderr.setFormatter(_JournalFormatter("%(message)s"))
    else:
        stderr.setFormatter(_LineFormatter("%(asctime)s %(levelname)s %(message)s"))
    root.addHandler(stderr)
    if log_file:
        try:
            handler = logging.FileHandler(log_file, encoding="utf-8")
            handler.setFormatter(_LineFormatter("%(asctime)s %(levelname)s %(message)s"))
            root.addHandler(handler)
        except OSError as exc:
            root.warning("cannot write log file %s: %s", log_file, exc)
    if platform == "windows" and os.environ.get("TECHCARE_WINDOWS_SERVICE"):
        try:
            from logging.handlers import NTEventLogHandler

            root.addHandler(NTEventLogHandler("TechCare Sensor"))
        except Exception as exc:  # noqa: BLE001 - pywin32 missing: stderr still works
            root.warning("Windows event log not available: %s", exc)


# ---- command line --------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="techcare sensor",
                    description=tr("TechCare-Sensor: Systemmetriken sammeln und an das Backend senden.",
                                   "TechCare sensor: collect system metrics and send them to the backend."),
                    epilog=tr("Fernaufträge: REMOTE_JOBS=on in den Einstellungen und die Schlüssel der "
                              "Techniker hinterlegen: techcare sensor trust list|add|remove.",
                              "Remote jobs: REMOTE_JOBS=on in the settings and the technicians' keys "
                              "pinned: techcare sensor trust list|add|remove."))
    parser.add_argument("--interval", type=int, default=None,
                        help=tr("Sekunden zwischen Messungen (Standard SENSOR_INTERVAL, 300)",
                                "seconds between samples (default SENSOR_INTERVAL, 300)"))
    parser.add_argument("--once", action="store_true", help=tr("eine Messung senden und beenden",
                                                               "send one sample and exit"))
    parser.add_argument("--dry-run", action="store_true", help=tr("Messung nur als JSON ausgeben (nichts senden)",
                                                                  "print the sample as JSON (send nothing)"))
    parser.add_argument("--hostname", default=None, help=tr("Hostname überschreiben", "override the host name"))
    parser.add_argument("--log-file", default=None, help=tr("zusätzlich in diese Datei protokollieren",
                                                            "also log to this file"))
    parser.add_argument("--max-spool", type=int, default=None,
                        help=tr("höchstens so viele Messungen puffern (Standard: 30 Tage)",
                                "buffer at most this many samples (default: 30 days' worth)"))
    parser.add_argument("--status", action="store_true", help=tr("Spool-Status anzeigen", "show the spool status"))
    parser.add_argument("--snapshot", metavar="FILE", default=None,
                        help=tr("als der aufgezeichnete PC dieses Snapshots arbeiten (Hostname und OS aus dem "
                                "Snapshot, Reparaturen an einem simulierten PC; für Demos und Tests)",
                                "act as the recorded PC of this snapshot (host name and OS from the snapshot, "
                                "repairs on a simulated PC; for demos and tests)"))
    parser.add_argument("-v", "--verbose", action="store_true", help=tr("ausführlich protokollieren (DEBUG)",
                                                                        "verbose logging (DEBUG)"))
    return parser


# ---- techcare sensor trust ------------------------------------------------------------------------------

def _trust_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="techcare sensor trust",
        description=tr("Die Signaturschlüssel der Techniker, deren Fernaufträge dieser Rechner ausführt "
                       "(TECHCARE_HOME/trusted_signers.json). Rotation: neuen Schlüssel hinzufügen, dann den "
                       "alten entfernen.",
                       "The technicians' signing keys whose remote jobs this host runs (TECHCARE_HOME/"
                       "trusted_signers.json). Rotation: add the new key, then remove the old one."))
    parser.add_argument("--home", default=None, help=tr("TECHCARE_HOME des Sensors (Standard: die Einstellung)",
                                                        "the sensor's TECHCARE_HOME (default: the setting)"))
    sub = parser.add_subparsers(dest="action", required=True, metavar="list|add|remove")
    sub.add_parser("list", help=tr("hinterlegte Schlüssel zeigen", "show the pinned keys"))
    add = sub.add_parser("add", help=tr("einen Schlüssel hinterlegen", "pin a key"))
    add.add_argument("key", metavar="KEY", help=tr("öffentlicher Schlüssel (wie `techcare fleet key` ihn zeigt) "
                                                   "oder Pfad einer PEM-Datei",
                                                   "public key (as `techcare fleet key` prints it) or the path "
                                                   "of a PEM file"))
    add.add_argument("--name", default="", help=tr("Name des Technikers", "the technician's name"))
    remove = sub.add_parser("remove", help=tr("einen Schlüssel entfernen", "unpin a key"))
    remove.add_argument("key_id", metavar="KEY_ID", help=tr("die Schlüssel-ID (wie list sie zeigt)",
                                                            "the key id (as list shows it)"))
    return parser


def trust_main(argv: list[str], *, out: Any = None) -> int:
    """``techcare sensor trust list|add KEY [--name N]|remove KEY_ID``. Returns the exit status."""
    from ..signing import SignatureError, TrustStore

    out = out or sys.stdout
    try:
        args = _trust_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.home is None:
        from ..config import get_settings

        home = Path(get_settings().techcare_home)
    else:
        home = Path(args.home).expanduser()
    store = TrustStore(home)
    try:
        if args.action == "list":
            signers = store.signers()
            if not signers:
                print(tr("Keine Signaturschlüssel hinterlegt ({p}): dieser Rechner lehnt jeden Fernauftrag ab.",
                         "No signing keys pinned ({p}): this host refuses every remote job.", p=store.path), file=out)
            for signer in signers:
                print(f"{signer.key_id}  {signer.name or '-'}  {signer.added_at}  {signer.public_text}", file=out)
            return 0
        if args.action == "add":
            text = args.key
            candidate = Path(text).expanduser()
            if not text.startswith("-----BEGIN") and not text.lower().startswith("ed25519:") \
                    and len(text) != 43 and candidate.is_file():
                text = candidate.read_text(encoding="utf-8")
            signer = store.add(text, name=args.name)
            print(tr("Schlüssel {k} ({n}) hinterlegt in {p}.", "Key {k} ({n}) pinned in {p}.", k=signer.key_id,
                     n=signer.name or "-", p=store.path), file=out)
            return 0
        if store.remove(args.key_id):
            print(tr("Schlüssel {k} entfernt.", "Key {k} removed.", k=args.key_id), file=out)
            return 0
        known = ", ".join(s.key_id for s in store.signers()) or "-"
        print(tr("Schlüssel {k} ist nicht hinterlegt. Hinterlegt: {a}.", "Key {k} is not pinned. Pinned: {a}.",
                 k=args.key_id, a=known), file=sys.stderr)
        return 1
    except SignatureError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    except OSError as exc:
        print(tr("{p} nicht les- oder schreibbar: {e}", "{p} cannot be read or written: {e}", p=store.path,
                 e=exc.strerror or exc), file=sys.stderr)
        return 2


def main(argv: list[str] | None = None, *, started: Callable[[Sensor], None] | None = None) -> int:
    """``techcare sensor`` / ``python -m techcare.monitoring.sensor``. Returns the exit status.

    ``started(sensor)`` is called before the loop (the Windows service host keeps it to stop it).
    """
    from ..errors import TechCareError

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["trust"]:
        return trust_main(argv[1:])
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.max_spool is not None and args.max_spool < 1:
        print(tr("--max-spool={v} ist ungültig. Erlaubt: eine Zahl ab 1.",
                 "--max-spool={v} is not valid. Allowed: a number from 1.", v=args.max_spool), file=sys.stderr)
        return 2
    if args.interval is not None and not 1 <= args.interval <= 86400:
        print(tr("--interval={v} ist ungültig. Erlaubt: 1 bis 86400 Sekunden.",
                 "--interval={v} is not valid. Allowed: 1 to 86400 seconds.", v=args.interval), file=sys.stderr)
        return 2
    setup_logging(log_file=args.log_file, verbose=args.verbose)
    sensor: Sensor | None = None
    lock: InstanceLock | None = None
    try:
        from ..config import get_settings

        settings = get_settings()
        replay: dict[str, Any] = {}
        if args.snapshot:
            from .simulated import SimulatedPC

            pc = SimulatedPC.from_snapshot(args.snapshot, state_file=Path(settings.techcare_home) / "simulated-pc.json")
            # the replayed PC's own host name; no slow-probe cache shared with a real sensor in the same home
            replay = {"runner": pc.runner(), "cache_ttl": {}}
            args.hostname = args.hostname or pc.hostname
        if args.dry_run:
            sensor = Sensor(settings=settings, interval=args.interval, hostname=args.hostname, persist=False,
                            **replay)
            print(json.dumps(sensor.sample(), indent=2, ensure_ascii=False))
            return 0
        if args.status:
            with Spool(Path(settings.techcare_home) / "sensor-spool.sqlite3", repair=False) as spool:
                stats = spool.stats()
                stats.update(spool.scan())
            print(json.dumps(stats, indent=2))
            return 0
        lock = InstanceLock(settings.techcare_home).acquire()
        from .. import features
        from ..license import ensure_license
        from ..network import require_transport

        for warning in require_transport(settings):
            log.warning("%s", warning)
        status = ensure_license()
        for warning in status.warnings:
            log.warning("%s", warning)
        if status.code == "OFFLINE_GRACE":
            log.warning("%s", status.message)
        features.require("sensor_mode")
        if not settings.techcare_api_key:
            print(tr("TECHCARE_API_KEY ist nicht gesetzt: der Sensor braucht einen Sensor-Schlüssel (tck_…).",
                     "TECHCARE_API_KEY is not set: the sensor needs a sensor key (tck_…)."), file=sys.stderr)
            return 2
        from ..license import LicenseManager, check_license

        # each re-check puts its result in force, so the sensor_mode gate follows a revoked or downgraded license
        sensor = Sensor(settings=settings, interval=args.interval, hostname=args.hostname, max_samples=args.max_spool,
                        license_check=functools.partial(check_license, LicenseManager(settings)), **replay)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, sensor.stop)
            signal.signal(signal.SIGINT, sensor.stop)
        if started is not None:
            started(sensor)
        log.info("%s", tr("TechCare-Sensor {v} gestartet: alle {i:g} s an {u} ({n} Messungen im Zwischenspeicher)",
                          "TechCare sensor {v} started: every {i:g} s to {u} ({n} samples waiting in the spool)",
                          v=__version__, i=sensor.interval, u=settings.backend_url, n=sensor.waiting()))
        sensor.report_spool()
        if sensor.jobs:
            from ..signing import SignatureError, TrustStore

            try:
                pinned = len(TrustStore(settings.techcare_home).signers())
            except SignatureError as exc:
                pinned = 0
                log.error("%s", exc.message)
            log.info("%s", tr("Fernaufträge an (REMOTE_JOBS=on) für {h}, {n} Signaturschlüssel hinterlegt",
                              "remote jobs on (REMOTE_JOBS=on) for host {h}, {n} signer key(s) pinned",
                              h=sensor.hostname(), n=pinned))
        return sensor.run(once=args.once)
    except TechCareError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    finally:
        if sensor is not None:
            sensor.close()
        if lock is not None:
            lock.release()


if __name__ == "__main__":
    sys.exit(main())
