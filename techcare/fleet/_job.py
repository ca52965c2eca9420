"""A remote job as the backend reports it (``JobPublic`` of ``docs/remote-jobs.md`` §3), checked on arrival.

The backend is trusted to route, not to be well-formed: every answer is validated here and a malformed or hostile
one becomes a :class:`~techcare.fleet.FleetError` that says so, never a ``KeyError`` three calls later.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..i18n import tr
from ..system.records import visible
from ._payload import JOB_ID, FleetError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..diagnosis import Diagnosis

__all__ = ["JOB_STATUSES", "TARGET_STATUSES", "TERMINAL", "FleetTimeout", "Job", "check_job", "checked_remote_host"]

JOB_STATUSES = ("queued", "running", "done", "partly_failed", "failed", "cancelled", "expired")
TARGET_STATUSES = ("queued", "delivered", "running", "succeeded", "failed", "rolled_back", "refused", "expired",
                   "cancelled", "interrupted")
TERMINAL = frozenset({"succeeded", "failed", "rolled_back", "refused", "expired", "cancelled", "interrupted"})
_TEXT_LIMIT = 4000
_ICON = {"succeeded": "✔", "failed": "✖", "refused": "⛔", "expired": "⌛", "cancelled": "⊘", "rolled_back": "↺",
         "interrupted": "⚡", "queued": "…", "delivered": "→", "running": "▶"}
#: ``{host name: os}`` of the hosts whose diagnosis :meth:`Job.result` checked in this process: the only plan hosts
#: ``fleet.queue`` takes as its default target (any other plan needs ``hosts=``)
_CHECKED_HOSTS: dict[str, str] = {}
_COLOUR = {"succeeded": "#2e7d32", "failed": "#c62828", "refused": "#c62828", "interrupted": "#c62828",
           "expired": "#6a1b9a", "cancelled": "#6a1b9a", "rolled_back": "#ef6c00"}


class FleetTimeout(FleetError):
    """``job.wait(..., raise_on_timeout=True)`` ran out of time; ``waiting_for`` names the hosts without an
    answer."""

    def __init__(self, message: str, *, waiting_for: list[str]) -> None:
        super().__init__(message)
        self.waiting_for = waiting_for


def _malformed(what: str) -> FleetError:
    return FleetError(tr("Unerwartete Antwort des Backends ({w}); nichts übernommen. Läuft unter BACKEND_URL "
                         "ein TechCare-Backend mit Fernaufträgen?",
                         "Unexpected answer from the backend ({w}); nothing taken from it. Does BACKEND_URL point "
                         "at a TechCare backend with remote jobs?", w=what))


def _text(value: Any, field: str, *, optional: bool = True) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise _malformed(tr("{f} ist kein Text", "{f} is not text", f=field))
    return value[:_TEXT_LIMIT]


def _check_target(raw: Any, index: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _malformed(tr("targets[{i}] ist kein Objekt", "targets[{i}] is not an object", i=index))
    status = raw.get("status")
    if status not in TARGET_STATUSES:
        raise _malformed(tr("targets[{i}].status {s!r} ist unbekannt", "targets[{i}].status {s!r} is unknown",
                            i=index, s=str(status)[:40]))
    host = _text(raw.get("host"), f"targets[{index}].host", optional=False)
    steps = raw.get("steps") or []
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise _malformed(tr("targets[{i}].steps ist keine Liste von Objekten",
                            "targets[{i}].steps is not a list of objects", i=index))
    diagnosis = raw.get("diagnosis")
    if diagnosis is not None and not isinstance(diagnosis, dict):
        raise _malformed(tr("targets[{i}].diagnosis ist kein Objekt", "targets[{i}].diagnosis is not an object",
                            i=index))
    return {"host": host, "status": status, "reason": _text(raw.get("reason"), "reason"),
            "message": _text(raw.get("message"), "message"), "steps": steps, "diagnosis": diagnosis,
            "updated_at": _text(raw.get("updated_at"), "updated_at")}


def check_job(raw: Any) -> dict[str, Any]:
    """The fields of a ``JobPublic`` answer this client uses, type-checked; :class:`FleetError` otherwise."""
    if not isinstance(raw, dict):
        raise _malformed(tr("kein Auftrags-Objekt", "not a job object"))
    job_id = raw.get("job_id")
    if not isinstance(job_id, str) or not JOB_ID.match(job_id):
        raise _malformed(tr("job_id {v!r} ist keine Auftragsnummer", "job_id {v!r} is not a job id",
                            v=str(job_id)[:40]))
    if raw.get("status") not in JOB_STATUSES:
        raise _malformed(tr("status {s!r} ist unbekannt", "status {s!r} is unknown", s=str(raw.get("status"))[:40]))
    if raw.get("kind") not in ("diagnose", "drivers", "repair", "rollback"):
        raise _malformed(tr("kind {k!r} ist unbekannt", "kind {k!r} is unknown", k=str(raw.get("kind"))[:40]))
    hosts = raw.get("hosts")
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise _malformed(tr("hosts ist keine Liste von Namen", "hosts is not a list of names"))
    targets = raw.get("targets") or []
    if not isinstance(targets, list):
        raise _malformed(tr("targets ist keine Liste", "targets is not a list"))
    steps = raw.get("steps") or []
    if not isinstance(steps, list):
        raise _malformed(tr("steps ist keine Liste", "steps is not a list"))
    platform = raw.get("platform")
    if platform not in (None, "windows", "darwin", "linux"):
        raise _malformed(tr("platform {p!r} ist unbekannt", "platform {p!r} is unknown", p=str(platform)[:40]))
    return {"job_id": job_id, "kind": raw["kind"], "status": raw["status"], "hosts": list(hosts),
            "created_at": _text(raw.get("created_at"), "created_at"),
            "created_by": _text(raw.get("created_by"), "created_by"), "signer": _text(raw.get("signer"), "signer"),
            "key_id": _text(raw.get("key_id"), "key_id"), "not_before": _text(raw.get("not_before"), "not_before"),
            "expires": _text(raw.get("expires"), "expires"), "approval": _text(raw.get("approval"), "approval"),
            "plan_fingerprint": _text(raw.get("plan_fingerprint"), "plan_fingerprint"), "steps": steps,
            "platform": platform,
            "targets": [_check_target(t, i) for i, t in enumerate(targets)]}


def checked_remote_host(name: str, platform: str) -> bool:
    """True when ``name`` is a host whose diagnosis came back through a remote job and was checked by
    :meth:`Job.result` in this process (its host name and OS those of the job's target), for ``platform``."""
    return bool(name) and _CHECKED_HOSTS.get(name) == platform


def _drivers_frame(host: str, result: Any) -> pd.DataFrame:
    """A drivers job's result (``DriverReport.to_dict()`` made on ``host``) as the frame :func:`techcare.drivers`
    shows."""
    import pandas as pd

    from ..tools.drivers.core import COLUMNS

    records = result.get("drivers") if isinstance(result, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise _malformed(tr("Treiberliste von {h} unlesbar", "driver inventory of {h} unreadable", h=host))
    frame = pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in records], columns=COLUMNS)
    frame.attrs["stats"] = result.get("stats", {})
    frame.attrs["host"] = host
    return frame


def _step_number(step: dict[str, Any]) -> Any:
    return step.get("number")


class Job:
    """A remote job: what was signed and sent, and per host what happened.

    ``id``, ``kind``, ``status`` (queued | running | done | partly_failed | failed | cancelled | expired),
    ``hosts``, ``targets`` (per host: status, reason, message, steps, diagnosis). :meth:`refresh` asks the backend
    again, :meth:`wait` until every host has answered, :meth:`result` gives a host's :class:`Diagnosis` (diagnose
    jobs) or its steps (repair/rollback jobs), :meth:`to_frame` one row per host and step.
    """

    def __init__(self, data: dict[str, Any], fetch: Callable[[str], dict[str, Any]],
                 host_os: Callable[[str], str | None] | None = None) -> None:
        self._fetch = fetch
        self._host_os = host_os  # the OS the backend reports for a host (its sensor's samples); None: unknown
        self.timed_out = False
        self.waiting_for: list[str] = []
        self._waited: float | None = None
        self._apply(data)

    def _apply(self, data: dict[str, Any]) -> None:
        self._data = data
        self.id: str = data["job_id"]
        self.kind: str = data["kind"]
        self.status: str = data["status"]
        self.hosts: list[str] = data["hosts"]
        self.targets: list[dict[str, Any]] = data["targets"]

    @property
    def created_at(self) -> str:
        return self._data["created_at"]

    @property
    def created_by(self) -> str:
        return self._data["created_by"]

    @property
    def signer(self) -> str:
        return self._data["signer"]

    @property
    def key_id(self) -> str:
        return self._data["key_id"]

    @property
    def approval(self) -> str:
        return self._data["approval"]

    @property
    def not_before(self) -> str:
        return self._data["not_before"]

    @property
    def expires(self) -> str:
        return self._data["expires"]

    @property
    def platform(self) -> str | None:
        """The platform of a repair or rollback job (``None`` for diagnose jobs)."""
        return self._data["platform"]

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The signed steps ``[{number, action, params}]`` (repair jobs)."""
        return self._data["steps"]

    def target(self, host: str | None = None) -> dict[str, Any]:
        """The per-host state; ``host`` may be left out when the job has one host."""
        if host is None:
            if len(self.targets) != 1:
                raise FleetError(tr("Der Auftrag hat {n} Zielrechner ({h}); bitte einen nennen: host=\"…\".",
                                    "The job has {n} target hosts ({h}); name one: host=\"...\".",
                                    n=len(self.targets), h=", ".join(t["host"] for t in self.targets[:10])))
            return self.targets[0]
        for target in self.targets:
            if target["host"] == host:
                return target
        raise FleetError(tr("{h} ist kein Zielrechner dieses Auftrags (Ziele: {a}).",
                            "{h} is not a target of this job (targets: {a}).", h=host,
                            a=", ".join(t["host"] for t in self.targets[:10]) or "-"))

    @property
    def pending(self) -> list[str]:
        """Hosts that have not answered yet (not in a final state)."""
        return [t["host"] for t in self.targets if t["status"] not in TERMINAL]

    @property
    def finished(self) -> bool:
        return not self.pending

    def refresh(self) -> Job:
        """Fetch the current state from the backend (returns this job)."""
        self._apply(self._fetch(self.id))
        return self

    def wait(self, timeout: float = 60.0, *, poll: float = 1.0, raise_on_timeout: bool = False) -> Job:
        """Wait until every host has answered (succeeded, failed, refused, expired, cancelled, ...) or ``timeout``
        seconds have passed. Returns the job with its current status either way; after a timeout ``timed_out``
        is true and ``waiting_for`` (and the job's display) names the hosts without an answer. With
        ``raise_on_timeout`` a timeout raises :class:`FleetTimeout` instead."""
        if timeout < 0 or poll <= 0:
            raise FleetError(tr("timeout muss ≥ 0 und poll > 0 Sekunden sein.",
                                "timeout must be ≥ 0 and poll > 0 seconds."))
        deadline = time.monotonic() + timeout
        delay = min(0.2, poll)
        self.refresh()
        while self.pending and time.monotonic() < deadline:
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(poll, delay * 2)
            self.refresh()
        self.waiting_for = self.pending
        self.timed_out = bool(self.waiting_for)
        self._waited = timeout
        if self.timed_out and raise_on_timeout:
            raise FleetTimeout(self.timeout_note(timeout), waiting_for=list(self.waiting_for))
        return self

    def timeout_note(self, timeout: float | None = None) -> str:
        """Who has not answered (after the last :meth:`wait`), and what happens next."""
        timeout = self._waited if timeout is None else timeout
        states = ", ".join(f"{visible(t['host'], 300)} ({visible(t['status'], 60)})" for t in self.targets
                           if t["host"] in self.waiting_for)
        return tr("Noch keine Antwort{t} von: {h}. Später job.refresh() oder job.wait() – ein Rechner, der gerade "
                  "offline ist, führt den Auftrag beim nächsten Melden aus (bis {e}).",
                  "No answer yet{t} from: {h}. Later job.refresh() or job.wait() – a host that is offline now runs "
                  "the job when it next checks in (until {e}).",
                  t=tr(" nach {s:g} s", " after {s:g} s", s=timeout) if timeout is not None else "",
                  h=states or "-", e=self.expires or "?")

    def result(self, host: str | None = None, *, timeout: float = 120.0) -> Diagnosis | pd.DataFrame:
        """What ``host`` (default: the only one) sent back, waiting up to ``timeout`` seconds for it.

        Diagnose jobs: a :class:`techcare.diagnosis.Diagnosis` of that host (``techcare.plan(d)`` works on it).
        Drivers jobs: the host's driver inventory as :func:`techcare.drivers` shows it (statistics in ``attrs``).
        Repair and rollback jobs: the host's steps as a DataFrame. Raises :class:`FleetError` when the host refused
        the job, failed, or has not answered in time — naming the reason.
        """
        target = self.target(host)
        if target["status"] not in TERMINAL:
            deadline = time.monotonic() + max(0.0, timeout)
            while True:
                target = self.refresh().target(target["host"])
                if target["status"] in TERMINAL or time.monotonic() >= deadline:
                    break
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        name = target["host"]
        if target["status"] not in TERMINAL:
            self.waiting_for, self._waited = [name], timeout
            raise FleetTimeout(self.timeout_note(timeout), waiting_for=[name])
        if self.kind not in ("diagnose", "drivers"):
            return self.to_frame(host=name)
        if target["status"] == "succeeded" and target["diagnosis"] is None:  # lists leave diagnoses out
            target = self.refresh().target(name)
        if target["status"] != "succeeded" or target["diagnosis"] is None:
            raise FleetError(tr("{h} hat keine Diagnose geliefert: {s}{r}{m}.", "{h} returned no diagnosis: {s}{r}{m}.",
                                h=name, s=target["status"], r=f" ({target['reason']})" if target["reason"] else "",
                                m=f" – {target['message']}" if target["message"] else ""))
        if self.kind == "drivers":
            return _drivers_frame(name, target["diagnosis"])
        from ..diagnosis import Diagnosis

        try:
            diagnosis = Diagnosis.from_dict(target["diagnosis"])
        except (TypeError, ValueError, KeyError) as exc:
            raise _malformed(tr("Diagnose von {h} unlesbar: {e}", "diagnosis of {h} unreadable: {e}", h=name,
                                e=str(exc)[:200])) from None
        return self._checked(name, diagnosis)

    def _checked(self, name: str, diagnosis: Diagnosis) -> Diagnosis:
        """``diagnosis`` if it is one of the job's target ``name`` (host name and OS); :class:`FleetError` naming
        both otherwise — a plan made from another PC's diagnosis must never be signed for this one or the other."""
        made_on = diagnosis.hostname
        if made_on.casefold() != name.casefold():
            raise FleetError(tr(
                "Die Diagnose, die das Backend für {h} (Auftrag {j}) lieferte, stammt von {o}; nicht übernommen. "
                "Eine Diagnose gilt nur für den Rechner, an den der Auftrag ging – Backend prüfen lassen.",
                "The diagnosis the backend returned for {h} (job {j}) was made on {o}; not taken. A diagnosis counts "
                "only for the host the job went to – have the backend checked.", h=name, j=self.id[:12],
                o=made_on[:80]))
        reported = self._host_os(name) if self._host_os is not None else None
        if reported and diagnosis.os != reported:
            raise FleetError(tr(
                "Die Diagnose, die das Backend für {h} (Auftrag {j}) lieferte, ist für {o}, der Sensor von {h} meldet "
                "aber {r}; nicht übernommen.", "The diagnosis the backend returned for {h} (job {j}) is for {o}, but "
                "the sensor of {h} reports {r}; not taken.", h=name, j=self.id[:12], o=diagnosis.os[:40],
                r=reported))
        diagnosis.host["hostname"] = name  # the target's name exactly as the backend knows it: the plan's host
        _CHECKED_HOSTS[name] = diagnosis.os
        return diagnosis

    # ---- presentation ---------------------------------------------------------------------------------------
    def to_frame(self, host: str | None = None) -> pd.DataFrame:
        """One row per host and step (a host without step results has one row): host, status, reason, message,
        step, action, step_status, detail, undo, updated_at."""
        import pandas as pd

        columns = ["host", "status", "reason", "message", "step", "action", "step_status", "detail", "undo",
                   "updated_at"]
        rows = []
        for t in self.targets:
            if host is not None and t["host"] != host:
                continue
            base = {"host": t["host"], "status": t["status"], "reason": t["reason"], "message": t["message"],
                    "updated_at": t["updated_at"]}
            if not t["steps"]:
                rows.append({**base, "step": None, "action": "", "step_status": "", "detail": "", "undo": ""})
            for s in t["steps"]:
                rows.append({**base, "step": _step_number(s), "action": str(s.get("action", "")),
                             "step_status": str(s.get("status", "")), "detail": str(s.get("detail") or "")[:500],
                             "undo": str(s.get("undo") or "")})
        return pd.DataFrame(rows, columns=columns)

    def _headline(self) -> str:
        return tr("Fernauftrag {i} · {k} · {s}", "Remote job {i} · {k} · {s}", i=visible(self.id[:12]),
                  k=visible(self.kind, 60), s=visible(self.status, 60))

    def __repr__(self) -> str:
        states = ", ".join(f"{visible(t['host'], 300)}={visible(t['status'], 60)}" for t in self.targets[:5])
        more = f", +{len(self.targets) - 5}" if len(self.targets) > 5 else ""
        return f"<Job {visible(self.id[:12])} {visible(self.kind, 60)} {visible(self.status, 60)}: {states}{more}>"

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = []
        for t in self.targets:
            colour = _COLOUR.get(t["status"], "#0277bd")
            why = " – ".join(x for x in (t["reason"], t["message"]) if x)
            steps = "<br>".join(esc(f"{_step_number(s)}. {s.get('action', '')}: {s.get('status', '')}")
                                for s in t["steps"][:50])
            rows.append(f"<tr><td>{esc(t['host'])}</td><td style='color:{colour};font-weight:bold'>"
                        f"{_ICON.get(t['status'], '?')} {esc(t['status'])}</td><td style='text-align:left'>"
                        f"{esc(why)}</td><td style='text-align:left'>{steps}</td></tr>")
        head = "".join(f"<th>{esc(h)}</th>" for h in (tr("Rechner", "Host"), "Status", tr("Grund", "Reason"),
                                                       tr("Schritte", "Steps")))
        meta = esc(tr("signiert von {s} (Schlüssel {k}) · gültig bis {e}{a}",
                      "signed by {s} (key {k}) · valid until {e}{a}", s=self.signer or "?", k=self.key_id or "?",
                      e=self.expires or "?", a=f" · {self.approval}" if self.approval else ""))
        note = f"<p><em>{esc(self.timeout_note())}</em></p>" if self.timed_out else ""
        return (f"<div class='techcare-job'><strong>{esc(self._headline())}</strong><br><small>{meta}</small>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}</div>")

    def __rich__(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(self._headline()))
        for column in (tr("Rechner", "Host"), "Status", tr("Grund", "Reason"), tr("Schritte", "Steps")):
            table.add_column(column)
        # everything in the rows came from the backend or a host: control characters shown, never acting
        for t in self.targets:
            steps = "\n".join(visible(f"{_step_number(s)}. {s.get('action', '')}: {s.get('status', '')}", 300)
                              for s in t["steps"])
            table.add_row(Text(visible(t["host"], 300)),
                          Text(f"{_ICON.get(t['status'], '?')} {visible(t['status'], 60)}"),
                          Text(visible(" – ".join(x for x in (t["reason"], t["message"]) if x))), Text(steps))
        if self.timed_out:
            table.caption = Text(self.timeout_note())  # host names are data, never markup
        return table
