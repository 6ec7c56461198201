"""Run inputs reach Ansible as the plain values the CLI checked, never as templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import (
    check_id,
    input_problems,
)

from rollbackctl.run.runner import write_extravars


def as_ansible_reads_them(tmp_path: Path, values: dict) -> dict:
    # What `-e @file` does: the loader reads the file ansible-runner passes.
    return DataLoader().load_from_file(str(write_extravars(tmp_path, values)))


def test_words_yaml_would_turn_into_booleans_or_numbers_stay_strings(tmp_path: Path) -> None:
    values = {"read_only_state": "on", "rollback_to": "20261128", "rollback_requester": "yes"}
    read = as_ansible_reads_them(tmp_path, values)
    assert read == values
    assert input_problems(read) == []


def test_a_template_in_an_input_is_never_evaluated(tmp_path: Path) -> None:
    mark = tmp_path / "evaluated"
    text = f"{{{{ lookup('pipe', 'touch {mark}') }}}}"
    read = as_ansible_reads_them(tmp_path, {"rollback_to": text})
    templated = Templar(loader=DataLoader(), variables=read).template(read["rollback_to"])
    assert templated == text
    assert not mark.exists()
    assert input_problems(read) == ["-e rollback_to: not a valid id"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [("", "release is empty"), ("a b", "is not a valid id"), ("{{ x }}", "is not a valid id")],
)
def test_ids_are_checked_before_use(value: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        check_id(value, "release")


def test_only_run_inputs_are_taken() -> None:
    problems = input_problems({"release_select_target": "2026.11.1", "awx_user_name": "alice"})
    assert problems == [
        "-e release_select_target is not a run input (a run takes read_only_state, "
        "rollback_allow_schema_mismatch, rollback_approvals, rollback_break_glass, "
        "rollback_confirmed, rollback_request, rollback_requester, rollback_to, "
        "rollbackctl_run_id)"
    ]
