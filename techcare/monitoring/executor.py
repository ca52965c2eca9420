"""The sensor host's side of remote jobs: verify a signed job, run it through the repairs engine, report back.

The contract is ``docs/remote-jobs.md``. A job is an envelope signed by a technician's Ed25519 key; this host runs
it only when

- ``REMOTE_JOBS=on`` in its settings (off by default),
- the signer's key is pinned in ``TECHCARE_HOME/trusted_signers.json`` (:class:`techcare.signing.TrustStore`,
  managed with ``techcare sensor trust ...``) and the signature matches the payload,
- the payload names this host (and, for repairs, this host's platform), the time window is open, and the job id
  was never seen here before (the write-ahead run log ``TECHCARE_HOME/remote_jobs.jsonl``),
- a repair's steps rebuild exactly the plan the technician approved (same fingerprint, the same ``GO REPAIR``
  approval), and high-risk steps carry the signed confirmation.

The first failing check decides the refusal ``reason`` (see :data:`REASONS`); a refusal is recorded in the run log
and reported to the backend as ``refused``. An accepted job is written to the run log (fsynced) *before* anything
runs, so a job id is never run twice, not even after the sensor was killed mid-job: :meth:`Executor.recover`
finds such a job at the next start, undoes its interrupted step from the changelog when it can (else lists it) and
reports ``interrupted``.

Only catalogue actions run, through the public repairs API (``Plan.from_actions`` → ``parse_approval`` →
``Plan.run``: restore-point rule, verify, undo of a failed step, write-ahead changelog); never a shell string.
The steps of a repair run one by one so that progress is reported after each step and a cancel from the
technician stops the job before its next step.

Import cost: this module imports nothing heavy; signature checks, the repairs engine and the diagnosis are
imported when a job arrives (the sensor's steady sampling stays within its budget).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from calendar import timegm
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import BackendError, TechCareError
from ..i18n import tr

__all__ = ["KINDS", "REASONS", "RESTART_ACTIONS", "RUN_LOG", "SCHEDULE_REASONS", "Executor", "JobOutcome", "Refusal",
           "RunLog", "occurrence_run_id"]

log = logging.getLogger("techcare.sensor.jobs")

#: the refusal reasons in the order the checks run (docs/remote-jobs.md §2)
REASONS = ("disabled", "malformed", "unknown_signer", "bad_signature", "wrong_host", "platform", "not_yet",
           "expired", "replayed", "plugin_missing", "plugin_mismatch", "plan_mismatch", "needs_confirmation")
#: the refusal reasons of a maintenance occurrence, in the order the checks run (docs/remote-jobs.md §5 Host)
SCHEDULE_REASONS = ("disabled", "malformed", "unknown_signer", "bad_signature", "wrong_host", "platform", "not_valid",
                    "revision", "not_an_occurrence", "outside_window", "replayed", "plugin_missing",
                    "plugin_mismatch", "plan_mismatch", "needs_confirmation", "needs_reboot")
KINDS = ("diagnose", "drivers", "repair", "rollback")
READ_ONLY_KINDS = ("diagnose", "drivers")
#: catalogue actions whose effect needs a restart of the computer (winsock reset; chkdsk runs at the next start).
#: No action restarts the computer itself; in a maintenance schedule these run only with ``allow_reboot``.
RESTART_ACTIONS = frozenset({"win.reset_winsock", "win.schedule_chkdsk"})
MAX_SCHEDULE_VALIDITY = 400 * 86400
PLATFORMS = ("windows", "darwin", "linux")
RUN_LOG = "remote_jobs.jsonl"
CLOCK_SKEW = 300            # seconds a job may arrive before its not_before
MAX_WINDOW = 30 * 86400     # expires at most 30 days after not_before
MAX_HOSTS = 1000
MAX_STEPS = 100
MAX_ENVELOPE_BYTES = 256 * 1024
#: jobs handled from one answer of ``GET /api/sensor/jobs`` (the contract's "at most 10 jobs per answer"); more are
#: left for the next poll, which the backend answers with them again (they stay ``delivered`` without a report)
MAX_JOBS_PER_POLL = 10
#: maintenance occurrences and cancelled job ids handled from one answer (the rest come with the next poll)
MAX_OCCURRENCES_PER_POLL = 10
MAX_CANCELLED_PER_POLL = 100
#: refusals recorded as *final* for a job id: only ``expired`` (the window is over, the job can never become valid).
#: A refusal that depends on the time (``not_yet``), on this host's state (``wrong_host``, ``platform``) or on its
#: catalogue (``plan_mismatch``, ``needs_confirmation``) does not use up the job id: the same signed job delivered
#: again when it can run is checked afresh. Only an accepted job (and an expired one) counts as seen.
FINAL_REFUSALS = frozenset({"expired"})
#: the run log is compacted when it holds more records than this (see :meth:`RunLog.compact`)
RUN_LOG_COMPACT_AT = 5000
#: refusals (and delivered reports) are kept this long in the run log; accepted jobs, occurrences and their steps
#: 400 days (replay protection needs a job id only until its ``expires`` passed, at most 30 days after it could be
#: accepted; an occurrence id at most as long as its schedule is valid, at most 400 days)
RUN_LOG_REFUSALS_KEEP = 86400.0
RUN_LOG_JOBS_KEEP = MAX_SCHEDULE_VALIDITY + 86400.0
#: at most this many refusals of unverified envelopes (garbage: malformed, unknown signer, bad signature) are kept
RUN_LOG_MAX_GARBAGE = 1000
_HEX32 = re.compile(r"[0-9a-f]{32}")
# ASCII digits only: ``\d`` and ``strptime`` also take other scripts' digits (Arabic-Indic, fullwidth, ...), which no
# party writes and the occurrence rule (``schedule_time``) refuses one step later under another reason
_OCCURRENCE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
#: the reasons :func:`techcare.signing.verify_envelope` refuses with; each is reported as itself
_SIGNATURE_REASONS = ("malformed", "unknown_signer", "bad_signature")
#: the shape of a reason code (what the backend's report routes accept)
_REASON_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


class Refusal(TechCareError):
    """A job this host will not run. ``reason`` is one of :data:`REASONS`; the message says why (German/English)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class JobOutcome:
    """What became of one job on this host (the body of its final report)."""

    job_id: str
    status: str  # succeeded | failed | rolled_back | refused | interrupted | cancelled
    reason: str | None = None
    message: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    diagnosis: dict[str, Any] | None = None
    reported: bool = False
    schedule_id: str | None = None  # a maintenance occurrence: its schedule and local start (job_id is the run id)
    occurrence: str | None = None

    def report(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "message": self.message[:2000], "steps": self.steps}
        if self.reason:
            body["reason"] = self.reason
        if self.diagnosis is not None:
            body["diagnosis"] = self.diagnosis
        return body

    def occurrence_report(self) -> dict[str, Any]:
        """The body of the occurrence report route: ``ran | failed | skipped`` (a refusal) with the reason."""
        status = _OCCURRENCE_STATUS.get(self.status, "failed")
        reason = self.reason or (self.status if status == "failed" and self.status != "failed" else None)
        body: dict[str, Any] = {"status": status, "message": self.message[:4000], "steps": self.steps}
        if reason:
            body["reason"] = reason
        return body


# The outcome as the host's console says it (the status codes themselves go to the backend unchanged).
_STATUS_WORDS = {"succeeded": ("erfolgreich", "succeeded"), "failed": ("fehlgeschlagen", "failed"),
                 "rolled_back": ("zurückgenommen", "rolled back"), "refused": ("abgelehnt", "refused"),
                 "cancelled": ("abgebrochen", "cancelled"), "interrupted": ("unterbrochen", "interrupted"),
                 "expired": ("abgelaufen", "expired")}
_OCCURRENCE_STATUS = {"succeeded": "ran", "failed": "failed", "refused": "skipped", "interrupted": "failed",
                      "cancelled": "failed", "running": "running"}


def occurrence_run_id(schedule_id: str, occurrence: str) -> str:
    """The run log's id of one occurrence of a schedule on this host (never a 32-hex job id)."""
    return f"occ:{schedule_id}:{occurrence}"


def _now_iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str) -> float:
    return float(timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")))


# ---- the run log -------------------------------------------------------------------------------------------------

class RunLog:
    """``TECHCARE_HOME/remote_jobs.jsonl``: append-only, one JSON object per line, each fsynced before
    :meth:`append` returns. Events: ``refused``, ``accepted`` (before anything runs), ``step`` (a step's changelog
    session), ``finished``, ``report_pending`` / ``reported``. A torn last line (crash mid-write) is skipped."""

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] | None = None
        self._clock = clock

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._records is None:
                self._records = []
                try:
                    lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
                except FileNotFoundError:
                    lines = []
                for line in lines:
                    try:
                        item = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(item, dict) and isinstance(item.get("job_id"), str):
                        self._records.append(item)
            return list(self._records)

    def append(self, event: str, job_id: str, **fields: Any) -> dict[str, Any]:
        self.records()
        record = {"ts": _now_iso(time.time()), "at": round(time.time(), 3), "event": event, "job_id": job_id,
                  **fields}
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            new = not self.path.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            if new and hasattr(os, "O_DIRECTORY"):
                try:
                    dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
                    try:
                        os.fsync(dfd)
                    finally:
                        os.close(dfd)
                except OSError:
                    pass
            assert self._records is not None
            self._records.append(record)
            grown = len(self._records) > RUN_LOG_COMPACT_AT
        if grown:
            self.compact()
        return record

    def compact(self) -> int:
        """Rewrite the run log without records nothing needs any more; returns how many were dropped.

        Kept: every record of a job still open (accepted, not finished) or whose result has not reached the backend;
        ``accepted``, ``step`` and ``finished`` records for :data:`RUN_LOG_JOBS_KEEP` (replay protection needs a job
        id until its ``expires`` has passed, at most 30 days after it could first be accepted; rollbacks need the
        steps' changelog sessions) and in any case until a recorded ``expires`` has passed; the newest verified
        record of each maintenance schedule (its revision); refusals and report records for
        :data:`RUN_LOG_REFUSALS_KEEP`, of those of unverified envelopes at most :data:`RUN_LOG_MAX_GARBAGE`. The new
        file is written beside the old one, fsynced and moved over it (a crash leaves the old or the new file)."""
        records = self.records()
        now = self._clock()
        finished = {r["job_id"] for r in records if r["event"] == "finished"}
        keep_ids = {r["job_id"] for r in records if r["event"] == "accepted" and r["job_id"] not in finished}
        keep_ids |= {r["job_id"] for r in self.pending_reports()}
        newest_revision: dict[str, int] = {}
        for index, r in enumerate(records):
            if isinstance(r.get("schedule_id"), str) and isinstance(r.get("revision"), int) \
                    and (r["event"] == "accepted" or (r["event"] == "refused" and r.get("verified"))):
                newest_revision[r["schedule_id"]] = index
        revision_rows = set(newest_revision.values())

        def needed(index: int, r: dict[str, Any]) -> bool:
            if r["job_id"] in keep_ids or index in revision_rows:
                return True
            age = now - float(r.get("at") or 0)
            if r["event"] in ("refused", "reported", "report_pending"):
                return age < RUN_LOG_REFUSALS_KEEP
            expires = r.get("expires")
            try:
                if isinstance(expires, str) and now <= _parse_time(expires) + CLOCK_SKEW:
                    return True
            except ValueError:
                pass
            return age < RUN_LOG_JOBS_KEEP

        kept = [r for i, r in enumerate(records) if needed(i, r)]
        garbage = [i for i, r in enumerate(kept) if r["event"] == "refused" and not r.get("verified")]
        if len(garbage) > RUN_LOG_MAX_GARBAGE:
            drop = set(garbage[:len(garbage) - RUN_LOG_MAX_GARBAGE])
            kept = [r for i, r in enumerate(kept) if i not in drop]
        dropped = len(records) - len(kept)
        if not dropped:
            return 0
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in kept).encode("utf-8")
        with self._lock:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            self._records = kept
        log.info("%s", tr("Protokoll der Fernaufträge verdichtet: {n} alte Einträge entfernt, {k} behalten.",
                          "Remote job log compacted: {n} old records removed, {k} kept.", n=dropped, k=len(kept)))
        return dropped

    def seen(self, job_id: str) -> bool:
        """True when a job with this id was accepted here, or refused after its signature was verified with a
        final reason (:data:`FINAL_REFUSALS`: ``expired``). Refusals before the signature check do not count (an
        unverified envelope must not block the genuine job), nor do refusals that depend on the time or on this
        host (``not_yet``, ``wrong_host``, ``platform``, ...): the job delivered again inside its window runs."""
        return any(r["job_id"] == job_id and (r["event"] == "accepted" or (
            r["event"] == "refused" and r.get("verified") and r.get("reason") in FINAL_REFUSALS))
            for r in self.records())

    def refused_before(self, job_id: str, reason: str) -> bool:
        """True when this job id was refused here for ``reason`` already (the refusal is logged and reported once)."""
        return any(r["job_id"] == job_id and r["event"] == "refused" and r.get("reason") == reason
                   for r in self.records())

    def accepted(self, job_id: str) -> dict[str, Any] | None:
        return next((r for r in self.records() if r["job_id"] == job_id and r["event"] == "accepted"), None)

    def sessions(self, job_id: str) -> list[str]:
        """The changelog sessions of a job's steps, in the order they ran."""
        return [r["session"] for r in self.records()
                if r["job_id"] == job_id and r["event"] == "step" and isinstance(r.get("session"), str)]

    def highest_revision(self, schedule_id: str) -> int:
        """The highest revision of ``schedule_id`` whose signature this host verified (0: never seen)."""
        return max((int(r["revision"]) for r in self.records()
                    if r.get("schedule_id") == schedule_id and isinstance(r.get("revision"), int)
                    and (r["event"] == "accepted" or (r["event"] == "refused" and r.get("verified")))), default=0)

    def open_jobs(self) -> list[dict[str, Any]]:
        """``accepted`` records without a ``finished`` one: jobs whose process died while running them."""
        finished = {r["job_id"] for r in self.records() if r["event"] == "finished"}
        return [r for r in self.records() if r["event"] == "accepted" and r["job_id"] not in finished]

    def pending_reports(self) -> list[dict[str, Any]]:
        """``report_pending`` records not followed by ``reported``: results the backend has not received yet."""
        pending: dict[str, dict[str, Any]] = {}
        for r in self.records():
            if r["event"] == "report_pending":
                pending[r["job_id"]] = r
            elif r["event"] == "reported":
                pending.pop(r["job_id"], None)
        return list(pending.values())


# ---- the executor ------------------------------------------------------------------------------------------------

class Executor:
    """Verifies and runs the remote jobs of one host. Every dependency is injectable.

    ``settings``: the sensor's settings (``REMOTE_JOBS``, ``TECHCARE_HOME``); ``runner``: the CommandRunner of
    this host (or of a replayed PC); ``client``: a :class:`techcare.backend_client.BackendClient` (reports);
    ``hostname``: this host's name as its samples report it (default: from the runner); ``clock``: epoch seconds;
    ``stop``: an event set when the sensor stops (a repair then ends after its current step, as ``interrupted``);
    ``timezone``: this host's IANA zone, in which maintenance schedules are evaluated (default: asked through the
    runner, :func:`techcare.monitoring.hostzone.host_zone`; UTC when unknown); ``wait(seconds)``: how an occurrence
    that arrived a little early waits for its start (default: on ``stop``; returns True when stopped).
    """

    def __init__(self, settings: Any = None, *, runner: Any = None, client: Any = None, hostname: str | None = None,
                 clock: Callable[[], float] = time.time, progress: Callable[[str], None] | None = None,
                 stop: threading.Event | None = None, timezone: str | None = None,
                 wait: Callable[[float], bool] | None = None) -> None:
        if settings is None:
            from ..config import get_settings

            settings = get_settings()
        self.settings = settings
        if runner is None:
            from ..system import default_runner

            runner = default_runner()
        self.runner = runner
        self._client = client
        self._hostname = hostname
        self.clock = clock
        self.home = Path(settings.techcare_home)
        self.log = RunLog(self.home / RUN_LOG)
        self._say = progress or (lambda line: log.info("%s", line))
        self.stop = stop or threading.Event()
        self.busy = False  # True while a job is being verified, run or reported
        self._timezone = timezone
        self._wait = wait or self.stop.wait

    # ---- identity --------------------------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return getattr(self.settings, "remote_jobs", "off") == "on"

    @property
    def platform(self) -> str:
        return str(self.runner.platform)

    @property
    def hostname(self) -> str:
        if not self._hostname:
            from ..system import host_info

            self._hostname = str(host_info(self.runner).get("hostname") or "unknown")
        return self._hostname

    @property
    def client(self) -> Any:
        if self._client is None:
            from ..backend_client import BackendClient

            self._client = BackendClient(settings=self.settings, retries=2, timeout=15.0)
        return self._client

    @property
    def timezone(self) -> str:
        """This host's IANA time zone (maintenance occurrences are local times in it)."""
        if not self._timezone:
            from .hostzone import host_zone

            self._timezone = host_zone(self.runner)[0]
        return self._timezone

    @timezone.setter
    def timezone(self, name: str) -> None:
        self._timezone = name

    # ---- verification ----------------------------------------------------------------------------------------
    def verify(self, envelope: Any, *, job_id: str | None = None) -> dict[str, Any]:
        """The payload of ``envelope`` if this host may run it; else :class:`Refusal` with the first failing
        check's reason (order: :data:`REASONS`). ``job_id``: the id the backend delivered it under (must match).
        Records nothing (:meth:`process` does)."""
        return self._check(envelope, job_id=job_id)[0]

    def _check(self, envelope: Any, *, job_id: str | None = None) -> tuple[dict[str, Any], Any, Any]:
        if not self.enabled:
            raise Refusal("disabled", tr(
                "Fernaufträge sind auf diesem Rechner aus (REMOTE_JOBS=off); nichts wurde geprüft oder ausgeführt.",
                "Remote jobs are off on this host (REMOTE_JOBS=off); nothing was verified or run."))
        payload = _well_formed(envelope, job_id)
        self._verify_signature(envelope)
        if self.hostname not in payload["hosts"]:
            raise Refusal("wrong_host", tr("Der Auftrag ist für {h}, nicht für diesen Rechner {me}.",
                                           "The job is for {h}, not for this host {me}.",
                                           h=", ".join(payload["hosts"][:5]), me=self.hostname))
        if payload["kind"] not in READ_ONLY_KINDS and payload["platform"] != self.platform:
            raise Refusal("platform", tr("Der Auftrag ist für {p}, dieser Rechner ist {me}.",
                                         "The job is for {p}, this host is {me}.",
                                         p=payload["platform"], me=self.platform))
        now = self.clock()
        if now < _parse_time(payload["not_before"]) - CLOCK_SKEW:
            raise Refusal("not_yet", tr("Der Auftrag gilt erst ab {t} (Uhrzeit hier: {n}).",
                                        "The job is valid only from {t} (time here: {n}).",
                                        t=payload["not_before"], n=_now_iso(now)))
        if now > _parse_time(payload["expires"]):
            raise Refusal("expired", tr("Der Auftrag ist am {t} abgelaufen (Uhrzeit hier: {n}).",
                                        "The job expired on {t} (time here: {n}).",
                                        t=payload["expires"], n=_now_iso(now)))
        if self.log.seen(payload["job_id"]):
            raise Refusal("replayed", tr("Auftrag {j} wurde auf diesem Rechner schon angenommen oder abgelehnt; "
                                         "ein Auftrag läuft höchstens einmal.",
                                         "Job {j} was already accepted or refused on this host; a job runs at most "
                                         "once.", j=payload["job_id"]))
        plan = approval = None
        if payload["kind"] == "repair":
            plan, approval = self._rebuild(payload)
        return payload, plan, approval

    def _verify_signature(self, envelope: dict[str, Any]) -> None:
        """:class:`Refusal` unless a key pinned here signed the payload: with the reason the signature check gives
        (``malformed`` / ``unknown_signer`` / ``bad_signature``, see :func:`_signature_reason`); a damaged list of
        pinned keys trusts nobody (``unknown_signer``)."""
        from ..signing import SignatureError, TrustStore, verify_envelope

        store = TrustStore(self.home)
        try:
            trusted = store.keys()
            bad = sorted(k for k, raw in trusted.items() if len(raw) != 32)
            if bad:
                raise ValueError(f"key {bad[0]} is not a 32-byte Ed25519 public key")
        except (SignatureError, ValueError) as exc:  # a damaged list trusts nobody
            raise Refusal("unknown_signer", exc.message if isinstance(exc, SignatureError) else tr(
                "Liste der vertrauenswürdigen Signaturschlüssel {p} ist beschädigt ({e}); Fernaufträge werden "
                "abgelehnt, bis sie mit `techcare sensor trust add` neu angelegt ist.",
                "The list of trusted signing keys {p} is damaged ({e}); remote jobs are refused until it is "
                "recreated with `techcare sensor trust add`.", p=store.path, e=exc)) from None
        try:
            verify_envelope(envelope, trusted)
        except SignatureError as exc:
            raise Refusal(_signature_reason(exc.reason), exc.message) from None

    def _rebuild(self, payload: dict[str, Any]) -> tuple[Any, Any]:
        from .. import repairs

        steps = payload["steps"]
        from ..plugins._manager import remote_problem

        problem = remote_problem(payload.get("plugins"), [s["action"] for s in steps])
        if problem is not None:  # a plugin's action runs only where that plugin is installed, the same
            raise Refusal(problem[0], str(problem[1]))
        try:
            plan = repairs.Plan.from_actions([{"action": s["action"], "params": s.get("params") or {}} for s in steps],
                                             platform=payload["platform"], source="remote_job",
                                             host=self.hostname)
        except TechCareError as exc:
            raise Refusal("plan_mismatch", tr("Die Schritte ergeben hier keinen gültigen Plan: {e}",
                                              "The steps do not make a valid plan here: {e}", e=exc.message)) from None
        rebuilt = [(s.number, s.action_id) for s in plan.steps]
        if plan.fingerprint() != payload["plan_fingerprint"] or rebuilt != [(s["number"], s["action"]) for s in steps]:
            raise Refusal("plan_mismatch", tr(
                "Der hier aufgebaute Plan {p} ist nicht der freigegebene Plan {f}.",
                "The plan rebuilt here ({p}) is not the approved plan {f}.",
                p=plan.fingerprint(), f=payload["plan_fingerprint"]))
        try:
            approval = repairs.parse_approval(payload["approval"], plan)
        except TechCareError as exc:
            raise Refusal("plan_mismatch", tr("Die Freigabe passt nicht zum Plan: {e}",
                                              "The approval does not fit the plan: {e}", e=exc.message)) from None
        if list(approval.steps) != sorted(payload["approved_steps"]):
            raise Refusal("plan_mismatch", tr(
                "„{a}“ gibt {s} frei, der Auftrag nennt {n}.", "'{a}' approves {s}, the job names {n}.",
                a=payload["approval"], s=_steps_named(approval.steps, ","),
                n=",".join(map(str, payload["approved_steps"]))))
        risky = [n for n in approval.steps if plan.steps[n - 1].risk == "high"]
        if risky and payload["confirm_high_risk"] is not True:
            raise Refusal("needs_confirmation", tr(
                "Schritt(e) {s} haben hohes Risiko und laufen nur mit der signierten Bestätigung "
                "(confirm_high_risk).", "Step(s) {s} are high-risk and run only with the signed confirmation "
                "(confirm_high_risk).", s=", ".join(map(str, risky))))
        return plan, approval

    # ---- processing -------------------------------------------------------------------------------------------
    def process(self, job: Any) -> JobOutcome:
        """Verify, record and run one delivered job (``{"job_id", "envelope"}``); report the result."""
        self.busy = True
        try:
            return self._process(job)
        finally:
            self.busy = False

    def _process(self, job: Any) -> JobOutcome:
        outer = job.get("job_id") if isinstance(job, dict) else None
        outer = outer if isinstance(outer, str) and _HEX32.fullmatch(outer) else None
        envelope = job.get("envelope") if isinstance(job, dict) else None
        try:
            payload, plan, approval = self._check(envelope, job_id=outer)
        except RecursionError:  # nested deeper than any real job: garbage, refused like any malformed envelope
            return self._refuse(_malformed("zu tief verschachtelt.", "nested too deeply."), None, outer)
        except Refusal as refusal:
            again = self._redelivered(envelope["payload"]["job_id"]) if refusal.reason == "replayed" else None
            return again or self._refuse(refusal, envelope, outer)
        job_id = payload["job_id"]
        # write-ahead: from here on this job id is never run again, whatever happens to this process
        self.log.append("accepted", job_id, kind=payload["kind"], signer=payload["signer"],
                        key_id=envelope["key_id"], plan_fingerprint=payload["plan_fingerprint"],
                        rollback_of=payload["rollback_of"], approval=payload["approval"], expires=payload["expires"])
        self._say(tr("Fernauftrag {j} ({k}) von {s} angenommen.", "Remote job {j} ({k}) from {s} accepted.",
                     j=job_id, k=payload["kind"], s=payload["signer"]))
        if self._progress(job_id, []):
            return self._finish(JobOutcome(job_id, "cancelled", "cancelled", tr(
                "Vom Techniker abgebrochen, bevor etwas lief.", "Cancelled by the technician before anything ran.")))
        try:
            if payload["kind"] == "diagnose":
                outcome = self._diagnose(job_id)
            elif payload["kind"] == "drivers":
                outcome = self._drivers(job_id)
            elif payload["kind"] == "repair":
                outcome = self._repair(payload, plan, approval)
            else:
                outcome = self._rollback(payload)
        except TechCareError as exc:
            outcome = JobOutcome(job_id, "failed", "error", exc.message)
        except Exception as exc:  # noqa: BLE001 - a bug must end as a reported failure, not a silent thread death
            log.exception("%s", tr("Fernauftrag {j} fehlgeschlagen", "remote job {j} failed", j=job_id))
            outcome = JobOutcome(job_id, "failed", "error", f"{type(exc).__name__}: {exc}")
        return self._finish(outcome)

    def _redelivered(self, job_id: str) -> JobOutcome | None:
        """A verified job this host took or refused before whose result has not reached the backend yet, handed out
        again (the backend offers a delivered job it got no report on again after a minute: the answer may have
        been lost). Nothing runs again; the recorded result is sent instead of a ``replayed`` refusal. None when
        the backend has this host's result (then it is a replay)."""
        record = next((r for r in self.log.pending_reports() if r["job_id"] == job_id), None)
        if record is None:
            return None
        self._say(tr("Fernauftrag {j} kam erneut; er lief hier schon – sein Ergebnis wird noch einmal gesendet.",
                     "Remote job {j} came again; it already ran here – its result is sent again.", j=job_id))
        outcome = _pending_outcome(record)
        self._send(outcome, retry=True)
        return outcome

    def _refuse(self, refusal: Refusal, envelope: Any, outer: str | None) -> JobOutcome:
        payload = envelope.get("payload") if isinstance(envelope, dict) else None
        inner = payload.get("job_id") if isinstance(payload, dict) else None
        verified = refusal.reason in REASONS[REASONS.index("wrong_host"):]
        job_id = inner if verified else (outer or (inner[:64] if isinstance(inner, str) else "") or "")
        outcome = JobOutcome(job_id, "refused", refusal.reason, refusal.message)
        if not verified and self.log.refused_before(job_id, refusal.reason):
            return outcome  # the same garbage again: logged and reported once per job id
        self._say(tr("Fernauftrag {j} abgelehnt ({r}): {m}", "Remote job {j} refused ({r}): {m}",
                     j=job_id or "?", r=refusal.reason, m=refusal.message))
        expires = payload.get("expires") if verified and isinstance(payload, dict) else None
        self.log.append("refused", job_id, reason=refusal.reason, message=refusal.message, verified=verified,
                        delivered_as=outer, **({"expires": expires} if isinstance(expires, str) else {}))
        target = outer or (job_id if verified else None)
        if target:
            outcome.job_id = target
            self._send(outcome)
        return outcome

    def _finish(self, outcome: JobOutcome) -> JobOutcome:
        self.log.append("finished", outcome.job_id, status=outcome.status, reason=outcome.reason,
                        message=outcome.message, steps=outcome.steps)
        word = tr(*_STATUS_WORDS[outcome.status]) if outcome.status in _STATUS_WORDS else outcome.status
        line = tr("Wartungstermin {j}: {s}", "Maintenance occurrence {j}: {s}", j=f"{outcome.schedule_id} "
                  f"{outcome.occurrence}", s=word) if outcome.schedule_id else \
            tr("Fernauftrag {j}: {s}", "Remote job {j}: {s}", j=outcome.job_id, s=word)
        self._say(line + (f" – {outcome.message}" if outcome.message else ""))
        self._send(outcome)
        return outcome

    # ---- maintenance occurrences (docs/remote-jobs.md §5) ------------------------------------------------------
    def verify_occurrence(self, item: Any) -> tuple[dict[str, Any], Any]:
        """``(payload, occurrence)`` if this host may run the delivered occurrence ``{"schedule_id",
        "occurrence", "envelope"}`` now; else :class:`Refusal` with the first failing check's reason (order:
        :data:`SCHEDULE_REASONS`). Records nothing (:meth:`process_occurrence` does)."""
        payload, occ, _plan, _approval = self._check_occurrence(*_delivered(item))
        return payload, occ

    def _check_occurrence(self, envelope: Any, schedule_id: str | None,
                          key: str | None) -> tuple[dict[str, Any], Any, Any, Any]:
        if not self.enabled:
            raise Refusal("disabled", tr(
                "Fernaufträge sind auf diesem Rechner aus (REMOTE_JOBS=off); kein Wartungsplan wurde geprüft oder "
                "ausgeführt.", "Remote jobs are off on this host (REMOTE_JOBS=off); no maintenance schedule was "
                "verified or run."))
        payload = _schedule_well_formed(envelope, schedule_id, key)
        self._verify_signature(envelope)
        if self.hostname not in payload["hosts"]:
            raise Refusal("wrong_host", tr("Der Wartungsplan ist für {h}, nicht für diesen Rechner {me}.",
                                           "The maintenance schedule is for {h}, not for this host {me}.",
                                           h=", ".join(payload["hosts"][:5]), me=self.hostname))
        variant = payload["variants"].get(self.platform)
        if variant is None:
            raise Refusal("platform", tr("Der Wartungsplan hat keine Schritte für {me} (nur für {p}).",
                                         "The maintenance schedule has no steps for {me} (only for {p}).",
                                         me=self.platform, p=", ".join(sorted(payload["variants"]))))
        from ..schedule_time import Recurrence, ScheduleTimeError

        now = datetime.fromtimestamp(self.clock(), UTC)
        valid_from, valid_until = (datetime.fromtimestamp(_parse_time(payload[f]), UTC)
                                   for f in ("valid_from", "valid_until"))
        if not valid_from.timestamp() - CLOCK_SKEW <= now.timestamp() <= valid_until.timestamp():
            raise Refusal("not_valid", tr("Der Wartungsplan gilt von {a} bis {b} (Uhrzeit hier: {n}).",
                                          "The maintenance schedule is valid from {a} to {b} (time here: {n}).",
                                          a=payload["valid_from"], b=payload["valid_until"],
                                          n=_now_iso(now.timestamp())))
        seen = self.log.highest_revision(payload["schedule_id"])
        if payload["revision"] < seen:
            raise Refusal("revision", tr(
                "Revision {r} des Wartungsplans ist veraltet: dieser Rechner kennt schon Revision {s}.",
                "Revision {r} of the maintenance schedule is outdated: this host has seen revision {s}.",
                r=payload["revision"], s=seen))
        try:
            rec = Recurrence(payload["rrule"], payload["dtstart"], tz=self.timezone,
                             window_minutes=payload["window_minutes"], catch_up=payload["catch_up"],
                             valid_from=valid_from, valid_until=valid_until)
            occ = rec.is_occurrence(key)
        except ScheduleTimeError as exc:  # checked in the shape already; a bad zone setting ends here too
            raise Refusal("not_an_occurrence", exc.message) from None
        if occ is None:
            raise Refusal("not_an_occurrence", tr(
                "{o} ist kein Termin des Wartungsplans ({r} ab {d}) in der Zeitzone {z} dieses Rechners.",
                "{o} is not an occurrence of the maintenance schedule ({r} from {d}) in this host's time zone {z}.",
                o=key, r=payload["rrule"], d=payload["dtstart"], z=self.timezone))
        state = rec.window_state(occ, now)
        if state == "early" and (occ.start - now).total_seconds() <= CLOCK_SKEW:
            raise _Early(occ.start.timestamp() - now.timestamp())
        if state not in ("open", "catch_up"):
            end = occ.end.astimezone(occ.local.tzinfo)
            raise Refusal("outside_window", tr(
                "Termin {o} darf nur von {a} bis {b} ({z}) laufen{c}; Uhrzeit hier: {n}.",
                "Occurrence {o} may run only from {a} to {b} ({z}){c}; time here: {n}.", o=key,
                a=occ.local.strftime("%Y-%m-%d %H:%M"), b=end.strftime("%Y-%m-%d %H:%M"), z=self.timezone,
                c=tr(" oder nachgeholt bis zum nächsten Termin", " or caught up until the next occurrence")
                if payload["catch_up"] else "", n=now.astimezone(occ.local.tzinfo).strftime("%Y-%m-%d %H:%M")))
        if self.log.accepted(occurrence_run_id(payload["schedule_id"], key)) is not None:
            raise Refusal("replayed", tr(
                "Termin {o} des Wartungsplans lief auf diesem Rechner schon; jeder Termin läuft höchstens einmal.",
                "Occurrence {o} of the maintenance schedule already ran on this host; each occurrence runs at most "
                "once.", o=key))
        try:
            plan, approval = self._rebuild({"platform": self.platform, **variant,
                                            "confirm_high_risk": payload["allow_high_risk"]})
        except Refusal as refusal:
            if refusal.reason != "needs_confirmation":
                raise
            raise Refusal("needs_confirmation", tr(
                "Der Wartungsplan enthält Schritte mit hohem Risiko, erlaubt sie aber nicht (allow_high_risk).",
                "The maintenance schedule holds high-risk steps but does not allow them (allow_high_risk).")
                + " " + refusal.message) from None
        restart = [n for n in approval.steps if plan.steps[n - 1].action_id in RESTART_ACTIONS]
        if restart and payload["allow_reboot"] is not True:
            raise Refusal("needs_reboot", tr(
                "Schritt(e) {s} brauchen einen Neustart des Rechners; der Wartungsplan erlaubt keinen "
                "(allow_reboot).", "Step(s) {s} need a restart of the computer; the maintenance schedule does not "
                "allow one (allow_reboot).", s=", ".join(f"{n} {plan.steps[n - 1].action_id}" for n in restart)))
        return payload, occ, plan, approval

    def process_occurrence(self, item: Any) -> JobOutcome:
        """Verify, record and run one delivered maintenance occurrence (``{"schedule_id", "occurrence",
        "envelope"}``): the platform's variant runs exactly like a repair job; the result goes to the
        occurrence report route (``ran | failed | skipped``)."""
        self.busy = True
        try:
            return self._process_occurrence(item)
        finally:
            self.busy = False

    def _process_occurrence(self, item: Any) -> JobOutcome:
        envelope, schedule_id, key = _delivered(item)
        try:
            try:
                payload, occ, plan, approval = self._check_occurrence(envelope, schedule_id, key)
            except _Early as early:  # the backend's clock is a little ahead: wait for the start here
                self._say(tr("Wartungstermin {o} beginnt in {s:.0f} s; warte.",
                             "Maintenance occurrence {o} starts in {s:.0f} s; waiting.", o=key, s=early.seconds))
                if self._wait(early.seconds):
                    raise Refusal("outside_window", tr("Der Sensor wurde vor Beginn des Termins beendet.",
                                                       "The sensor was stopped before the occurrence began.")) from None
                payload, occ, plan, approval = self._check_occurrence(envelope, schedule_id, key)
        except _Early:
            refusal = Refusal("outside_window", tr("Termin {o} hat hier noch nicht begonnen.",
                                                   "Occurrence {o} has not begun here yet.", o=key))
            return self._refuse_occurrence(refusal, envelope, schedule_id, key)
        except Refusal as refusal:
            return self._refuse_occurrence(refusal, envelope, schedule_id, key)
        assert schedule_id is not None and key is not None
        run_id = occurrence_run_id(schedule_id, key)
        variant = payload["variants"][self.platform]
        # write-ahead: from here on this occurrence never runs again on this host, whatever happens to the process
        self.log.append("accepted", run_id, kind="schedule", schedule_id=schedule_id, occurrence=key,
                        revision=payload["revision"], signer=payload["signer"], key_id=envelope["key_id"],
                        plan_fingerprint=variant["plan_fingerprint"], approval=variant["approval"], rollback_of=None,
                        timezone=self.timezone, planned_utc=occ.start.strftime("%Y-%m-%dT%H:%M:%SZ"))
        self._say(tr("Wartung „{n}“ ({o}, Revision {r}) von {s} angenommen.",
                     "Maintenance '{n}' ({o}, revision {r}) from {s} accepted.", n=payload["name"], o=key,
                     r=payload["revision"], s=payload["signer"]))
        self._progress(run_id, [], occurrence=(schedule_id, key))
        job = {"job_id": run_id, "confirm_high_risk": payload["allow_high_risk"], "signer": payload["signer"]}
        try:
            outcome = self._repair(job, plan, approval, occurrence=(schedule_id, key))
        except TechCareError as exc:
            outcome = JobOutcome(run_id, "failed", "error", exc.message)
        except Exception as exc:  # noqa: BLE001 - a bug must end as a reported failure, not a silent thread death
            log.exception("%s", tr("Wartungstermin {j} fehlgeschlagen", "maintenance occurrence {j} failed", j=run_id))
            outcome = JobOutcome(run_id, "failed", "error", f"{type(exc).__name__}: {exc}")
        outcome.schedule_id, outcome.occurrence = schedule_id, key
        return self._finish(outcome)

    def _refuse_occurrence(self, refusal: Refusal, envelope: Any, schedule_id: str | None,
                           key: str | None) -> JobOutcome:
        verified = refusal.reason in SCHEDULE_REASONS[SCHEDULE_REASONS.index("wrong_host"):]
        payload = envelope.get("payload") if isinstance(envelope, dict) else None
        run_id = occurrence_run_id(schedule_id or "?", key or "?")
        self._say(tr("Wartungstermin {o} abgelehnt ({r}): {m}", "Maintenance occurrence {o} refused ({r}): {m}",
                     o=f"{schedule_id or '?'} {key or '?'}", r=refusal.reason, m=refusal.message))
        extra: dict[str, Any] = {"revision": payload["revision"]} if verified and isinstance(payload, dict) else {}
        self.log.append("refused", run_id, reason=refusal.reason, message=refusal.message, verified=verified,
                        schedule_id=schedule_id, occurrence=key, **extra)
        outcome = JobOutcome(run_id, "refused", refusal.reason, refusal.message, schedule_id=schedule_id,
                             occurrence=key)
        if schedule_id and key:
            self._send(outcome)
        return outcome

    # ---- the three kinds ----------------------------------------------------------------------------------------
    def _diagnose(self, job_id: str) -> JobOutcome:
        from ..diagnosis import diagnose

        result = diagnose(runner=self.runner, settings=self.settings)
        data = json.loads(result.to_json())  # exactly what `techcare diagnose --json` prints
        return JobOutcome(job_id, "succeeded", message=tr("{n} Befunde.", "{n} findings.",
                                                          n=len(data.get("findings") or [])), diagnosis=data)

    def _drivers(self, job_id: str) -> JobOutcome:
        from ..tools.drivers import report

        data = json.loads(json.dumps(report(runner=self.runner).to_dict(), default=str))
        stats = data.get("stats") or {}
        return JobOutcome(job_id, "succeeded", message=tr(
            "{i} Treiber, {o} veraltet, {c} kritische Updates.", "{i} drivers, {o} outdated, {c} critical updates.",
            i=stats.get("installed", 0), o=stats.get("outdated", 0), c=stats.get("critical", 0)), diagnosis=data)

    def _repair(self, payload: dict[str, Any], plan: Any, approval: Any, *,
                occurrence: tuple[str, str] | None = None) -> JobOutcome:
        """The approved steps one by one. ``occurrence``: ``(schedule_id, local start)`` of a maintenance run
        (progress goes to the occurrence route, steps carry their changelog ``session``)."""
        from .. import repairs
        from ..changelog_upload import for_job, for_occurrence

        job_id = payload["job_id"]
        done: list[dict[str, Any]] = []
        failed: int | None = None
        cancelled = stopped = False
        with for_job(job_id) if occurrence is None else for_occurrence(*occurrence):
            for number in approval.steps:
                if self.stop.is_set():
                    stopped = True
                    break
                one = repairs.Approval(plan.id, (number,), approval.text)
                try:
                    result = plan.run(one, self.runner, confirm=lambda _step: payload["confirm_high_risk"] is True,
                                      progress=self._say, technician=payload["signer"])
                except TechCareError as exc:  # refused before it ran (admin rights, licence quota, ...)
                    done.append({"number": number, "action": plan.steps[number - 1].action_id, "status": "failed",
                                 "detail": exc.message[:1000]})
                    failed = number
                    break
                self.log.append("step", job_id, step=number, action=plan.steps[number - 1].action_id,
                                session=result.session, status=result.status)
                self._upload(result.session, job_id, occurrence=occurrence)
                if occurrence is None:
                    done += [_step_dict(o) for o in result.steps]
                else:
                    done += [{**_step_dict(o), "session": result.session} for o in result.steps]
                if result.status == "failed":
                    failed = number
                    break
                if self._progress(job_id, done, occurrence=occurrence) and number != approval.steps[-1]:
                    cancelled = True
                    break
        left = [n for n in approval.steps if n not in {d["number"] for d in done}]
        for number in left:
            step = plan.steps[number - 1]
            done.append({"number": number, "action": step.action_id, "status": "not_run",
                         "detail": tr("nicht ausgeführt", "not run")})
        if failed is not None:
            detail = next((d for d in done if d["number"] == failed), {})
            return JobOutcome(job_id, "failed", "step_failed", tr(
                "Schritt {n} ist fehlgeschlagen: {d}{u}", "Step {n} failed: {d}{u}", n=failed,
                d=detail.get("detail", ""), u=f" ({detail['undo']})" if detail.get("undo") else ""), done)
        if stopped:
            return JobOutcome(job_id, "interrupted", "interrupted", tr(
                "Der Sensor wurde beendet; {s} {v} nicht.", "The sensor was stopped; {s} did not run.",
                s=_steps_named(left), v="lief" if len(left) == 1 else "liefen"), done)
        if cancelled:
            return JobOutcome(job_id, "cancelled", "cancelled", tr(
                "Vom Techniker abgebrochen; {s} {v} nicht.", "Cancelled by the technician; {s} did not run.",
                s=_steps_named(left), v="lief" if len(left) == 1 else "liefen"), done)
        return JobOutcome(job_id, "succeeded", message=_done_message(done), steps=done)

    def _rollback(self, payload: dict[str, Any]) -> JobOutcome:
        from .. import repairs
        from ..changelog_upload import for_job

        job_id, target = payload["job_id"], payload["rollback_of"]
        if self.log.accepted(target) is None:
            return JobOutcome(job_id, "failed", "not_run_here", tr(
                "Auftrag {t} lief nicht auf diesem Rechner – nichts zurückzunehmen.",
                "Job {t} did not run on this host – nothing to undo.", t=target))
        results: list[dict[str, Any]] = []
        with for_job(job_id):
            for session in reversed(self.log.sessions(target)):
                results += repairs.rollback_session(session, self.runner, progress=self._say)
                self._upload(session, job_id)
        steps = [{"number": r["step"], "action": r["action_id"], "status": r["status"], "detail": r["detail"]}
                 for r in results]
        failed = [s for s in steps if s["status"] == "undo_failed"]
        kept = [s for s in steps if s["status"] == "not_undoable"]
        if failed:
            return JobOutcome(job_id, "failed", "undo_failed", tr(
                "Schritt(e) {s} ließen sich nicht zurücknehmen.", "Step(s) {s} could not be undone.",
                s=", ".join(str(s["number"]) for s in failed)), steps)
        message = tr("{n} Schritt(e) zurückgenommen.", "{n} step(s) undone.",
                     n=sum(s["status"] == "undone" for s in steps))
        if kept:
            message += " " + tr("Nicht umkehrbar (bleiben): {s}.", "Cannot be undone (kept): {s}.",
                                s=", ".join(f"{s['number']} {s['action']}" for s in kept))
        return JobOutcome(job_id, "rolled_back", message=message, steps=steps)

    # ---- interrupted jobs ----------------------------------------------------------------------------------------
    def recover(self) -> list[JobOutcome]:
        """At start: every job (or maintenance occurrence) accepted here but never finished (the sensor died
        mid-job) is reported as ``interrupted``; its interrupted step is undone from the changelog when it can be,
        else listed."""
        outcomes = []
        for record in self.log.open_jobs():
            outcome = self._recover_one(record)
            if isinstance(record.get("schedule_id"), str):
                outcome.schedule_id, outcome.occurrence = record["schedule_id"], record.get("occurrence")
            outcomes.append(self._finish(outcome))
        return outcomes

    def _recover_one(self, record: dict[str, Any]) -> JobOutcome:
        job_id = record["job_id"]
        steps = [{"number": r["step"], "action": r.get("action", ""), "status": r.get("status", ""),
                  "detail": r.get("session", "")}
                 for r in self.log.records() if r["job_id"] == job_id and r["event"] == "step"]
        if record.get("kind") in READ_ONLY_KINDS:
            what = tr("Die Diagnose", "The diagnosis") if record.get("kind") == "diagnose" else tr(
                "Die Treiberliste", "The driver inventory")
            return JobOutcome(job_id, "interrupted", "interrupted", what + tr(
                " wurde abgebrochen (Sensor beendet); sie änderte nichts.",
                " was cut short (sensor stopped); it changed nothing."), steps)
        from .. import repairs

        mine = set(self.log.sessions(job_id)) | set(self.log.sessions(record.get("rollback_of") or ""))
        stamp = datetime.fromtimestamp(float(record.get("at", 0)) - 1, UTC).strftime("%Y%m%dT%H%M%SZ")
        fingerprint = str(record.get("plan_fingerprint") or "")

        def of_this_job(session: str) -> bool:  # session ids are <UTC stamp>-<plan fingerprint>-<random>
            return bool(fingerprint) and session.split("-")[1:2] == [fingerprint[:12]] and session[:16] >= stamp

        # a step that ended just before the kill, before the run log heard of it: record it (rollbacks need it)
        for session in repairs.sessions():
            if session in mine or not of_this_job(session):
                continue
            entries = repairs.read_entries(session)
            end = next((e for e in reversed(entries) if e.get("event") == "run_finished"), None)
            ran = next((e for e in entries if e.get("event") in ("finished", "failed", "skipped")), None)
            if end is None or ran is None:
                continue
            self.log.append("step", job_id, step=ran.get("step"), action=ran.get("action_id", ""), session=session,
                            status=end.get("status"), recovered=True)
            steps.append({"number": ran.get("step"), "action": ran.get("action_id", ""), "status": ran.get("event"),
                          "detail": session})
            mine.add(session)
        found = [item for item in repairs.interrupted() if item.session in mine or of_this_job(item.session)]
        lines = []
        for item in found:
            try:
                with _upload_scope(job_id):
                    res = repairs.undo_interrupted(item, self.runner)
            except TechCareError as exc:
                res = {"step": item.step, "action_id": item.action_id, "status": "listed", "detail": exc.message}
            self._upload(item.session, job_id)
            steps.append({"number": item.step, "action": item.action_id, "status": "interrupted",
                          "undo": res["status"], "detail": res["detail"], "session": item.session})
            lines.append(f"{item.step} {item.action_id}: {res['status']} – {res['detail']}")
        message = tr("Der Sensor wurde während des Auftrags beendet.", "The sensor was stopped during the job.")
        if lines:
            message += " " + tr("Unterbrochene Schritte: ", "Interrupted steps: ") + "; ".join(lines)
        else:
            message += " " + tr("Kein Schritt war gerade in Arbeit.", "No step was in progress.")
        return JobOutcome(job_id, "interrupted", "interrupted", message, steps)

    # ---- backend --------------------------------------------------------------------------------------------------
    def poll(self, *, wait: int = 0) -> list[JobOutcome]:
        """Fetch the jobs due for this host (long-poll up to ``wait`` seconds) and process them in order.
        Raises :class:`techcare.errors.BackendError` when the backend cannot be reached (the caller backs off)."""
        self.flush_reports()
        answer = self.client.fetch_jobs(self.hostname, wait=wait)
        if not isinstance(answer, dict) or not isinstance(answer.get("jobs", []), list):
            raise BackendError(tr("Unerwartete Antwort des Backends auf die Auftragsabfrage.",
                                  "Unexpected answer of the backend to the job query."))
        cancelled = {c for c in (answer.get("cancelled") or [])[:MAX_CANCELLED_PER_POLL] if isinstance(c, str)} \
            if isinstance(answer.get("cancelled"), list) else set()
        outcomes = []
        jobs = answer.get("jobs") or []
        if len(jobs) > MAX_JOBS_PER_POLL:
            log.warning("%s", tr("Das Backend lieferte {n} Aufträge auf einmal; die ersten {m} werden bearbeitet, der "
                                 "Rest beim nächsten Abruf.", "The backend delivered {n} jobs at once; the first {m} "
                                 "are handled, the rest with the next poll.", n=len(jobs), m=MAX_JOBS_PER_POLL))
        for job in jobs[:MAX_JOBS_PER_POLL]:
            if isinstance(job, dict) and job.get("job_id") in cancelled:
                continue
            outcomes.append(self.process(job))
        for job_id in sorted(cancelled):  # delivered here, cancelled before this host ran it
            if isinstance(job_id, str) and _HEX32.fullmatch(job_id) and self.log.accepted(job_id) is None:
                outcome = JobOutcome(job_id, "cancelled", "cancelled", tr(
                    "Vom Techniker abgebrochen, bevor etwas lief.", "Cancelled by the technician before anything ran."))
                self._send(outcome)
                outcomes.append(outcome)
        occurrences = answer.get("occurrences")
        for item in (occurrences if isinstance(occurrences, list) else [])[:MAX_OCCURRENCES_PER_POLL]:
            outcomes.append(self.process_occurrence(item))
        return outcomes

    def flush_reports(self) -> int:
        """Send results the backend did not receive yet (it was unreachable). Returns how many went out."""
        sent = 0
        for record in self.log.pending_reports():
            if self._send(_pending_outcome(record), retry=True):
                sent += 1
            else:
                break
        return sent

    def _send(self, outcome: JobOutcome, *, retry: bool = False) -> bool:
        from ..backend_client import BackendHTTPError

        try:
            if outcome.schedule_id:
                self.client.report_occurrence(outcome.schedule_id, outcome.occurrence, host=self.hostname,
                                              **outcome.occurrence_report())
            else:
                self.client.report_job(outcome.job_id, host=self.hostname, **outcome.report())
        except BackendHTTPError as exc:
            # 409: already final there (e.g. cancelled), 404/422: the backend will never take it -> keep it local
            log.warning("%s", tr("Bericht zu Auftrag {j} nicht angenommen (HTTP {c}): {m}",
                                 "report of job {j} not taken (HTTP {c}): {m}", j=outcome.job_id, c=exc.status_code,
                                 m=exc.message))
        except BackendError as exc:
            log.warning("%s", tr("Bericht zu Auftrag {j} für später aufbewahrt: {m}",
                                 "report of job {j} kept for later: {m}", j=outcome.job_id, m=exc.message))
            if not retry:
                where = {"schedule_id": outcome.schedule_id, "occurrence": outcome.occurrence} \
                    if outcome.schedule_id else {}
                self.log.append("report_pending", outcome.job_id, body=outcome.report(), **where)
            return False
        outcome.reported = True
        if retry:
            self.log.append("reported", outcome.job_id)
        return True

    def _progress(self, job_id: str, steps: list[dict[str, Any]], *,
                  occurrence: tuple[str, str] | None = None) -> bool:
        """Report ``running`` with the steps so far; True when the technician cancelled the job (an occurrence
        is stopped by pausing or deleting its schedule, which ends no run already started)."""
        try:
            if occurrence is not None:
                self.client.report_occurrence(*occurrence, host=self.hostname, status="running", steps=steps)
                return False
            answer = self.client.report_job(job_id, host=self.hostname, status="running", steps=steps)
        except BackendError as exc:
            log.warning("%s", tr("Fortschritt von Auftrag {j} nicht gemeldet: {m}",
                                 "progress of job {j} not reported: {m}", j=job_id, m=exc.message))
            return False
        return isinstance(answer, dict) and answer.get("cancel") is True

    def _upload(self, session: str, job_id: str, *, occurrence: tuple[str, str] | None = None) -> None:
        from ..changelog_upload import for_occurrence, upload_session

        if occurrence is None and job_id.startswith("occ:"):  # an occurrence's run id: occ:<schedule>:<start>
            occurrence = (job_id[4:36], job_id[37:])
        try:
            if occurrence is not None:
                with for_occurrence(*occurrence):
                    upload_session(session, client=self.client)
                return
            upload_session(session, client=self.client, job_id=job_id)
        except TechCareError as exc:  # the local changelog stays the record of truth
            log.warning("%s", tr("Änderungsprotokoll {s} von Auftrag {j} nicht hochgeladen: {m}",
                                 "changelog {s} of job {j} not uploaded: {m}", s=session, j=job_id, m=exc.message))


def _pending_outcome(record: dict[str, Any]) -> JobOutcome:
    """The outcome of a ``report_pending`` record of the run log, to be sent again."""
    body = record["body"]
    return JobOutcome(record["job_id"], **{k: body.get(k) for k in ("status", "reason")},
                      message=body.get("message") or "", steps=body.get("steps") or [], diagnosis=body.get("diagnosis"),
                      schedule_id=record.get("schedule_id"), occurrence=record.get("occurrence"))


def _upload_scope(job_id: str) -> Any:
    """Uploads inside carry ``job_id`` (a remote job) or the schedule and occurrence of a run id ``occ:...``."""
    from ..changelog_upload import for_job, for_occurrence

    return for_occurrence(job_id[4:36], job_id[37:]) if job_id.startswith("occ:") else for_job(job_id)


def _steps_named(numbers: Any, sep: str = ", ") -> str:
    """``Schritt 5`` / ``Schritte 2, 3`` (``step 5`` / ``steps 2, 3``)."""
    numbers = list(numbers)
    listed = sep.join(map(str, numbers))
    return tr("Schritt {s}", "step {s}", s=listed) if len(numbers) == 1 else tr("Schritte {s}", "steps {s}", s=listed)


def _count_steps(n: int) -> str:
    return tr("1 Schritt", "1 step") if n == 1 else tr("{n} Schritte", "{n} steps", n=n)


def _done_message(done: list[dict[str, Any]]) -> str:
    """What a repair that ran to its end really did: steps done, and those skipped (not needed) or not run."""
    finished = sum(1 for d in done if d.get("status") == "finished")
    skipped = sum(1 for d in done if d.get("status") == "skipped")
    other = len(done) - finished - skipped
    if not finished:
        text = tr("Nichts geändert: {s} nicht nötig (übersprungen).", "Nothing changed: {s} not needed (skipped).",
                  s=_count_steps(skipped)) if skipped else tr("Nichts geändert.", "Nothing changed.")
    else:
        text = tr("{s} erledigt.", "{s} done.", s=_count_steps(finished))
        if skipped:
            text += " " + tr("{s} nicht nötig (übersprungen).", "{s} not needed (skipped).", s=_count_steps(skipped))
    if other:
        text += " " + tr("{s} nicht ausgeführt.", "{s} not run.", s=_count_steps(other))
    return text


def _step_dict(outcome: Any) -> dict[str, Any]:
    out = {"number": outcome.number, "action": outcome.action_id, "status": outcome.status,
           "detail": outcome.detail[:1000]}
    if outcome.undo:
        out["undo"] = outcome.undo
    return out


def _signature_reason(reason: Any) -> str:
    """The refusal reason for a :class:`~techcare.signing.SignatureError` of ``reason``: ``malformed``,
    ``unknown_signer`` and ``bad_signature`` as themselves; a code the signature check gains later as itself too
    (never passed off as another failure). Only what cannot be reported as itself — no reason code, or the name of
    one of this host's own checks, which would say the signature had passed or something else had failed —
    becomes ``signature_unverified``."""
    if reason in _SIGNATURE_REASONS:
        return reason
    if isinstance(reason, str) and _REASON_CODE.fullmatch(reason) and reason not in REASONS \
            and reason not in SCHEDULE_REASONS:
        return reason
    return "signature_unverified"


# ---- the shape of a payload ----------------------------------------------------------------------------------------

class _Early(Exception):
    """An occurrence delivered up to :data:`CLOCK_SKEW` seconds before its start (the backend's clock is ahead)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = max(0.0, seconds)


def _delivered(item: Any) -> tuple[Any, str | None, str | None]:
    """``(envelope, schedule_id, occurrence)`` of an item of the fetch answer's ``occurrences``; ids that are not
    well-formed become ``None`` (refused as malformed)."""
    if not isinstance(item, dict):
        return None, None, None
    sid, key = item.get("schedule_id"), item.get("occurrence")
    if isinstance(key, str) and _OCCURRENCE.fullmatch(key):
        try:
            datetime.strptime(key, "%Y-%m-%dT%H:%M")
        except ValueError:  # 2026-13-45T99:99
            key = None
    return (item.get("envelope"), sid if isinstance(sid, str) and _HEX32.fullmatch(sid) else None,
            key if isinstance(key, str) and _OCCURRENCE.fullmatch(key) else None)


def _schedule_well_formed(envelope: Any, schedule_id: str | None,  # noqa: C901 - one check per field
                          key: str | None) -> dict[str, Any]:
    def bad(de: str, en: str, **fmt: Any) -> Refusal:
        return Refusal("malformed", tr("Wartungsplan fehlerhaft: ", "Malformed maintenance schedule: ")
                       + tr(de, en, **fmt))

    if schedule_id is None or key is None:
        raise bad("geliefert ohne gültige schedule_id (32 Hex-Zeichen) und occurrence (JJJJ-MM-TTTHH:MM).",
                  "delivered without a valid schedule_id (32 hex) and occurrence (YYYY-MM-DDTHH:MM).")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), dict) \
            or not isinstance(envelope.get("key_id"), str) or not isinstance(envelope.get("signature"), str):
        raise bad("kein signierter Umschlag (payload, key_id, signature).",
                  "not a signed envelope (payload, key_id, signature).")
    try:
        size = len(json.dumps(envelope, ensure_ascii=False, default=str).encode("utf-8"))
    except (TypeError, ValueError, RecursionError):
        size = MAX_ENVELOPE_BYTES + 1
    if size > MAX_ENVELOPE_BYTES:
        raise bad("größer als {n} Bytes.", "larger than {n} bytes.", n=MAX_ENVELOPE_BYTES)
    p = envelope["payload"]
    types: dict[str, Any] = {"v": int, "kind": str, "schedule_id": str, "revision": int, "name": str,
                             "tag": (str, type(None)), "hosts": list, "variants": dict, "rrule": str, "dtstart": str,
                             "window_minutes": int, "catch_up": bool, "allow_high_risk": bool,
                             "allow_reboot": bool, "valid_from": str, "valid_until": str, "issued_at": str,
                             "signer": str}
    for name, kind in types.items():
        if name not in p:
            raise bad("das Feld {f} fehlt.", "the field {f} is missing.", f=name)
        value = p[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise bad("das Feld {f} hat den falschen Typ.", "the field {f} has the wrong type.", f=name)
    if p["v"] != 1:
        raise bad("Version {v} ist unbekannt (erwartet 1).", "version {v} is unknown (expected 1).", v=p["v"])
    if p["kind"] != "schedule":
        raise bad("kind muss „schedule“ sein, nicht {k!r}.", "kind must be 'schedule', not {k!r}.", k=p["kind"][:40])
    if p["schedule_id"] != schedule_id:
        raise bad("geliefert als {o}, signiert als {s}.", "delivered as {o}, signed as {s}.", o=schedule_id,
                  s=p["schedule_id"][:40])
    if not 1 <= p["revision"] <= 1_000_000:
        raise bad("revision muss eine Zahl ab 1 sein.", "revision must be a number from 1.")
    if not 1 <= len(p["hosts"]) <= MAX_HOSTS or not all(isinstance(h, str) and h for h in p["hosts"]):
        raise bad("hosts muss 1 bis {n} Rechnernamen enthalten.", "hosts must hold 1 to {n} host names.", n=MAX_HOSTS)
    if not p["variants"] or any(name not in PLATFORMS for name in p["variants"]):
        raise bad("variants braucht je Plattform ({a}) eine Variante.", "variants needs one variant per platform "
                  "({a}).", a=", ".join(PLATFORMS))
    for platform, variant in p["variants"].items():
        if not isinstance(variant, dict) or not isinstance(variant.get("steps"), list) \
                or not isinstance(variant.get("approval"), str) or not isinstance(variant.get("approved_steps"), list) \
                or not isinstance(variant.get("plan_fingerprint"), str):
            raise bad("Variante {p} braucht steps, approval, approved_steps und plan_fingerprint.",
                      "variant {p} needs steps, approval, approved_steps and plan_fingerprint.", p=platform)
        if not 1 <= len(variant["steps"]) <= MAX_STEPS:
            raise bad("Variante {p} braucht 1 bis {n} Schritte.", "variant {p} needs 1 to {n} steps.", p=platform,
                      n=MAX_STEPS)
        for index, step in enumerate(variant["steps"], 1):
            if not isinstance(step, dict) or not isinstance(step.get("action"), str) \
                    or not isinstance(step.get("params", {}), dict) or step.get("number") != index:
                raise bad("Variante {p}, Schritt {i} muss {{number: {i}, action, params}} sein.",
                          "variant {p}, step {i} must be {{number: {i}, action, params}}.", p=platform, i=index)
        if not variant["approved_steps"] or not all(isinstance(n, int) and not isinstance(n, bool)
                                                    for n in variant["approved_steps"]):
            raise bad("Variante {p}: approved_steps muss Schrittnummern enthalten.",
                      "variant {p}: approved_steps must hold step numbers.", p=platform)
    for name in ("valid_from", "valid_until", "issued_at"):
        if not _TIME.fullmatch(p[name]):
            raise bad("{f} ist keine UTC-Zeit wie 2026-12-02T07:00:00Z.",
                      "{f} is not a UTC time like 2026-12-02T07:00:00Z.", f=name)
        try:
            _parse_time(p[name])
        except ValueError:
            raise bad("{f} ist kein gültiges Datum.", "{f} is not a valid date.", f=name) from None
    validity = _parse_time(p["valid_until"]) - _parse_time(p["valid_from"])
    if not 0 < validity <= MAX_SCHEDULE_VALIDITY:
        raise bad("valid_until muss nach valid_from liegen, höchstens 400 Tage.",
                  "valid_until must be after valid_from, at most 400 days.")
    from ..schedule_time import (
        MAX_WINDOW_MINUTES,
        MIN_WINDOW_MINUTES,
        ScheduleTimeError,
        parse_dtstart,
        parse_rrule,
    )

    if not MIN_WINDOW_MINUTES <= p["window_minutes"] <= MAX_WINDOW_MINUTES:
        raise bad("window_minutes muss {a} bis {b} sein.", "window_minutes must be {a} to {b}.",
                  a=MIN_WINDOW_MINUTES, b=MAX_WINDOW_MINUTES)
    try:
        parse_rrule(p["rrule"], parse_dtstart(p["dtstart"]))
    except ScheduleTimeError as exc:
        raise bad("{e}", "{e}", e=exc.message) from None
    return p


def _malformed(de: str, en: str, **fmt: Any) -> Refusal:
    return Refusal("malformed", tr("Auftrag fehlerhaft: ", "Malformed job: ") + tr(de, en, **fmt))


def _well_formed(envelope: Any, job_id: str | None) -> dict[str, Any]:  # noqa: C901 - one check per field
    if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), dict) \
            or not isinstance(envelope.get("key_id"), str) or not isinstance(envelope.get("signature"), str):
        raise _malformed("kein signierter Umschlag (payload, key_id, signature).",
                         "not a signed envelope (payload, key_id, signature).")
    try:
        size = len(json.dumps(envelope, ensure_ascii=False, default=str).encode("utf-8"))
    except (TypeError, ValueError, RecursionError):
        size = MAX_ENVELOPE_BYTES + 1
    if size > MAX_ENVELOPE_BYTES:
        raise _malformed("größer als {n} Bytes.", "larger than {n} bytes.", n=MAX_ENVELOPE_BYTES)
    p = envelope["payload"]
    types: dict[str, Any] = {"v": int, "job_id": str, "kind": str, "hosts": list, "platform": (str, type(None)),
                             "steps": list, "approval": str, "approved_steps": list, "plan_fingerprint": str,
                             "confirm_high_risk": bool, "rollback_of": (str, type(None)), "not_before": str,
                             "expires": str, "issued_at": str, "signer": str}
    for name, kind in types.items():
        if name not in p:
            raise _malformed("das Feld {f} fehlt.", "the field {f} is missing.", f=name)
        value = p[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _malformed("das Feld {f} hat den falschen Typ.", "the field {f} has the wrong type.", f=name)
    if p["v"] != 1:
        raise _malformed("Version {v} ist unbekannt (erwartet 1).", "version {v} is unknown (expected 1).", v=p["v"])
    if not _HEX32.fullmatch(p["job_id"]):
        raise _malformed("job_id muss 32 Hex-Zeichen sein.", "job_id must be 32 hex characters.")
    if job_id is not None and job_id != p["job_id"]:
        raise _malformed("geliefert als {o}, signiert als {j}.", "delivered as {o}, signed as {j}.",
                         o=job_id, j=p["job_id"])
    if p["kind"] not in KINDS:
        raise _malformed("unbekannte Art {k!r} (erlaubt: {a}).", "unknown kind {k!r} (allowed: {a}).",
                         k=p["kind"][:40], a=", ".join(KINDS))
    if not 1 <= len(p["hosts"]) <= MAX_HOSTS or not all(isinstance(h, str) and h for h in p["hosts"]):
        raise _malformed("hosts muss 1 bis {n} Rechnernamen enthalten.", "hosts must hold 1 to {n} host names.",
                         n=MAX_HOSTS)
    for name in ("not_before", "expires", "issued_at"):
        if not _TIME.fullmatch(p[name]):
            raise _malformed("{f} ist keine UTC-Zeit wie 2026-12-02T07:00:00Z.",
                             "{f} is not a UTC time like 2026-12-02T07:00:00Z.", f=name)
        try:
            _parse_time(p[name])
        except ValueError:
            raise _malformed("{f} ist kein gültiges Datum.", "{f} is not a valid date.", f=name) from None
    window = _parse_time(p["expires"]) - _parse_time(p["not_before"])
    if not 0 < window <= MAX_WINDOW:
        raise _malformed("expires muss nach not_before liegen, höchstens 30 Tage.",
                         "expires must be after not_before, at most 30 days.")
    if p["kind"] in READ_ONLY_KINDS:
        return p
    if p["platform"] not in PLATFORMS:
        raise _malformed("platform muss {a} sein.", "platform must be {a}.", a=" | ".join(PLATFORMS))
    if p["kind"] == "rollback":
        if not isinstance(p["rollback_of"], str) or not _HEX32.fullmatch(p["rollback_of"]):
            raise _malformed("rollback_of muss die job_id des zurückzunehmenden Auftrags sein.",
                             "rollback_of must be the job_id of the job to undo.")
        return p
    steps = p["steps"]
    if not 1 <= len(steps) <= MAX_STEPS:
        raise _malformed("ein Reparaturauftrag braucht 1 bis {n} Schritte.", "a repair job needs 1 to {n} steps.",
                         n=MAX_STEPS)
    for index, step in enumerate(steps, 1):
        if not isinstance(step, dict) or not isinstance(step.get("action"), str) \
                or not isinstance(step.get("params", {}), dict) or step.get("number") != index:
            raise _malformed("Schritt {i} muss {{number: {i}, action, params}} sein.",
                             "step {i} must be {{number: {i}, action, params}}.", i=index)
    if not p["approved_steps"] or not all(isinstance(n, int) and not isinstance(n, bool)
                                          for n in p["approved_steps"]):
        raise _malformed("approved_steps muss Schrittnummern enthalten.", "approved_steps must hold step numbers.")
    return p
