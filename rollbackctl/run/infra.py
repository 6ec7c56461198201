"""Infrastructure snapshots as the hosts keep them (the restores are the registered `infra`)."""

from __future__ import annotations

from typing import Any

from rollbackctl.run.backups import raise_reported_failure
from rollbackctl.run.environments import get_environment
from rollbackctl.run.runner import run_playbook


def list_snapshots(environment: str) -> dict[str, Any]:
    """{"environment", "snapshots": [...newest first]}: one entry per snapshot id, with the
    hosts that hold it; verified only when every copy on every host matches its checksum."""
    env = get_environment(environment)
    outcome = run_playbook(env, "infra_snapshots.yml", check=True)
    raise_reported_failure(outcome, f"could not list the infrastructure snapshots of {environment}")
    return {"environment": env.name, "snapshots": merge(outcome.stats.get("infra_snapshots") or {})}


def merge(by_host: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each host's snapshot lists as one list of snapshots, newest first."""
    merged: dict[str, dict[str, Any]] = {}
    for host, snapshots in sorted(by_host.items()):
        for snapshot in snapshots:
            entry = merged.setdefault(
                snapshot["id"],
                {
                    "id": snapshot["id"],
                    "taken_at": snapshot["taken_at"],
                    "reason": snapshot["reason"],
                    "verified": True,
                    "hosts": {},
                },
            )
            entry["taken_at"] = min(entry["taken_at"], snapshot["taken_at"])
            entry["verified"] = entry["verified"] and bool(snapshot["verified"])
            entry["hosts"][host] = {
                "files": snapshot["files"],
                "running": snapshot["running"],
                "verified": bool(snapshot["verified"]),
            }
    return sorted(merged.values(), key=lambda s: (s["taken_at"], s["id"]), reverse=True)
