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
    run_trigger,
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
        "rollback_confirm_seconds, rollback_confirmed, rollback_note, rollback_reason, "
        "rollback_request, rollback_requester, rollback_service, rollback_to, rollbackctl_run_id)"
    ]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"rollback_reason": "boredom"}, "-e rollback_reason: not a manual reason (one of "),
        ({"rollback_reason": ["feature-broken"]}, "-e rollback_reason: not a manual reason"),
        ({"rollback_note": "a\nb"}, "-e rollback_note: must be one line of printable text"),
        ({"rollback_note": "ok\u2028forged line"}, "must be one line of printable text"),
        ({"rollback_note": "\u202eevil"}, "must be one line of printable text"),
        ({"rollback_note": "x" * 501}, "-e rollback_note: longer than 500 characters"),
        ({"rollback_note": "{{ lookup('env', 'HOME') }}"}, "must not contain template markers"),
        ({"rollback_note": ["a"]}, "-e rollback_note: must be text"),
    ],
    ids=[
        "unknown-reason",
        "reason-list",
        "two-lines",
        "line-separator",
        "bidi-override",
        "too-long",
        "template",
        "list",
    ],
)
def test_a_reason_is_one_of_the_runbooks_and_a_note_is_one_plain_line(
    values: dict, problem: str
) -> None:
    (found,) = input_problems(values)
    assert problem in found
    assert run_trigger(values) == {"reason": None, "note": None}


def test_a_valid_reason_and_note_are_recorded_as_given() -> None:
    values = {"rollback_reason": "feature-broken", "rollback_note": "checkout 500s since 02:10"}
    assert input_problems(values) == []
    assert run_trigger(values) == {"reason": "feature-broken", "note": "checkout 500s since 02:10"}
    assert run_trigger({}) == {"reason": None, "note": None}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("rollback_to", "2026.11.1\n"),
        ("rollback_service", "payment\n"),
        ("rollback_request", "/a\n"),
    ],
)
def test_a_trailing_newline_is_no_plain_value(name: str, value: str) -> None:
    assert input_problems({name: value}) != []
