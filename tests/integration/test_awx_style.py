"""The rollback playbooks run the way AWX runs a job template, and their own safety checks hold.

No rollbackctl CLI here: each job is ansible-runner on a private data directory laid out the way
AWX lays it out (project/ synced from the repository, inventory/ imported from the environment,
env/extravars with the survey answers and AWX's own variables), against the test's sandbox.
The inventory says nothing about which environment it is: the hosts' identity files do.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml

from rollbackctl import awx
from rollbackctl.approvals import ApprovalPayload, create_approval
from rollbackctl.audit import AuditLog
from rollbackctl.policy import Request
from rollbackctl.runbooks import input_problems
from tests.support.sandbox import APP_HOSTS, REPO_ROOT, Sandbox

pytestmark = pytest.mark.integration

GOOD, BAD = "2026.11.1", "2026.11.2"
AWX_USER = "alice"
# What an AWX project sync brings from the repository (the project is the collection too).
PROJECT_CONTENT = (
    "ansible.cfg",
    "galaxy.yml",
    "meta",
    "playbooks",
    "roles",
    "plugins",
    "collections",
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository as an AWX project sync leaves it: a plain copy, no .venv, no .state."""
    root = tmp_path_factory.mktemp("awx-project")
    for name in PROJECT_CONTENT:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, symlinks=True)
        else:
            shutil.copy2(source, root / name)
    # Policies are looked up beside the inventories, as the runbooks ship them.
    shutil.copytree(REPO_ROOT / "inventories", root / "inventories")
    return root


def awx_inventory(environment: str = "sandbox") -> dict[str, Any]:
    """An environment's inventory as AWX imports it: hosts, groups, group_vars as inventory vars.

    Nothing in it says which environment it is: the hosts' identity files do (the sandbox's
    group_vars name the file, rollbackctl_identity_file; hosts.yml names the stack).
    """
    folder = REPO_ROOT / "inventories" / environment
    hosts = yaml.safe_load((folder / "hosts.yml").read_text())
    variables: dict[str, Any] = {}
    for path in sorted((folder / "group_vars" / "all").glob("*.yml")):
        variables.update(yaml.safe_load(path.read_text()) or {})
    assert "rollbackctl_identity_file" in variables
    hosts["all"]["vars"] = {**variables, **(hosts["all"].get("vars") or {})}
    return hosts


def survey_answers(template: dict[str, Any], **answers: str) -> dict[str, Any]:
    """Extra vars as AWX builds them from a survey: defaults, then the operator's answers."""
    spec = template["survey_spec"]["spec"]
    values = {q["variable"]: q["default"] for q in spec if q["default"] != ""}
    unknown = set(answers) - {q["variable"] for q in spec}
    assert not unknown, f"not survey questions: {unknown}"
    return {**values, **answers}


def launch(
    project: Path,
    sandbox: Sandbox,
    workdir: Path,
    template_name: str,
    *,
    job_type: str = "run",
    awx_user: str = AWX_USER,
    extra_vars: dict[str, Any] | None = None,
    **answers: str,
) -> ansible_runner.Runner:
    """Launch one job of awx/job_templates/<template_name>.yml against the sandbox's stack.

    answers are survey answers; extra_vars what a launcher passes beside the survey
    (ask_variables_on_launch), such as rollback_approvals.
    """
    template = yaml.safe_load(
        (REPO_ROOT / "awx" / "job_templates" / f"{template_name}.yml").read_text()
    )
    private = workdir / f"job-{template_name}-{len(list(workdir.glob('job-*')))}"
    (private / "inventory").mkdir(parents=True)
    (private / "env").mkdir()
    (private / "project").symlink_to(project)
    inventory = awx_inventory(sandbox.environment)
    (private / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    extravars = {
        **survey_answers(template, **answers),
        **(extra_vars or {}),
        "awx_job_id": 4242,
        "awx_user_name": awx_user,
        "awx_job_template_name": template["name"],
    }
    # A job passes run inputs only; AWX's own variables are awx_*.
    assert not input_problems(extravars), input_problems(extravars)
    (private / "env" / "extravars").write_text(json.dumps(extravars))
    return ansible_runner.run(
        private_data_dir=str(private),
        playbook=template["playbook"],
        cmdline="--check" if job_type == "check" else None,
        envvars={
            # An execution environment has ansible on PATH; here it is the venv's.
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "ROLLBACKCTL_STATE_DIR": str(sandbox.state_dir),
            "ANSIBLE_NOCOLOR": "1",
        },
        quiet=True,
        timeout=600,
    )


def failed_tasks(runner: ansible_runner.Runner) -> list[tuple[str, str, str]]:
    """(role, task, message) of every failed task of the job."""
    out = []
    for event in runner.events:
        if event.get("event") == "runner_on_failed" and not event["event_data"].get(
            "ignore_errors"
        ):
            data = event["event_data"]
            out.append((data.get("role", ""), data.get("task", ""), data["res"].get("msg", "")))
    return out


def recorded_stats(runner: ansible_runner.Runner) -> dict[str, Any]:
    """What the playbook recorded with set_stats (AWX shows it as the job's artifacts)."""
    for event in runner.events:
        if event.get("event") == "playbook_on_stats":
            return event["event_data"].get("artifact_data") or {}
    return {}


def stdout_tail(runner: ansible_runner.Runner) -> str:
    return runner.stdout.read()[-3000:]


@pytest.mark.parametrize("template_name", [p.stem for p in awx.rollback_playbooks(REPO_ROOT)])
def test_job_without_confirmation_is_refused_and_changes_nothing(
    project: Path, sandbox: Sandbox, tmp_path: Path, template_name: str
) -> None:
    before = sandbox.host_state()

    runner = launch(project, sandbox, tmp_path, template_name)

    assert runner.status == "failed", stdout_tail(runner)
    (role, _task, message), *_ = failed_tasks(runner)
    assert role == "rollback_authorize"
    assert "rollback not confirmed" in message
    assert sandbox.host_state() == before


def test_job_with_an_unknown_target_is_refused_and_changes_nothing(
    project: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    before = sandbox.host_state()

    runner = launch(
        project, sandbox, tmp_path, "app", rollback_confirmed="true", rollback_to="2099.1.1"
    )

    assert runner.status == "failed", stdout_tail(runner)
    messages = [message for _role, _task, message in failed_tasks(runner)]
    assert any("unknown release 2099.1.1" in m for m in messages), messages
    assert sandbox.host_state() == before


def test_check_job_shows_the_plan_without_confirmation_and_changes_nothing(
    project: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    before = sandbox.host_state()

    runner = launch(project, sandbox, tmp_path, "app", job_type="check")

    assert runner.status == "successful", stdout_tail(runner)
    plan = recorded_stats(runner)
    assert (plan.get("rollback_from"), plan.get("rollback_to")) == (BAD, GOOD)
    assert sandbox.host_state() == before


def test_confirmed_job_rolls_back_to_the_stable_release(
    project: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    runner = launch(project, sandbox, tmp_path, "app", rollback_confirmed="true")

    assert runner.status == "successful", stdout_tail(runner)
    assert sandbox.served_release() == GOOD
    assert sandbox.place_order() == 201
    assert {host: states[BAD] for host, states in sandbox.states().items()} == {
        host: "bad" for host in APP_HOSTS
    }


def test_job_rerun_after_a_rollback_is_refused_and_changes_nothing(
    project: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    assert (
        launch(project, sandbox, tmp_path, "app", rollback_confirmed="true").status == "successful"
    )
    before = sandbox.host_state()

    runner = launch(project, sandbox, tmp_path, "app", rollback_confirmed="true")

    assert runner.status == "failed", stdout_tail(runner)
    messages = [message for _role, _task, message in failed_tasks(runner)]
    assert any("no stable release other than current" in m for m in messages), messages
    assert sandbox.host_state() == before


def test_launching_awx_user_is_recorded_in_the_audit_log(
    project: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    launch(project, sandbox, tmp_path, "app", rollback_confirmed="true")

    entries = AuditLog(sandbox.audit_path).entries()
    attempts = [e for e in entries if e.get("event") == "attempt"]
    assert attempts and attempts[-1]["launched_by"] == AWX_USER


# --- a guarded environment: AWX's word for who launched is not proof of who asks --------------
GUARDED_APPROVER = "erin"  # an engineering manager: may approve an app rollback


def project_audit(project: Path, environment: str) -> list[dict[str, Any]]:
    """A guarded environment's audit log as the job's own project keeps it (its policy's
    state_dir, relative to the tree the plugins came from)."""
    path = project / ".state" / "guarded" / environment / "audit.jsonl"
    return AuditLog(path).entries() if path.exists() else []


def project_locks(project: Path, environment: str) -> list[str]:
    folder = project / ".state" / "guarded" / environment / "locks"
    return sorted(p.name for p in folder.glob("*.lock")) if folder.exists() else []


def signed_approval(stack: Sandbox, approver: str, requester: str) -> Path:
    payload = ApprovalPayload.new(
        Request(stack.environment, "app", GOOD, requester),
        approver,
        valid_for=timedelta(minutes=30),
    )
    out = stack.state_dir / "approvals" / f"awx-{approver}-{payload.nonce[:8]}.json"
    out.parent.mkdir(exist_ok=True)
    return create_approval(payload, stack.keys[approver], out)


def assert_guarded_job_refused(
    project: Path, stack: Sandbox, tmp_path: Path, *, awx_user: str, **extra_vars: Any
) -> None:
    before = stack.host_state()
    audited = len(project_audit(project, stack.environment))

    runner = launch(
        project,
        stack,
        tmp_path,
        "app",
        awx_user=awx_user,
        extra_vars=extra_vars,
        rollback_confirmed="true",
    )

    assert runner.status == "failed", stdout_tail(runner)
    (role, _task, message), *_ = failed_tasks(runner)
    assert role == "rollback_authorize"
    assert f"{stack.environment} needs a proven requester" in message
    assert stack.host_state() == before
    refusals = [
        e
        for e in project_audit(project, stack.environment)[audited:]
        if e.get("outcome") == "refused"
    ]
    assert refusals and "needs a proven requester" in refusals[0]["reason"]
    assert refusals[0]["launched_by"] == awx_user
    assert not project_locks(project, stack.environment)


def test_guarded_job_with_approvals_but_no_signed_request_is_refused(
    project: Path, guarded_stack: Sandbox, tmp_path: Path
) -> None:
    approval = signed_approval(guarded_stack, GUARDED_APPROVER, "oscar")

    assert_guarded_job_refused(
        project,
        guarded_stack,
        tmp_path,
        awx_user=AWX_USER,
        rollback_requester="oscar",
        rollback_approvals=[str(approval)],
    )


def test_guarded_job_by_an_awx_user_without_a_signed_request_is_refused(
    project: Path, guarded_stack: Sandbox, tmp_path: Path
) -> None:
    # sandbox-guarded's policy does not take AWX's launching user as the requester.
    approval = signed_approval(guarded_stack, GUARDED_APPROVER, "oscar")

    assert_guarded_job_refused(
        project, guarded_stack, tmp_path, awx_user="oscar", rollback_approvals=[str(approval)]
    )
