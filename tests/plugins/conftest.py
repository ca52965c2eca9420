"""Plugin tests: a fresh plugin registry and catalogue per test (TECHCARE_HOME is per test already)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def fresh_plugins():
    from techcare.repairs import reload_catalog

    reload_catalog()
    yield
    reload_catalog()


@pytest.fixture
def home(techcare_env: Path) -> Path:
    path = techcare_env / "techcare-home"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)  # whatever the umask: only the owner writes (plugin code others can write is refused)
    return path


@pytest.fixture
def dist_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``make(module, source, version, declared=...)``: an installed distribution with an entry point in the group
    ``techcare.plugins``, as pip would leave it (a module and its ``.dist-info``) on a temporary ``sys.path``."""
    site = tmp_path / "site"
    site.mkdir()
    site.chmod(0o755)
    monkeypatch.syspath_prepend(str(site))

    def make(module: str, source: str, version: str, *, group: str = "techcare.plugins") -> Path:
        (site / f"{module}.py").write_text(source)
        (site / f"{module}.py").chmod(0o644)
        info = site / f"{module.replace('_', '-')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: {version}\n"
                                       f"Summary: test plugin {module}\nAuthor: Test Shop\n")
        (info / "entry_points.txt").write_text(f"[{group}]\n{module} = {module}\n")
        sys.modules.pop(module, None)
        return site / f"{module}.py"

    yield make


@pytest.fixture
def ip():
    """A real IPython shell with the techcare extension loaded and a fresh session (as tests/interfaces has it)."""
    from IPython.core.interactiveshell import InteractiveShell

    from techcare.session import reset_session

    shell = InteractiveShell.instance()
    reset_session()
    shell.run_line_magic("load_ext", "techcare")
    yield shell
    shell.run_line_magic("config", "TechCareMagics.language = None")
