"""``%fleet`` in IPython and the ``fleet …`` words of the plain REPL: a thin layer over :mod:`techcare.fleet`.

    %fleet                                   the hosts (DataFrame)            | fleet
    %fleet diagnose HOST                     remote diagnosis → Diagnosis     | fleet diagnose HOST
    %fleet plan HOST                         the repair plan from it          | fleet plan HOST
    %fleet repair HOST GO REPAIR: 1,2        sign and queue the approved steps | fleet repair HOST GO REPAIR: 1,2
    %fleet jobs [--host H] [--status S]      jobs, newest first               | fleet jobs
    %fleet job ID [--wait S]                 one job per host and step        | fleet job ID
    %fleet cancel ID                         stop what has not run            | fleet cancel ID
    %fleet rollback ID                       signed undo of a repair job      | fleet rollback ID
    %fleet diagnose --tag TAG                every host of a tag → findings   | fleet diagnose --tag TAG
    %fleet drivers (HOST | --tag TAG)        driver inventories               | fleet drivers --tag TAG
    %fleet tags | tag HOST… TAG | untag HOST… TAG      groups of hosts        | fleet tags
    %fleet schedule TAG RRULE --from HOST GO REPAIR: 1,2 [--window 2h]  signed maintenance schedule
    %fleet schedules [--tag TAG] | occurrences ID | pause ID | resume ID | delete ID
    %fleet report TAG [MONTH] [--lang en] [--save FILE]   monthly maintenance report

A remote plan is kept per host and apart from the local session's plan, so ``%repair GO REPAIR`` can never run
a plan meant for another PC here; ``repair HOST`` accepts numbers only for the plan of HOST that was shown last.
Misuse raises :class:`FleetUsageError` (IPython: ``UsageError``) with the usage lines. IPython is only imported
by :func:`load_ipython_extension`, so the REPL uses this module without it.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from . import fleet
from .errors import TechCareError
from .i18n import tr

__all__ = ["FleetDesk", "FleetUsageError", "get_desk", "load_ipython_extension", "parse", "usage"]

def usage(prog: str = "%fleet") -> str:
    """The usage lines in the session language (``prog``: ``%fleet`` in IPython, ``fleet`` in the REPL)."""
    return tr("%fleet [hosts [--tag TAG]]              Rechner der Organisation\n"
              "%fleet diagnose HOST [--timeout S]      Ferndiagnose (nur lesend) von HOST\n"
              "%fleet plan HOST                        Reparaturplan aus der Diagnose von HOST\n"
              "%fleet repair HOST GO REPAIR: 1,2 [--confirm]   freigegebene Schritte signieren und senden\n"
              "%fleet jobs [--host HOST] [--status S]  Fernaufträge, neueste zuerst\n"
              "%fleet job ID [--wait S]                ein Auftrag je Rechner und Schritt\n"
              "%fleet cancel ID [--host HOST ...]      abbrechen, was noch nicht fertig ist\n"
              "%fleet rollback ID                      signierte Rücknahme eines Reparaturauftrags\n"
              "%fleet key                              öffentlicher Signaturschlüssel dieses Technikers\n"
              "%fleet diagnose --tag TAG [--timeout S] Ferndiagnose aller Rechner eines Tags (eine Tabelle)\n"
              "%fleet drivers HOST | --tag TAG         Treiberbestand (nur lesend) je Rechner\n"
              "%fleet tags                             Tags und ihre Rechner\n"
              "%fleet tag HOST … TAG | untag HOST … TAG   Tag vergeben / entfernen (z.B. kunde:mueller)\n"
              "%fleet schedule TAG RRULE --from HOST GO REPAIR: 1,2 [--window 2h] [--catch-up] [--name N]\n"
              "      [--allow-high-risk] [--allow-reboot] [--replaces ID]   Wartungsplan mit dem gezeigten Plan "
              "von HOST signieren\n"
              "%fleet schedules [--tag TAG]            Wartungspläne\n"
              "%fleet occurrences ID [--host HOST]     Termine eines Wartungsplans und ihr Ergebnis\n"
              "%fleet pause ID | resume ID | delete ID Wartungsplan anhalten / fortsetzen / löschen\n"
              "%fleet report TAG [JJJJ-MM] [--lang de|en] [--save DATEI]   Wartungsbericht des Monats",
              "%fleet [hosts [--tag TAG]]              hosts of the organisation\n"
              "%fleet diagnose HOST [--timeout S]      remote diagnosis (read-only) of HOST\n"
              "%fleet plan HOST                        the repair plan from HOST's diagnosis\n"
              "%fleet repair HOST GO REPAIR: 1,2 [--confirm]   sign and queue the approved steps\n"
              "%fleet jobs [--host HOST] [--status S]  remote jobs, newest first\n"
              "%fleet job ID [--wait S]                one job, per host and step\n"
              "%fleet cancel ID [--host HOST ...]      cancel what has not finished\n"
              "%fleet rollback ID                      signed undo of a repair job\n"
              "%fleet key                              this technician's public signing key\n"
              "%fleet diagnose --tag TAG [--timeout S] remote diagnosis of every host of a tag (one table)\n"
              "%fleet drivers HOST | --tag TAG         driver inventory (read-only) per host\n"
              "%fleet tags                             tags and their hosts\n"
              "%fleet tag HOST ... TAG | untag HOST ... TAG   give / remove a tag (e.g. kunde:mueller)\n"
              "%fleet schedule TAG RRULE --from HOST GO REPAIR: 1,2 [--window 2h] [--catch-up] [--name N]\n"
              "      [--allow-high-risk] [--allow-reboot] [--replaces ID]   sign a maintenance schedule with HOST's "
              "shown plan\n"
              "%fleet schedules [--tag TAG]            maintenance schedules\n"
              "%fleet occurrences ID [--host HOST]     a schedule's occurrences and their outcome\n"
              "%fleet pause ID | resume ID | delete ID pause / resume / delete a schedule\n"
              "%fleet report TAG [YYYY-MM] [--lang de|en] [--save FILE]   the month's maintenance report"
              ).replace("%fleet", prog)


class FleetUsageError(TechCareError):
    """Bad ``%fleet`` / ``fleet`` arguments; the message ends with the usage lines."""

    exit_code = 2


def _argparse_message(message: str) -> str:
    """An error text of argparse in the active language (:func:`techcare.i18n_argparse.translate`, the table of
    every TechCare command line); the subcommand's argument is called "Befehl"."""
    from .i18n_argparse import translate

    text = translate(message)
    return "Befehl: " + text.removeprefix("Argument command: ") if text.startswith("Argument command: ") else text


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # never exit the kernel or the REPL
        raise FleetUsageError(f"{_argparse_message(message)}\n{usage(self.prog.split()[0])}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # --help
        raise FleetUsageError(f"{message or ''}{usage(self.prog.split()[0])}".strip())


def _parser(prog: str) -> _Parser:
    parser = _Parser(prog=prog, add_help=False)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    p = sub.add_parser("hosts", add_help=False)
    p.add_argument("--tag")
    p = sub.add_parser("diagnose", add_help=False)
    p.add_argument("host", nargs="?")
    p.add_argument("--tag")
    p.add_argument("--timeout", type=float, default=120.0)
    p = sub.add_parser("drivers", add_help=False)
    p.add_argument("host", nargs="?")
    p.add_argument("--tag")
    p.add_argument("--timeout", type=float, default=120.0)
    sub.add_parser("tags", add_help=False)
    for word in ("tag", "untag"):
        sub.add_parser(word, add_help=False).add_argument("names", nargs="+")
    p = sub.add_parser("schedule", add_help=False)
    p.add_argument("tag")
    p.add_argument("rrule")
    p.add_argument("approval", nargs="+")
    p.add_argument("--from", dest="source", required=True)
    p.add_argument("--window", default="2h")
    p.add_argument("--catch-up", action="store_true")
    p.add_argument("--name")
    p.add_argument("--allow-high-risk", action="store_true")
    p.add_argument("--allow-reboot", action="store_true")
    p.add_argument("--replaces")
    sub.add_parser("schedules", add_help=False).add_argument("--tag")
    p = sub.add_parser("occurrences", add_help=False)
    p.add_argument("schedule_id")
    p.add_argument("--host")
    for word in ("pause", "resume", "delete"):
        sub.add_parser(word, add_help=False).add_argument("schedule_id")
    p = sub.add_parser("report", add_help=False)
    p.add_argument("tag")
    p.add_argument("month", nargs="?")
    p.add_argument("--lang", choices=("de", "en"))
    p.add_argument("--save")
    sub.add_parser("plan", add_help=False).add_argument("host")
    p = sub.add_parser("repair", add_help=False)
    p.add_argument("host")
    p.add_argument("approval", nargs="+")
    p.add_argument("--confirm", action="store_true")
    p = sub.add_parser("jobs", add_help=False)
    p.add_argument("--host")
    p.add_argument("--status")
    p = sub.add_parser("job", add_help=False)
    p.add_argument("job_id")
    p.add_argument("--wait", type=float, default=None)
    p = sub.add_parser("cancel", add_help=False)
    p.add_argument("job_id")
    p.add_argument("--host", action="append")
    sub.add_parser("rollback", add_help=False).add_argument("job_id")
    sub.add_parser("key", add_help=False)
    return parser


def parse(line: str, prog: str = "%fleet") -> argparse.Namespace:
    """The command in ``line`` (empty: ``hosts``); :class:`FleetUsageError` for anything else."""
    try:
        tokens = shlex.split(line)
    except ValueError as exc:  # shlex: "No closing quotation" / "No escaped character"
        unclosed = "quotation" in str(exc)
        what = tr("ein Anführungszeichen ist nicht geschlossen", "a quotation mark is not closed") if unclosed \
            else tr("ein \\ am Ende ohne Zeichen danach", "a \\ at the end with nothing after it")
        raise FleetUsageError(f"{what}\n{usage(prog)}") from None
    if not tokens:
        tokens = ["hosts"]
    args = _parser(prog).parse_args(tokens)
    args.prog = prog  # the desk's hints name the command as this interface spells it (%fleet or fleet)
    if args.command in ("repair", "schedule"):
        text = " ".join(args.approval)
        if args.approval[0].upper() != "GO":
            raise FleetUsageError(tr("Es fehlt die Freigabe „GO REPAIR: 1,2“ (statt {t!r}).",
                                     "The approval 'GO REPAIR: 1,2' is missing (instead of {t!r}).", t=text)
                                  + f"\n{usage(prog)}")
        args.approval = text
    if args.command in ("diagnose", "drivers") and (args.host is None) == (args.tag is None):
        raise FleetUsageError(tr("{c}: entweder HOST oder --tag TAG angeben.", "{c}: give either HOST or --tag TAG.",
                                 c=args.command) + f"\n{usage(prog)}")
    if args.command in ("tag", "untag"):
        if len(args.names) < 2:
            raise FleetUsageError(tr("{c}: erst die Rechner, zuletzt das Tag, z.B. {c} kasse-01 buero-pc "
                                     "kunde:mueller.", "{c}: the hosts first, the tag last, e.g. {c} kasse-01 "
                                     "buero-pc kunde:mueller.", c=args.command) + f"\n{usage(prog)}")
        args.hosts, args.tag = args.names[:-1], args.names[-1]
    for name in ("timeout", "wait"):
        value = getattr(args, name, None)
        if value is not None and not 0 <= value <= 3600:
            raise FleetUsageError(f"--{name} {value:g}: 0 … 3600 s\n{usage(prog)}")
    return args


class FleetDesk:
    """The state ``%fleet`` and the REPL share: per host the last remote diagnosis and plan, and which plan was
    shown (an approval counts only for that one)."""

    def __init__(self, backend: Any = None) -> None:
        self.backend = backend
        self.diagnoses: dict[str, Any] = {}
        self.plans: dict[str, Any] = {}
        self.shown: dict[str, str] = {}
        self.last_job: Any = None
        self.prog = "%fleet"  # how the interface that runs the desk spells its command (hints name it)

    def run(self, line: str, prog: str = "%fleet") -> Any:
        """Parse ``line`` and call :mod:`techcare.fleet`; returns what to display."""
        return self.execute(parse(line, prog))

    def execute(self, args: argparse.Namespace) -> Any:
        """Run a command :func:`parse` returned."""
        self.prog = getattr(args, "prog", "%fleet")
        return getattr(self, f"_{args.command}")(args)

    # ---- commands ----------------------------------------------------------------------------------------------
    def _hosts(self, args: argparse.Namespace) -> Any:
        return fleet.hosts(args.tag, backend=self.backend)

    def _diagnose(self, args: argparse.Namespace) -> Any:
        from .repairs import plan

        if args.tag is not None:
            return fleet.diagnose(tag=args.tag, timeout=args.timeout, backend=self.backend)
        job = fleet.diagnose(args.host, backend=self.backend)
        self.last_job = job
        diagnosis = job.result(args.host, timeout=args.timeout)
        self.diagnoses[args.host] = diagnosis
        self.plans[args.host] = plan(diagnosis)
        self.shown.pop(args.host, None)
        return diagnosis

    def plan(self, host: str) -> Any:
        """The plan of ``host``'s last remote diagnosis; showing it makes it the one an approval refers to."""
        plan = self.plans.get(host)
        if plan is None:
            raise fleet.FleetError(tr("Für {h} gibt es noch keinen Plan: erst {p} diagnose {h}.",
                                      "There is no plan for {h} yet: {p} diagnose {h} first.", h=host, p=self.prog))
        self.shown[host] = plan.id
        return plan

    def _plan(self, args: argparse.Namespace) -> Any:
        return self.plan(args.host)

    def _repair(self, args: argparse.Namespace) -> Any:
        plan = self.plans.get(args.host)
        if plan is None or self.shown.get(args.host) != plan.id:
            raise fleet.FleetError(tr("Für {h} wurde noch kein Plan gezeigt: erst {p} diagnose {h}, dann "
                                      "{p} plan {h} ansehen und danach freigeben.",
                                      "No plan has been shown for {h}: {p} diagnose {h}, review {p} plan {h}, "
                                      "then approve.", h=args.host, p=self.prog))
        job = fleet.queue(plan, args.approval, [args.host], confirm_high_risk=args.confirm, backend=self.backend)
        self.last_job = job
        return job

    def _jobs(self, args: argparse.Namespace) -> Any:
        return fleet.jobs(args.host, args.status, backend=self.backend)

    def _job(self, args: argparse.Namespace) -> Any:
        job = fleet.job(args.job_id, backend=self.backend)
        if args.wait:
            job.wait(args.wait)
        self.last_job = job
        return job

    def _cancel(self, args: argparse.Namespace) -> Any:
        return fleet.cancel(args.job_id, args.host, backend=self.backend)

    def _rollback(self, args: argparse.Namespace) -> Any:
        job = fleet.rollback(args.job_id, backend=self.backend)
        self.last_job = job
        return job

    def _drivers(self, args: argparse.Namespace) -> Any:
        return fleet.drivers(args.host, tag=args.tag, timeout=args.timeout, backend=self.backend)

    def _tags(self, args: argparse.Namespace) -> Any:
        return fleet.tags(backend=self.backend)

    def _tag(self, args: argparse.Namespace) -> Any:
        done = fleet.tag(args.hosts, args.tag, backend=self.backend)
        return tr("Tag {t}: neu bei {c}; jetzt {n} Rechner: {h}", "Tag {t}: added to {c}; now {n} host(s): {h}",
                  t=args.tag, c=", ".join(done["changed"]) or "–", n=len(done["hosts"]), h=", ".join(done["hosts"]))

    def _untag(self, args: argparse.Namespace) -> Any:
        done = fleet.untag(args.hosts, args.tag, backend=self.backend)
        return tr("Tag {t}: entfernt bei {c}; noch {n} Rechner: {h}", "Tag {t}: removed from {c}; {n} host(s) left: "
                  "{h}", t=args.tag, c=", ".join(done["changed"]) or "–", n=len(done["hosts"]),
                  h=", ".join(done["hosts"]) or "–")

    def _schedule(self, args: argparse.Namespace) -> Any:
        plan = self.plans.get(args.source)
        if plan is None or self.shown.get(args.source) != plan.id:
            raise fleet.FleetError(tr("Für {h} wurde noch kein Plan gezeigt: erst {p} diagnose {h}, dann {p} "
                                      "plan {h} ansehen; seine Schrittnummern gibt der Wartungsplan frei.",
                                      "No plan has been shown for {h}: {p} diagnose {h}, review {p} plan {h}; "
                                      "the schedule approves its step numbers.", h=args.source, p=self.prog))
        return fleet.schedule(plan, args.approval, tag=args.tag, rrule=args.rrule, window=args.window,
                              catch_up=args.catch_up, name=args.name, allow_high_risk=args.allow_high_risk,
                              allow_reboot=args.allow_reboot, replaces=args.replaces, backend=self.backend)

    def _schedules(self, args: argparse.Namespace) -> Any:
        return fleet.schedules(args.tag, backend=self.backend)

    def _occurrences(self, args: argparse.Namespace) -> Any:
        return fleet.occurrences(args.schedule_id, host=args.host, backend=self.backend)

    def _pause(self, args: argparse.Namespace) -> Any:
        return fleet.get_schedule(args.schedule_id, backend=self.backend).pause()

    def _resume(self, args: argparse.Namespace) -> Any:
        return fleet.get_schedule(args.schedule_id, backend=self.backend).resume()

    def _delete(self, args: argparse.Namespace) -> Any:
        return fleet.get_schedule(args.schedule_id, backend=self.backend).delete()

    def _report(self, args: argparse.Namespace) -> Any:
        report = fleet.report(args.tag, args.month, args.lang, backend=self.backend)
        if args.save:
            path = report.save(args.save)
            return tr("Wartungsbericht gespeichert: {p}", "Maintenance report saved: {p}", p=path)
        return report

    def _key(self, args: argparse.Namespace) -> Any:
        key = fleet.signing_key()
        return tr("Öffentlicher Schlüssel: {p}\nSchlüssel-ID: {k}\nAuf dem Rechner: techcare sensor trust add {p}",
                  "Public key: {p}\nKey id: {k}\nOn the host: techcare sensor trust add {p}", p=key.public_key,
                  k=key.key_id)


_desk: FleetDesk | None = None


def get_desk() -> FleetDesk:
    """The desk of this process (the shell's magics and REPL share it)."""
    global _desk
    if _desk is None:
        _desk = FleetDesk()
    return _desk


def _gate(shell: Any) -> None:
    """The session timeout applies to remote work as to local repairs."""
    from .session import get_session

    lock = get_session().lock
    if lock is None:
        return
    if shell is not None and shell.__class__.__name__ != "TerminalInteractiveShell":
        lock.check(None)
    else:
        import getpass

        lock.check(getpass.getpass)


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%fleet`` (called by ``%load_ext techcare``; registering again replaces it)."""
    from IPython.core.error import UsageError

    def fleet_magic(line: str) -> Any:
        """Remote jobs on the organisation's PCs (signed here, checked by each host).

        %fleet                                   hosts
        %fleet diagnose HOST                     remote diagnosis
        %fleet plan HOST                         its repair plan
        %fleet repair HOST GO REPAIR: 1,2        queue the approved steps (--confirm for high-risk ones)
        %fleet jobs | job ID | cancel ID | rollback ID | key
        %fleet diagnose --tag TAG | drivers --tag TAG   every host of a tag
        %fleet tags | tag HOST... TAG | untag HOST... TAG
        %fleet schedule TAG RRULE --from HOST GO REPAIR: 1,2 [--window 2h]   signed maintenance schedule
        %fleet schedules | occurrences ID | pause ID | resume ID | delete ID
        %fleet report TAG [YYYY-MM] [--lang en] [--save FILE]
        """
        try:
            args = parse(line)  # usage errors before the session gate
        except FleetUsageError as exc:
            raise UsageError(str(exc)) from None
        _gate(ipython)
        result = get_desk().execute(args)
        if args.command == "plan" and ipython.__class__.__name__ == "TerminalInteractiveShell":
            result.show()  # the numbered steps an approval refers to (a notebook renders the plan's table itself)
            return None
        return result

    ipython.register_magic_function(fleet_magic, magic_kind="line", magic_name="fleet")
