"""Where the collection's playbooks, registry and inventories are, and where local state goes."""

from __future__ import annotations

import os
from pathlib import Path

# The reviewed tree is the trust root: the collection this file belongs to (the checkout, or
# the collection installed in an execution environment). It is found from this file, never
# from the caller's environment, so nobody can point a run at their own policy or playbooks.
PROJECT_DIR = Path(__file__).resolve().parents[2]


def project_dir() -> Path:
    """The collection root holding playbooks/, roles/, meta/ and inventories/."""
    return PROJECT_DIR


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
