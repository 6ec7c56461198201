"""Where rollbackctl finds its playbooks and inventories and keeps its local state."""

from __future__ import annotations

import os
from pathlib import Path

# The reviewed checkout is the trust root: it is found from this file, never from the caller's
# environment, so nobody can point a run at their own policy or playbooks.
PROJECT_DIR = Path(__file__).resolve().parent.parent


def project_dir() -> Path:
    """The checkout holding playbooks/, roles/, inventories/ and ansible.cfg."""
    return PROJECT_DIR


def state_dir() -> Path:
    """Local state of the embedded environments: run artifacts and the sandbox stacks.

    ROLLBACKCTL_STATE_DIR moves it (tests run stacks of their own). Guarded environments keep
    their locks, nonces, signers and audit log in the state dir their policy names instead.
    """
    return Path(os.environ.get("ROLLBACKCTL_STATE_DIR", PROJECT_DIR / ".state"))


def controller_dir() -> Path:
    """Per-process grants and host identities of runs on this controller; never moved."""
    return PROJECT_DIR / ".state" / "controller"


def inventories_dir() -> Path:
    return PROJECT_DIR / "inventories"
