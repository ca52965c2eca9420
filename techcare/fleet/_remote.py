"""The technician's remote work: sign here, send through the backend, follow the answers.

Everything that talks to the backend goes through :func:`_backend` (the injected client, or one made from the
settings for this call and closed after it) and :func:`_call` (the backend's refusals turned into
:class:`FleetError` messages that say what to do).
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import BackendError
from ..i18n import tr
from ..signing import SigningKey, sign_payload
from ._job import TARGET_STATUSES, Job, check_job, checked_remote_host
from ._payload import JOB_ID, FleetError, build_payload, normalise_hosts

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..backend_client import BackendClient
    from ..repairs import Plan

T = TypeVar("T")
HOST_COLUMNS = ["hostname", "os", "status", "last_seen", "cpu_percent", "ram_percent", "disk_max_percent", "firewall",
                "antivirus", "smart_failing", "pending_updates", "pending_reboot", "agent_version"]
JOB_COLUMNS = ["job_id", "kind", "status", "hosts", "targets", "approval", "signer", "created_by", "created_at",
               "not_before", "expires"]
MAX_LIST = 200  # the backend's page size limit


def signing_key(settings: Any = None) -> SigningKey:
    """This technician's Ed25519 key from ``TECHCARE_HOME/signing/ed25519.pem`` (created, 0600, on first use)."""
    from ..config import get_settings

    settings = settings or get_settings()
    return SigningKey.load_or_create(settings.home)


@contextmanager
def _backend(backend: BackendClient | None) -> Iterator[BackendClient]:
    if backend is not None:
        yield backend
        return
    from ..backend_client import BackendClient
    from ..config import get_settings

    settings = get_settings()
    if not settings.backend_url:
        raise FleetError(tr("Kein Backend eingerichtet: BACKEND_URL ist nicht gesetzt. Fernaufträge laufen über das "
                            "TechCare-Backend (techcare setup oder BACKEND_URL=https://… in .env).",
                            "No backend configured: BACKEND_URL is not set. Remote jobs go through the TechCare "
                            "backend (techcare setup or BACKEND_URL=https://... in .env)."))
    if not settings.techcare_api_key:
        raise FleetError(tr("Kein Techniker-API-Schlüssel: TECHCARE_API_KEY ist nicht gesetzt. Einen Schlüssel der "
                            "Rolle technician oder admin (tck_…) beim Backend-Admin anfordern und in .env eintragen.",
                            "No technician API key: TECHCARE_API_KEY is not set. Ask the backend admin for a key of "
                            "role technician or admin (tck_...) and put it in .env."))
    client = BackendClient(settings=settings)
    try:
        yield client
    finally:
        client.close()


def _code(exc: BackendError) -> str:
    body = exc.json() if hasattr(exc, "json") else None
    return str(body.get("code", "")) if isinstance(body, dict) else ""


def _detail(exc: BackendError) -> str:
    body = exc.json() if hasattr(exc, "json") else None
    if isinstance(body, dict):
        return str(body.get("detail", ""))[:500]
    return ""


def _refusal(exc: Any, not_found: str | None = None, conflict: str | None = None) -> FleetError:
    """The backend's definite refusal (:class:`~techcare.backend_client.BackendHTTPError`) as a message that says
    what to do."""
    status, code, detail = exc.status_code, _code(exc), _detail(exc)
    if status == 401:
        return FleetError(tr("Das Backend kennt den API-Schlüssel nicht (401): TECHCARE_API_KEY in .env prüfen.",
                             "The backend does not accept the API key (401): check TECHCARE_API_KEY in .env."))
    if status == 403 and code == "ENTITLEMENTS_MISSING":
        return FleetError(tr("Fernaufträge brauchen eine Lizenz ab Pro Business (Mehrplatz). Backend: {d}",
                             "Remote jobs need a Pro Business license or higher (multi-system). Backend: {d}",
                             d=detail or code))
    if status == 403:
        return FleetError(tr("Dieser API-Schlüssel darf keine Fernaufträge verwalten (nötig: Rolle technician oder "
                             "admin). Backend: {d}", "This API key may not manage remote jobs (needed: role "
                             "technician or admin). Backend: {d}", d=detail or code or status))
    if status == 404 and not_found:
        return FleetError(f"{not_found} Backend: {detail or status}")
    if status == 409 and conflict:
        return FleetError(f"{conflict} Backend: {detail or status}")
    return FleetError(tr("Backend lehnt ab (HTTP {s}{c}): {d}", "The backend refused (HTTP {s}{c}): {d}", s=status,
                         c=f" {code}" if code else "", d=detail or exc.message))


def _not_json(exc: ValueError) -> FleetError:
    return FleetError(tr("Antwort des Backends ist kein JSON ({e}).", "The backend's answer is not JSON ({e}).",
                         e=str(exc)[:200]))


def _call(fn: Callable[[], T], *, not_found: str | None = None, conflict: str | None = None) -> T:
    """Run one backend call; the backend's definite refusals become :class:`FleetError` (network trouble stays a
    :class:`~techcare.backend_client.BackendUnavailable`, which already says what to check)."""
    from ..backend_client import BackendHTTPError

    try:
        return fn()
    except BackendHTTPError as exc:
        raise _refusal(exc, not_found, conflict) from None
    except ValueError as exc:  # a body that is not JSON
        raise _not_json(exc) from None


def _fetcher(backend: BackendClient | None) -> Callable[[str], dict[str, Any]]:
    def fetch(job_id: str) -> dict[str, Any]:
        with _backend(backend) as client:
            data = check_job(_call(lambda: client.get_job(job_id), not_found=tr(
                "Auftrag {j} ist dem Backend unbekannt.", "Job {j} is unknown to the backend.", j=job_id)))
        if data["job_id"] != job_id:
            raise FleetError(tr("Das Backend antwortete auf Auftrag {a} mit Auftrag {b}.",
                                "The backend answered for job {a} with job {b}.", a=job_id, b=data["job_id"]))
        return data

    return fetch


def _host_os(backend: BackendClient | None) -> Callable[[str], str | None]:
    """The OS the backend reports for a host (from its sensor's samples), to check a remote diagnosis against."""
    def host_os(name: str) -> str | None:
        with _backend(backend) as client:
            return next((str(r.get("os") or "") or None for r in _host_rows(client) if r["hostname"] == name), None)

    return host_os


def _job_id(job: Job | str) -> str:
    job_id = job.id if isinstance(job, Job) else job
    if not isinstance(job_id, str) or not JOB_ID.match(job_id.strip().lower()):
        raise FleetError(tr("{v!r} ist keine Auftragsnummer (32 Hex-Zeichen, siehe fleet.jobs()).",
                            "{v!r} is not a job id (32 hex digits, see fleet.jobs()).", v=job_id))
    return job_id.strip().lower()


# ---- hosts --------------------------------------------------------------------------------------------------------

def _host_rows(client: BackendClient, tag: str | None = None) -> list[dict[str, Any]]:
    rows = _call(lambda: client.hosts(tag=tag) if tag is not None else client.hosts())
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("hostname"), str)
                                             for r in rows):
        raise FleetError(tr("Unerwartete Antwort des Backends auf /api/monitoring/hosts (keine Liste von Rechnern).",
                            "Unexpected answer from the backend to /api/monitoring/hosts (not a list of hosts)."))
    return rows


def hosts(tag: str | None = None, *, backend: BackendClient | None = None) -> pd.DataFrame:
    """The organisation's hosts as the backend knows them from their sensors: one row each (hostname, os, status
    online/overdue, last_seen and the last values). ``tag``: only hosts carrying that tag (the backend filters)."""
    import pandas as pd

    if tag is not None:
        from ._schedule import check_tag

        check_tag(tag)
    with _backend(backend) as client:
        rows = _host_rows(client, tag)
    extra = sorted({k for r in rows for k in r} - set(HOST_COLUMNS))
    columns = [c for c in HOST_COLUMNS if any(c in r for r in rows) or c in ("hostname", "os", "status")] + extra
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("hostname").reset_index(drop=True)


def _check_targets(client: BackendClient, names: list[str], platform: str | None) -> dict[str, str]:
    """``{host: os}`` for ``names``; :class:`FleetError` naming unknown hosts, or hosts of another platform than
    ``platform`` (repair plans are per platform)."""
    known = {r["hostname"]: str(r.get("os") or "") for r in _host_rows(client)}
    unknown = [n for n in names if n not in known]
    if unknown:
        sample = ", ".join(sorted(known)[:10]) or tr("keine", "none")
        raise FleetError(tr("Unbekannte Rechner: {u}. Das Backend kennt (Auszug): {k}. Namen wie in fleet.hosts(); "
                            "ein Rechner erscheint, sobald sein Sensor eine Messung geschickt hat.",
                            "Unknown hosts: {u}. The backend knows (excerpt): {k}. Use names as in fleet.hosts(); a "
                            "host appears once its sensor has sent a sample.", u=", ".join(unknown), k=sample))
    if platform is not None:
        other = [f"{n} ({known[n] or '?'})" for n in names if known[n] != platform]
        if other:
            raise FleetError(tr("Der Plan ist für {p}, diese Zielrechner nicht: {o}. Für jede Plattform einen "
                                "eigenen Plan erstellen.", "The plan is for {p}, these targets are not: {o}. Make one "
                                "plan per platform.", p=platform, o=", ".join(other)))
    return {n: known[n] for n in names}


# ---- jobs ---------------------------------------------------------------------------------------------------------

def _signer_name(settings: Any) -> str:
    if settings.technician_name:
        return str(settings.technician_name)
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in this environment
        return ""


def _send(payload_args: dict[str, Any], backend: BackendClient | None) -> Job:
    """Build, sign and queue one job; return it as the backend stored it."""
    from ..config import get_settings

    settings = get_settings()
    with _backend(backend) as client:
        names = normalise_hosts(payload_args.pop("hosts"))
        platform = payload_args.get("plan").platform if payload_args.get("plan") is not None else None
        if payload_args["kind"] == "rollback":
            platform = payload_args.get("platform")
        seen = _check_targets(client, names, platform)
        if payload_args["kind"] == "rollback" and platform is None:
            platforms = sorted(set(seen.values()))
            if len(platforms) != 1 or not platforms[0]:
                raise FleetError(tr("Die Zielrechner haben verschiedene Plattformen ({p}); je Plattform einzeln "
                                    "zurücknehmen.", "The target hosts have different platforms ({p}); roll back "
                                    "per platform.", p=", ".join(platforms)))
            payload_args["platform"] = platforms[0]
        payload = build_payload(hosts=names, signer=_signer_name(settings), **payload_args)
        try:
            envelope = sign_payload(payload, signing_key(settings))
        except ValueError as exc:
            raise FleetError(tr("Der Auftrag lässt sich nicht signieren: {e}", "The job cannot be signed: {e}",
                                e=exc)) from None
        job_id = payload["job_id"]
        from ..backend_client import BackendHTTPError

        try:
            answer = client.create_job(envelope)
        except BackendHTTPError as exc:
            if exc.status_code != 409:
                raise _refusal(exc, tr("Das Backend kennt nicht alle Zielrechner.",
                                       "The backend does not know every target host.")) from None
            answer = _call(lambda: client.get_job(job_id))  # our own retried POST had arrived: the job is there
            stored = check_job(answer)
            if stored["key_id"] != envelope["key_id"] or stored["kind"] != payload["kind"]:
                raise FleetError(tr("Auftragsnummer {j} ist schon vergeben (anderer Auftrag); bitte erneut senden.",
                                    "Job id {j} is already taken (another job); send again.", j=job_id)) from None
        except ValueError as exc:
            raise _not_json(exc) from None
        data = check_job(answer)
    if data["job_id"] != job_id:
        raise FleetError(tr("Das Backend bestätigte Auftrag {b} statt {a}.", "The backend confirmed job {b} instead "
                            "of {a}.", a=job_id, b=data["job_id"]))
    return Job(data, _fetcher(backend), _host_os(backend))


def diagnose(host: str | Iterable[str], *, not_before: Any = None, expires: Any = None,
             backend: BackendClient | None = None) -> Job:
    """Queue a read-only diagnosis of ``host`` (one name or several). ``job.result()`` is the host's
    :class:`~techcare.diagnosis.Diagnosis`, as if it had been made on the spot."""
    return _send({"kind": "diagnose", "hosts": host, "not_before": not_before, "expires": expires}, backend)


def queue(plan: Plan, approval: str, hosts: str | Iterable[str] | None = None, *, confirm_high_risk: bool = False,
          not_before: Any = None, expires: Any = None, backend: BackendClient | None = None) -> Job:
    """Sign ``plan`` with the technician's ``GO REPAIR`` text and queue it for ``hosts`` (default: the host the
    plan was made for, only when that plan comes from a remote diagnosis :meth:`Job.result` checked — a plan made
    elsewhere needs ``hosts=``). The approval is checked against the plan here first (a bad one raises the repairs'
    :class:`~techcare.errors.ApprovalError`); high-risk steps need ``confirm_high_risk=True``. The job may run
    from ``not_before`` (default now) until ``expires`` (default 24 hours later; at most 30 days)."""
    from ..repairs import Plan

    if not isinstance(plan, Plan):
        raise FleetError(tr("queue() braucht einen Reparaturplan (techcare.plan(d)), nicht {t}.",
                            "queue() needs a repair plan (techcare.plan(d)), not {t}.", t=type(plan).__name__))
    if hosts is None:
        if not plan.host:
            raise FleetError(tr("Der Plan nennt keinen Rechner: hosts=[\"…\"] angeben.",
                                "The plan names no host: pass hosts=[\"...\"]."))
        if not checked_remote_host(plan.host, plan.platform):
            raise FleetError(tr(
                "Der Plan ist nicht aus einer Ferndiagnose (fleet.diagnose(…).result()) entstanden; sein Rechnername "
                "{h!r} ist darum kein sicheres Ziel. Das Ziel nennen: hosts=[\"…\"].",
                "The plan was not made from a remote diagnosis (fleet.diagnose(...).result()), so its host name {h!r} "
                "is no safe target. Name the target: hosts=[\"...\"].", h=plan.host))
        hosts = [plan.host]
    return _send({"kind": "repair", "hosts": hosts, "plan": plan, "approval": approval,
                  "confirm_high_risk": confirm_high_risk, "not_before": not_before, "expires": expires}, backend)


def job(job_id: str, *, backend: BackendClient | None = None) -> Job:
    """The job ``job_id`` with its current per-host state."""
    job_id = _job_id(job_id)
    return Job(_fetcher(backend)(job_id), _fetcher(backend), _host_os(backend))


_get_job = job  # rollback() and cancel() take a parameter named ``job``

_UNDO_FROM = frozenset({"succeeded", "failed", "interrupted"})


def rollback(job: Job | str, hosts: str | Iterable[str] | None = None, *, not_before: Any = None,
             expires: Any = None, backend: BackendClient | None = None) -> Job:
    """Queue a signed undo of ``job`` (a repair job): each host undoes the steps of that job it completed, last
    first. ``hosts`` defaults to the job's hosts that ran steps (succeeded, failed or interrupted)."""
    original = job if isinstance(job, Job) else _get_job(job, backend=backend)
    original.refresh()
    if original.kind != "repair":
        raise FleetError(tr("Nur Reparaturaufträge lassen sich zurücknehmen; {j} ist ein {k}-Auftrag.",
                            "Only repair jobs can be rolled back; {j} is a {k} job.", j=original.id[:12],
                            k=original.kind))
    if hosts is None:
        hosts = [t["host"] for t in original.targets if t["status"] in _UNDO_FROM]
        if not hosts:
            raise FleetError(tr("Auftrag {j}: kein Rechner hat Schritte ausgeführt ({s}) – nichts zurückzunehmen.",
                                "Job {j}: no host ran any step ({s}) – nothing to roll back.", j=original.id[:12],
                                s=", ".join(f"{t['host']}={t['status']}" for t in original.targets) or "-"))
    return _send({"kind": "rollback", "hosts": hosts, "rollback_of": original.id, "platform": original.platform,
                  "not_before": not_before, "expires": expires}, backend)


def cancel(job: Job | str, hosts: str | Iterable[str] | None = None, *, backend: BackendClient | None = None) -> Job:
    """Cancel ``job`` for ``hosts`` (default: all) where it has not finished; a running host stops after its
    current step. Needs no signature: it only stops work."""
    job_id = _job_id(job)
    names = normalise_hosts(hosts) if hosts is not None else None
    with _backend(backend) as client:
        answer = _call(lambda: client.cancel_job(job_id, hosts=names), not_found=tr(
            "Auftrag {j} ist dem Backend unbekannt.", "Job {j} is unknown to the backend.", j=job_id), conflict=tr(
            "Auftrag {j}: nichts mehr abzubrechen, jeder (genannte) Rechner ist schon fertig.",
            "Job {j}: nothing left to cancel, every (named) host has finished.", j=job_id))
    data = check_job(answer)
    if data["job_id"] != job_id:
        raise FleetError(tr("Das Backend antwortete auf Auftrag {a} mit Auftrag {b}.",
                            "The backend answered for job {a} with job {b}.", a=job_id, b=data["job_id"]))
    result = Job(data, _fetcher(backend), _host_os(backend))
    if isinstance(job, Job):
        job._apply(data)
    return result


def jobs(host: str | None = None, status: str | None = None, *, limit: int = 100,
         backend: BackendClient | None = None) -> pd.DataFrame:
    """Jobs of the organisation, newest first: one row each (job_id, kind, status, hosts, per-host states,
    approval, signer, ...). ``host``: only jobs for that host; ``status``: only jobs with a host in that state
    (queued, delivered, running, succeeded, failed, rolled_back, refused, expired, cancelled); ``limit`` 1..200."""
    import pandas as pd

    allowed = [s for s in TARGET_STATUSES if s != "interrupted"]
    if status is not None and status not in allowed:
        raise FleetError(tr("Unbekannter Status {s!r}. Erlaubt: {a}.", "Unknown status {s!r}. Allowed: {a}.",
                            s=status, a=", ".join(allowed)))
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIST:
        raise FleetError(tr("limit muss eine ganze Zahl von 1 bis {m} sein.", "limit must be an integer from 1 to {m}.",
                            m=MAX_LIST))
    with _backend(backend) as client:
        answer = _call(lambda: client.list_jobs(host=host, status=status, limit=limit))
    items = answer.get("jobs") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise FleetError(tr("Unerwartete Antwort des Backends auf /api/jobs (keine Liste „jobs“).",
                            "Unexpected answer from the backend to /api/jobs (no list 'jobs')."))
    rows = []
    for raw in items:
        data = check_job(raw)
        rows.append({"job_id": data["job_id"], "kind": data["kind"], "status": data["status"],
                     "hosts": ", ".join(data["hosts"]),
                     "targets": ", ".join(f"{t['host']}: {t['status']}" for t in data["targets"]),
                     "approval": data["approval"], "signer": data["signer"], "created_by": data["created_by"],
                     "created_at": data["created_at"], "not_before": data["not_before"], "expires": data["expires"]})
    return pd.DataFrame(rows, columns=JOB_COLUMNS)
