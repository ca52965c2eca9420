import sys
import time

import pytest

from techcare.system.runner import (DRY_RUN, NOT_FOUND, NOT_RECORDED, TIMEOUT, CommandResult, DryRunRunner, Entry,
                                    LocalRunner, RecordingRunner, ReplayRunner, decode_output)


def test_local_runner_captures_stdout_stderr_and_exit_code():
    res = LocalRunner().run([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"])
    assert res.returncode == 3 and res.stdout == "out\n" and res.stderr == "err\n" and not res.ok and res.ran


def test_local_runner_sets_c_locale():
    res = LocalRunner(platform="linux").run([sys.executable, "-c", "import os; print(os.environ['LC_ALL'])"])
    assert res.stdout.strip() == "C"


def test_local_runner_missing_program_is_not_found():
    res = LocalRunner().run(["definitely-not-a-program-techcare"])
    assert res.error == NOT_FOUND and res.returncode is None


def test_local_runner_timeout_kills_the_process_group():
    started = time.monotonic()
    res = LocalRunner().run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert res.error == TIMEOUT and time.monotonic() - started < 10


@pytest.mark.parametrize("bad", ["ls -l", b"ls", [], ["ls", 1]])
def test_argv_must_be_a_list_of_strings(bad):
    with pytest.raises(TypeError):
        LocalRunner().run(bad)


def test_read_file_reports_missing(tmp_path):
    runner = LocalRunner()
    assert runner.read_file(str(tmp_path / "nope")).error == NOT_FOUND
    (tmp_path / "f").write_bytes(b"\xef\xbb\xbfhello\r\n")
    assert runner.read_file(str(tmp_path / "f")).content == "hello\r\n"


def test_decode_output_keeps_crlf_and_handles_utf16():
    assert decode_output(b"a\r\nb") == "a\r\nb"
    assert decode_output("\ufeffx".encode("utf-16")) .endswith("x")
    assert decode_output(b"\xff\xfeh\x00i\x00") == "hi"


def test_recording_then_replay_roundtrip(tmp_path):
    (tmp_path / "f").write_text("content")
    rec = RecordingRunner(LocalRunner())
    first = rec.run([sys.executable, "-c", "print(42)"])
    rec.read_file(str(tmp_path / "f"))
    rec.list_dir(str(tmp_path))
    rec.which("sh")
    replay = ReplayRunner(rec.entries, platform=rec.platform)
    assert replay.run([sys.executable, "-c", "print(42)"]) == first
    assert replay.read_file(str(tmp_path / "f")).content == "content"
    assert replay.list_dir(str(tmp_path)) == rec.inner.list_dir(str(tmp_path))
    assert replay.which("sh") == rec.which("sh")
    assert replay.run(["other"]).error == NOT_RECORDED
    assert ("cmd", ("other",)) in replay.calls


def test_replay_answers_repeated_commands_in_order_and_fallback():
    replay = ReplayRunner([Entry("cmd", ("x",), CommandResult(("x",), 1)), Entry("cmd", ("x",), CommandResult(("x",), 0))],
                          fallback=lambda argv: CommandResult(argv, 7))
    assert [replay.run(["x"]).returncode for _ in range(3)] == [1, 0, 0]
    assert replay.run(["y"]).returncode == 7
    assert replay.commands_run == [("x",), ("x",), ("x",), ("y",)]


def test_dry_run_runner_never_executes(tmp_path):
    target = tmp_path / "created"
    dry = DryRunRunner(LocalRunner())
    res = dry.run(["touch", str(target)])
    assert res.error == DRY_RUN and not target.exists()
    assert dry.commands == [("touch", str(target))]
