"""Which playbook a run executes, of which rollback type, and which inputs a run may take.

The type of a run is the playbook's, read from the playbook file the run executes, never
from a variable: an approval for a lighter type can then never restore a database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import registry
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    NotAuthorizedError,
    UsageError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import project_dir

# Everything a launcher may pass with -e / extravars / a survey. Anything else would override
# a variable the runbook sets itself (extra vars win over set_fact), so it is refused.
RUN_INPUTS: Mapping[str, str] = {
    "rollback_confirmed": "bool",
    "rollback_to": "id",
    "rollback_approvals": "paths",
    "rollback_request": "path",
    "rollback_requester": "name",
    "rollback_break_glass": "bool",
    "rollback_allow_schema_mismatch": "bool",
    "rollbackctl_run_id": "id",
    "read_only_state": "on_off",
}
# The inputs every runbook takes, as the authorize step reads them (the AWX survey asks them).
COMMON_INPUTS: Mapping[str, Mapping[str, Any]] = {
    "rollback_confirmed": {
        "type": "bool",
        "default": False,
        "description": "The operator confirmed the run. The CLI sets it after asking; AWX and "
        "plain ansible-playbook pass -e rollback_confirmed=true; check mode needs none.",
    },
    "rollback_to": {
        "type": "str",
        "default": "",
        "description": "Release or backup to roll back to; empty takes the one the approvals "
        "name, else the runbook's default (the last stable release, the newest verified backup).",
    },
    "rollback_approvals": {
        "type": "list",
        "elements": "str",
        "default": [],
        "description": "Signed approval files on the controller (-e rollback_approvals=[...]).",
    },
    "rollback_requester": {
        "type": "str",
        "default": "",
        "description": "Who asks for the run; under AWX the launching user is recorded too.",
    },
    "rollback_break_glass": {
        "type": "bool",
        "default": False,
        "description": "Run under the policy's break-glass rule (sign-off due afterwards).",
    },
}
# Set by AWX/Tower itself on every job.
PLATFORM_PREFIXES = ("awx_", "tower_")

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
PATH_RE = re.compile(r"^/[A-Za-z0-9._/+@-]{1,4095}$")


def playbook_type(playbooks: Iterable[str], cwd: str | Path | None = None) -> tuple[str, str]:
    """(playbook file name, rollback type) of the one runbook this run executes."""
    given = list(playbooks)
    if len(given) != 1:
        raise NotAuthorizedError(
            f"{len(given)} playbooks in one run ({', '.join(given) or 'none'})",
            hint="run one runbook per ansible-playbook command",
        )
    path = Path(given[0])
    if not path.is_absolute():
        path = Path(cwd or Path.cwd()) / path
    home = (project_dir() / "playbooks").resolve()
    runbooks = registry.by_playbook()
    # The playbook file itself must sit in the collection's playbooks folder: Ansible loads
    # what it imports from the folder the file was named in, so a link to a reviewed runbook
    # from elsewhere would run the preflight beside the link.
    if path.name not in runbooks or path.is_symlink() or path.parent.resolve() != home:
        raise NotAuthorizedError(
            f"{given[0]} is not a runbook of this collection",
            hint=f"run one of {', '.join(sorted(runbooks))} from {home}",
        )
    return path.name, runbooks[path.name].policy


def input_problems(extra_vars: Mapping[str, Any]) -> list[str]:
    """One line per extra var a run must not take, or whose value is not plain data."""
    problems = []
    for name in sorted(extra_vars):
        if name.startswith(PLATFORM_PREFIXES):
            continue
        kind = RUN_INPUTS.get(name)
        if kind is None:
            problems.append(
                f"-e {name} is not a run input (a run takes {', '.join(sorted(RUN_INPUTS))})"
            )
            continue
        problem = _value_problem(kind, extra_vars[name])
        if problem:
            problems.append(f"-e {name}: {problem}")
    return problems


def check_id(value: object, what: str) -> str:
    """A release, backup or run id as plain text; UsageError names the problem."""
    if not isinstance(value, str) or not value:
        raise UsageError(f"{what} is empty", hint=f"name the {what} (see --help)")
    if not ID_RE.match(value):
        raise UsageError(
            f"{what} {value!r} is not a valid id",
            hint="use letters, digits and . _ : + - (up to 128 characters)",
        )
    return value


def _value_problem(kind: str, value: object) -> str | None:
    if kind == "bool":
        if isinstance(value, bool) or value in ("true", "false", "True", "False", "yes", "no"):
            return None
        return "must be true or false"
    if kind == "on_off":
        return None if value in ("on", "off") else "must be on or off"
    if kind == "id":
        if value == "":
            return None
        return None if isinstance(value, str) and ID_RE.match(value) else "not a valid id"
    if kind == "name":
        return None if isinstance(value, str) and NAME_RE.match(value) else "not a valid name"
    if kind == "path":
        if value == "":
            return None
        return None if isinstance(value, str) and PATH_RE.match(value) else "not a plain path"
    if kind == "paths":
        if not isinstance(value, list):
            return "must be a list of paths"
        bad = [p for p in value if not (isinstance(p, str) and PATH_RE.match(p))]
        return f"not a plain path: {bad[0]!r}" if bad else None
    return "unknown input kind"
