"""A run's type is the runbook its loaded plays are: the collection's own, exactly as written.

The plays are loaded by Ansible itself, as ansible-playbook loads them, and described the way
the record callback describes them to the authorize step.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    NotAuthorizedError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import project_dir
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import (
    LoadedPlay,
    runbook_of,
    written_plays,
)

PLAYBOOKS = project_dir() / "playbooks"


WRAPPERS = {
    "awx_app": "- name: Application rollback\n"
    "  ansible.builtin.import_playbook: rollbackctl.runbooks.app\n",
    "play-before": "- name: First\n  hosts: localhost\n"
    "- ansible.builtin.import_playbook: rollbackctl.runbooks.app\n",
    "play-after": "- ansible.builtin.import_playbook: rollbackctl.runbooks.app\n"
    "- name: Afterwards\n  hosts: localhost\n",
    "import-vars": "- ansible.builtin.import_playbook: rollbackctl.runbooks.app\n"
    "  vars: {rollback_release_state_dir: /tmp/elsewhere}\n",
    "import-tags": "- ansible.builtin.import_playbook: rollbackctl.runbooks.app\n  tags: [quick]\n",
    "import-when": "- ansible.builtin.import_playbook: rollbackctl.runbooks.app\n"
    "  when: inventory_hostname == 'app1'\n",
    "two": "- ansible.builtin.import_playbook: rollbackctl.runbooks.app\n"
    "- ansible.builtin.import_playbook: rollbackctl.runbooks.database\n",
    "templated": "- ansible.builtin.import_playbook: \"rollbackctl.runbooks.{{ 'app' }}\"\n",
    "plugins-beside": "- ansible.builtin.import_playbook: rollbackctl.runbooks.app\n",
}
# One process of its own loads every playbook of this module: Ansible's collection finder,
# once installed, owns the ansible_collections namespace of its whole process.
LOAD = """
import json, sys
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.playbook import Playbook
from ansible.plugins.loader import init_plugin_loader
from ansible.vars.manager import VariableManager
init_plugin_loader([sys.argv[1]])
from ansible_collections.rollbackctl.runbooks.plugins.callback.rollback_record import _loaded
loaded = {}
for path in sys.argv[3:]:
    loader = DataLoader()
    variables = VariableManager(loader, InventoryManager(loader, sources=[sys.argv[2]]))
    book = Playbook.load(path, variable_manager=variables, loader=loader)
    loaded[path] = [vars(_loaded(play)) for play in book.get_plays()]
print(json.dumps(loaded))
"""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, list[LoadedPlay]]]:
    """Plays as Ansible loads them for ansible-playbook, by playbook: the collection's
    runbooks and helpers, a copy of its playbooks folder, a link to a runbook, and the
    playbooks of WRAPPERS, each in a folder of its own; (path, plays) by name."""
    folder = tmp_path_factory.mktemp("playbooks")
    shutil.copytree(PLAYBOOKS, folder / "copy")
    (folder / "link").mkdir()
    (folder / "link" / "app.yml").symlink_to(PLAYBOOKS / "app.yml")
    (folder / "link" / "preflight.yml").write_text("---\n- name: Nothing\n  hosts: localhost\n")
    paths = {name: PLAYBOOKS / f"{name}.yml" for name in ("app", "database", "read_only")}
    paths |= {name: PLAYBOOKS / f"{name}.yml" for name in ("deploy", "sandbox")}
    paths |= {"copy": folder / "copy" / "app.yml", "link": folder / "link" / "app.yml"}
    for name, text in WRAPPERS.items():
        paths[name] = folder / name / f"{name}.yml"
        paths[name].parent.mkdir()
        paths[name].write_text("---\n" + text)
    (folder / "plugins-beside" / "callback_plugins").mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD,
            str(project_dir() / "collections"),
            str(project_dir() / "inventories" / "sandbox" / "hosts.yml"),
            *map(str, paths.values()),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    plays = json.loads(done.stdout)
    return {
        name: (str(path), [LoadedPlay(**{**p, "tags": tuple(p["tags"])}) for p in plays[str(path)]])
        for name, path in paths.items()
    }


def verdict(run: tuple[str, list[LoadedPlay]]) -> tuple[str, str] | None:
    """runbook_of for ansible-playbook started with the playbook file."""
    path, plays = run
    return runbook_of([path], plays)


def test_the_collections_runbook_has_its_registered_type(loaded) -> None:
    assert loaded["database"][1] == written_plays(PLAYBOOKS / "database.yml")
    assert verdict(loaded["database"]) == ("database.yml", "db")
    assert verdict(loaded["read_only"]) == ("read_only.yml", "emergency-stop")


def test_the_runbook_named_by_its_collection_name_is_that_runbook(loaded) -> None:
    """ansible-playbook rollbackctl.runbooks.app"""
    assert runbook_of(["rollbackctl.runbooks.app"], loaded["app"][1]) == ("app.yml", "app")


def test_a_playbook_that_only_imports_the_runbook_by_name_is_that_runbook(loaded) -> None:
    """How AWX runs it: a project file importing the collection's runbook."""
    assert verdict(loaded["awx_app"]) == ("app.yml", "app")


def test_a_copy_elsewhere_is_not_a_runbook_even_when_identical(loaded) -> None:
    """What it imports would come from beside the copy, and the copy can change under the run."""
    assert loaded["copy"][1]
    assert verdict(loaded["copy"]) is None


def test_a_link_to_the_runbook_from_elsewhere_is_not_a_runbook(loaded) -> None:
    """Ansible loads preflight.yml from the link's folder, not the runbook's."""
    assert verdict(loaded["link"]) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("play-before", "is not one plain import of rollbackctl.runbooks.app"),
        ("play-after", "is not one plain import of rollbackctl.runbooks.app"),
        ("import-vars", "is not one plain import of rollbackctl.runbooks.app"),
        ("import-tags", "is not one plain import of rollbackctl.runbooks.app"),
        ("import-when", "is not one plain import of rollbackctl.runbooks.app"),
        ("two", "2 runbooks in one run (app.yml, database.yml)"),
        ("templated", "is not one plain import of rollbackctl.runbooks.app"),
        ("plugins-beside", "has callback_plugins/ beside it"),
    ],
)
def test_a_playbook_other_than_one_plain_import_is_refused(loaded, name: str, reason: str) -> None:
    with pytest.raises(NotAuthorizedError) as refused:
        verdict(loaded[name])

    assert reason in refused.value.one_line()
    assert "ansible-playbook rollbackctl.runbooks.NAME" in refused.value.one_line()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("play-before", "is not the runbook's"),
        ("play-after", "plays loaded, it has"),
        ("import-vars", "variables set by its import (rollback_release_state_dir)"),
        ("import-tags", "has tags quick added"),
        ("import-when", "imported under a condition"),
    ],
)
def test_plays_other_than_the_runbooks_as_written_are_refused(
    loaded, name: str, reason: str
) -> None:
    """Whatever file started them: the plays themselves are checked too."""
    with pytest.raises(NotAuthorizedError) as refused:
        runbook_of(["rollbackctl.runbooks.app"], loaded[name][1])

    assert reason in refused.value.one_line()


def test_a_playbook_the_registry_does_not_list_is_not_a_runbook(loaded) -> None:
    for name in ("deploy", "sandbox"):
        assert loaded[name][1]
        assert verdict(loaded[name]) is None


def test_one_runbook_per_run(loaded) -> None:
    """ansible-playbook app.yml database.yml: each playbook is checked as it starts."""
    with pytest.raises(NotAuthorizedError, match="2 runbooks in one run"):
        runbook_of([loaded["app"][0], loaded["database"][0]], loaded["app"][1])
