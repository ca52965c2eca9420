"""A root sensor service must not run code that non-root users can change."""

import os


from techcare.monitoring.service import main, unsafe_install_paths


def test_user_owned_or_writable_paths_are_reported(tmp_path):
    fake_python = tmp_path / "venv" / "bin" / "python"
    fake_python.parent.mkdir(parents=True)
    fake_python.write_text("")
    package = tmp_path / "venv" / "lib" / "techcare"
    package.mkdir(parents=True)
    os.chmod(tmp_path / "venv", 0o777)
    problems = unsafe_install_paths(str(fake_python), str(package))
    assert any("writable by group/others" in p and p.startswith(str(tmp_path / "venv")) for p in problems)


def test_install_is_refused_from_an_unsafe_environment_but_dry_run_shows_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("techcare.monitoring.service.unsafe_install_paths", lambda python, package_dir=None: ["/x (owner uid 1000)"])

    def must_not_run(*args, **kwargs):
        raise AssertionError("nothing may be installed on the test machine")

    monkeypatch.setattr("techcare.monitoring.service.execute", must_not_run)
    assert main(["install", "--dry-run", "--platform", "linux", "--env-file", str(tmp_path / "e")]) == 0
    assert "/x (owner uid 1000)" in capsys.readouterr().err
    assert main(["install", "--platform", "linux", "--env-file", str(tmp_path / "e")]) == 2
    assert "--allow-user-python" in capsys.readouterr().err
