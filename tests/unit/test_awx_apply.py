"""awx/apply.yml is a valid playbook that applies every generated job template as it is.

No controller is involved: the job-template task's loop and arguments are rendered by
Ansible's own templating, and the arguments are checked against the module's spec.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.apply_render import job_template_calls
from tests.support.awx_module_spec import module_validator

REPO_ROOT = Path(__file__).resolve().parents[2]
AWX_DIR = REPO_ROOT / "awx"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


@pytest.fixture(scope="module")
def calls() -> list[dict[str, Any]]:
    return job_template_calls(AWX_DIR)


def test_apply_playbook_passes_syntax_check() -> None:
    result = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "--syntax-check", "awx/apply.yml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_generated_template_is_applied(calls: list[dict[str, Any]]) -> None:
    generated = sorted(str(p) for p in (AWX_DIR / "job_templates").glob("*.yml"))
    assert generated
    assert [call["item"] for call in calls] == generated


def test_each_template_is_applied_as_generated_with_the_sites_settings(
    calls: list[dict[str, Any]],
) -> None:
    site = {"organization": "Default", "project": "rollbackctl", "credentials": ["rollbackctl ssh"]}
    for call in calls:
        template = yaml.safe_load(Path(call["item"]).read_text())
        assert call["args"] == template | site


def test_the_applied_arguments_are_valid_module_arguments(calls: list[dict[str, Any]]) -> None:
    validator = module_validator("job_template")
    for call in calls:
        assert validator.validate(call["args"]).error_messages == [], call["item"]


def test_a_new_template_is_picked_up_without_editing_the_playbook(tmp_path: Path) -> None:
    awx_dir = tmp_path / "awx"
    shutil.copytree(AWX_DIR, awx_dir)
    new = awx_dir / "job_templates" / "new_runbook.yml"
    shutil.copy(awx_dir / "job_templates" / "app.yml", new)
    assert str(new) in [call["item"] for call in job_template_calls(awx_dir)]
