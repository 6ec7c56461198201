"""Restore points as the db host keeps them: what a verified deploy left together (release,
configuration and integration commits, infrastructure snapshot, database backup)."""

from __future__ import annotations

from typing import Any

from rollbackctl.run import infra
from rollbackctl.run.backups import raise_reported_failure
from rollbackctl.run.environments import get_environment
from rollbackctl.run.runner import run_playbook


def list_restore_points(environment: str) -> dict[str, Any]:
    """{"environment", "restore_points": [...newest first]}: each with what it is missing (a
    backup retention removed, a snapshot a host lacks); complete when nothing is."""
    env = get_environment(environment)
    outcome = run_playbook(env, "restore_points.yml", check=True)
    raise_reported_failure(outcome, f"could not list the restore points of {environment}")
    backups = {b["id"]: b for b in outcome.stats.get("backups") or []}
    by_host = outcome.stats.get("infra_snapshots") or {}
    snapshots = {s["id"]: s for s in infra.merge(by_host)}
    points = [
        annotate(point, backups, snapshots, sorted(by_host))
        for point in outcome.stats.get("restore_points") or []
    ]
    points.sort(key=lambda p: (p.get("created_at", ""), p.get("id", "")), reverse=True)
    return {"environment": env.name, "restore_points": points}


def annotate(
    point: dict[str, Any],
    backups: dict[str, dict[str, Any]],
    snapshots: dict[str, dict[str, Any]],
    hosts: list[str],
) -> dict[str, Any]:
    """The restore point with `missing`: one line per component it names that is not there."""
    missing = []
    backup = backups.get(point.get("backup", ""))
    if backup is None:
        missing.append(f"backup {point.get('backup')} is no longer kept")
    snapshot = snapshots.get(point.get("infra_snapshot", ""))
    lacking = sorted(set(hosts) - set((snapshot or {}).get("hosts", {})))
    if lacking:
        missing.append(f"snapshot {point.get('infra_snapshot')} is missing on {', '.join(lacking)}")
    elif snapshot is not None and not snapshot["verified"]:
        missing.append(f"snapshot {point.get('infra_snapshot')} no longer matches its checksums")
    return {**point, "missing": missing, "complete": not missing}
