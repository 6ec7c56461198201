"""Which playbook a run executes decides its type: the collection's runbook or an exact copy."""

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


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """playbooks/ of an AWX project checkout of the same commit."""
    shutil.copytree(PLAYBOOKS, tmp_path / "playbooks")
    return tmp_path / "playbooks"


def test_the_collections_runbook_has_its_registered_type() -> None:
    assert playbook_type([str(PLAYBOOKS / "database.yml")]) == ("database.yml", "db")
    assert playbook_type(["playbooks/read_only.yml"], cwd=project_dir()) == (
        "read_only.yml",
        "emergency-stop",
    )


def test_an_exact_copy_in_a_project_checkout_is_the_same_runbook(project_copy: Path) -> None:
    assert playbook_type([str(project_copy / "app.yml")]) == ("app.yml", "app")


@pytest.mark.parametrize("edited", ["app.yml", "preflight.yml"])
def test_a_copy_that_differs_at_all_is_refused(project_copy: Path, edited: str) -> None:
    path = project_copy / edited
    path.write_text(path.read_text() + "# one more comment\n")

    with pytest.raises(NotAuthorizedError, match="is not a runbook of this collection"):
        playbook_type([str(project_copy / "app.yml")])


def test_a_playbook_the_registry_does_not_list_is_refused() -> None:
    for name in ("deploy.yml", "sandbox.yml"):
        with pytest.raises(NotAuthorizedError, match="is not a runbook"):
            playbook_type([str(PLAYBOOKS / name)])


def test_one_runbook_per_run() -> None:
    with pytest.raises(NotAuthorizedError, match="2 playbooks in one run"):
        playbook_type([str(PLAYBOOKS / "app.yml"), str(PLAYBOOKS / "database.yml")])
