"""argparse in the user's language: the parser class of every TechCare command line.

argparse writes its own words in English ("usage:", "options:", "show this help message and exit", its error
messages). Its gettext hook (``gettext.gettext``) follows the process-wide gettext domain and the locale
variables, not ``TECHCARE_LANG``, and changing it would change every other parser in the process too (pytest's,
IPython's). So :class:`Parser` gives its own parsers the German words, and nothing else is touched:

* ``usage:``: the prefix :class:`HelpFormatter` passes to ``add_usage``;
* ``positional arguments:`` / ``options:``: the titles of the parser's two default groups;
* ``-h/--help`` and ``--version``: their help texts, given when the argument is added;
* error messages: argparse formats them in English before it calls :meth:`Parser.error`; :func:`translate`
  turns them into German with the table :data:`ERRORS`, keyed by argparse's own message templates (its gettext
  msgids), so the values in them (what was typed, the allowed choices) stay as they are. A message the table does
  not know stays English.

The language is the active one (:func:`techcare.i18n.get_language`) when the parser is built (titles, help texts)
and when the error happens. The own texts of a command line (descriptions, help of each argument) are written with
``tr("deutsch", "english")`` where the argument is added. Subparsers are of the same class (argparse's default).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from .i18n import get_language, tr

__all__ = ["ERRORS", "HelpFormatter", "Parser", "translate"]

_Text = str | Callable[[dict[str, str]], str]

#: argparse's message templates (its gettext msgids, Python 3.11+) and their German form: a ``str.format``
#: template over the template's fields (``%s`` is field ``0``), or a function of the fields.
ERRORS: dict[str, _Text] = {
    "argument %(argument_name)s: %(message)s": "Argument {argument_name}: {message}",
    "unrecognized arguments: %s": "unbekannte Angaben: {0}",
    "the following arguments are required: %s": "es fehlt: {0}",
    "one of the arguments %s is required": "eine der Angaben {0} ist nötig",
    "not allowed with argument %s": "nicht zusammen mit {0} erlaubt",
    "ignored explicit argument %r": "Wert {0} hier nicht erlaubt",
    "invalid choice: %(value)r (choose from %(choices)s)": "ungültige Auswahl: {value} (möglich: {choices})",
    "invalid %(type)s value: %(value)r": lambda f: {"int": "keine ganze Zahl: {value}",
                                                    "float": "keine Zahl: {value}"}.get(
        f["type"], "ungültiger Wert ({type}): {value}").format(**f),
    "expected one argument": "erwartet einen Wert",
    "expected at most one argument": "erwartet höchstens einen Wert",
    "expected at least one argument": "erwartet mindestens einen Wert",
    "expected %s argument": "erwartet {0} Wert",
    "expected %s arguments": "erwartet {0} Werte",
    "ambiguous option: %(option)s could match %(matches)s": "mehrdeutige Option: {option} passt zu {matches}",
    "unknown parser %(parser_name)r (choices: %(choices)s)": "unbekannter Befehl {parser_name} (möglich: {choices})",
    "can't open '%(filename)s': %(error)s": "{filename} lässt sich nicht öffnen: {error}",
    "unexpected option string: %s": "unerwartete Option: {0}",
}

_FIELD = re.compile(r"%(?:\((\w+)\))?[sr]")


def _pattern(template: str) -> re.Pattern[str]:
    """``'invalid choice: %(value)r (...)'`` -> a regex with one named group per field (``%s`` is ``_0``)."""
    parts, last, unnamed = [], 0, 0
    for match in _FIELD.finditer(template):
        parts.append(re.escape(template[last:match.start()]))
        name = match.group(1)
        if name is None:
            name, unnamed = f"_{unnamed}", unnamed + 1
        parts.append(f"(?P<{name}>.+?)")
        last = match.end()
    parts.append(re.escape(template[last:]))
    return re.compile(r"\A" + "".join(parts) + r"\Z", re.DOTALL)


_PATTERNS = [(_pattern(template), german) for template, german in ERRORS.items()]


def translate(message: str, lang: str | None = None) -> str:
    """argparse's English error ``message`` in ``lang`` (default: the active language)."""
    if (lang or get_language()) == "en":
        return message
    for pattern, german in _PATTERNS:
        match = pattern.match(message)
        if match is None:
            continue
        fields = {name.removeprefix("_"): value for name, value in match.groupdict().items()}
        if "message" in fields:  # "argument X: <a message of its own>"
            fields["message"] = translate(fields["message"], "de")
        if callable(german):
            return german(fields)
        return german.format(fields.get("0", ""), **{k: v for k, v in fields.items() if k != "0"})
    return message


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter with ``usage:`` in the active language."""

    def add_usage(self, usage: str | None, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, tr("Aufruf: ", "usage: ") if prefix is None else prefix)


class RawDescriptionHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The same, keeping the description's and epilog's line breaks."""


class Parser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` that speaks the active language (see the module docstring).

    A usage error prints the usage and ``PROG: Fehler: MESSAGE`` (``error:`` in English) and exits with 2.
    """

    def __init__(self, *args: Any, add_help: bool = True, formatter_class: type = HelpFormatter,
                 **kwargs: Any) -> None:
        super().__init__(*args, add_help=False, formatter_class=formatter_class, **kwargs)
        self._positionals.title = tr("Positionsargumente", "positional arguments")
        self._optionals.title = tr("Optionen", "options")
        if add_help:  # as argparse adds it, with the help text in the active language
            prefix = "-" if "-" in self.prefix_chars else self.prefix_chars[0]
            self.add_argument(prefix + "h", prefix * 2 + "help", action="help", default=argparse.SUPPRESS,
                              help=tr("diese Hilfe anzeigen und beenden", "show this help message and exit"))

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        if kwargs.get("action") == "version":
            kwargs.setdefault("help", tr("Versionsnummer anzeigen und beenden",
                                         "show program's version number and exit"))
        return super().add_argument(*args, **kwargs)

    def error_line(self, message: str) -> str:
        """The line a usage error ends with (``message`` as argparse wrote it)."""
        return tr("{prog}: Fehler: {m}", "{prog}: error: {m}", prog=self.prog, m=translate(message))

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, self.error_line(message) + "\n")
