"""The shipped example production inventory, run from a controller that cannot reach it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import registry

from tests.support.sandbox import REPO_ROOT, ROLLBACKCTL

pytestmark = pytest.mark.integration

PRODUCTION = REPO_ROOT / "inventories" / "production"
RUNBOOKS = sorted(registry.by_playbook().values(), key=lambda entry: entry.name)


def command(entry: registry.RollbackType) -> list[str]:
    """The CLI line an operator types for entry on production, prompt answered."""
    arguments = [argument.choices[0] for argument in entry.arguments]
    required = [
        given for option in entry.options if option.required for given in (option.flag, "payment")
    ]
    return [
        entry.name,
        "production",
        *arguments,
        *required,
        *(["--yes"] if entry.confirm else []),
    ]


@pytest.mark.parametrize("entry", RUNBOOKS, ids=[entry.name for entry in RUNBOOKS])
def test_every_runbook_on_unreachable_production_hosts_says_so_and_changes_nothing(
    entry: registry.RollbackType, tmp_path: Path
) -> None:
    env = {**os.environ, "ROLLBACKCTL_STATE_DIR": str(tmp_path)}
    env.pop("ROLLBACKCTL_KEY", None)
    proc = subprocess.run(
        [str(ROLLBACKCTL), *command(entry), "-o", "json"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert proc.returncode == 3, proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("rollbackctl: error: no host answered the preflight (")
    assert "unreachable" in error and "nothing changed" in error
    assert f"ansible -i {PRODUCTION / 'hosts.yml'} all -m ansible.builtin.ping" in error
    hosts = yaml.safe_load((PRODUCTION / "hosts.yml").read_text())["all"]["children"]
    for group in entry.groups:
        for host in hosts[group]["hosts"]:
            assert host in error
            progress = next(
                line for line in proc.stderr.splitlines() if f"unreachable {host} " in line
            )
            assert "ssh: " in progress, progress
    document = json.loads(proc.stdout)
    assert document["status"] == "failed"
    assert all(host["changed"] == 0 for host in document["hosts"].values())
    reached = {name for name, host in document["hosts"].items() if host["status"] != "unreachable"}
    assert reached == {"localhost"}


def test_production_hosts_are_reached_over_ssh_with_host_keys_checked() -> None:
    connection = yaml.safe_load((PRODUCTION / "group_vars" / "all" / "connection.yml").read_text())
    assert connection["ansible_connection"] == "ssh"
    assert connection["ansible_host_key_checking"] is True
