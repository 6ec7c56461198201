"""Extra vars named awx_* and tower_* pass the run-input check untouched: AWX sets them on
every job. They stay harmless only while nothing but the launching user's name is read from
them; a role or playbook variable with that prefix would be one the launcher could set."""

from __future__ import annotations

import re
from pathlib import Path

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import (
    PLATFORM_PREFIXES,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
# Read by the authorize step only as the launching user's name (recorded, and the requester
# where the policy says AWX's login proves who asks).
READ = {"awx_user_name", "tower_user_name"}
PREFIXES = "|".join(PLATFORM_PREFIXES)
NAME = re.compile(rf"\b((?:{PREFIXES})[A-Za-z0-9_]+)")


def test_no_step_reads_a_platform_variable_but_the_launching_user() -> None:
    found: dict[str, str] = {}
    for folder in ("roles", "playbooks", "plugins", "inventories", "meta"):
        for path in (REPO_ROOT / folder).rglob("*"):
            if path.suffix not in {".yml", ".yaml", ".py", ".j2"} or not path.is_file():
                continue
            for name in NAME.findall(path.read_text(encoding="utf-8")):
                found.setdefault(name, str(path.relative_to(REPO_ROOT)))
    # awx_requester is a policy key, not a variable; prose in docstrings names the prefixes.
    used = {n: p for n, p in found.items() if n not in READ | {"awx_requester"}}
    assert used == {}, "a variable with a prefix AWX sets can be set by the launcher"
