"""The one exception hierarchy of rollbackctl; the CLI maps each class to its exit code."""

from __future__ import annotations


class RollbackError(Exception):
    """A problem the operator can act on: the message names it and says how to fix it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def one_line(self) -> str:
        text = str(self)
        return f"{text}; {self.hint}" if self.hint else text


class UsageError(RollbackError):
    """Bad input: unknown environment, release or backup, malformed file."""

    exit_code = 2


class PreflightError(RollbackError):
    """A precondition failed before anything changed."""

    exit_code = 3


class NotAuthorizedError(RollbackError):
    """Policy refused the run: missing, invalid or insufficient approvals."""

    exit_code = 4


class LockedError(RollbackError):
    """Another rollback holds the environment lock."""

    exit_code = 5


class RunFailedError(RollbackError):
    """The playbook ran and failed; the rescue path has restored service where it could."""

    exit_code = 6


class VerificationError(RollbackError):
    """An audit log, backup or approval failed verification."""

    exit_code = 7


class AbortedError(RollbackError):
    """The operator declined the confirmation, or no terminal was there to ask."""

    exit_code = 8


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected error",
    UsageError.exit_code: "bad input (unknown environment, release, backup; malformed file)",
    PreflightError.exit_code: "precondition failed; nothing was changed",
    NotAuthorizedError.exit_code: "not authorized by policy; nothing was changed",
    LockedError.exit_code: "environment locked by another run; nothing was changed",
    RunFailedError.exit_code: "rollback failed; previous state restored where possible",
    VerificationError.exit_code: "verification failed (audit log, backup or approval)",
    AbortedError.exit_code: "aborted: not confirmed",
}
