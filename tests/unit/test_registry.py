"""The registry of rollback types: loaded strictly, and every place that lists types agrees."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import registry
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import RUN_INPUTS

from rollbackctl.cli.main import main
from rollbackctl.tools import awx

REPO_ROOT = Path(__file__).resolve().parents[2]


def copy_registry(tmp_path: Path, edit) -> Path:
    shutil.copytree(REPO_ROOT / "meta", tmp_path / "meta")
    shutil.copytree(REPO_ROOT / "playbooks", tmp_path / "playbooks")
    path = tmp_path / "meta" / "rollbacks.yml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))
    return tmp_path


def test_every_playbook_that_imports_the_preflight_is_registered() -> None:
    runbooks = {p.name for p in awx.preflight_playbooks(REPO_ROOT)}
    assert runbooks == set(registry.by_playbook(REPO_ROOT))


def test_every_registered_type_has_its_playbook_and_it_imports_the_preflight() -> None:
    preflight = {p.name for p in awx.preflight_playbooks(REPO_ROOT)}
    for entry in registry.rollback_types(REPO_ROOT).values():
        assert (REPO_ROOT / "playbooks" / entry.playbook).is_file(), entry.name
        assert entry.playbook in preflight, entry.name


def test_an_unregistered_runbook_is_found(tmp_path: Path) -> None:
    """The check above can fail: a new playbook with the preflight and no entry is caught."""
    shutil.copytree(REPO_ROOT / "playbooks", tmp_path / "playbooks")
    shutil.copytree(REPO_ROOT / "meta", tmp_path / "meta")
    (tmp_path / "playbooks" / "drain.yml").write_text(
        "---\n- name: Shared preflight\n  ansible.builtin.import_playbook: preflight.yml\n"
    )
    runbooks = {p.name for p in awx.preflight_playbooks(tmp_path)}
    assert runbooks - set(registry.by_playbook(tmp_path)) == {"drain.yml"}


def test_every_registered_type_is_a_cli_command_with_its_options() -> None:
    for name, entry in registry.rollback_types(REPO_ROOT).items():
        command = main.commands[name]
        flags = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert {o.flag for o in entry.options} <= flags, name
        if entry.target:
            assert entry.target.option in flags, name
        assert ("--check" in flags) is entry.confirm, name
        assert {"--approval", "--break-glass", "--key", "--output"} <= flags, name


def test_registered_inputs_are_run_inputs_the_authorize_step_checks() -> None:
    for entry in registry.rollback_types(REPO_ROOT).values():
        assert entry.inputs() <= set(RUN_INPUTS), entry.name


def test_every_environment_policy_rules_on_exactly_the_registered_policy_keys() -> None:
    keys = set(registry.policy_keys(REPO_ROOT))
    for path in sorted((REPO_ROOT / "inventories").glob("*/policy.yml")):
        rules = set((yaml.safe_load(path.read_text()) or {}).get("rules") or {})
        assert rules <= keys, path
        if "defaults" not in yaml.safe_load(path.read_text()):
            assert rules == keys, path


def test_the_readme_table_of_types_matches_the_registry() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    rows = re.findall(
        r"^\| `([a-z-]+)` \| `playbooks/([a-z_]+\.yml)` \| `([a-z-]+)` \| ([a-z, ]+) \|",
        readme,
        re.M,
    )
    table = {
        name: (playbook, policy, tuple(g.strip() for g in groups.split(",")))
        for name, playbook, policy, groups in rows
    }
    expected = {
        name: (entry.playbook, entry.policy, entry.groups)
        for name, entry in registry.rollback_types(REPO_ROOT).items()
    }
    assert table == expected


def _policy_cell(rule: dict[str, Any]) -> str:
    cell = f"{rule['approvers']} of {', '.join(rule['roles'])}; {rule['escalation']}"
    if rule.get("break_glass"):
        cell += f"; break-glass: {', '.join(rule['break_glass']['roles'])}"
    return cell


def _drills_running(playbook: str) -> str:
    scenarios = sorted(
        path.parent.name
        for path in (REPO_ROOT / "molecule").glob("*/converge.yml")
        if re.search(rf"drill_run_playbook: {re.escape(playbook)}$", path.read_text(), re.M)
    )
    return ", ".join(f"`{name}`" for name in scenarios) or "none yet"


def test_the_readme_says_who_authorizes_each_type_in_production_and_which_drill_runs_it() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z-]+)` \| [^|]+ \| ([^|]+) \| ([^|]+) \|$", readme, re.M)
    rules = yaml.safe_load((REPO_ROOT / "inventories/production/policy.yml").read_text())["rules"]
    expected = {
        name: (_policy_cell(rules[entry.policy]), _drills_running(entry.playbook))
        for name, entry in registry.rollback_types(REPO_ROOT).items()
    }
    assert {name: (policy, drill) for name, policy, drill in rows} == expected


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda d: d.update(version=2), "version: must be 1"),
        (lambda d: d["rollbacks"]["app"].update(colour="red"), "app: unknown keys colour"),
        (lambda d: d["rollbacks"]["app"].update(playbook="../x.yml"), "app.playbook"),
        (lambda d: d["rollbacks"]["app"].update(groups=["web"]), "app.groups"),
        (lambda d: d["rollbacks"]["db"].update(playbook="app.yml"), "registered twice"),
        (
            lambda d: d["rollbacks"]["db"]["options"].append(
                {"flag": "--x", "help": "h", "input": "rollback_to"}
            ),
            "db.options.input",
        ),
        (lambda d: d["rollbacks"].update({"Bad Name": {}}), "lower-case"),
        (lambda d: d["rollbacks"]["app"].pop("confirm"), "app.confirm"),
        (
            lambda d: d["rollbacks"]["app"].update(playbook="drain.yml"),
            "app.playbook: playbooks/drain.yml does not exist",
        ),
    ],
)
def test_a_malformed_registry_is_refused_naming_the_entry(
    tmp_path: Path, edit, problem: str
) -> None:
    root = copy_registry(tmp_path, edit)
    with pytest.raises(UsageError) as caught:
        registry.rollback_types(root)
    assert problem in str(caught.value)


def test_an_unknown_type_names_the_registered_ones() -> None:
    with pytest.raises(UsageError) as caught:
        registry.get("drain", REPO_ROOT)
    assert "unknown rollback type 'drain'" in caught.value.one_line()
    listed = "app, config, data-corruption, db, emergency-stop, full, infra, read-only, resume"
    assert listed in caught.value.one_line()


def test_the_result_records_every_registered_flag_and_only_the_types_inputs() -> None:
    from rollbackctl.run.rollback import requested

    db = registry.get("db", REPO_ROOT)
    asked = requested(db, "b1", [], False, {"rollback_to": "b1", "read_only_state": "on"})
    assert asked == {
        "to": "b1",
        "approvals": [],
        "break_glass": False,
        "allow_schema_mismatch": False,
        "reason": None,
        "note": None,
    }
    forced = requested(db, None, [], False, {"rollback_allow_schema_mismatch": True})
    assert forced["allow_schema_mismatch"] is True
    said = requested(db, None, [], False, {"rollback_reason": "feature-broken"})
    assert (said["reason"], said["note"]) == ("feature-broken", None)


@pytest.mark.parametrize(
    ("name", "inputs", "action"),
    [
        ("read-only", {"read_only_state": "on"}, "on"),
        ("read-only", {"read_only_state": "off"}, "off"),
        ("read-only", {}, ""),
        ("emergency-stop", {"read_only_state": "off"}, "emergency-stop"),
        ("resume", {}, "resume"),
        ("app", {}, None),
        ("db", {"read_only_state": "on"}, None),
    ],
)
def test_approvals_of_types_sharing_a_rule_name_their_action(
    name: str, inputs: dict[str, str], action: str | None
) -> None:
    assert registry.get(name, REPO_ROOT).action_target(inputs) == action


def test_a_third_party_run_is_scoped_to_its_service() -> None:
    """Its approvals must name the service: the scope is the required --service's value."""
    third_party = registry.get("third-party")
    assert third_party.scope({"rollback_service": "payment"}) == "payment"
    assert third_party.scope({}) == ""
    assert registry.get("config").scope({"rollback_service": "payment"}) is None
