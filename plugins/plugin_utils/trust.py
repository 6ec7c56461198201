"""Where each environment's trust root lives: locks, nonces, signers and the audit log."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import RollbackError
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import (
    inventories_dir,
    project_dir,
    state_dir,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.policy import (
    load_environment_policy,
)


def environment_state_dir(environment: str) -> Path:
    """A guarded environment's state dir comes from its reviewed policy, never from the caller.

    Embedded environments (sandbox, drill) and names without a policy keep the local state
    dir, which ROLLBACKCTL_STATE_DIR may move: nothing there protects a guarded host.
    """
    try:
        policy = load_environment_policy(environment)
    except RollbackError:
        return state_dir()
    if not policy.guarded:
        return state_dir()
    root = Path(policy.state_dir)
    return (root if root.is_absolute() else project_dir() / root) / environment


def is_guarded(environment: str) -> bool:
    """True for an environment whose hosts change only inside an authorized run.

    An environment without a readable policy counts as guarded: a broken policy never opens
    a door.
    """
    try:
        return load_environment_policy(environment).guarded
    except RollbackError:
        return True


def list_environments_with_policy() -> list[str]:
    """Environments this checkout can authorize: those with a policy.yml."""
    return sorted(p.parent.name for p in inventories_dir().glob("*/policy.yml"))
