"""What a database rollback's kept database holds that the restored one does not, from the run."""

from __future__ import annotations

from typing import Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError

from rollbackctl.run.environments import get_environment
from rollbackctl.run.records import recorded_result

RESTORING_TYPES = ("db", "data-corruption")


def kept_vs_restored(environment: str, run_id: str) -> dict[str, Any]:
    """The comparison run run_id recorded after its swap, with what ran."""
    get_environment(environment)
    result, _folder = recorded_result(run_id)
    if result.get("environment") != environment:
        raise UsageError(
            f"run {run_id} ran on {result.get('environment')}, not {environment}",
            hint=f"rollbackctl db-diff {result.get('environment')} {run_id}",
        )
    if result.get("type") not in RESTORING_TYPES:
        raise UsageError(
            f"run {run_id} is a {result.get('type')} rollback; only db and data-corruption "
            "runs keep the database they replaced",
            hint=f"pass the run id of one of those (rollbackctl status {environment})",
        )
    comparison = (result.get("database") or {}).get("kept_vs_restored")
    if not comparison:
        raise UsageError(
            f"run {run_id} did not swap a database in ({result.get('status')}"
            f"{', check mode' if result.get('check') else ''}): nothing was kept to compare",
            hint="pass the run id of a db or data-corruption run that restored a backup",
        )
    return {
        "environment": environment,
        "run_id": run_id,
        "type": result["type"],
        "backup": result.get("to"),
        **comparison,
    }
