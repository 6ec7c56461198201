"""Database backups, restores, read-only mode and the data-corruption response, for the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rollbackctl.environments import get_environment
from rollbackctl.errors import (
    PreflightError,
    RollbackError,
    RunFailedError,
    UsageError,
    VerificationError,
)
from rollbackctl.report import operator, write_bundle
from rollbackctl.rollback import error_class, failure_message, run_rollback, sign_run_request
from rollbackctl.runner import RunOutcome, Step, new_run_id, run_playbook

LIST_TASK = "List the backups"
BACKUP_TASK = "Back up the database"
UNKNOWN_BACKUP_TASK = "Refuse an unknown or missing backup"
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


def _result_of(outcome: RunOutcome, task_prefix: str) -> list[dict[str, Any]]:
    return [
        s.result
        for s in outcome.steps
        if s.task.startswith(task_prefix) and s.status in ("ok", "changed")
    ]


def _raise_failure(outcome: RunOutcome, what: str) -> None:
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
    _raise_failure(outcome, f"could not list the backups of {environment}")
    results = _result_of(outcome, LIST_TASK)
    backups = results[0].get("backups", []) if results else []
    return {"environment": env.name, "backups": [summarize(b) for b in backups]}


def take_backup(
    environment: str, *, kind: str = "manual", on_step: Callable[[Step], None] | None = None
) -> dict[str, Any]:
    """Take a backup on the db host; the new backup's summary and what retention deleted."""
    env = get_environment(environment)
    outcome = run_playbook(env, "backup.yml", extravars={"backup_kind": kind}, on_step=on_step)
    _raise_failure(outcome, f"backup of {environment} failed")
    result = _result_of(outcome, BACKUP_TASK)[0]
    return {
        "environment": env.name,
        "backup": summarize(result["backup"]),
        "deleted": result.get("deleted", []),
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
        failed = outcome.failures()
        refused = any(f.task.startswith(UNKNOWN_BACKUP_TASK) for f in failed)
        raise (UsageError if refused else VerificationError)(failure_message(outcome))
    return {
        "environment": env.name,
        "backup": outcome.stats.get("backup_verified"),
        "verified": True,
        "checklist": outcome.stats.get("checklist") or [],
        "run_id": outcome.run_id,
        "artifacts": str(outcome.run_dir),
    }


def set_read_only(
    environment: str,
    state: str,
    *,
    on_step: Callable[[Step], None] | None = None,
    approvals: Sequence[str | Path] = (),
    break_glass: bool = False,
    key: str | Path | None = None,
) -> dict[str, Any]:
    """Switch read-only mode on or off; raises unless the write probe proved the new mode.

    Stopping every write is authorized like an emergency stop, inside the playbook run.
    """
    if state not in ("on", "off"):
        raise UsageError(f"read-only mode must be on or off, not {state!r}")
    env = get_environment(environment)
    extravars = {
        "read_only_state": state,
        "rollback_confirmed": True,
        "rollback_requester": operator(),
        "rollback_approvals": [str(Path(p).resolve()) for p in approvals],
        "rollback_break_glass": break_glass,
    }
    run_id = new_run_id()
    if key:
        extravars["rollback_request"] = str(
            sign_run_request(
                run_id, env.name, "emergency-stop", extravars["rollback_requester"], key
            )
        )
    outcome = run_playbook(
        env, "read_only.yml", extravars=extravars, on_step=on_step, run_id=run_id
    )
    _raise_failure(outcome, f"read-only {state} on {environment} failed")
    database = outcome.stats.get("database") or {}
    return {
        "environment": env.name,
        "read_only": database.get("read_only"),
        "write_probe": database.get("write_probe"),
        "run_id": outcome.run_id,
        "artifacts": str(outcome.run_dir),
    }


def run_restore(
    rollback_type: str,
    environment: str,
    *,
    backup_id: str | None = None,
    allow_schema_mismatch: bool = False,
    check: bool = False,
    on_step: Callable[[Step], None] | None = None,
    extravars: dict[str, Any] | None = None,
    approvals: Sequence[str | Path] = (),
    break_glass: bool = False,
    key: str | Path | None = None,
) -> dict[str, Any]:
    """Run the db or data-corruption playbook; the result adds the database facts of the run."""
    if rollback_type not in ("db", "data-corruption"):
        raise UsageError(f"not a database rollback type: {rollback_type}")
    extravars = dict(extravars or {})
    if allow_schema_mismatch:
        extravars["rollback_allow_schema_mismatch"] = True
    try:
        result = run_rollback(
            rollback_type,
            environment,
            target=backup_id,
            check=check,
            on_step=on_step,
            extravars=extravars,
            approvals=approvals,
            break_glass=break_glass,
            key=key,
        )
    except (PreflightError, RollbackError) as exc:
        failed = getattr(exc, "result", None)
        if failed is not None:
            _add_database_facts(failed, allow_schema_mismatch)
        raise
    _add_database_facts(result, allow_schema_mismatch)
    return result


def _add_database_facts(result: dict[str, Any], allow_schema_mismatch: bool) -> None:
    """Fold the run's database stats into result.json: backups, kept copy, swap window."""
    stats = run_stats(Path(result["artifacts"]))
    result["database"] = stats.get("database") or {}
    if stats.get("corruption"):
        result["corruption"] = stats["corruption"]
    result["requested"]["allow_schema_mismatch"] = allow_schema_mismatch
    write_bundle(result, Path(result["artifacts"]))


def run_stats(run_dir: Path) -> dict[str, Any]:
    """The set_stats data of a finished run, read back from its job events on disk."""
    events = run_dir / "artifacts" / "ansible" / "job_events"
    for path in sorted(events.glob("*.json"), reverse=True):
        try:
            event = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if event.get("event") == "playbook_on_stats":
            return (event.get("event_data") or {}).get("artifact_data") or {}
    return {}
