"""A finished run's record on this controller: its result document and its folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import check_id

from rollbackctl.run.runner import runs_dir


def recorded_result(run_id: str) -> tuple[dict[str, Any], Path]:
    """(result document, run folder) of run_id; UsageError names what is missing."""
    run_id = check_id(run_id, "run id")
    folder = runs_dir() / run_id
    path = folder / "result.json"
    try:
        result = json.loads(path.read_text())
    except FileNotFoundError:
        if folder.is_dir():
            raise UsageError(
                f"run {run_id} has no result yet", hint=f"follow it: rollbackctl attach {run_id}"
            ) from None
        raise UsageError(
            f"no run {run_id} recorded on this controller",
            hint="see 'rollbackctl status ENV' for the latest runs",
        ) from None
    except ValueError:
        raise UsageError(
            f"the record of run {run_id} ({path}) is not JSON", hint="see its run folder"
        ) from None
    if not isinstance(result, dict):
        raise UsageError(f"the record of run {run_id} ({path}) is not a result document")
    return result, folder
