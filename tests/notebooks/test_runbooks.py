"""The runbooks in notebooks/: structure, papermill parameters, stored outputs, and that nbval really compares.

The runbooks themselves run under ``pytest --nbval notebooks`` (``scripts/test``); these tests check what nbval
cannot: that every runbook is executed and stored, uses only the public API, is parameterisable with papermill,
and that a changed output makes nbval fail (the sanitize patterns must not hide real differences).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
RUNBOOKS = ["01-erste-schritte", "02-windows-update-reparieren", "03-treiber-audit", "04-flotte-ueberwachen",
            "05-fallwissen", "06-fernwartung", "07-wartung-planen", "08-eigenes-plugin"]
# What a runbook may import: TechCare's public API, the backend's test helpers (start/seed a local backend),
# and the everyday tools of a notebook (threading and time run runbook 07's simulated customer PCs beside it).
ALLOWED_IMPORTS = {"techcare", "techcare_backend.testing", "pandas", "httpx", "IPython.display", "os", "json",
                   "math", "uuid", "datetime", "time", "threading"}
PRIVATE_MODULE = re.compile(r"(^|\.)_[a-z]")


def load(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def python_source(cell: nbformat.NotebookNode) -> str:
    """The cell as plain Python (magics become get_ipython() calls), as IPython would run it."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell.source)


def test_all_runbooks_exist_and_nothing_else_is_numbered():
    found = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    assert found == RUNBOOKS


@pytest.mark.parametrize("name", RUNBOOKS)
def test_runbook_is_valid_executed_and_stored(name):
    nb = load(name)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# " + name[:2])
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert None not in counts, "every code cell must be executed and stored (nbval compares stored outputs)"
    assert counts == sorted(counts) and len(set(counts)) == len(counts), "cells must be executed in order, once"
    for cell in code:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if "raises-exception" in tags(cell):
            assert errors, f"cell tagged raises-exception did not fail: {cell.source!r}"
            # a TechCare error renders as one line, not a traceback
            assert errors[0].ename.endswith("Error")
        else:
            assert not errors, f"unexpected error stored in {name}: {cell.source!r}"
        assert not any(o.output_type == "stream" and o.name == "stderr" for o in cell.outputs), \
            f"stderr output (warnings?) in {name}: {cell.source!r}"
    compared = [c for c in code if "nbval-ignore-output" not in tags(c) and c.outputs]
    assert len(compared) >= 4, "most of a runbook's outputs must be compared, not ignored"
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert len(markdown) >= 4


@pytest.mark.parametrize("name", RUNBOOKS)
def test_runbook_uses_the_extension_and_only_public_api(name):
    nb = load(name)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert any(c.source.lstrip().startswith("%load_ext techcare") for c in code)
    imported: set[str] = set()
    for cell in code:
        tree = ast.parse(python_source(cell))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module or "")
        assert "subprocess" not in cell.source and "shell=True" not in cell.source
    for module in imported:
        assert not PRIVATE_MODULE.search(module), f"{name} imports the private module {module}"
        assert any(module == ok or module.startswith(ok + ".") for ok in ALLOWED_IMPORTS), \
            f"{name} imports {module}; runbooks use the public API only"


@pytest.mark.parametrize("name", RUNBOOKS)
def test_runbook_has_a_papermill_parameters_cell(name):
    import papermill

    nb = load(name)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in tags(c)]
    assert len(tagged) == 1
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    assert tagged[0] == first_code, "parameters come first so papermill's injected values override them"
    params = papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    assert params, "papermill finds no parameters"
    expected = {"01": {"SNAPSHOT"}, "02": {"SNAPSHOT"}, "03": {"SNAPSHOT"}, "04": {"BACKEND_URL", "ADMIN_TOKEN"},
                "05": {"BACKEND_URL", "ADMIN_TOKEN"}, "06": {"BACKEND_URL", "ADMIN_TOKEN", "SNAPSHOT"},
                "07": {"BACKEND_URL", "ADMIN_TOKEN", "KUNDE", "SNAPSHOTS"}, "08": {"SNAPSHOT"}}[name[:2]]
    assert expected <= set(params)


@pytest.mark.parametrize("name", RUNBOOKS)
def test_runbook_data_files_exist(name):
    nb = load(name)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for path in re.findall(r'"(data/[^"]+)"', cell.source):
            if "gibt-es-nicht" in path:  # the runbook's own example of a missing file
                assert not (NOTEBOOKS / path).exists()
                continue
            assert (NOTEBOOKS / path).is_file(), path
            json.loads((NOTEBOOKS / path).read_text(encoding="utf-8"))


def test_sanitize_patterns_only_hide_volatile_values():
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((NOTEBOOKS / "nbval-sanitize.cfg").read_text())
    assert patterns

    def clean(text: str) -> str:
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        return text

    assert clean("Sitzung 20261128T010657Z-a9c25c553d8d-431006") == "Sitzung SESSION-ID"
    assert clean("| Beginn | 2026-11-28T01:06:57.488Z |") == "| Beginn | TIMESTAMP |"
    assert clean("✔ Starttyp jetzt: manual. (0.0 s)") == "✔ Starttyp jetzt: manual. (DURATION)"
    # what the runbooks assert must survive sanitizing
    for stable in ("Plan a9c25c553d8d", "Windows Update: RUNNING", "12.19.2.45", "Datenträger zu 96 % belegt",
                   "0x80070422", "KB5030219", "95.8"):
        assert clean(stable) == stable


def test_runbook_can_run_against_another_snapshot_with_papermill(tmp_path):
    """A lead runs the getting-started runbook on a captured machine instead of this one: papermill injects
    SNAPSHOT."""
    import papermill

    out = tmp_path / "01-windows.ipynb"
    try:
        papermill.execute_notebook(str(NOTEBOOKS / "01-erste-schritte.ipynb"), str(out), cwd=str(NOTEBOOKS),
                                   parameters={"SNAPSHOT": "data/windows11-problems.json"}, kernel_name="python3",
                                   progress_bar=False, log_output=False)
    except papermill.PapermillExecutionError as exc:
        # papermill reports every error output, also the runbook's intended one (tagged raises-exception);
        # the kernel still ran every cell (nbclient honours the tag), so only that one may fail.
        assert exc.ename == "SnapshotError", exc
    nb = nbformat.read(out, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in tags(c)]
    assert injected and "windows11-problems.json" in injected[0].source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    failed = [c for c in code if any(o.output_type == "error" for o in c.outputs)]
    assert failed and all("raises-exception" in tags(c) for c in failed)
    diagnosis = next(c for c in code if "d = %diagnose" in c.source)
    text = diagnosis.outputs[-1]["data"]["text/plain"]
    assert "WS-EMPFANG-01 (Windows)" in text  # the captured Windows PC, not this machine
    disks = next(c for c in code if c.source.startswith("probe = %sensor"))
    assert "C:\\" in disks.outputs[-1]["data"]["text/plain"]


def test_nbval_fails_when_a_stored_output_changes(tmp_path):
    """The comparison is real: change one stored number and nbval must report that cell."""
    work = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS / "data", work / "data")
    for name in ("conftest.py", "nbval-sanitize.cfg"):
        shutil.copy(NOTEBOOKS / name, work / name)
    nb = load("03-treiber-audit")
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("treiber.status.value_counts"))
    cell.outputs[0]["data"]["text/plain"] = cell.outputs[0]["data"]["text/plain"].replace("no_data      4",
                                                                                          "no_data      5")
    nbformat.write(nb, work / "03-treiber-audit.ipynb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), str(work / "03-treiber-audit.ipynb")],
                          check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    index = [c for c in nb.cells if c.cell_type == "code"].index(cell)
    assert re.search(rf"FAILED .*03-treiber-audit\.ipynb::Cell {index} ", proc.stdout), proc.stdout[-3000:]
    assert "1 failed" in proc.stdout


def test_fleet_runbook_starts_its_own_backend_without_backend_url(tmp_path):
    """Without BACKEND_URL (a lead on a laptop) runbook 04 starts a local backend itself and gets the same fleet."""
    import papermill

    out = tmp_path / "04-local.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as raised:  # only the intended 401 demo cell fails
        papermill.execute_notebook(str(NOTEBOOKS / "04-flotte-ueberwachen.ipynb"), str(out), cwd=str(NOTEBOOKS),
                                   parameters={"BACKEND_URL": "", "ADMIN_TOKEN": "", "STUNDEN": 2},
                                   kernel_name="python3", progress_bar=False, log_output=False)
    assert raised.value.ename == "BackendHTTPError" and "401" in raised.value.evalue
    nb = nbformat.read(out, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    failed = [c for c in code if any(o.output_type == "error" for o in c.outputs)]
    assert len(failed) == 1 and "raises-exception" in tags(failed[0])
    start = next(c for c in code if c.source.startswith("lokal = None"))
    assert "('ok', 'pro_business'" in start.outputs[-1]["data"]["text/plain"]
    sent = next(c for c in code if c.source.startswith("antwort = sensor.post_metrics_batch"))
    assert "'neu': 24" in sent.outputs[-1]["data"]["text/plain"]  # 3 hosts x 2 hours x 4 samples
    fleet = next(c for c in code if c.source.startswith("spalten = "))
    text = fleet.outputs[-1]["data"]["text/plain"]
    for host in ("WS-EMPFANG-01", "werkstatt-pc-07", "MacBook-Pro-Praxis"):
        assert host in text
