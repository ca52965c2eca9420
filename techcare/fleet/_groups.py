"""Groups of hosts and work on them (``docs/remote-jobs.md`` §5): tags, maintenance schedules, fleet-wide reading
(diagnosis and driver inventory of every host of a tag) and the monthly maintenance report.

Tags only route: a schedule is signed for the hosts its tag has *at signing* (the payload names them), so adding a
host to a tag later cannot make it run anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..i18n import get_language, tr
from ..signing import sign_payload
from ..system.records import visible
from ._payload import FleetError, normalise_hosts, parse_time
from ._job import _drivers_frame
from ._remote import _backend, _call, _check_targets, _refusal, _send, _signer_name, signing_key
from ._remote import diagnose as _diagnose_one
from ._schedule import (
    Schedule,
    _variant,
    build_schedule_payload,
    check_schedule_answer,
    check_tag,
    occurrence_frame,
    variants_of,
)
from .report import MaintenanceReport

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..backend_client import BackendClient
    from ._job import Job

__all__ = ["diagnose", "diagnose_fleet", "drivers", "get_schedule", "occurrences", "report", "schedule", "schedules",
           "tag", "tagged_hosts", "tags", "untag"]

MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
DEFAULT_TIMEOUT = 120.0


# ---- tags ---------------------------------------------------------------------------------------------------------

def _tag_answer(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict) or not isinstance(answer.get("hosts"), list):
        raise FleetError(tr("Unerwartete Antwort des Backends auf eine Tag-Änderung.",
                            "Unexpected answer from the backend to a tag change."))
    return {"tag": answer.get("tag"), "changed": list(answer.get("changed") or []), "hosts": answer["hosts"]}


def tag(hosts: str | Iterable[str], tag: str, *, backend: BackendClient | None = None) -> dict[str, Any]:
    """Give ``hosts`` the tag ``tag`` (``kunde:baeckerei-mueller``). Returns ``{tag, changed, hosts}``: the hosts
    that got it now and every host that has it."""
    name, names = check_tag(tag), normalise_hosts(hosts)
    with _backend(backend) as client:
        return _tag_answer(_call(lambda: client.tag_hosts(name, names), not_found=tr(
            "Das Backend kennt nicht alle Rechner.", "The backend does not know every host."), conflict=tr(
            "Ein Rechner hat schon 32 Tags.", "A host has 32 tags already.")))


def untag(hosts: str | Iterable[str], tag: str, *, backend: BackendClient | None = None) -> dict[str, Any]:
    """Take the tag ``tag`` from ``hosts``. A tag the host's sensor reports (``SENSOR_TAGS``) is changed there."""
    name, names = check_tag(tag), normalise_hosts(hosts)
    with _backend(backend) as client:
        return _tag_answer(_call(lambda: client.untag_hosts(name, names), conflict=tr(
            "Das Tag kommt vom Sensor des Rechners (SENSOR_TAGS); dort ändern.",
            "The tag comes from the host's sensor (SENSOR_TAGS); change it there.")))


def tags(*, backend: BackendClient | None = None) -> pd.DataFrame:
    """Every tag of the organisation: tag, hosts (count), names."""
    import pandas as pd

    with _backend(backend) as client:
        rows = _call(client.tags)
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("hosts"), list) for r in rows):
        raise FleetError(tr("Unerwartete Antwort des Backends auf /api/tags.",
                            "Unexpected answer from the backend to /api/tags."))
    data = [{"tag": r.get("tag"), "hosts": len(r["hosts"]), "names": ", ".join(map(str, r["hosts"]))} for r in rows]
    return pd.DataFrame(data, columns=["tag", "hosts", "names"]).sort_values("tag").reset_index(drop=True)


def tagged_hosts(client: BackendClient, name: str) -> dict[str, str]:
    """``{host: os}`` of the hosts carrying ``name``; :class:`FleetError` when none does. The members come from
    ``GET /api/tags`` and must also be in the backend's ``?tag=`` host list: a backend that ignored the filter can
    never widen whom a schedule or a group job is signed for."""
    listed = _call(client.tags)
    if not isinstance(listed, list):
        raise FleetError(tr("Unerwartete Antwort des Backends auf /api/tags.",
                            "Unexpected answer from the backend to /api/tags."))
    members = {str(h) for entry in listed if isinstance(entry, dict) and entry.get("tag") == name
               and isinstance(entry.get("hosts"), list) for h in entry["hosts"]}
    rows = _call(lambda: client.hosts(tag=name))
    if not isinstance(rows, list):
        raise FleetError(tr("Unerwartete Antwort des Backends auf /api/monitoring/hosts.",
                            "Unexpected answer from the backend to /api/monitoring/hosts."))
    found = {str(r["hostname"]): str(r.get("os") or "") for r in rows
             if isinstance(r, dict) and isinstance(r.get("hostname"), str) and r["hostname"] in members}
    if not found:
        raise FleetError(tr("Kein Rechner trägt das Tag {t}. fleet.tags() zeigt die Tags, fleet.tag([...], \"{t}\") "
                            "vergibt es.", "No host carries the tag {t}. fleet.tags() lists the tags, "
                            "fleet.tag([...], \"{t}\") gives it.", t=name))
    return dict(sorted(found.items()))


# ---- fleet-wide reading -------------------------------------------------------------------------------------------

def _targets(client: BackendClient, host: Any, tag_name: str | None) -> list[str]:
    if (host is None) == (tag_name is None):
        raise FleetError(tr("Entweder Rechner oder tag= angeben, z.B. fleet.diagnose(tag=\"kunde:mueller\").",
                            "Give either hosts or tag=, e.g. fleet.diagnose(tag=\"kunde:mueller\")."))
    if tag_name is not None:
        return list(tagged_hosts(client, check_tag(tag_name)))
    names = normalise_hosts(host)
    _check_targets(client, names, None)
    return names


def _collect(job: Job, timeout: float) -> tuple[dict[str, Any], dict[str, str]]:
    """Wait up to ``timeout`` for every host; ``({host: read-only result}, {host: why not})``."""
    job.wait(timeout)
    answered: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for target in job.targets:
        name = target["host"]
        if target["status"] == "succeeded":
            full = target if target["diagnosis"] is not None else job.refresh().target(name)
            if full["diagnosis"] is not None:
                answered[name] = full["diagnosis"]
                continue
        if name in job.waiting_for:
            missing[name] = tr("keine Antwort nach {s:g} s ({st})", "no answer after {s:g} s ({st})", s=timeout,
                               st=target["status"])
        else:
            why = " – ".join(x for x in (target["reason"], target["message"]) if x)
            missing[name] = f"{target['status']}" + (f": {why}" if why else "")
    return answered, missing


def _note(frame: pd.DataFrame, missing: dict[str, str], job: Job, what: str) -> pd.DataFrame:
    frame.attrs["job_id"] = job.id
    frame.attrs["answered"] = sorted(set(job.hosts) - set(missing))
    frame.attrs["missing"] = dict(missing)
    if missing:
        print(tr("{w}: {n} Rechner ohne Ergebnis (als Zeilen mit answer ≠ ok aufgeführt): {h}. Später "
                 "fleet.job(frame.attrs[\"job_id\"]) – ein Rechner, der offline ist, antwortet beim nächsten "
                 "Melden.", "{w}: {n} host(s) without a result (listed as rows with answer ≠ ok): {h}. Later "
                 "fleet.job(frame.attrs[\"job_id\"]) – a host that is offline answers when it next checks in.",
                 w=what, n=len(missing), h=visible("; ".join(f"{k} ({v})" for k, v in missing.items()))))
    return frame


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def diagnose_fleet(hosts: Any = None, *, tag: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                   backend: BackendClient | None = None) -> pd.DataFrame:
    """The read-only diagnosis of every host of ``tag`` (or of ``hosts``) as one DataFrame of findings with a
    ``host`` column. A host that did not answer within ``timeout`` seconds (or refused) is listed as a row with
    ``answer`` saying why, in ``frame.attrs["missing"]`` and in a printed note — never dropped."""
    from ..diagnosis import Diagnosis

    with _backend(backend) as client:
        names = _targets(client, hosts, tag)
    job = _send({"kind": "diagnose", "hosts": names, "not_before": None, "expires": None}, backend)
    answered, missing = _collect(job, timeout)
    columns = ["host", "answer", "check", "area", "severity", "summary", "repairs", "evidence"]
    rows: list[dict[str, Any]] = []
    for name in names:
        if name in answered:
            try:
                diagnosis = Diagnosis.from_dict(answered[name])
            except (TypeError, ValueError, KeyError) as exc:
                missing[name] = tr("Diagnose unlesbar: {e}", "diagnosis unreadable: {e}", e=str(exc)[:200])
            else:
                rows += [{"host": name, "answer": "ok", **r} for r in diagnosis.findings.to_dict("records")]
                continue
        rows.append({"host": name, "answer": missing[name]})
    return _note(_frame(rows, columns), missing, job, tr("Ferndiagnose", "Remote diagnosis"))


def drivers(hosts: Any = None, *, tag: str | None = None, timeout: float = DEFAULT_TIMEOUT,
            backend: BackendClient | None = None) -> pd.DataFrame:
    """The driver inventory (as :func:`techcare.drivers` shows it) of every host of ``tag`` (or of ``hosts``) as
    one DataFrame with a ``host`` column, made on each host by a read-only ``drivers`` job. Hosts without an answer
    within ``timeout`` seconds are listed as rows with ``answer`` saying why (and in ``frame.attrs["missing"]``);
    per-host statistics in ``frame.attrs["stats"]``."""
    import pandas as pd

    from ..tools.drivers.core import COLUMNS

    with _backend(backend) as client:
        names = _targets(client, hosts, tag)
    job = _send({"kind": "drivers", "hosts": names, "not_before": None, "expires": None}, backend)
    answered, missing = _collect(job, timeout)
    parts = []
    stats: dict[str, Any] = {}
    for name in names:
        if name in answered:
            try:
                frame = _drivers_frame(name, answered[name])
            except FleetError as exc:
                missing[name] = exc.message
            else:
                stats[name] = frame.attrs.get("stats", {})
                frame.insert(0, "answer", "ok")
                frame.insert(0, "host", name)
                parts.append(frame)
                continue
        parts.append(pd.DataFrame([{"host": name, "answer": missing[name]}]))
    columns = ["host", "answer", *COLUMNS]
    rows = [r for part in parts for r in part.to_dict("records")]
    result = _note(_frame(rows, columns), missing, job, tr("Treiber", "Drivers"))
    result.attrs["stats"] = stats
    return result


def diagnose(host: Any = None, *, tag: str | None = None, not_before: Any = None, expires: Any = None,
             timeout: float = DEFAULT_TIMEOUT, backend: BackendClient | None = None) -> Job | pd.DataFrame:
    """Queue a read-only diagnosis of ``host`` (one name or several): ``job.result()`` is the host's
    :class:`~techcare.diagnosis.Diagnosis`, as if it had been made on the spot.

    With ``tag=`` (``fleet.diagnose(tag="kunde:mueller")``) every host carrying the tag is diagnosed and the answer
    is one DataFrame of all findings with a ``host`` column, after waiting up to ``timeout`` seconds; hosts without
    an answer are listed as rows (``answer`` says why), in ``frame.attrs["missing"]`` and in a printed note."""
    if tag is not None:
        if host is not None:
            raise FleetError(tr("Entweder Rechner oder tag= angeben, nicht beides.",
                                "Give either hosts or tag=, not both."))
        return diagnose_fleet(tag=tag, timeout=timeout, backend=backend)
    if host is None:
        raise FleetError(tr("Welcher Rechner? fleet.diagnose(\"kasse-01\") oder fleet.diagnose(tag=\"kunde:…\").",
                            "Which host? fleet.diagnose(\"kasse-01\") or fleet.diagnose(tag=\"kunde:...\")."))
    return _diagnose_one(host, not_before=not_before, expires=expires, backend=backend)


# ---- schedules ----------------------------------------------------------------------------------------------------

def _schedule_client(backend: BackendClient | None) -> Any:
    not_found = tr("Diesen Wartungsplan kennt das Backend nicht (fleet.schedules() listet sie).",
                   "The backend does not know this schedule (fleet.schedules() lists them).")

    def call(action: str, arg: Any) -> Any:
        with _backend(backend) as client:
            if action == "occurrences":
                since = parse_time(arg["since"], "since") if arg["since"] is not None else None
                until = parse_time(arg["until"], "until") if arg["until"] is not None else None
                answer = _call(lambda: client.schedule_occurrences(
                    arg["id"], since=since.isoformat() if since else None,
                    until=until.isoformat() if until else None, host=arg["host"]), not_found=not_found)
                if not isinstance(answer, dict):
                    raise FleetError(tr("Unerwartete Antwort des Backends auf die Terminliste.",
                                        "Unexpected answer from the backend to the occurrence list."))
                return answer.get("occurrences")
            method = {"get": client.get_schedule, "pause": client.pause_schedule, "resume": client.resume_schedule,
                      "delete": client.delete_schedule}[action]
            return _call(lambda: method(arg), not_found=not_found, conflict=tr(
                "Der Wartungsplan ist schon in diesem Zustand.", "The schedule is in that state already."))

    return call


def _schedule_id(value: Schedule | str) -> str:
    text = value.id if isinstance(value, Schedule) else value
    if not isinstance(text, str) or not re.fullmatch(r"[0-9a-f]{32}", text.strip().lower()):
        raise FleetError(tr("{v!r} ist keine Wartungsplan-Nummer (32 Hex-Zeichen, siehe fleet.schedules()).",
                            "{v!r} is not a schedule id (32 hex digits, see fleet.schedules()).", v=text))
    return text.strip().lower()


def schedule(plan: Any, approval: str | None = None, *, tag: str | None = None,
             hosts: str | Iterable[str] | None = None, rrule: str, dtstart: Any = None, window: Any = "2h",
             catch_up: bool = False, name: str | None = None, allow_high_risk: bool = False,
             allow_reboot: bool = False, valid_from: Any = None, valid_until: Any = None,
             replaces: Schedule | str | None = None, backend: BackendClient | None = None) -> Schedule:
    """Sign a maintenance schedule and store it in the backend; each host runs it at its occurrences, in its own
    time zone.

    ``plan`` + ``approval`` (``"GO REPAIR: 1,2"``), or one variant per platform: ``{"windows": (plan_w, "GO
    REPAIR: 1-3"), "linux": (plan_l, "GO REPAIR: 1")}`` (each approval is checked against its plan here).
    ``tag``: the hosts carrying it *now* are written into the signed schedule (``hosts`` names them directly
    instead). ``rrule``: RFC 5545, e.g. ``"FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0"`` (host local time);
    ``window``: ``"2h"``, ``"90min"`` or a timedelta; ``catch_up``: a missed window runs at the next check-in.
    High-risk steps need ``allow_high_risk=True``. Valid from ``valid_from`` (now) to ``valid_until`` (a year).
    ``replaces``: a schedule (or its id) this one changes — signed as its next revision, the hosts drop the old one.
    """
    from ..backend_client import BackendHTTPError
    from ..config import get_settings

    variants = variants_of(plan, approval)
    for variant_plan, variant_approval in variants.values():  # approvals and risk first: no backend needed
        _variant(variant_plan, variant_approval, allow_high_risk)
    settings = get_settings()
    with _backend(backend) as client:
        if hosts is not None:
            names = normalise_hosts(hosts)
            seen = _check_targets(client, names, None)
        elif tag is not None:
            seen = tagged_hosts(client, check_tag(tag))
            names = list(seen)
        else:
            raise FleetError(tr("Für wen? tag=\"kunde:…\" oder hosts=[…] angeben.",
                                "For whom? Give tag=\"kunde:...\" or hosts=[...]."))
        uncovered = [f"{n} ({seen[n] or '?'})" for n in names if seen[n] not in variants]
        if uncovered:
            raise FleetError(tr("Für diese Rechner fehlt eine Variante ihres Betriebssystems (vorhanden: {v}): {h}. "
                                "Je Plattform einen Plan mitgeben: {{\"windows\": (plan, \"GO REPAIR: …\"), …}}.",
                                "These hosts have no variant for their operating system (given: {v}): {h}. Pass "
                                "one plan per platform: {{\"windows\": (plan, \"GO REPAIR: ...\"), ...}}.",
                                v=", ".join(sorted(variants)), h=", ".join(uncovered)))
        label = name or tr("Wartung {t}", "Maintenance {t}", t=tag or ", ".join(names[:3]))
        revision: dict[str, Any] = {}
        if replaces is not None:
            old_id = _schedule_id(replaces)
            current = check_schedule_answer(_call(lambda: client.get_schedule(old_id), not_found=tr(
                "Den zu ersetzenden Wartungsplan kennt das Backend nicht (gelöscht?).",
                "The backend does not know the schedule to replace (deleted?).")))
            revision = {"schedule_id": old_id, "revision": int(current.get("revision", 1)) + 1}
            label = name or str(current.get("name") or label)
        payload = build_schedule_payload(variants, names, rrule=rrule, signer=_signer_name(settings), name=label,
                                         tag=tag, dtstart=dtstart, window=window, catch_up=catch_up,
                                         allow_high_risk=allow_high_risk, allow_reboot=allow_reboot,
                                         valid_from=valid_from, valid_until=valid_until, **revision)
        try:
            envelope = sign_payload(payload, signing_key(settings))
        except ValueError as exc:
            raise FleetError(tr("Der Wartungsplan lässt sich nicht signieren: {e}",
                                "The schedule cannot be signed: {e}", e=exc)) from None
        try:
            answer = client.create_schedule(envelope)
        except BackendHTTPError as exc:
            if exc.status_code != 409:
                raise _refusal(exc, tr("Das Backend kennt nicht alle Rechner.",
                                       "The backend does not know every host.")) from None
            answer = _call(lambda: client.get_schedule(payload["schedule_id"]))  # our retried POST had arrived
            if answer.get("key_id") != envelope["key_id"] or answer.get("revision") != payload["revision"]:
                raise FleetError(tr("Wartungsplan-Nummer {s} ist schon vergeben; bitte erneut anlegen.",
                                    "Schedule id {s} is already taken; create it again.",
                                    s=payload["schedule_id"])) from None
        except ValueError as exc:
            raise FleetError(tr("Antwort des Backends ist kein JSON ({e}).", "The backend's answer is not JSON "
                                "({e}).", e=str(exc)[:200])) from None
    data = check_schedule_answer(answer)
    if data["schedule_id"] != payload["schedule_id"]:
        raise FleetError(tr("Das Backend bestätigte Wartungsplan {b} statt {a}.",
                            "The backend confirmed schedule {b} instead of {a}.", a=payload["schedule_id"],
                            b=data["schedule_id"]))
    return Schedule(data, _schedule_client(backend))


def get_schedule(schedule_id: Schedule | str, *, backend: BackendClient | None = None) -> Schedule:
    """The schedule ``schedule_id`` as the backend keeps it now."""
    call = _schedule_client(backend)
    return Schedule(call("get", _schedule_id(schedule_id)), call)


def schedules(tag: str | None = None, *, host: str | None = None,
              backend: BackendClient | None = None) -> pd.DataFrame:
    """The organisation's schedules (of ``tag``: made for it or naming a host with it): schedule_id, name, tag,
    status, rrule, window_minutes, hosts, platforms, next (the earliest next occurrence, UTC), revision, counts."""
    import pandas as pd

    if tag is not None:
        check_tag(tag)
    with _backend(backend) as client:
        answer = _call(lambda: client.list_schedules(tag=tag, host=host))
    items = answer.get("schedules") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise FleetError(tr("Unerwartete Antwort des Backends auf /api/schedules.",
                            "Unexpected answer from the backend to /api/schedules."))
    rows = []
    for raw in items:
        s = check_schedule_answer(raw)
        upcoming = sorted(str(n.get("planned_utc")) for n in s.get("next", []) if isinstance(n, dict))
        rows.append({"schedule_id": s["schedule_id"], "name": s.get("name"), "tag": s.get("tag"),
                     "status": s["status"], "rrule": s.get("rrule"), "window_minutes": s.get("window_minutes"),
                     "hosts": len(s.get("hosts", [])), "platforms": ", ".join(s.get("platforms", [])),
                     "next": upcoming[0] if upcoming else None, "revision": s.get("revision"),
                     "counts": ", ".join(f"{k}={v}" for k, v in sorted(s.get("counts", {}).items()))})
    columns = ["schedule_id", "name", "tag", "status", "rrule", "window_minutes", "hosts", "platforms", "next",
               "revision", "counts"]
    return pd.DataFrame(rows, columns=columns)


def occurrences(schedule_id: Schedule | str, *, since: Any = None, until: Any = None, host: str | None = None,
                backend: BackendClient | None = None) -> pd.DataFrame:
    """What happened (and is planned) per host and occurrence of a schedule: host, occurrence, planned_local,
    planned_utc, timezone, status (pending | delivered | running | ran | failed | missed | skipped), reason,
    message, steps, changelog (links). Default 30 days back and 14 ahead."""
    call = _schedule_client(backend)
    return occurrence_frame(call("occurrences", {"id": _schedule_id(schedule_id), "since": since, "until": until,
                                                 "host": host}))


# ---- the monthly report -------------------------------------------------------------------------------------------

def report(tag: str | None = None, month: str | None = None, lang: str | None = None, *,
           backend: BackendClient | None = None) -> MaintenanceReport:
    """The maintenance report (Wartungsbericht) of ``month`` (``"2026-11"``, default this month) for the hosts of
    ``tag`` (all hosts when left out), in ``lang`` (``de``/``en``, default the session language): which PCs were
    maintained when, what was done, what failed or was missed and why, open findings, disk health, pending
    updates. ``.markdown``, ``.html``, ``.save("bericht.html")``."""
    lang = lang or get_language()
    if lang not in ("de", "en"):
        raise FleetError(tr("lang={v!r}: erlaubt sind de und en.", "lang={v!r}: allowed are de and en.", v=lang))
    if tag is not None:
        check_tag(tag)
    month = month or datetime.now(timezone.utc).strftime("%Y-%m")
    if not isinstance(month, str) or not MONTH.match(month):
        raise FleetError(tr("month={v!r}: erwartet JJJJ-MM, z.B. \"2026-11\".", "month={v!r}: expected YYYY-MM, "
                            "e.g. \"2026-11\".", v=month))
    with _backend(backend) as client:
        data = _call(lambda: client.maintenance_report(tag=tag, month=month, lang=lang))
    try:
        return MaintenanceReport.from_data(data, lang)
    except ValueError as exc:
        raise FleetError(str(exc)) from None

