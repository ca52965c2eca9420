"""Walking argparse parsers for the command-line language tests (client and backend)."""

from __future__ import annotations

import argparse
from collections.abc import Container, Iterator


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = (),
         skip: Container[str] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """``parser`` and every subparser under it, each with the argv that reaches it; subcommands of the root whose
    name is in ``skip`` are left out."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                if not (path == () and name in skip):
                    yield from walk(child, (*path, name))


def own_texts(parser: argparse.ArgumentParser) -> dict[str, str]:
    """What ``parser --help`` shows in words: description, epilog, section titles, the help of each argument and
    of each subcommand, keyed by where it is."""
    texts = {"description": parser.description, "epilog": parser.epilog}
    texts |= {f"group {i}": group.title for i, group in enumerate(parser._action_groups)
              if group._group_actions}   # argparse shows a section only when it has arguments
    for action in parser._actions:
        name = "/".join(action.option_strings) or action.dest
        if isinstance(action, argparse._SubParsersAction):
            texts |= {f"{name} {choice.dest}": choice.help for choice in action._choices_actions}
        else:
            texts[name] = action.help
    return {key: text for key, text in texts.items() if text is not None}
