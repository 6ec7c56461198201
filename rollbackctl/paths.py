"""Where rollbackctl finds its playbooks and inventories and keeps its local state."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def project_dir() -> Path:
    """The checkout holding playbooks/, roles/, inventories/ and ansible.cfg."""
    return Path(os.environ.get("ROLLBACKCTL_PROJECT_DIR", PROJECT_DIR))


def state_dir() -> Path:
    """Local state: run artifacts, audit log, sandbox stack. Git-ignored."""
    return Path(os.environ.get("ROLLBACKCTL_STATE_DIR", project_dir() / ".state"))


def inventories_dir() -> Path:
    return project_dir() / "inventories"
