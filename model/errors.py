"""Errors a user can cause and fix: each carries a one-line message naming the file."""

from __future__ import annotations


class ChipAuditError(Exception):
    """A problem with the user's input: shown as one line, never as a traceback."""


class LabelsError(ChipAuditError):
    """A labels CSV that cannot be read as the train_v2.csv format.

    `problems` lists every bad row as (row number, problem) where the file was read through;
    empty for a problem with the whole file (missing, not UTF-8, no header).
    """

    def __init__(self, message: str, problems: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class ChipError(ChipAuditError):
    """A chip file that cannot be decoded; the chip is skipped and reported."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class SessionError(ChipAuditError):
    """The review session file could not be written: the decision was not kept."""


class ModelError(ChipAuditError):
    """A model file or card that is missing, corrupt or incompatible."""


class CancelledError(Exception):
    """Raised inside long jobs when the caller's cancel flag is set."""
