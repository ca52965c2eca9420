"""IPython magics: ``%techcare`` (chat), ``%repair``, ``%drivers``, ``%diagnose``, ``%sensor``, ``%changelog``, ``%unlock``.

Load with ``%load_ext techcare`` (idempotent). Configure with ``%config TechCareMagics.language = 'en'``,
``%config TechCareMagics.streaming = False``, ``%config TechCareMagics.dry_run = True``.

Rules: magics return objects (Reply, Plan, DataFrames) instead of printing; misuse raises ``UsageError`` with the
usage line; TechCare errors render as one line and fail the cell; nothing ever calls ``input()`` in a kernel —
approval is its own cell (``%repair GO REPAIR: 1,3``) and high-risk steps are confirmed with ``--confirm``.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Enum, observe

from .i18n import set_language, tr
from .session import get_session

__all__ = ["TechCareMagics", "load_ipython_extension", "unload_ipython_extension"]



def _repair_usage() -> str:
    return tr("%repair                      aktuellen Plan zeigen\n"
              "%repair GO REPAIR: 1,3       freigegebene Schritte ausführen (--confirm für Hochrisiko-Schritte)\n"
              "%repair --dry-run 1,2        zeigen, was Schritte 1 und 2 tun würden, nichts ausführen\n"
              "%repair --undo               den letzten Lauf rückgängig machen",
              "%repair                      show the current plan\n"
              "%repair GO REPAIR: 1,3       run the approved steps (add --confirm for high-risk steps)\n"
              "%repair --dry-run 1,2        show what steps 1 and 2 would do, run nothing\n"
              "%repair --undo               roll back the last run")


def _in_kernel(shell: Any) -> bool:
    return shell is not None and shell.__class__.__name__ != "TerminalInteractiveShell"


@magics_class
class TechCareMagics(Magics):
    language = Enum(["de", "en"], default_value=None, allow_none=True, config=True,
                    help="Language of TechCare's answers (de|en); None follows TECHCARE_LANG.")
    streaming = Bool(True, config=True, help="Stream assistant answers while they arrive.")
    dry_run = Bool(False, config=True, help="Make %repair GO REPAIR only show what would run.")

    @observe("language")
    def _language_changed(self, change: dict[str, Any]) -> None:
        set_language(change["new"])

    # ---- helpers -------------------------------------------------------------------------------------------
    @property
    def session(self):
        return get_session()

    def _gate(self) -> None:
        """Session timeout: in a terminal ask for the password; in a kernel refuse until %unlock."""
        lock = self.session.lock
        if lock is None:
            return
        if _in_kernel(self.shell):
            lock.check(None)
        else:
            import getpass

            lock.check(getpass.getpass)

    # ---- chat ----------------------------------------------------------------------------------------------
    @no_var_expand
    @line_cell_magic
    def techcare(self, line: str, cell: str | None = None):
        """Chat with the TechCare assistant: ``%techcare Windows Update funktioniert nicht`` or ``%%techcare``.
        ``%techcare plugins`` lists the plugins (a DataFrame); ``%techcare plugins new NAME [--dir DIR]`` writes a
        new plugin package."""
        words = line.split()
        if cell is None and words[:1] == ["plugins"] and (words[1:] in ([], ["list"]) or words[1:2] == ["new"]):
            return self._plugins(words[1:])  # anything else after "plugins" is a chat message
        message = (cell if cell is not None else line).strip()
        if cell is not None and line.strip():
            message = f"{line.strip()}\n{cell.strip()}"
        if not message:
            raise UsageError(tr("%techcare <Nachricht>   oder   %%techcare (Zelle = Nachricht)",
                                "%techcare <message>   or   %%techcare (cell = message)"))
        self._gate()
        if self.streaming and _in_kernel(self.shell):  # the terminal shows the whole Reply (text + plan) instead
            from IPython.display import Markdown, display

            handle = display(Markdown("…"), display_id=True)
            parts: list[str] = []

            def on_text(chunk: str) -> None:
                parts.append(chunk)
                if handle is not None:
                    handle.update(Markdown("".join(parts)))

            reply = self.session.ask(message, on_text=on_text)
            if handle is not None:
                handle.update(Markdown(" "))
            return reply
        return self.session.ask(message)

    def _plugins(self, words: list[str]):
        from . import plugins

        usage = tr("%techcare plugins                     Plugins auflisten\n"
                   "%techcare plugins new NAME [--dir D]  ein neues Plugin-Paket anlegen",
                   "%techcare plugins                     list the plugins\n"
                   "%techcare plugins new NAME [--dir D]  write a new plugin package")
        self._gate()
        if words in ([], ["list"]):
            return plugins.frame()
        if words[:1] == ["new"] and len(words) in (2, 4) and (len(words) == 2 or words[2] == "--dir"):
            return plugins.new(words[1], words[3] if len(words) == 4 else ".")
        raise UsageError(tr("Unbekannte Argumente {w!r}\n{u}", "unknown arguments {w!r}\n{u}", w=" ".join(words),
                            u=usage))

    # ---- repairs ---------------------------------------------------------------------------------------------
    @no_var_expand
    @line_magic
    def repair(self, line: str):
        """Review and run repairs. Usage:

        %repair                      show the current plan
        %repair GO REPAIR: 1,3       run the approved steps (add --confirm for high-risk steps)
        %repair --dry-run 1,2        show what steps 1 and 2 would do, run nothing
        %repair --undo               roll back the last run
        """
        text = line.strip()
        self._gate()
        if not text:
            return self.session.show_plan()
        tokens = text.split()
        if tokens[0] == "--undo":
            if len(tokens) > 1:
                raise UsageError(tr("%repair --undo nimmt keine Argumente\n{u}", "%repair --undo takes no arguments\n{u}",
                                       u=_repair_usage()))
            return self.session.undo()
        confirm_high_risk = "--confirm" in tokens
        tokens = [t for t in tokens if t != "--confirm"]
        dry = self.dry_run
        if tokens and tokens[0] == "--dry-run":
            dry = True
            tokens = tokens[1:]
            if not tokens:
                raise UsageError(tr("%repair --dry-run braucht Schrittnummern, z.B. 1,2\n{u}",
                                   "%repair --dry-run needs step numbers, e.g. 1,2\n{u}", u=_repair_usage()))
            approval_text = "GO REPAIR: " + " ".join(tokens)
        elif tokens and tokens[0].upper() == "GO":
            approval_text = " ".join(tokens)
        else:
            raise UsageError(tr("Unbekannte %repair-Argumente: {t!r}\n{u}", "unknown %repair arguments: {t!r}\n{u}",
                                t=text, u=_repair_usage()))
        bad = [t for t in tokens if t.startswith("--")]
        if bad:
            raise UsageError(tr("Unbekannte Option {o}\n{u}", "unknown option {o}\n{u}", o=bad[0], u=_repair_usage()))
        plan = self.session.plan
        if plan is None:
            raise UsageError(tr("Kein Plan vorhanden – erst %techcare oder %diagnose.",
                                "No plan yet – use %techcare or %diagnose first."))

        def confirm(step: Any) -> bool:
            return confirm_high_risk

        return self.session.run(approval_text, dry_run=dry, confirm=confirm)

    @line_magic
    def changelog(self, line: str):
        """The repair changelog as a DataFrame."""
        if line.strip():
            raise UsageError(tr("%changelog nimmt keine Argumente", "%changelog takes no arguments"))
        return self.session.changelog()

    # ---- drivers & diagnosis ------------------------------------------------------------------------------------
    @magic_arguments()
    @argument("--updates", action="store_true", help="nur Treiber mit Update / only drivers with an available update")
    @argument("--refresh", action="store_true", help="Inventar neu erheben / run the inventory again")
    @argument("--snapshot", metavar="FILE", help="Treiber eines Snapshots / drivers of a captured machine")
    @line_magic
    def drivers(self, line: str):
        """Driver inventory as a DataFrame: ``df = %drivers``, ``%drivers --updates``."""
        args = parse_argstring(self.drivers, line)
        self._gate()
        return self.session.drivers(updates=args.updates, refresh=args.refresh, snapshot=args.snapshot)

    @magic_arguments()
    @argument("--snapshot", metavar="FILE", help="einen Snapshot diagnostizieren / diagnose a captured machine")
    @line_magic
    def diagnose(self, line: str):
        """Diagnose this machine (read-only) or a snapshot; returns a Diagnosis (``.findings`` is a DataFrame)."""
        args = parse_argstring(self.diagnose, line)
        self._gate()
        if args.snapshot is not None and str(args.snapshot) != self.session.snapshot:
            self.session.use_snapshot(args.snapshot)
        self.session.runner  # noqa: B018 - loads the snapshot: a bad file fails before a progress bar is shown
        progress = None
        if _in_kernel(self.shell):
            from .widgets import diagnosis_progress

            progress = diagnosis_progress()
        return self.session.diagnose(snapshot=args.snapshot, progress=progress)

    @magic_arguments()
    @argument("--history", metavar="HOST", help="Verlauf von HOST aus dem Backend / history of HOST from the backend")
    @argument("--since", metavar="ISO", help="Beginn (ISO-Zeit) / start of the history (ISO time)")
    @argument("--until", metavar="ISO", help="Ende (ISO-Zeit) / end of the history (ISO time)")
    @argument("--resolution", choices=("raw", "hour", "day"),
              help="raw, hour oder day statt der vom Zeitraum gewählten / instead of the one the range calls for")
    @argument("--no-plot", action="store_true", help="kein Diagramm zeichnen / do not draw the history chart")
    @line_magic
    def sensor(self, line: str):
        """The current sensor sample, or ``--history HOST`` from the backend as a DataFrame with a plot (every sample
        for up to 2 days, hourly or daily min/avg/max beyond: ``frame.attrs["resolution"]``)."""
        args = parse_argstring(self.sensor, line)
        self._gate()
        from . import monitoring

        if not args.history:
            if args.since or args.until or args.resolution:
                raise UsageError(tr("--since/--until/--resolution nur zusammen mit --history HOST",
                                      "--since/--until/--resolution only with --history HOST"))
            from .widgets import SampleView

            # %sensor only looks: the sample is shown, not sent (the sensor service sends); the view says so
            return SampleView(monitoring.current_sample(runner=self.session.runner), sent=False)
        frame = monitoring.history(args.history, since=args.since, until=args.until, resolution=args.resolution)
        if not args.no_plot and len(frame):
            monitoring.plot_history(frame, title=args.history)
        return frame

    @line_magic
    def unlock(self, line: str):
        """Unlock a timed-out session with the technician password."""
        import getpass

        lock = self.session.lock
        if lock is None or not lock.locked:
            return None
        from .auth import ask_password

        ask_password(lock.password_hash, getpass.getpass)
        lock.touch()
        return None


_loaded: dict[int, TechCareMagics] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics once per shell; loading again is a no-op."""
    if id(ipython) in _loaded:
        return
    magics = TechCareMagics(shell=ipython)
    ipython.register_magics(magics)
    from .fleet_magic import load_ipython_extension as load_fleet_magic  # %fleet: remote jobs

    load_fleet_magic(ipython)
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)
    _loaded[id(ipython)] = magics
    ipython.user_ns.setdefault("tc", get_session())
    from .shell import _on_extension_load

    _on_extension_load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    _loaded.pop(id(ipython), None)


