import pytest


@pytest.fixture
def ip():
    """A real IPython InteractiveShell with the techcare extension loaded, and a fresh session."""
    from IPython.core.interactiveshell import InteractiveShell

    from techcare.session import reset_session

    shell = InteractiveShell.instance()
    reset_session()
    shell.run_line_magic("load_ext", "techcare")
    shell.user_ns["tc"] = __import__("techcare.session", fromlist=["get_session"]).get_session()
    yield shell
    shell.run_line_magic("config", "TechCareMagics.language = None")
    shell.run_line_magic("config", "TechCareMagics.dry_run = False")
    shell.run_line_magic("config", "TechCareMagics.streaming = True")
