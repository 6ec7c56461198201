"""Which playbook a run executes decides its type: only the collection's own runbook file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    NotAuthorizedError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import project_dir
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import playbook_type

PLAYBOOKS = project_dir() / "playbooks"


def test_the_collections_runbook_has_its_registered_type() -> None:
    assert playbook_type([str(PLAYBOOKS / "database.yml")]) == ("database.yml", "db")
    assert playbook_type(["playbooks/read_only.yml"], cwd=project_dir()) == (
        "read_only.yml",
        "emergency-stop",
    )


def test_a_copy_elsewhere_is_not_the_runbook_even_when_identical(tmp_path: Path) -> None:
    """What it imports would come from beside the copy, and the copy can change under the run."""
    shutil.copytree(PLAYBOOKS, tmp_path / "playbooks")

    with pytest.raises(NotAuthorizedError, match="is not a runbook of this collection"):
        playbook_type([str(tmp_path / "playbooks" / "app.yml")])


def test_a_link_to_the_runbook_from_elsewhere_is_refused(tmp_path: Path) -> None:
    """Ansible would load preflight.yml from the link's folder, not the runbook's."""
    (tmp_path / "app.yml").symlink_to(PLAYBOOKS / "app.yml")
    (tmp_path / "preflight.yml").write_text("---\n[]\n")

    with pytest.raises(NotAuthorizedError, match="is not a runbook of this collection"):
        playbook_type([str(tmp_path / "app.yml")])


def test_a_playbook_the_registry_does_not_list_is_refused() -> None:
    for name in ("deploy.yml", "sandbox.yml"):
        with pytest.raises(NotAuthorizedError, match="is not a runbook"):
            playbook_type([str(PLAYBOOKS / name)])


def test_one_runbook_per_run() -> None:
    with pytest.raises(NotAuthorizedError, match="2 playbooks in one run"):
        playbook_type([str(PLAYBOOKS / "app.yml"), str(PLAYBOOKS / "database.yml")])
