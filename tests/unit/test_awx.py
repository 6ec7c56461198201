"""AWX job templates are generated from the roles' argument specs and cannot drift from them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollbackctl.tools import awx

REPO_ROOT = Path(__file__).resolve().parents[2]


def template(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "awx" / "job_templates" / f"{name}.yml").read_text())


def questions(name: str) -> dict[str, dict[str, Any]]:
    return {q["variable"]: q for q in template(name)["survey_spec"]["spec"]}


def test_committed_templates_match_the_generator() -> None:
    stale = [str(p.relative_to(REPO_ROOT)) for p in awx.stale(REPO_ROOT)]
    assert stale == [], "regenerate with: .venv/bin/python -m rollbackctl.tools.awx"


def test_every_rollback_playbook_has_a_job_template() -> None:
    playbooks = {p.stem for p in awx.rollback_playbooks(REPO_ROOT)}
    generated = {p.stem for p in (REPO_ROOT / "awx" / "job_templates").glob("*.yml")}
    assert "app" in playbooks
    assert generated == playbooks


def test_templates_run_a_project_file_that_only_imports_the_collections_runbook() -> None:
    """AWX runs project files; the authorize step accepts the collection's runbook only, as
    written, which in AWX is the execution environment's, reached by name."""
    for playbook in awx.rollback_playbooks(REPO_ROOT):
        path = template(playbook.stem)["playbook"]
        assert path == f"awx/playbooks/{playbook.name}"
        plays = yaml.safe_load((REPO_ROOT / path).read_text())
        assert [set(play) for play in plays] == [{"name", "ansible.builtin.import_playbook"}]
        assert (
            plays[0]["ansible.builtin.import_playbook"] == f"rollbackctl.runbooks.{playbook.stem}"
        )


def test_every_survey_asks_for_confirmation_defaulting_to_no() -> None:
    for playbook in awx.rollback_playbooks(REPO_ROOT):
        confirmed = questions(playbook.stem)["rollback_confirmed"]
        assert (confirmed["choices"], confirmed["default"]) == (["false", "true"], "false")


def test_target_question_is_the_input_the_authorize_step_reads() -> None:
    to = questions("app")["rollback_to"]
    assert to["question_name"] == "Release or backup to roll back to"
    assert "rollback_authorize" in to["question_description"]
    assert (to["type"], to["default"], to["required"]) == ("text", "", False)


def test_read_only_job_asks_which_state_and_has_no_default() -> None:
    state = questions("read_only")["read_only_state"]
    assert (state["type"], state["choices"], state["required"]) == (
        "multiplechoice",
        ["on", "off"],
        True,
    )
    assert state["default"] == ""
    assert "read_only_state" not in questions("emergency_stop")


def test_every_registered_type_gets_a_template_named_for_it() -> None:
    assert template("read_only")["name"] == "rollbackctl read-only (read_only.yml)"
    assert template("database")["name"] == "rollbackctl db (database.yml)"
    summary = "Roll the database back to a backup, keeping the current one."
    assert template("database")["description"].startswith(summary)


def test_list_inputs_are_left_to_extra_vars() -> None:
    app = template("app")
    assert "rollback_approvals" not in questions("app")
    assert app["ask_variables_on_launch"] is True
    assert "rollback_approvals" in app["description"]


def test_check_job_type_can_be_chosen_at_launch() -> None:
    assert template("app")["ask_job_type_on_launch"] is True


def test_a_changed_argument_spec_changes_the_survey(tmp_path: Path) -> None:
    for folder in ("playbooks", "roles", "meta"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder, symlinks=True)
    spec_path = tmp_path / "roles" / "backup_select" / "meta" / "argument_specs.yml"
    specs = yaml.safe_load(spec_path.read_text())
    option = specs["argument_specs"]["main"]["options"]["backup_select_allow_schema_mismatch"]
    option["description"] = "Restore across schema versions."
    spec_path.write_text(yaml.safe_dump(specs))
    generated = awx.generate(tmp_path)
    db = yaml.safe_load(generated[tmp_path / "awx" / "job_templates" / "database.yml"])
    question = next(
        q for q in db["survey_spec"]["spec"] if q["variable"] == "rollback_allow_schema_mismatch"
    )
    assert question["question_name"] == "Restore across schema versions"


@pytest.mark.parametrize(
    ("expression", "inputs"),
    [
        ("{{ rollback_to | default('') }}", ["rollback_to"]),
        (
            "{{ hostvars['localhost'].rollback_target | default(rollback_to | default('')) }}",
            ["rollback_to"],
        ),
        ("{{ rollback_type }}", []),
        ("{{ app_root }}", []),
    ],
)
def test_inputs_are_top_level_rollback_variables_read_with_a_default(
    expression: str, inputs: list[str]
) -> None:
    assert awx.INPUT_REF.findall(expression) == inputs
