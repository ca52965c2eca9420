"""A scripted machine for replaying repairs: probe commands are answered from a ``before`` table until an apply
command ran, then from an ``after`` table (or still ``before`` when we want verification to fail)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from techcare.system.runner import CommandResult, Entry, ReplayRunner

Answer = tuple[int, str] | tuple[int, str, str]


class ScriptedRunner(ReplayRunner):
    """mode: ``success`` | ``fail`` (apply commands exit 1) | ``verify_fails`` (apply ok, machine unchanged)."""

    def __init__(self, *, platform: str, before: dict[Any, Answer] | None = None, after: dict[Any, Answer] | None = None,
                 apply_out: dict[tuple[str, ...], Answer] | None = None,
                 is_apply: Callable[[tuple[str, ...]], bool] = lambda argv: False, mode: str = "success",
                 admin: bool = True, dirs: tuple[dict[str, list[str]], dict[str, list[str]]] | None = None,
                 which: dict[str, str] | None = None, fail_cmd: tuple[str, ...] | None = None) -> None:
        super().__init__([Entry("fact", "is_admin", admin), Entry("fact", "host", {"hostname": "PC-KUNDE-07"})],
                         platform=platform, fallback=self._answer_cmd)
        self.before, self.after = before or {}, after or {}
        self.apply_out = apply_out or {}
        self.is_apply = is_apply
        self.mode = mode
        self.applied = False
        self.dirs = dirs
        self.which_table = which or {}
        self.apply_calls: list[tuple[str, ...]] = []
        self.fail_cmd = fail_cmd
        self.failed_once = False

    def _table(self) -> dict[Any, Answer]:
        return self.after if self.applied and self.mode == "success" else self.before

    @staticmethod
    def _result(argv: tuple[str, ...], answer: Answer) -> CommandResult:
        rc, out, *err = answer
        return CommandResult(argv, rc, out, err[0] if err else "", 0.01)

    def _answer_cmd(self, argv: tuple[str, ...]) -> CommandResult:
        if self.is_apply(argv):
            self.apply_calls.append(argv)
            if self.mode == "fail" and not self.failed_once and self.fail_cmd in (None, argv):
                self.failed_once = True  # the first (or the named) apply command fails; undo may reuse commands
                return CommandResult(argv, 1, "", "Access is denied.", 0.01)
            self.applied = True
            return self._result(argv, self.apply_out.get(argv, self.apply_out.get(argv[:4], (0, ""))))
        table = self._table()
        if argv in table:
            return self._result(argv, table[argv])
        return CommandResult(argv, 0, "", "", 0.01)

    def list_dir(self, path: str) -> list[str] | None:
        self.calls.append(("dir", path))
        if self.dirs is None:
            return None
        table = self.dirs[1] if self.applied and self.mode == "success" else self.dirs[0]
        return table.get(path)

    def which(self, program: str) -> str | None:
        self.calls.append(("which", program))
        return self.which_table.get(program)


@pytest.fixture
def scripted():
    return ScriptedRunner
