"""capture.ps1 through a real PowerShell grammar (tree-sitter-powershell) and the Windows PowerShell 5.1 rules.

No Windows machine runs the tests, so a syntax error or a PowerShell 7 construct in capture.ps1 would ship
unnoticed: here the whole script must parse without ERROR or MISSING nodes, and the syntax tree must hold no
PowerShell 7 operator (ternary ``? :``, ``??``, ``??=``, ``?.``, ``?[``, ``&&``/``||`` pipeline chains), no
``clean {}`` block, no PowerShell 6+/7 parameter (``ForEach-Object -Parallel`` ...) and no .NET member newer than
.NET Framework 4.5 outside a ``try`` block (Windows PowerShell 5.1 also runs on 4.5). The probe scripts it carries
(verbatim here-strings, the very texts of ``_windows.SCRIPTS`` and the drivers module) run with
``powershell.exe -Command``: each is parsed by the grammar too, with its bareword lists quoted first (the grammar
refuses ``Select-Object A, B``, valid in every PowerShell: ``test_grammar_limits``), and gets the same PowerShell 7
and .NET rules, read from its text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

import techcare
from techcare.system import _windows as W
from techcare.tools.drivers import _windows as DW

CAPTURE = Path(techcare.__file__).parent / "system" / "capture" / "capture.ps1"
PARSER = Parser(Language(tree_sitter_powershell.language()))

#: Tokens / node types of PowerShell 7 operators (5.1 refuses them).
PS7_NODES = {"&&", "||", "??", "??=", "?.", "?[", "pipeline_chain_tail", "ternary_expression"}
#: Parameters PowerShell 6/7 added to cmdlets 5.1 also has: (cmdlet or None for any, parameter), lower case.
PS7_PARAMETERS = {
    ("foreach-object", "-parallel"), ("foreach-object", "-throttlelimit"), ("foreach-object", "-asjob"),
    ("convertfrom-json", "-ashashtable"), ("convertfrom-json", "-depth"), ("convertfrom-json", "-noenumerate"),
    ("convertto-json", "-enumsasstrings"), ("convertto-json", "-asarray"), ("convertto-json", "-escapehandling"),
    (None, "-skipcertificatecheck"), (None, "-skipheadervalidation"), (None, "-sslprotocol"), (None, "-form"),
    (None, "-statuscodevariable"), (None, "-responseheadersvariable"), (None, "-resume"),
    ("get-content", "-ashashtable"), ("select-object", "-skipindex"), ("test-json", None), ("get-error", None),
}
#: .NET members and types newer than .NET Framework 4.5 (allowed only inside ``try``), lower case.
NET46_MEMBERS = {"tounixtimemilliseconds", "tounixtimeseconds", "fromunixtimemilliseconds", "fromunixtimeseconds",
                 "isosplatform", "osdescription", "frameworkdescription", "processarchitecture", "getvaluerefordefault"}
NET46_TYPES = ("runtimeinformation", "system.text.json", "system.valuetuple", "system.span", "system.memory",
               "system.buffers", "system.range", "system.index", "osplatform")


def _text(node: Node, source: bytes) -> str:
    return source[node.start_byte:node.end_byte].decode("utf-8", "replace")


def _walk(node: Node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _guarded(node: Node) -> bool:
    """Inside the block of a ``try`` statement (a newer .NET member there is caught on an older runtime)."""
    parent = node.parent
    while parent is not None:
        if parent.type == "try_statement":
            return True
        parent = parent.parent
    return False


def _command_name(node: Node, source: bytes) -> str | None:
    while node is not None and node.type != "command":
        node = node.parent
    name = node.child_by_field_name("command_name") if node is not None else None
    return _text(name, source).lower() if name is not None else None


def problems(source: bytes) -> list[str]:
    """Every grammar error and every PowerShell 5.1 rule broken in ``source``, with its line."""
    tree = PARSER.parse(source)
    found = []
    for node in _walk(tree.root_node):
        where = f"line {node.start_point[0] + 1}"
        text = _text(node, source)
        if node.type == "ERROR" or node.is_missing:
            found.append(f"{where}: syntax error near {text[:60]!r}")
        elif node.type in PS7_NODES:
            found.append(f"{where}: PowerShell 7 operator {node.type!r}")
        elif node.type == "named_block" and text.lower().startswith("clean"):
            found.append(f"{where}: clean {{}} block (PowerShell 7.3)")
        elif node.type == "command_name" and text.lower() in {c for c, p in PS7_PARAMETERS if p is None}:
            found.append(f"{where}: cmdlet {text} (PowerShell 6+)")
        elif node.type == "command_parameter":
            command, parameter = _command_name(node, source), text.lower().rstrip(":")
            if (command, parameter) in PS7_PARAMETERS or (None, parameter) in PS7_PARAMETERS:
                found.append(f"{where}: {command} {text} (PowerShell 6+)")
        elif node.type == "member_name" and text.lower() in NET46_MEMBERS and not _guarded(node):
            found.append(f"{where}: .NET member {text} needs .NET 4.6+ (guard it with try/catch)")
        elif node.type == "type_literal" and any(t in text.lower() for t in NET46_TYPES) and not _guarded(node):
            found.append(f"{where}: .NET type {text} needs .NET 4.6+ (guard it with try/catch)")
    return found


_STRINGS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"`]|`.)*\"", re.S)
_SCRIPT_RULES = (
    (re.compile(r"&&|\|\||\?\?|\?\.|\?\["), "PowerShell 7 operator"),
    (re.compile(r"(?<![|\s])\s+\?\s+(?!\{)[^;]*?\s:\s"), "ternary operator"),
    (re.compile(r"-Parallel\b|-ThrottleLimit\b|-AsHashtable\b|-EnumsAsStrings\b|-AsArray\b", re.I),
     "PowerShell 6+ parameter"),
    (re.compile(r"\bclean\s*\{", re.I), "clean {} block"),
    (re.compile(r"\.(?:" + "|".join(sorted(NET46_MEMBERS)) + r")\b", re.I), ".NET 4.6+ member"),
)


def script_problems(script: str) -> list[str]:
    """The PowerShell 7 / .NET 4.6 rules applied to the text of a script, string literals left out (a .NET 4.6
    member after a ``try {`` with a ``catch`` following counts as guarded)."""
    code = _STRINGS.sub("''", script)
    found = []
    for rx, label in _SCRIPT_RULES:
        for m in rx.finditer(code):
            if label.startswith(".NET") and "try {" in code[:m.start()] and "catch" in code[m.end():]:
                continue
            found.append(f"{label}: {m.group(0).strip()!r}")
    return found


#: A bareword list item (``Select-Object A, B``) in argument position: after blank or comma, before or after a comma.
_BAREWORD_ITEM = re.compile(r"(?<=[\s,])([A-Za-z][A-Za-z0-9_]*)(?=\s*,)|(?<=,\s)([A-Za-z][A-Za-z0-9_]*)(?=[\s)]|$)"
                            r"|(?<=,)([A-Za-z][A-Za-z0-9_]*)(?=[\s,)]|$)")


def quote_bareword_lists(script: str) -> str:
    """``Select-Object A, B`` -> ``Select-Object 'A', 'B'``: the same command for PowerShell, one the grammar
    parses. Nothing else changes, so any other syntax error stays."""
    return _BAREWORD_ITEM.sub(lambda m: "'" + next(g for g in m.groups() if g) + "'", script)


def carried_scripts() -> dict[str, str]:
    return {**{f"probe {name}": text for name, text in W.SCRIPTS.items()},
            "drivers inventory": DW.INVENTORY_SCRIPT, "drivers windows_update": DW.WU_SCRIPT}


@pytest.mark.parametrize("name", list(carried_scripts()))
def test_carried_scripts_parse(name):
    assert problems(quote_bareword_lists(carried_scripts()[name]).encode()) == []


@pytest.mark.parametrize("name", list(carried_scripts()))
def test_a_broken_carried_script_would_be_found(name):
    script = quote_bareword_lists(carried_scripts()[name])
    cut = script.rindex(")")                                   # one closing parenthesis less
    assert problems((script[:cut] + script[cut + 1:]).encode()) != []


def test_quoting_bareword_lists_changes_only_them():
    assert quote_bareword_lists("Get-X | Select-Object A, B,C -First 5") == "Get-X | Select-Object 'A', 'B','C' -First 5"
    assert quote_bareword_lists("$a = @(1, 2); Get-Y -Level 1,2") == "$a = @(1, 2); Get-Y -Level 1,2"


@pytest.fixture(scope="module")
def capture_bytes() -> bytes:
    return CAPTURE.read_bytes()


def test_capture_ps1_parses_and_keeps_the_51_rules(capture_bytes):
    assert problems(capture_bytes) == []


def test_carried_scripts_keep_the_51_rules(capture_bytes):
    carried = re.findall(r"^\$(?:Scripts|DriverScripts)\['\w+'\] = @'\r?\n(.*?)\r?\n'@\r?$",
                         capture_bytes.decode("ascii"), re.M | re.S)
    scripts = {*carried, *W.SCRIPTS.values(), DW.INVENTORY_SCRIPT, DW.WU_SCRIPT}
    assert len(carried) == len(W.SCRIPTS) + 2
    assert {s: script_problems(s) for s in scripts if script_problems(s)} == {}


@pytest.mark.parametrize(("snippet", "expected"), [
    ("$a = $x ? 1 : 2", "syntax error"),                       # ternary: the 5.1 parser refuses it too
    ("$a = $x ?? 2", "syntax error"),
    ("$a ??= 1", "syntax error"),
    ("$x?.Name", "syntax error"),
    ("Get-Item a && Get-Item b", "PowerShell 7 operator"),
    ("Get-Item a || Get-Item b", "PowerShell 7 operator"),
    ("1..3 | ForEach-Object -Parallel { $_ }", ""),             # an error either way (grammar or rule)
    ("$j = Get-Content x | ConvertFrom-Json -AsHashtable", "PowerShell 6+"),
    ("function f { begin { } clean { } }", ""),
    ("$t = [DateTimeOffset]::Now.ToUnixTimeSeconds()", ".NET member ToUnixTimeSeconds"),
    ("$o = [System.Runtime.InteropServices.RuntimeInformation]::OSDescription", "needs .NET 4.6+"),
    ("if ($x) { $y = 1 ", "syntax error"),
    ("Test-Json -Json '{}'", "cmdlet Test-Json"),
])
def test_the_rules_find_what_51_cannot_run(snippet, expected):
    found = problems(snippet.encode())
    assert found, snippet
    assert any(expected in f for f in found), found


def test_guarded_and_plain_51_code_passes():
    assert problems(b"try { $t = [DateTimeOffset]::Now.ToUnixTimeSeconds() } catch { $t = 0 }") == []
    assert problems(b"$s = New-Object System.Text.StringBuilder; [void]$s.Append('x'); $a = @{ k = 1 }") == []
    assert problems(b"Invoke-Command -ScriptBlock { 1 } -AsJob | Out-Null") == []      # -AsJob exists in 5.1 here


@pytest.mark.parametrize(("script", "expected"), [
    ("Get-X | Select-Object A && Get-Y", "PowerShell 7 operator"),
    ("$v = $a ?? 'x'", "PowerShell 7 operator"),
    ("$v = $ok ? 'yes' : 'no'", "ternary"),
    ("1..2 | ForEach-Object -Parallel { $_ }", "PowerShell 6+ parameter"),
    ("[DateTimeOffset]::Now.ToUnixTimeMilliseconds()", ".NET 4.6+ member"),
])
def test_script_rules_find_what_51_cannot_run(script, expected):
    assert any(expected in f for f in script_problems(script)), script_problems(script)


def test_script_rules_leave_strings_and_where_alias_alone():
    assert script_problems("Write-Output 'a && b ?? c'; Get-X | ? { $_.A } ; \"x ? y : z\"") == []
    assert script_problems("try { $t = [DateTimeOffset]::Now.ToUnixTimeSeconds() } catch { $t = 0 }") == []


def test_grammar_limits():
    """Why the carried scripts are checked by text: the grammar refuses bareword lists (valid in every PowerShell)
    that the probe scripts use. Should a later grammar parse them, they can be parsed here too."""
    assert PARSER.parse(b"Get-X | Select-Object A, B").root_node.has_error
    assert not PARSER.parse(b"Get-X | Select-Object 'A', 'B'").root_node.has_error
