"""Read the release ledgers of an environment's app hosts."""

from __future__ import annotations

from typing import Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import RollbackError

from rollbackctl.run.environments import get_environment
from rollbackctl.run.runner import RunOutcome, run_playbook


def list_releases(environment: str) -> dict[str, Any]:
    """{"environment", "hosts": {host: {"current", "releases": [...]}}} from every app host."""
    env = get_environment(environment)
    outcome = run_playbook(env, "releases.yml", check=True)
    if not outcome.ok:
        raise RollbackError(f"could not read release ledgers of {environment}: {_cause(outcome)}")
    hosts: dict[str, Any] = {}
    for host, ledger in sorted((outcome.stats.get("ledgers") or {}).items()):
        current = ledger.get("current")
        hosts[host] = {
            "current": current,
            "releases": [
                {
                    "id": r["id"],
                    "state": r["state"],
                    "seq": r["seq"],
                    "deployed_at": r.get("deployed_at"),
                    "current": r["id"] == current,
                }
                for r in ledger.get("releases") or []
            ],
        }
    return {"environment": env.name, "hosts": hosts}


def _cause(outcome: RunOutcome) -> str:
    """One line: the host and what its ledger task reported (the path and the fix)."""
    failed = outcome.failures()
    if not failed:
        return outcome.status
    last = failed[-1]
    lines = last.message.strip().splitlines()
    return f"{last.host}: {lines[0] if lines else last.task + ' failed'}"
