"""One exception tree for everything TechCare raises on purpose.

Every error carries a short, user-facing message (already in the session language) and renders as one
line in IPython (``_render_traceback_``) so a failing magic fails the cell without a wall of traceback.
"""

from __future__ import annotations

__all__ = [
    "ApprovalError",
    "AssistantError",
    "BackendError",
    "ConfigError",
    "DriverDatabaseError",
    "LicenseError",
    "ProbeError",
    "RepairError",
    "SnapshotError",
    "TechCareError",
]


class TechCareError(Exception):
    """Base class. ``exit_code`` is what the CLI returns when this error ends a command."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"

    def _render_traceback_(self) -> list[str]:  # IPython: one readable line instead of a traceback
        return [f"{type(self).__name__}: {self}"]


class ConfigError(TechCareError):
    """A setting has a bad value. Names the key, the value and what is allowed."""

    exit_code = 2

    def __init__(self, message: str, *, key: str | None = None, value: object = None, allowed: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key
        self.value = value
        self.allowed = allowed


class SnapshotError(TechCareError):
    """A snapshot file is corrupt, truncated, of an unknown version or not a snapshot at all."""

    exit_code = 2


class ProbeError(TechCareError):
    """A probe failed in a way the caller must know about (diagnose() never lets this escape)."""


class LicenseError(TechCareError):
    """The license does not allow this, or could not be validated."""

    exit_code = 3


class RepairError(TechCareError):
    """A repair could not be planned, approved or run."""


class ApprovalError(RepairError):
    """A ``GO REPAIR`` approval was malformed, named unknown steps or belongs to another plan."""

    exit_code = 2


class DriverDatabaseError(TechCareError):
    """The custom driver database is not valid JSON or not a list of entries."""

    exit_code = 2


class BackendError(TechCareError):
    """The backend could not be reached or answered with an error."""


class AssistantError(TechCareError):
    """The assistant could not answer."""
