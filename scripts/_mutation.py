"""Mutation testing of TechCare's safety code (driver of ``scripts/mutation``; see docs/testing.md).

Each target names the functions whose mutants count, and the test files that cover them, so one run takes
minutes. A run works in a copy of the checkout (``test-artifacts/mutation/<target>/`` by default, git-ignored):
mutmut writes its ``mutants/`` tree and caches there, never in the checkout, and the tests' conftest gives every
test its own temporary TECHCARE_HOME, so nothing outside temporary directories changes.

Score = (killed + timeout + listed equivalents) / all mutants of the target. Equivalent mutants count as killed
only when docs/testing.md lists them (mutant name and the exact mutated line) with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "testing.md"
SKIP_TOP = {".git", ".venv", "test-artifacts", "mutants", ".mutmut-cache", ".pytest_cache", ".hypothesis", "data",
            "techcare.egg-info", "node_modules"}


@dataclass(frozen=True)
class Target:
    description: str
    source_path: str                       # what mutmut copies and imports from mutants/
    files: tuple[str, ...]                 # files mutmut mutates (the others are copied unchanged)
    tests: tuple[str, ...]                 # the tests that cover them
    functions: tuple[str, ...] = ()        # mutant-name prefixes that count (empty: every function of the files)
    origin: str = ""                       # where source_path lives in the checkout, when elsewhere (the backend
                                           # package is copied to the top so its module names match)


PLAN = "techcare.repairs._plan."
EXEC = "techcare.repairs._execute."
EXE = "techcare.monitoring.executor."
JRN = "techcare.repairs._journal."
PLG = "techcare.plugins._manager."

TARGETS: dict[str, Target] = {
    "approval": Target(
        "repair approval parser + plan binding",
        "techcare", ("techcare/repairs/_plan.py", "techcare/repairs/_execute.py"),
        ("tests/repairs/test_repairs_approval.py", "tests/repairs/test_restore_point_rules.py",
         "tests/repairs/test_repairs_run.py", "tests/repairs/test_approval_mutants.py"),
        functions=(PLAN + "x_parse_approval__", PLAN + "x__require_restore_point__", PLAN + "xǁPlanǁfingerprint__",
                   PLAN + "xǁPlanǁapproved__", PLAN + "x__with_restore_point__", EXEC + "x__check_approval__",
                   EXEC + "x__admin_steps__", EXEC + "x__refusals__")),
    "license": Target(
        "client licence (techcare/license.py)",
        "techcare", ("techcare/license.py",),
        ("tests/client/test_license.py", "tests/test_features.py", "tests/client/test_license_mutants.py",
         "tests/client/test_license_mutants2.py", "tests/client/test_license_files.py",
         "tests/client/test_license_leftovers.py")),
    "spool": Target(
        "sensor spool (techcare/monitoring/spool.py)",
        "techcare", ("techcare/monitoring/spool.py",),
        ("tests/monitoring/test_spool_mutants.py", "tests/monitoring/test_spool_mutants2.py", "tests/client/test_spool_salvage_counts.py")),
    "backend-license": Target(
        "backend licence decision (backend/techcare_backend/core/licensing.py)",
        "techcare_backend", ("techcare_backend/core/licensing.py",),
        ("tests/backend/test_backend_licenses.py", "tests/backend/test_license_decision_mutants.py"),
        origin="backend/techcare_backend"),
    "remote-jobs": Target(
        "remote-job verification (executor checks + techcare/signing.py)",
        "techcare", ("techcare/monitoring/executor.py", "techcare/signing.py"),
        ("tests/test_signing.py", "tests/monitoring/test_executor.py", "tests/monitoring/test_executor_hostile.py",
         "tests/monitoring/test_schedules_host.py", "tests/monitoring/test_executor_verification_mutants.py"),
        functions=("techcare.signing.", EXE + "xǁExecutorǁ_check__", EXE + "xǁExecutorǁ_verify_signature__",
                   EXE + "xǁExecutorǁ_rebuild__", EXE + "xǁExecutorǁ_check_occurrence__", EXE + "x__delivered__",
                   EXE + "x__schedule_well_formed__", EXE + "x__well_formed__")),
    "journal": Target(
        "repair journal durability (techcare/repairs/_journal.py: appends, chain, head, reading with proof)",
        "techcare", ("techcare/repairs/_journal.py",),
        ("tests/repairs/test_journal_durability.py", "tests/repairs/test_journal_chain.py",
         "tests/repairs/test_journal_action_id.py", "tests/repairs/test_changelog_durability.py",
         "tests/repairs/test_journal_mutants.py"),
        functions=(JRN + "xǁJournalErrorǁ__init__", JRN + "x__digest__", JRN + "x_seal__", JRN + "x__unseal__",
                   JRN + "x__error__", JRN + "x__write_all__", JRN + "x__fsync_dir__", JRN + "x_append__",
                   JRN + "x__lock_exclusive__", JRN + "x__chained__", JRN + "x_head_path__", JRN + "x__write_head__",
                   JRN + "x__read_head__", JRN + "x__chain_end__", JRN + "x__torn_length__", JRN + "x_read__",
                   JRN + "x__parse__", JRN + "x__closed_by_next__", JRN + "xǁJournalReadǁok__")),
    "plugin-permissions": Target(
        "plugin permission checks (techcare/plugins/_safety.py + which plugin loads and what it may register/run)",
        "techcare", ("techcare/plugins/_safety.py", "techcare/plugins/_manager.py"),
        ("tests/plugins/test_plugins_loading.py", "tests/plugins/test_plugins_remote.py",
         "tests/plugins/test_plugins_diagnosis.py", "tests/plugins/test_plugin_permission_mutants.py"),
        functions=("techcare.plugins._safety.", PLG + "x__from_file__", PLG + "x__module_files__",
                   PLG + "x__from_entry_point__", PLG + "x__declared__", PLG + "x__adopt__", PLG + "x__fail__",
                   PLG + "x__dedupe__", PLG + "x_namespace_problem__", PLG + "x__registrar__",
                   PLG + "x__check_problems__", PLG + "x__source_problems__", PLG + "x__tool_problems__",
                   PLG + "x_refuse__", PLG + "x__checked__", PLG + "x_action_plugin__", PLG + "x_identities__",
                   PLG + "x_remote_problem__")),
}

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 35: "suspicious",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault",
          -9: "segfault", None: "not checked", 37: "caught by type check"}


def say(de: str, en: str) -> None:
    print(en if os.environ.get("TECHCARE_LANG", "de") == "en" else de, file=sys.stderr, flush=True)


def fail(de: str, en: str) -> int:
    say(de, en)
    return 2


# ---- workspace ---------------------------------------------------------------------------------------------------

def prepare(name: str, target: Target, work: Path, fresh: bool) -> None:
    """Copy the checkout (sources, tests, runbooks, backend) into ``work`` and write mutmut's settings there."""
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    tops = sorted(p.name for p in REPO.iterdir() if p.name not in SKIP_TOP)
    subprocess.run(["rsync", "-a", "--delete", "--exclude=__pycache__", "--exclude=*.pyc", "--exclude=mutants",
                    *[str(REPO / t) for t in tops], str(work) + "/"], check=True)
    if target.origin:
        subprocess.run(["rsync", "-a", "--delete", "--exclude=__pycache__", "--exclude=*.pyc",
                        str(REPO / target.origin) + "/", str(work / target.source_path) + "/"], check=True)
    missing = [t for t in target.tests if not (REPO / t).exists()]
    tests = [t for t in target.tests if t not in missing]
    for t in missing:
        say(f"Hinweis: Testdatei {t} fehlt – ohne sie weiter.", f"Note: test file {t} is missing – going on without it.")
    settings = {
        "source_paths": [target.source_path],
        "only_mutate": list(target.files),
        "also_copy": [t for t in tops if t not in {target.source_path, "tests", "pyproject.toml"}],
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-p", "no:randomly"],
        "use_git_change_detection": False,
    }
    checkout_files = [f.replace(target.source_path, target.origin, 1) if target.origin else f for f in target.files]
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", *checkout_files],
                           capture_output=True, text=True).stdout.strip()
    (work / "source-commit.txt").write_text(_git_head() + (" + uncommitted changes in " + ", ".join(
        line[3:] for line in dirty.splitlines()) if dirty else "") + "\n", "utf-8")
    lines = ["", "[tool.mutmut]  # written by scripts/mutation for target " + name]
    lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    (work / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text("utf-8") + "\n".join(lines) + "\n",
                                         "utf-8")


# ---- which mutants count -----------------------------------------------------------------------------------------

def all_mutants(target: Target) -> dict[str, tuple[str, int | None]]:
    """``{mutant name: (source file, exit code)}`` for every mutant mutmut made of the target's files."""
    out: dict[str, tuple[str, int | None]] = {}
    for f in target.files:
        meta = Path("mutants") / (f + ".meta")
        if not meta.exists():
            continue
        data = json.loads(meta.read_text("utf-8"))
        for key, code in data["exit_code_by_key"].items():
            out[key] = (f, code)
    return out


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")


def change_of(mutant: str, path: str) -> tuple[list[int], list[str], list[str]]:
    """(changed line numbers within the function, removed lines, added lines) of one mutant."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(mutant, path=path)
    numbers, removed, added, line = [], [], [], 0
    for text in diff.splitlines()[2:]:
        hunk = _HUNK.match(text)
        if hunk:
            line = int(hunk.group(1))
            continue
        if text.startswith("-"):
            numbers.append(line)
            removed.append(text[1:].strip())
            line += 1
        elif text.startswith("+"):
            added.append(text[1:].strip())
            if not numbers:
                numbers.append(line)
        else:
            line += 1
    return numbers, removed, added


def selected(target: Target, mutants: dict[str, tuple[str, int | None]]) -> list[str]:
    names = [n for n in mutants if not target.functions or n.startswith(target.functions)]
    return sorted(names, key=_natural)


def _natural(name: str) -> tuple[str, int]:
    base, _, number = name.rpartition("__mutmut_")
    return base, int(number) if number.isdigit() else 0


# ---- equivalents listed in docs/testing.md ------------------------------------------------------------------------

_EQUIV = re.compile(r"^\|\s*`(?P<name>[^`]+__mutmut_\d+)`\s*\|\s*`(?P<line>.*?)`\s*\|\s*(?P<why>.+?)\s*\|\s*$")


def listed_equivalents() -> dict[str, tuple[str, str]]:
    """``{mutant: (mutated line, reason)}`` from the equivalents tables of docs/testing.md."""
    out: dict[str, tuple[str, str]] = {}
    if DOCS.exists():
        for text in DOCS.read_text("utf-8").splitlines():
            m = _EQUIV.match(text.strip())
            if m:
                out[m["name"]] = (m["line"].replace("\\|", "|"), m["why"])
    return out


# ---- running -------------------------------------------------------------------------------------------------------

def generate(jobs: int) -> None:
    import mutmut.__main__ as mm

    os.makedirs("mutants", exist_ok=True)
    mm.copy_src_dir()
    mm.copy_also_copy_files()
    mm.setup_source_paths()
    mm.create_mutants(jobs)


def run(names: list[str], jobs: int) -> None:
    import mutmut.__main__ as mm

    try:
        mm._run(names, jobs)
    except SystemExit as exc:  # mutmut exits on a failing clean run; say so and stop
        if exc.code not in (0, None):
            raise


def report(name: str, target: Target, command: str, started: float) -> int:
    mutants = all_mutants(target)
    names = selected(target, mutants)
    equivalents = listed_equivalents()
    counts: dict[str, int] = {}
    survivors, stale = [], []
    equivalent_hits = 0
    for n in names:
        status = STATUS.get(mutants[n][1], "suspicious")
        if status == "survived" or status == "no tests":
            if n in equivalents:
                _, removed, added = change_of(n, mutants[n][0])
                if equivalents[n][0] in added:
                    equivalent_hits += 1
                    continue
                stale.append(n)
            survivors.append((n, status))
        counts[status] = counts.get(status, 0) + 1
    total = len(names)
    killed = counts.get("killed", 0) + counts.get("timeout", 0) + counts.get("caught by type check", 0)
    score = 100.0 * (killed + equivalent_hits) / total if total else 0.0
    print()
    print(f"## {name}: {target.description}")
    print(f"date:        {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    print(f"command:     {command}")
    source = Path("source-commit.txt")
    print(f"source:      {source.read_text('utf-8').strip() if source.exists() else '?'}")
    print(f"mutants:     {total}")
    print(f"killed:      {counts.get('killed', 0)}")
    print(f"timeout:     {counts.get('timeout', 0)}")
    print(f"equivalent:  {equivalent_hits} (listed in docs/testing.md)")
    print(f"survived:    {len([s for s in survivors if s[1] == 'survived'])} (not listed as equivalent)")
    print(f"no tests:    {counts.get('no tests', 0)}")
    other = {k: v for k, v in counts.items() if k not in ("killed", "timeout", "survived", "no tests")}
    if other:
        print(f"other:       {other}")
    print(f"score:       {score:.1f} %   ({(time.monotonic() - started) / 60:.1f} min)")
    for n in stale:
        print(f"  ! {n} is listed as equivalent, but its mutated line changed: check it again")
    if survivors:
        print("survivors (scripts/mutation show NAME prints the change):")
        for n, status in survivors:
            _, removed, added = change_of(n, mutants[n][0])
            print(f"  {n} [{status}]  {' / '.join(removed)[:90]!s}  ->  {' / '.join(added)[:90]!s}")
    summary = {"target": name, "mutants": total, "killed": counts.get("killed", 0),
               "timeout": counts.get("timeout", 0), "equivalent": equivalent_hits,
               "survived": len(survivors), "score": round(score, 1)}
    Path("last-result.json").write_text(json.dumps(summary, indent=1) + "\n", "utf-8")
    return 0 if score >= 90.0 else 3


def _git_head() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/mutation",
        description="Mutation testing of the safety code (mutmut). Targets: " + ", ".join(TARGETS) + ", all.")
    parser.add_argument("target", nargs="?", default="all", help="target name or 'all' (default)")
    parser.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("MUTATION_JOBS", "1")),
                        help="mutants tested at the same time (default 1, env MUTATION_JOBS)")
    parser.add_argument("--keep", action="store_true",
                        help="reuse the last run's results and rerun only what changed or survived")
    parser.add_argument("--report", action="store_true", help="only print the last run's result")
    parser.add_argument("--show", metavar="MUTANT", help="print the change one mutant makes")
    parser.add_argument("--work", type=Path, default=None,
                        help="working directory (default test-artifacts/mutation/<target>)")
    args = parser.parse_args(argv)
    if args.target == "list":
        for key, t in TARGETS.items():
            print(f"{key:16} {t.description}\n{'':16} tests: {' '.join(t.tests)}")
        return 0
    names = list(TARGETS) if args.target == "all" else [args.target]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        return fail(f"Unbekanntes Ziel {unknown[0]!r}; erlaubt: {', '.join(TARGETS)}, all, list.",
                    f"Unknown target {unknown[0]!r}; allowed: {', '.join(TARGETS)}, all, list.")
    if args.jobs < 1:
        return fail("--jobs muss mindestens 1 sein.", "--jobs must be at least 1.")
    if len(names) > 1 and (args.show or args.work):
        return fail("--show und --work brauchen genau ein Ziel.", "--show and --work need exactly one target.")
    worst = 0
    for name in names:
        target = TARGETS[name]
        work = (args.work or REPO / "test-artifacts" / "mutation" / name).resolve()
        started = time.monotonic()
        command = "scripts/mutation " + name + (f" -j {args.jobs}" if args.jobs != 1 else "") + \
            (" --keep" if args.keep else "")
        if args.show or args.report:
            if not (work / "mutants").is_dir():
                return fail(f"Keine Ergebnisse in {work}; zuerst scripts/mutation {name} ausführen.",
                            f"No results in {work}; run scripts/mutation {name} first.")
        if args.show:
            os.chdir(work)
            mutants = all_mutants(target)
            if args.show not in mutants:
                return fail(f"Keinen Mutanten {args.show!r} in {work} (Namen zeigt --report).",
                            f"No mutant {args.show!r} in {work} (--report shows the names).")
            from mutmut.mutation.diff_apply import get_diff_for_mutant

            print(get_diff_for_mutant(args.show, path=mutants[args.show][0]))
            return 0
        if not args.report:
            if len(names) > 1:
                # one process per target: mutmut keeps its settings and state in globals
                code = subprocess.run([sys.executable, __file__, name, "-j", str(args.jobs),
                                       *(["--keep"] if args.keep else [])]).returncode
                worst = max(worst, code)
                continue
            prepare(name, target, work, fresh=not args.keep)
            os.chdir(work)
            # the tests' conftest gives each test its own home; this keeps anything outside a test away from ~ too
            os.environ["TECHCARE_HOME"] = str(work / "techcare-home")
            say(f"[{name}] Mutanten erzeugen in {work} …", f"[{name}] generating mutants in {work} …")
            generate(args.jobs)
            chosen = selected(target, all_mutants(target))
            if args.keep:
                mutants = all_mutants(target)
                chosen = [n for n in chosen if STATUS.get(mutants[n][1]) != "killed"]
            say(f"[{name}] {len(chosen)} Mutanten testen ({args.jobs} gleichzeitig) …",
                f"[{name}] testing {len(chosen)} mutants ({args.jobs} at a time) …")
            if chosen:
                run(chosen, args.jobs)
        if not work.exists():
            return fail(f"Keine Ergebnisse in {work}; zuerst scripts/mutation {name} ausführen.",
                        f"No results in {work}; run scripts/mutation {name} first.")
        os.chdir(work)
        worst = max(worst, report(name, target, command, started))
    return worst


if __name__ == "__main__":
    sys.exit(main())
