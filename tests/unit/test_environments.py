"""Environments are inventory folders; a broken one is refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import paths
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError

from rollbackctl.run.environments import get_environment, list_environments

GOOD = """all:
  children:
    app: {hosts: {app1: null}}
    db: {hosts: {db1: null}}
    lb: {hosts: {lb1: null}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(paths, "PROJECT_DIR", tmp_path)
    return tmp_path


def write_env(project: Path, name: str, text: str) -> None:
    (project / "inventories" / name).mkdir(parents=True)
    (project / "inventories" / name / "hosts.yml").write_text(text)


def test_environments_are_the_folders_with_hosts_yml(project: Path) -> None:
    write_env(project, "staging", GOOD)
    write_env(project, "production", GOOD)
    (project / "inventories" / "notes").mkdir()
    assert list_environments() == ["production", "staging"]


def test_unknown_environment_names_the_known_ones(project: Path) -> None:
    write_env(project, "staging", GOOD)
    with pytest.raises(UsageError) as err:
        get_environment("prod")
    assert err.value.one_line() == (
        "unknown environment 'prod'; known environments: staging (see 'rollbackctl envs')"
    )


def test_invalid_yaml_is_a_malformed_inventory(project: Path) -> None:
    write_env(project, "staging", "all:\n  children: [oops\n")
    with pytest.raises(UsageError, match=r"malformed inventory .*not valid YAML at line"):
        get_environment("staging")


def test_missing_group_is_a_malformed_inventory(project: Path) -> None:
    write_env(project, "staging", GOOD.replace("    lb: {hosts: {lb1: null}}\n", ""))
    with pytest.raises(UsageError, match="group 'lb' has no hosts"):
        get_environment("staging")


def test_hosts_of_a_group(project: Path) -> None:
    write_env(project, "staging", GOOD)
    assert get_environment("staging").hosts("app") == ["app1"]
