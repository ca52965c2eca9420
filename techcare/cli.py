"""The ``techcare`` command. Thin: parse arguments, call one public function, display the result.

Import cost matters (``techcare --version`` must be instant on a slow customer PC), so everything heavy is
imported inside the command functions.

Help texts and usage errors speak the configured language (``TECHCARE_LANG`` from the environment or ``.env``,
German by default), argparse's own words included: every parser is a :class:`techcare.i18n_argparse.Parser`.

The technician password (when ``TECHNICIAN_PASSWORD_HASH`` is set) guards everything that shows customer data or
changes the machine; :func:`techcare.auth.require_password` asks for it (3 tries on a terminal; without one the
password comes from ``TECHCARE_PASSWORD`` or the command is refused):

=============================================  ========  ====================================================
command                                        password  why
=============================================  ========  ====================================================
``--version``, ``--help``, ``<cmd> --help``    no        shows nothing of the machine or the customer
``doctor``                                     no        configuration and connection checks; prints no secret
``license`` (without ``--repin``)              no        the license state of this installation
``license --repin``                            yes       changes which signing keys are trusted
(no command: the shell / ``--plain`` REPL)     yes       asked by the start sequence, again after the timeout
``diagnose``, ``snapshot save|info``           yes       customer machine data (also of a replayed snapshot)
``report``                                     yes       the customer repair report and changelog
``drivers``                                    yes       the hardware inventory; installs driver updates
``sensor``, ``service``                        yes       sends machine data, trusts job signers, installs a service
``fleet``                                      yes       the technician's signing key, remote jobs on hosts
``setup``                                      yes       rewrites the configuration, the password among it
``plugins``, ``plugins new NAME``              yes       loads plugin code (it runs with your rights); writes files
``--set-password``                             current   a new password only with the current one
``--uninstall`` (also with ``--yes``)          yes       ``--yes`` skips the confirmation, never the password
any other subcommand                           yes       closed unless it is listed open in :data:`OPEN_COMMANDS`
=============================================  ========  ====================================================
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ._version import __version__
from .i18n_argparse import Parser, translate

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _tr(de: str, en: str) -> str:
    from .i18n import tr

    return tr(de, en)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _print_error(exc: BaseException) -> None:
    """One red line; the message is data (it may contain [brackets]) and is never read as markup."""
    from rich.text import Text

    _console(stderr=True).print(Text("✖ ", style="bold red") + Text(str(exc)), soft_wrap=True)


# ---- commands ----------------------------------------------------------------------------------------------

def cmd_diagnose(args: argparse.Namespace) -> int:
    from .diagnosis import diagnose

    if args.json:
        from .system.records import json_visible  # C1 controls in the machine's words: escaped, same JSON

        result = diagnose(snapshot=args.snapshot)
        print(json_visible(result.to_json()))
        return EXIT_OK
    console = _console()
    from .system import PROBES

    probes = list(PROBES)
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task(_tr("Prüfe das System …", "Checking the system …"), total=len(probes))

        def done(name: str, _result: Any) -> None:
            progress.update(task, advance=1, description=name)

        result = diagnose(snapshot=args.snapshot, progress=done)
    console.print(result)
    return EXIT_OK


def cmd_snapshot(args: argparse.Namespace) -> int:
    from .diagnosis import save_snapshot
    from .system.snapshot import load_snapshot

    if args.action == "save":
        snap = save_snapshot(args.file)
        print(_tr(f"Snapshot gespeichert: {args.file} ({len(snap.entries)} Einträge)",
                  f"Snapshot saved: {args.file} ({len(snap.entries)} entries)"))
    else:
        snap = load_snapshot(args.file)
        commands = sum(1 for e in snap.entries if e.kind == "cmd")
        from .i18n import tr
        from .system.records import visible  # the file's words are shown, never obeyed by the terminal

        print(tr("{f}: {p} {h} {c} ({e} Einträge, {n} Befehle, aufgenommen mit {t})",
                 "{f}: {p} {h} {c} ({e} entries, {n} commands, captured by {t})", f=visible(args.file), p=snap.platform,
                 h=visible(snap.hostname, 255), c=visible(snap.created, 64), e=len(snap.entries), n=commands,
                 t=visible(snap.capture.get("tool", "?"), 200)))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from .repairs import report

    result = report(session=args.session, lang=args.lang, out_dir=args.out)
    print(_tr("Reparaturprotokoll geschrieben:", "Repair report written:"))
    print(f"  {result.markdown_path}")
    print(f"  {result.html_path}")
    return EXIT_OK


def cmd_setup(args: argparse.Namespace) -> int:
    from .setup_wizard import run_setup

    answers = {name: getattr(args, name) for name in ("name", "company", "edition", "license_key", "anthropic_api_key",
                                                        "network_method", "backend_url", "learning_db_url", "password",
                                                        "briefing")}
    run_setup(env_file=args.env_file, interactive=not args.non_interactive, answers=answers,
              validate_license=_license_validator())
    return EXIT_OK


def _license_validator():
    try:
        from .license import validate_for_setup
    except ImportError:
        return None
    return validate_for_setup


def _set_password() -> int:
    import getpass

    from .auth import set_password

    set_password(getpass.getpass)
    print(_tr("Passwort gespeichert (bcrypt-Hash in .env).", "Password saved (bcrypt hash in .env)."))
    return EXIT_OK


def _uninstall(yes: bool) -> int:
    from .uninstall import uninstall

    uninstall(yes=yes)
    return EXIT_OK


def cmd_fleet(args: argparse.Namespace) -> int:
    """``techcare fleet key``: this technician's public signing key and key id, to pin on the sensor hosts."""
    from .fleet import signing_key

    key = signing_key()
    print(_tr("Öffentlicher Schlüssel (auf den Sensor-Rechnern hinterlegen):",
              "Public key (pin it on the sensor hosts):"))
    print(f"  {key.public_key}")
    print(_tr(f"Schlüssel-ID: {key.key_id}", f"Key id: {key.key_id}"))
    print(_tr(f"Privater Schlüssel: {key.path} (bleibt auf diesem Rechner)",
              f"Private key: {key.path} (stays on this machine)"))
    print(_tr(f"Auf dem Rechner: techcare sensor trust add {key.public_key} --name \"…\"",
              f"On the host: techcare sensor trust add {key.public_key} --name \"...\""))
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    """``techcare plugins`` lists the plugins (what each adds, risk levels, loaded or why not);
    ``techcare plugins new NAME`` writes a plugin package that passes its own test."""
    from . import plugins

    if args.plugins_command == "new":
        folder = plugins.new(args.name, args.dir)
        print(_tr(f"Plugin-Paket angelegt: {folder}", f"Plugin package written: {folder}"))
        print(_tr(f"  Testen: cd {folder} && python -m pytest", f"  Test it: cd {folder} && python -m pytest"))
        print(_tr(f"  Benutzen: src/{args.name.replace('-', '_')}.py nach {plugins.plugin_dir()} kopieren oder "
                  "pip install . (docs/plugins.md)",
                  f"  Use it: copy src/{args.name.replace('-', '_')}.py to {plugins.plugin_dir()} or pip install . "
                  "(docs/plugins.md)"))
        return EXIT_OK
    if args.json:
        import json

        from .system.records import json_visible

        print(json_visible(json.dumps([info.to_dict() for info in plugins.installed()], ensure_ascii=False, indent=2)))
        return EXIT_OK
    _console().print(plugins.render())
    return EXIT_OK


# ---- parser --------------------------------------------------------------------------------------------------

class _Parser(Parser):
    """``techcare``'s parser class, also of its subcommands: argparse in the active language
    (:mod:`techcare.i18n_argparse`); a usage error ends with ``techcare: MESSAGE`` and exits with 2."""

    def error_line(self, message: str) -> str:
        return f"{self.prog}: {translate(message)}"


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def build_parser() -> argparse.ArgumentParser:
    """The ``techcare`` parser, its texts in the active language (``TECHCARE_LANG``, default German)."""
    from .i18n import tr

    parser = _Parser(prog="techcare", description=tr(
        "TechCare – Diagnose, Treiber, freigegebene Reparaturen mit Rollback, KI-Assistent. Ohne Befehl (COMMAND) "
        "startet die TechCare-Shell.",
        "TechCare – diagnosis, drivers, approved repairs with rollback, AI assistant. Without a COMMAND the "
        "TechCare shell starts."), epilog=tr(
        "Hilfe zu einem Befehl: techcare COMMAND --help. Sprache: TECHCARE_LANG=de|en.",
        "Help on a command: techcare COMMAND --help. Language: TECHCARE_LANG=de|en."))
    parser.add_argument("--version", action="version", version=f"techcare {__version__}")
    parser.add_argument("--plain", action="store_true", help=tr("einfache Chat-REPL statt der IPython-Shell",
                                                                "plain chat REPL instead of the IPython shell"))
    parser.add_argument("--approve", metavar="'GO REPAIR: 1,2'", help=tr(
        "mit --plain ohne Terminal: die Freigabe, die Skripte ausführen dürfen",
        "with --plain and no terminal: the approval scripts may run"))
    parser.add_argument("--snapshot", metavar="FILE", help=tr("die Shell auf einem aufgezeichneten Rechner starten",
                                                              "start the shell on a captured machine"))
    parser.add_argument("--set-password", action="store_true", help=tr("Technikerpasswort setzen oder ändern",
                                                                       "set or change the technician password"))
    parser.add_argument("--uninstall", action="store_true", help=tr(
        ".env, data/ und ~/.techcare/ löschen (fragt vorher)", "delete .env, data/ and ~/.techcare/ (asks first)"))
    parser.add_argument("--yes", action="store_true", help=tr("mit --uninstall: nicht fragen",
                                                              "with --uninstall: do not ask"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, de: str, en: str, **kwargs: Any) -> argparse.ArgumentParser:
        text = tr(de, en)
        return sub.add_parser(name, help=text, description=text[:1].upper() + text[1:] + ".", **kwargs)

    p = command("diagnose", "diesen Rechner (nur lesend) oder einen Snapshot diagnostizieren",
                "diagnose this machine (read-only) or a snapshot")
    p.add_argument("--snapshot", metavar="FILE", help=tr("einen Snapshot abspielen statt diesen Rechner abzufragen",
                                                         "replay a snapshot instead of probing this machine"))
    p.add_argument("--json", action="store_true", help=tr("JSON {host, os, findings} ausgeben",
                                                          "print JSON {host, os, findings}"))
    COMMANDS["diagnose"] = cmd_diagnose

    p = command("snapshot", "die Rohausgaben aller Abfragen dieses Rechners in eine Datei aufzeichnen oder eine "
                "ansehen", "capture this machine's raw probe outputs to a file, or inspect one")
    p.add_argument("action", choices=["save", "info"], help=tr(
        "save: diesen Rechner aufzeichnen; info: was die Datei enthält",
        "save: capture this machine; info: what the file holds"))
    p.add_argument("file", metavar="FILE", help=tr("die Snapshot-Datei", "the snapshot file"))
    COMMANDS["snapshot"] = cmd_snapshot

    command("drivers", "Treiber-Inventar und verfügbare Updates (techcare drivers --help)",
            "driver inventory and available updates (techcare drivers --help)")
    command("sensor", "Sensor-Modus: Messwerte erfassen und senden, signierte Fernaufträge ausführen; hinterlegte "
            "Signaturschlüssel: techcare sensor trust list|add|remove (techcare sensor --help)",
            "sensor mode: sample and send metrics, run signed remote jobs; pinned signer keys: "
            "techcare sensor trust list|add|remove (techcare sensor --help)")
    command("service", "den Sensor als Dienst des Betriebssystems einrichten/entfernen/starten/stoppen",
            "install/uninstall/start/stop the sensor as an OS service")
    command("doctor", "Konfiguration, Netzwerk, TLS, Backend, Lizenz, Uhr und Spool prüfen",
            "check configuration, network, TLS, backend, license, clock and spool")
    command("license", "die Lizenz online prüfen oder die zwischengespeicherte zeigen",
            "validate the license online or show the cached lease")

    p = command("report", "das Reparaturprotokoll für den Kunden als HTML und Markdown schreiben",
                "write the customer repair report (Reparaturprotokoll) as HTML and Markdown")
    p.add_argument("--session", help=tr("ID der Änderungsprotokoll-Sitzung (Standard: die neueste)",
                                        "changelog session id (default: the latest)"))
    p.add_argument("--lang", choices=["de", "en"], help=tr("Sprache des Protokolls (Standard: TECHCARE_LANG)",
                                                           "report language (default: TECHCARE_LANG)"))
    p.add_argument("--out", metavar="DIR", help=tr("wohin die Dateien kommen (Standard: neben das "
                                                   "Änderungsprotokoll)",
                                                   "where to write the files (default: next to the changelog)"))
    COMMANDS["report"] = cmd_report

    p = command("fleet", "Fernaufträge: 'techcare fleet key' zeigt den öffentlichen Signaturschlüssel, der auf den "
                "Rechnern hinterlegt wird", "remote jobs: 'techcare fleet key' prints the public signing key to "
                "pin on hosts")
    fleet_sub = p.add_subparsers(dest="fleet_command", metavar="ACTION", required=True, parser_class=_Parser)
    fleet_sub.add_parser("key", help=tr("öffentlicher Schlüssel und Schlüssel-ID dieses Technikers (beim ersten "
                                        "Aufruf erzeugt)",
                                        "this technician's public key and key id (created on first use)"))
    COMMANDS["fleet"] = cmd_fleet

    p = command("plugins", "eigene Werkzeug-Plugins: auflisten (was jedes hinzufügt, geladen oder warum nicht); "
                "'techcare plugins new NAME' legt ein neues Plugin-Paket an",
                "custom tool plugins: list them (what each adds, loaded or why not); "
                "'techcare plugins new NAME' writes a new plugin package")
    p.add_argument("--json", action="store_true", help=tr("die Liste als JSON ausgeben", "print the list as JSON"))
    plugins_sub = p.add_subparsers(dest="plugins_command", metavar="ACTION", parser_class=_Parser)
    plugins_sub.add_parser("list", help=tr("die Plugins auflisten (Standard)", "list the plugins (the default)"))
    new = plugins_sub.add_parser("new", help=tr(
        "ein minimales Plugin-Paket anlegen (eine Prüfung, eine Aktion mit Rückgängig, ein Test), das seinen "
        "eigenen Test besteht",
        "write a minimal plugin package (one check, one action with undo, one test) that passes its own test"))
    new.add_argument("name", metavar="NAME", help=tr(
        "Name des Plugins: Kleinbuchstaben, Ziffern, - und _ (z. B. acme-lob)",
        "plugin name: lowercase letters, digits, - and _ (e.g. acme-lob)"))
    new.add_argument("--dir", default=".", metavar="DIR", help=tr(
        "wo der Ordner NAME angelegt wird (Standard: hier)", "where to create the folder NAME (default: here)"))
    COMMANDS["plugins"] = cmd_plugins

    p = command("setup", "der Einrichtungsassistent (läuft auch beim ersten Start)",
                "the setup wizard (also runs on the first start)")
    p.add_argument("--non-interactive", action="store_true", help=tr(
        "jede Antwort aus den Optionen/der Umgebung nehmen", "take every answer from flags/environment"))
    p.add_argument("--env-file", metavar="FILE", help=tr("diese Datei schreiben statt ./.env",
                                                         "write this file instead of ./.env"))
    for flag, de, en in (
            ("name", "Name des Technikers", "technician name"),
            ("company", "Firmenname", "company name"),
            ("edition", "Edition: community|pro|pro_business|enterprise",
             "edition: community|pro|pro_business|enterprise"),
            ("license-key", "Lizenzschlüssel: TECHCARE-<EDITION>-<CODE>", "license key: TECHCARE-<EDITION>-<CODE>"),
            ("anthropic-api-key", "Anthropic-API-Schlüssel", "Anthropic API key"),
            ("network-method", "Netzwerkweg: cloudflare|tailscale|vpn|direct",
             "network method: cloudflare|tailscale|vpn|direct"),
            ("backend-url", "Adresse des Backends: https://...", "backend URL: https://..."),
            ("learning-db-url", "Enterprise: Adresse der Lerndatenbank", "Enterprise: database URL"),
            ("password", "Technikerpasswort (besser: TECHCARE_SETUP_PASSWORD)",
             "technician password (prefer TECHCARE_SETUP_PASSWORD)"),
            ("briefing", "Briefing für den Assistenten", "briefing for the assistant")):
        p.add_argument(f"--{flag}", help=tr(de, en))
    COMMANDS["setup"] = cmd_setup
    return parser


def _apply_settings() -> None:
    """Load and validate the settings (ConfigError -> exit 2) and switch to the configured language."""
    from .config import get_settings
    from .i18n import set_language

    settings = get_settings()
    if "TECHCARE_LANG" not in os.environ:
        set_language(settings.techcare_lang)


def _configured_language(argv: Sequence[str]) -> None:
    """Help and usage errors in the configured language: ``TECHCARE_LANG`` from the environment (``tr`` reads it
    itself), else from the settings (``.env``). A setting that does not validate is reported by the command that
    needs it (exit 2), not here: the parser then speaks German. ``--version`` stays instant."""
    if "TECHCARE_LANG" in os.environ or list(argv) == ["--version"]:
        return
    from .config import load_settings
    from .errors import TechCareError
    from .i18n import set_language

    try:
        set_language(load_settings().techcare_lang)
    except TechCareError:
        pass


#: Subcommands that run without the technician password (see the table in the module docstring); every other one,
#: also one added later, asks for it. ``license --repin`` changes the trusted keys and is not open.
OPEN_COMMANDS = frozenset({"doctor", "license"})


def _require_password(command: str, rest: Sequence[str] = (), *, env_file: str | None = None) -> None:
    """The password gate of one subcommand (``rest``: its arguments); raises AuthError when not given."""
    if any(arg in ("-h", "--help") for arg in rest):
        return
    if command in OPEN_COMMANDS and not (command == "license" and "--repin" in rest):
        return
    from .auth import configured_hash, require_password

    require_password(configured_hash(env_file))


# Subcommands with their own argument parser: everything after the name is passed through unchanged.
PASSTHROUGH: dict[str, str] = {"drivers": "techcare.tools.drivers", "sensor": "techcare.monitoring.sensor",
                                "doctor": "techcare.doctor", "license": "techcare.license",
                                "service": "techcare.monitoring.service"}


def _passthrough(name: str, rest: list[str]) -> int:
    from importlib import import_module

    from .errors import TechCareError

    try:
        _apply_settings()
        _require_password(name, rest)
        return int(import_module(PASSTHROUGH[name]).main(rest) or 0)
    except TechCareError as exc:
        _print_error(exc)
        return exc.exit_code
    except (EOFError, KeyboardInterrupt):
        print(_tr("Abgebrochen.", "Cancelled."), file=sys.stderr)
        return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASSTHROUGH:
        return _passthrough(argv[0], argv[1:])
    _configured_language(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    from .errors import TechCareError

    try:
        if args.set_password:
            return _set_password()
        if args.uninstall:
            return _uninstall(args.yes)
        if args.command is None:
            from .shell import start

            return start(plain=args.plain, approve=args.approve, snapshot=args.snapshot)
        if args.command == "setup":
            _require_password("setup", env_file=args.env_file)
            return cmd_setup(args)
        _apply_settings()
        _require_password(args.command)
        return COMMANDS[args.command](args)
    except TechCareError as exc:
        _print_error(exc)
        return exc.exit_code
    except EOFError:
        print(_tr("Abgebrochen (keine Eingabe).", "Cancelled (no input)."), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(_tr("Abgebrochen.", "Interrupted."), file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
