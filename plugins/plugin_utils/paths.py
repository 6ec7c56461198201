"""Where rollbackctl finds its playbooks and inventories and keeps its local state."""

from __future__ import annotations

import os
from pathlib import Path

# The reviewed checkout is the trust root: it is found from this file, never from the caller's
# environment, so nobody can point a run at their own policy or playbooks.
PROJECT_DIR = Path(__file__).resolve().parent.parent
_collection_root: Path | None = None


def use_collection_root(root: Path) -> None:
    """Inside a playbook run, the checkout is the collection the running plugin came from.

    An action plugin calls this with its own location: the plugin code, the playbooks and the
    policies then come from one reviewed tree (an AWX project), wherever this library is
    installed.
    """
    global _collection_root
    _collection_root = root.resolve()


def project_dir() -> Path:
    """The checkout holding playbooks/, roles/, inventories/ and ansible.cfg."""
    return _collection_root or PROJECT_DIR


def state_dir() -> Path:
    """Local state of the embedded environments: run artifacts and the sandbox stacks.

    ROLLBACKCTL_STATE_DIR moves it (tests run stacks of their own). Guarded environments keep
    their locks, nonces, signers and audit log in the state dir their policy names instead.
    """
    return Path(os.environ.get("ROLLBACKCTL_STATE_DIR", project_dir() / ".state"))


def controller_dir() -> Path:
    """Per-process grants and host identities of runs on this controller; never moved."""
    return project_dir() / ".state" / "controller"


def inventories_dir() -> Path:
    return project_dir() / "inventories"
