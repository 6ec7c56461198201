"""Database backups for the CLI: list, take and verify them on the db host."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    RollbackError,
    RunFailedError,
    UsageError,
    VerificationError,
)

from rollbackctl.run.environments import get_environment
from rollbackctl.run.rollback import error_class, failure_message
from rollbackctl.run.runner import RunOutcome, Step, run_playbook

# What `backups list` shows of each backup's metadata.
SUMMARY_KEYS = (
    "id",
    "created_at",
    "kind",
    "path",
    "verified",
    "schema_version",
    "app_release",
    "row_counts",
    "size_bytes",
)


def summarize(backup: dict[str, Any]) -> dict[str, Any]:
    """The fields an operator picks a backup by; the verification time if there is one."""
    summary = {key: backup.get(key) for key in SUMMARY_KEYS}
    verification = backup.get("verification") or {}
    summary["verified_at"] = verification.get("at") if verification.get("ok") else None
    if verification and not verification.get("ok"):
        summary["verification_error"] = verification.get("detail")
    return summary


def raise_reported_failure(outcome: RunOutcome, what: str) -> None:
    """Raise the refusal the run reported (not authorized, locked, precondition), else a
    plain RollbackError: these runs change no release, so "rollback failed" would mislead."""
    if not outcome.ok:
        reported = error_class(outcome)
        raise (RollbackError if reported is RunFailedError else reported)(
            f"{what}: {failure_message(outcome)}"
        )


def list_backups(environment: str) -> dict[str, Any]:
    """{"environment", "backups": [...newest first]} read from the db host."""
    env = get_environment(environment)
    outcome = run_playbook(env, "backups.yml", check=True)
    raise_reported_failure(outcome, f"could not list the backups of {environment}")
    backups = outcome.stats.get("backups") or []
    return {"environment": env.name, "backups": [summarize(b) for b in backups]}


def take_backup(
    environment: str, *, kind: str = "manual", on_step: Callable[[Step], None] | None = None
) -> dict[str, Any]:
    """Take a backup on the db host; the new backup's summary and what retention deleted."""
    env = get_environment(environment)
    outcome = run_playbook(env, "backup.yml", extravars={"backup_kind": kind}, on_step=on_step)
    raise_reported_failure(outcome, f"backup of {environment} failed")
    taken = outcome.stats.get("backup_taken") or {}
    if not taken.get("backup"):
        raise RollbackError(f"backup of {environment} reported no backup (see {outcome.run_dir})")
    return {
        "environment": env.name,
        "backup": summarize(taken["backup"]),
        "deleted": taken.get("deleted", []),
        "run_id": outcome.run_id,
        "artifacts": str(outcome.run_dir),
    }


def verify_backup(
    environment: str,
    backup_id: str | None = None,
    *,
    on_step: Callable[[Step], None] | None = None,
) -> dict[str, Any]:
    """Restore a backup into a scratch database, run the checklist there, record the outcome."""
    env = get_environment(environment)
    extravars = {"rollback_to": backup_id} if backup_id else {}
    outcome = run_playbook(env, "backup_verify.yml", extravars=extravars, on_step=on_step)
    if not outcome.ok:
        refused = outcome.stats.get("failure_kind") == "UsageError"
        raise (UsageError if refused else VerificationError)(failure_message(outcome))
    return {
        "environment": env.name,
        "backup": outcome.stats.get("backup_verified"),
        "verified": True,
        "checklist": outcome.stats.get("checklist") or [],
        "run_id": outcome.run_id,
        "artifacts": str(outcome.run_dir),
    }
