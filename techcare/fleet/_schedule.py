"""Maintenance schedules on the technician's machine (``docs/remote-jobs.md`` §5): the signed payload, built and
checked here, and the :class:`Schedule` the backend answers with.

:func:`build_schedule_payload` is pure (no network, no settings): it refuses locally what the backend or a host
would refuse for a reason the technician can fix here — an approval that does not parse against its plan, a
high-risk step without ``allow_high_risk``, an RRULE outside the allowed parts (:mod:`techcare.schedule_time`, the
module the hosts use), a window that is too short, too long or longer than the gap between two occurrences, a
validity without any occurrence.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ..i18n import tr
from ..schedule_time import MAX_WINDOW_MINUTES, MIN_WINDOW_MINUTES, Recurrence, ScheduleTimeError, parse_rrule
from ..system.records import visible
from ._payload import JOB_ID, FleetError, iso_utc, normalise_hosts, parse_time

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..repairs import Plan

__all__ = ["DEFAULT_VALIDITY", "MAX_VALIDITY", "OCCURRENCE_COLUMNS", "PLATFORMS", "SCHEDULE_STATUSES", "Schedule",
           "build_schedule_payload", "check_schedule", "parse_window", "variants_of"]

PLATFORMS = ("windows", "darwin", "linux")
DEFAULT_VALIDITY = timedelta(days=365)
MAX_VALIDITY = timedelta(days=400)
SCHEDULE_STATUSES = ("active", "paused", "ended", "deleted")
TAG = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}(:[a-z0-9][a-z0-9_.-]{0,62})?$")
OCCURRENCE_COLUMNS = ["host", "occurrence", "planned_local", "planned_utc", "timezone", "status", "reason",
                      "message", "steps", "changelog"]
_WINDOW = re.compile(r"^\s*(?:(\d+)\s*(?:h|std|hours?|stunden?))?\s*(?:(\d+)\s*(?:m|min|mins|minutes?|minuten?))?"
                     r"\s*$", re.IGNORECASE)


def check_tag(tag: Any) -> str:
    """``tag`` if it is a valid tag (``name`` or ``kind:name``, lowercase), else :class:`FleetError`."""
    if not isinstance(tag, str) or not TAG.match(tag):
        raise FleetError(tr("Ungültiges Tag {v!r}. Erlaubt: name oder art:name, klein, a-z 0-9 _ . -, z.B. "
                            "kunde:baeckerei-mueller.", "Invalid tag {v!r}. Allowed: name or kind:name, lowercase, "
                            "a-z 0-9 _ . -, e.g. kunde:baeckerei-mueller.", v=tag))
    return tag


def parse_window(value: Any) -> int:
    """A maintenance window in whole minutes from ``"2h"``, ``"90min"``, ``"1h30m"``, a :class:`timedelta` or a
    number of minutes; 5 .. 1440 minutes."""
    minutes: Any
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        minutes = int(seconds // 60) if seconds % 60 == 0 else None
    elif isinstance(value, int) and not isinstance(value, bool):
        minutes = value
    elif isinstance(value, str) and value.strip().isdigit():
        minutes = int(value.strip())
    elif isinstance(value, str) and value.strip() and (match := _WINDOW.match(value)) and any(match.groups()):
        minutes = int(match.group(1) or 0) * 60 + int(match.group(2) or 0)
    else:
        minutes = None
    if minutes is None:
        raise FleetError(tr("window={v!r} ist keine Dauer. Erlaubt: \"2h\", \"90min\", \"1h30m\", eine timedelta in "
                            "ganzen Minuten oder eine Zahl (Minuten).", "window={v!r} is not a duration. Allowed: "
                            "\"2h\", \"90min\", \"1h30m\", a timedelta of whole minutes or a number (minutes).",
                            v=value))
    if not MIN_WINDOW_MINUTES <= minutes <= MAX_WINDOW_MINUTES:
        raise FleetError(tr("window={v!r}: das Wartungsfenster muss {lo} Minuten bis {hi} Minuten (24 h) lang sein.",
                            "window={v!r}: the maintenance window must be {lo} minutes to {hi} minutes (24 h) long.",
                            v=value, lo=MIN_WINDOW_MINUTES, hi=MAX_WINDOW_MINUTES))
    return minutes


def _dtstart(value: Any, rrule: str, valid_from: datetime) -> str:
    """The naive local first candidate ``YYYY-MM-DDTHH:MM:00``. Default: 00:00 of the day before the validity
    starts (UTC; so that in every zone, west of UTC too, the rule's first occurrences after ``valid_from`` exist) —
    fine when the rule names its hour (``BYHOUR``); otherwise the time of day must come from ``dtstart``."""
    if value is None:
        if "BYHOUR=" not in rrule.upper():
            raise FleetError(tr("Die Regel nennt keine Uhrzeit: BYHOUR=…;BYMINUTE=… in rrule oder dtstart=\"2026-12-06"
                                "T02:00\" (Ortszeit des Rechners) angeben.", "The rule names no time of day: give "
                                "BYHOUR=...;BYMINUTE=... in rrule or dtstart=\"2026-12-06T02:00\" (the host's local "
                                "time)."))
        return (valid_from - timedelta(days=1)).strftime("%Y-%m-%dT00:00:00")
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise FleetError(tr("dtstart ist eine Ortszeit des Rechners und hat keine Zone (z.B. datetime(2026, 12, 6, "
                                "2, 0) oder \"2026-12-06T02:00\").", "dtstart is the host's local time and has no zone "
                                "(e.g. datetime(2026, 12, 6, 2, 0) or \"2026-12-06T02:00\")."))
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is not None:
            raise FleetError(tr("dtstart={v!r}: erwartet eine Ortszeit ohne Zone wie \"2026-12-06T02:00\".",
                                "dtstart={v!r}: expected a local time without zone such as \"2026-12-06T02:00\".",
                                v=value))
    else:
        raise FleetError(tr("dtstart muss Text wie \"2026-12-06T02:00\" oder ein datetime ohne Zone sein, nicht {t}.",
                            "dtstart must be text such as \"2026-12-06T02:00\" or a datetime without zone, not {t}.",
                            t=type(value).__name__))
    if moment.second or moment.microsecond:
        raise FleetError(tr("dtstart={v}: nur ganze Minuten.", "dtstart={v}: whole minutes only.",
                            v=moment.isoformat()))
    return moment.strftime("%Y-%m-%dT%H:%M:00")


def variants_of(plan: Any, approval: Any) -> dict[str, tuple[Plan, str]]:
    """``{platform: (plan, approval)}`` from one plan and its approval, a dict ``platform -> (plan, approval)``, or
    a list of ``(plan, approval)`` pairs (one per platform)."""
    from ..repairs import Plan

    if isinstance(plan, Plan):
        if approval is None:
            raise FleetError(tr("Zum Plan fehlt die Freigabe, z.B. \"GO REPAIR: 1,2\".",
                                "The plan's approval is missing, e.g. \"GO REPAIR: 1,2\"."))
        pairs = [(plan.platform, (plan, approval))]
    elif isinstance(plan, Mapping) or isinstance(plan, (list, tuple)):
        if approval is not None:
            raise FleetError(tr("Bei mehreren Varianten steht die Freigabe bei jedem Plan: {\"windows\": (plan, \"GO "
                                "REPAIR: 1,2\"), …}; approval dann weglassen.", "With several variants each plan "
                                "carries its approval: {\"windows\": (plan, \"GO REPAIR: 1,2\"), ...}; leave approval "
                                "out then."))
        items = list(plan.items()) if isinstance(plan, Mapping) else [(None, item) for item in plan]
        pairs = []
        for key, item in items:
            if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], Plan)):
                raise FleetError(tr("Jede Variante ist ein Paar (Plan, \"GO REPAIR: …\"), nicht {t}.",
                                    "Each variant is a pair (plan, \"GO REPAIR: ...\"), not {t}.",
                                    t=type(item).__name__))
            variant_plan = item[0]
            if key is not None and key != variant_plan.platform:
                raise FleetError(tr("Variante {k!r}: der Plan ist für {p}.", "Variant {k!r}: the plan is for {p}.",
                                    k=key, p=variant_plan.platform))
            pairs.append((variant_plan.platform, (variant_plan, item[1])))
    else:
        raise FleetError(tr("schedule() braucht einen Reparaturplan (techcare.plan(d)) oder je Plattform ein Paar "
                            "(Plan, Freigabe), nicht {t}.", "schedule() needs a repair plan (techcare.plan(d)) or "
                            "one (plan, approval) pair per platform, not {t}.", t=type(plan).__name__))
    out: dict[str, tuple[Plan, str]] = {}
    for platform, pair in pairs:
        if platform not in PLATFORMS:
            raise FleetError(tr("Plattform {p!r} unbekannt; erlaubt: {a}.", "Unknown platform {p!r}; allowed: {a}.",
                                p=platform, a=", ".join(PLATFORMS)))
        if platform in out:
            raise FleetError(tr("Zwei Varianten für {p}: je Plattform höchstens ein Plan.",
                                "Two variants for {p}: at most one plan per platform.", p=platform))
        out[platform] = pair
    if not out:
        raise FleetError(tr("Keine Variante: mindestens ein Plan mit Freigabe.",
                            "No variant: at least one plan with its approval."))
    return out


def _variant(plan: Plan, approval: Any, allow_high_risk: bool) -> dict[str, Any]:
    from ._payload import _repair_fields

    if not plan.steps:
        raise FleetError(tr("Der Plan für {p} hat keine Schritte.", "The plan for {p} has no steps.", p=plan.platform))
    fields = _repair_fields(plan, approval, True)  # ApprovalError with the repairs' own message
    risky = [n for n in fields["approved_steps"] if plan.steps[n - 1].risk == "high"]
    if risky and not allow_high_risk:
        raise FleetError(tr("{p}: Schritt {s} ist hochriskant; ein Wartungsplan führt ihn nur mit "
                            "allow_high_risk=True aus (bzw. --allow-high-risk).", "{p}: step {s} is high-risk; a "
                            "schedule runs it only with allow_high_risk=True (or --allow-high-risk).",
                            p=plan.platform, s=", ".join(map(str, risky))))
    return {"steps": fields["steps"], "approval": fields["approval"], "approved_steps": fields["approved_steps"],
            "plan_fingerprint": fields["plan_fingerprint"], **({"plugins": fields["plugins"]} if "plugins" in fields
                                                               else {})}


def _normalise_rule(text: str) -> str:
    """The rule as the hosts and the backend expect it: upper case, no spaces, without ``RRULE:``, ``FREQ`` first
    (the same rule, written one way)."""
    parts = [p for p in "".join(text.split()).upper().removeprefix("RRULE:").split(";") if p]
    return ";".join(sorted(parts, key=lambda p: not p.startswith("FREQ=")))


def check_schedule(rrule: Any, dtstart: str, window_minutes: int, valid_from: datetime,
                   valid_until: datetime) -> Recurrence:
    """The recurrence (read in UTC here; each host reads it in its own zone), refusing a rule the hosts and the
    backend would refuse, windows that overlap the next occurrence and a validity without an occurrence."""
    try:
        recurrence = Recurrence(rrule, dtstart, window_minutes=window_minutes, valid_from=valid_from,
                                valid_until=valid_until)
    except ScheduleTimeError as exc:
        raise FleetError(exc.message) from None
    gap = recurrence.min_gap()
    if gap is not None and gap < timedelta(minutes=window_minutes):
        raise FleetError(tr("Das Wartungsfenster ({w} min) ist länger als der kürzeste Abstand zweier Termine ({g}); "
                            "ein Fenster muss vor dem nächsten Termin enden.", "The maintenance window ({w} min) is "
                            "longer than the shortest gap between two occurrences ({g}); a window must end before "
                            "the next occurrence.", w=window_minutes, g=gap))
    # a day of margin: the hosts' zones are at most 14 hours from UTC
    if not recurrence.between(valid_from - timedelta(days=1), valid_until + timedelta(days=1)):
        raise FleetError(tr("Zwischen valid_from ({a}) und valid_until ({b}) liegt kein Termin der Regel {r}.",
                            "The rule {r} has no occurrence between valid_from ({a}) and valid_until ({b}).",
                            a=iso_utc(valid_from), b=iso_utc(valid_until), r=rrule))
    return recurrence


def build_schedule_payload(variants: Mapping[str, tuple[Plan, str]], hosts: Iterable[str], *, rrule: str,
                           signer: str, name: str, tag: str | None = None, dtstart: Any = None,
                           window: Any = "2h", catch_up: bool = False, allow_high_risk: bool = False,
                           allow_reboot: bool = False, valid_from: Any = None, valid_until: Any = None,
                           now: datetime | None = None, schedule_id: str | None = None,
                           revision: int = 1) -> dict[str, Any]:
    """The payload of a signed schedule (``docs/remote-jobs.md`` §5). ``variants``: ``{platform: (plan,
    approval)}`` (see :func:`variants_of`); ``hosts``: who may run it (resolved from ``tag`` by the caller).
    ``valid_from`` defaults to now, ``valid_until`` to a year later (a ``timedelta`` counts from ``valid_from``;
    at most 400 days)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    if not isinstance(rrule, str) or not rrule.strip():
        raise FleetError(tr("rrule fehlt, z.B. \"FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0\" (sonntags 02:00 Ortszeit).",
                            "rrule is missing, e.g. \"FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0\" (Sundays 02:00 "
                            "local time)."))
    rrule = _normalise_rule(rrule)
    start = now if valid_from is None else parse_time(valid_from, "valid_from")
    end = start + DEFAULT_VALIDITY if valid_until is None else parse_time(valid_until, "valid_until", base=start)
    if end <= start:
        raise FleetError(tr("valid_until ({e}) liegt nicht nach valid_from ({s}).",
                            "valid_until ({e}) is not after valid_from ({s}).", e=iso_utc(end), s=iso_utc(start)))
    if end - start > MAX_VALIDITY:
        raise FleetError(tr("Ein Wartungsplan gilt höchstens 400 Tage; hier {d}.",
                            "A schedule is valid for at most 400 days; here {d}.", d=end - start))
    if end <= now:
        raise FleetError(tr("valid_until ({e}) liegt in der Vergangenheit.", "valid_until ({e}) is in the past.",
                            e=iso_utc(end)))
    minutes = parse_window(window)
    try:
        parse_rrule(rrule, datetime(2000, 1, 1))  # the rule's own faults first, named by the hosts' module
    except ScheduleTimeError as exc:
        raise FleetError(exc.message) from None
    first = _dtstart(dtstart, rrule, start)
    check_schedule(rrule, first, minutes, start, end)
    if tag is not None:
        check_tag(tag)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise FleetError(tr("name: 1 bis 200 Zeichen, z.B. \"Wochenwartung Bäckerei Müller\".",
                            "name: 1 to 200 characters, e.g. \"Weekly maintenance Bakery Miller\"."))
    if schedule_id is not None and not JOB_ID.match(schedule_id):
        raise FleetError(tr("schedule_id {v!r}: erwartet 32 Hex-Zeichen.", "schedule_id {v!r}: expected 32 hex "
                            "digits.", v=schedule_id))
    if isinstance(revision, bool) or not isinstance(revision, int) or not 1 <= revision <= 1_000_000:
        raise FleetError(tr("revision {v!r}: erwartet eine ganze Zahl ab 1.", "revision {v!r}: expected an integer "
                            "from 1.", v=revision))
    signer = str(signer or "").strip()[:200]
    if not signer:
        raise FleetError(tr("Kein Name des Technikers für die Signatur: TECHNICIAN_NAME in .env setzen.",
                            "No technician name for the signature: set TECHNICIAN_NAME in .env."))
    return {
        "v": 1, "kind": "schedule", "schedule_id": schedule_id or uuid.uuid4().hex, "revision": revision,
        "name": name.strip(), "tag": tag, "hosts": normalise_hosts(list(hosts)),
        "variants": {platform: _variant(plan, approval, allow_high_risk)
                     for platform, (plan, approval) in sorted(variants.items())},
        "rrule": rrule, "dtstart": first, "window_minutes": minutes, "catch_up": bool(catch_up),
        "allow_high_risk": bool(allow_high_risk), "allow_reboot": bool(allow_reboot),
        "valid_from": iso_utc(start), "valid_until": iso_utc(end), "issued_at": iso_utc(now), "signer": signer}


# ---- the backend's answer -------------------------------------------------------------------------------------------

def _malformed(what: str) -> FleetError:
    return FleetError(tr("Unerwartete Antwort des Backends zu einem Wartungsplan: {w}.",
                         "Unexpected answer from the backend about a schedule: {w}.", w=what))


def check_schedule_answer(raw: Any) -> dict[str, Any]:
    """The fields of a ``SchedulePublic`` this client uses, type-checked; :class:`FleetError` otherwise."""
    if not isinstance(raw, dict):
        raise _malformed(tr("kein Objekt", "not an object"))
    sid = raw.get("schedule_id")
    if not isinstance(sid, str) or not JOB_ID.match(sid):
        raise _malformed(f"schedule_id {str(sid)[:40]!r}")
    if raw.get("status") not in SCHEDULE_STATUSES:
        raise _malformed(f"status {str(raw.get('status'))[:40]!r}")
    for key in ("hosts", "platforms", "next"):
        if not isinstance(raw.get(key, []), list):
            raise _malformed(tr("{k} ist keine Liste", "{k} is not a list", k=key))
    if not isinstance(raw.get("counts", {}), dict):
        raise _malformed(tr("counts ist kein Objekt", "counts is not an object"))
    return raw


def occurrence_frame(items: Any) -> pd.DataFrame:
    """One row per host and occurrence (``OCCURRENCE_COLUMNS``) from the backend's occurrence list."""
    import pandas as pd

    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise _malformed(tr("occurrences ist keine Liste von Objekten", "occurrences is not a list of objects"))
    rows = [{"host": i.get("host"), "occurrence": i.get("occurrence"), "planned_local": i.get("planned_local"),
             "planned_utc": i.get("planned_utc"), "timezone": i.get("timezone"), "status": i.get("status"),
             "reason": i.get("reason") or "", "message": i.get("message") or "",
             "steps": len(i.get("steps") or []), "changelog": " ".join(i.get("changelog") or [])} for i in items]
    return pd.DataFrame(rows, columns=OCCURRENCE_COLUMNS)


class Schedule:
    """A maintenance schedule as the backend keeps it: ``id``, ``revision``, ``name``, ``tag``, ``hosts``,
    ``platforms``, ``rrule``, ``window_minutes``, ``catch_up``, ``status`` (active | paused | ended | deleted),
    ``counts`` (recorded occurrences per status). :meth:`next` each host's next occurrence, :meth:`occurrences` what
    happened, :meth:`pause` / :meth:`resume` / :meth:`delete` (no signature needed: they only stop work)."""

    def __init__(self, data: dict[str, Any], client: Callable[[str, Any], Any]) -> None:
        self._client = client
        self._apply(data)

    def _apply(self, data: dict[str, Any]) -> None:
        data = check_schedule_answer(data)
        self._data = data
        self.id: str = data["schedule_id"]
        self.revision: int = data.get("revision", 1)
        self.name: str = str(data.get("name", ""))
        self.tag: str | None = data.get("tag")
        self.hosts: list[str] = list(data.get("hosts", []))
        self.platforms: list[str] = list(data.get("platforms", []))
        self.rrule: str = str(data.get("rrule", ""))
        self.dtstart: str = str(data.get("dtstart", ""))
        self.window_minutes: int = data.get("window_minutes", 0)
        self.catch_up: bool = bool(data.get("catch_up"))
        self.status: str = data["status"]
        self.counts: dict[str, int] = dict(data.get("counts", {}))

    @property
    def data(self) -> dict[str, Any]:
        """The backend's answer (``SchedulePublic``)."""
        return dict(self._data)

    def refresh(self) -> Schedule:
        self._apply(self._client("get", self.id))
        return self

    def pause(self) -> Schedule:
        """Stop handing out occurrences (nothing is recorded as missed while paused)."""
        self._apply(self._client("pause", self.id))
        return self

    def resume(self) -> Schedule:
        """Hand out occurrences again, from the current one on."""
        self._apply(self._client("resume", self.id))
        return self

    def delete(self) -> Schedule:
        """Delete the schedule: nothing more runs; its recorded occurrences stay for the reports."""
        self._apply(self._client("delete", self.id))
        return self

    def next(self) -> pd.DataFrame:
        """Each host's current or next occurrence in its own zone: host, occurrence, planned_local, planned_utc,
        timezone, timezone_known (false: the host has not reported its zone; UTC is used)."""
        import pandas as pd

        columns = ["host", "occurrence", "planned_local", "planned_utc", "timezone", "timezone_known"]
        rows = [{c: n.get(c) for c in columns} for n in self._data.get("next", []) if isinstance(n, dict)]
        return pd.DataFrame(rows, columns=columns)

    def occurrences(self, since: Any = None, until: Any = None, host: str | None = None) -> pd.DataFrame:
        """Per host and occurrence (default 30 days back, 14 ahead): planned local time, status pending |
        delivered | running | ran | failed | skipped | missed, reason, changelog links."""
        return occurrence_frame(self._client("occurrences", {"id": self.id, "since": since, "until": until,
                                                            "host": host}))

    def to_frame(self) -> pd.DataFrame:
        """One row per host: its next occurrence and the schedule's state."""
        frame = self.next()
        frame.insert(0, "schedule_id", self.id)
        frame.insert(1, "name", self.name)
        frame.insert(2, "status", self.status)
        missing = [h for h in self.hosts if h not in set(frame["host"])]
        if missing:
            import pandas as pd

            frame = pd.concat([frame, pd.DataFrame({"schedule_id": self.id, "name": self.name, "status": self.status,
                                                    "host": missing})], ignore_index=True)
        return frame

    def _headline(self) -> str:
        status = {"active": tr("aktiv", "active"), "paused": tr("pausiert", "paused"),
                  "ended": tr("abgelaufen", "ended"), "deleted": tr("gelöscht", "deleted")}[self.status]
        return tr("Wartungsplan „{n}“ · {s} · Rev. {r}", "Schedule '{n}' · {s} · rev. {r}", n=self.name, s=status,
                  r=self.revision)

    def __repr__(self) -> str:
        return (f"<Schedule {self.id[:12]} {self.name!r} {self.status} {self.rrule} "
                f"window={self.window_minutes}min hosts={len(self.hosts)}>")

    def _repr_html_(self) -> str:
        esc = html.escape
        counts = ", ".join(f"{esc(k)}: {v}" for k, v in sorted(self.counts.items())) or "–"
        rows = "".join(f"<tr><td>{esc(str(n.get('host')))}</td><td>{esc(str(n.get('occurrence')))}</td>"
                       f"<td>{esc(str(n.get('timezone')))}{'' if n.get('timezone_known', True) else ' (?)'}</td></tr>"
                       for n in self._data.get("next", []) if isinstance(n, dict))
        head = "".join(f"<th>{esc(h)}</th>" for h in (tr("Rechner", "Host"), tr("Nächster Termin (Ortszeit)",
                                                                               "Next occurrence (local)"),
                                                      tr("Zeitzone", "Time zone")))
        meta = esc(tr("{r} · Fenster {w} min · Nachholen: {c} · Tag: {t} · Plattformen: {p} · bisher: {n}",
                      "{r} · window {w} min · catch-up: {c} · tag: {t} · platforms: {p} · so far: {n}",
                      r=self.rrule, w=self.window_minutes, c=tr("ja", "yes") if self.catch_up else tr("nein", "no"),
                      t=self.tag or "–", p=", ".join(self.platforms), n="{n}")).replace("{n}", counts)
        return (f"<div class='techcare-schedule'><strong>{esc(self._headline())}</strong><br><small>{meta}</small>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>")

    def __rich__(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(visible(self._headline())))
        for column in (tr("Rechner", "Host"), tr("Nächster Termin (Ortszeit)", "Next occurrence (local)"),
                       tr("Zeitzone", "Time zone")):
            table.add_column(column)
        for n in self._data.get("next", []):  # the backend's answer: control characters shown, never acting
            if isinstance(n, dict):
                table.add_row(*(Text(visible(n.get(k), 300)) for k in ("host", "occurrence", "timezone")))
        table.caption = Text(visible(f"{self.rrule} · {self.window_minutes} min"))
        return table
