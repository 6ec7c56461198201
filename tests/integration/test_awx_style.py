"""The rollback playbooks run the way AWX runs a job template, and their own safety checks hold.

No rollbackctl CLI here: each job is ansible-runner on a private data directory laid out the way
AWX lays it out (project/ synced from the repository, inventory/ imported from the environment,
env/extravars with the survey answers and AWX's own variables), against the test's sandbox.
The inventory says nothing about which environment it is: the hosts' identity files do.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.approvals import (
    ApprovalPayload,
    create_approval,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.audit import AuditLog
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.policy import Request
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import input_problems

from rollbackctl.tools import awx
from tests.support.checkout import SELF_LINK, copy_checkout, install_collection
from tests.support.keys import write_allowed_signers
from tests.support.sandbox import APP_HOSTS, REPO_ROOT, Sandbox

pytestmark = pytest.mark.integration

GOOD, BAD = "2026.11.1", "2026.11.2"
GUARDED = "sandbox-guarded"
AWX_USER = "alice"


def awx_site(root: Path, edit_policy: Callable[[Path], None] | None = None) -> Path:
    """An AWX project and the execution environment its jobs run in, under root; the project.

    The project is the repository as a project sync leaves it: a plain copy, no .venv, no
    .state, and not its own collection (no link under collections/). The execution
    environment's collections are this collection, built from the repository (after
    edit_policy changes its policies) and installed the way ansible-builder installs it.
    Jobs load plugins, policies and runbooks from the installed collection: the trust root.
    """
    project = copy_checkout(root / "project")
    (project / SELF_LINK).unlink()
    source = copy_checkout(root / "source")
    if edit_policy:
        edit_policy(source / "inventories")
    install_collection(source, root / "ee")
    shutil.rmtree(source)
    return project


def trust_root(project: Path) -> Path:
    """The installed collection the project's jobs trust."""
    return (
        project.parent / "ee" / "collections" / "ansible_collections" / "rollbackctl" / "runbooks"
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return awx_site(tmp_path_factory.mktemp("awx"))


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
    # AWX launches no job while a required question is unanswered.
    unanswered = {q["variable"] for q in spec if q["required"]} - set(answers)
    assert not unanswered, f"required survey questions unanswered: {unanswered}"
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
    job_options: dict[str, str] | None = None,
    envvars: dict[str, str] | None = None,
    attack: bool = False,
    playbook: str | None = None,
    **answers: str,
) -> ansible_runner.Runner:
    """Launch one job of awx/job_templates/<template_name>.yml against the sandbox's stack.

    answers are survey answers; extra_vars what a launcher passes beside the survey
    (ask_variables_on_launch), such as rollback_approvals; job_options the template's or the
    launch's limit, job_tags (tags), skip_tags and cmdline (a list of ansible-playbook
    options); envvars what a credential injects; playbook a project file to run instead of the
    template's.
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
    # A job template passes run inputs only (AWX's own variables are awx_*); an attack may
    # pass anything a launcher can.
    if not attack:
        assert not input_problems(extravars), input_problems(extravars)
    (private / "env" / "extravars").write_text(json.dumps(extravars))
    options = dict(job_options or {})
    # What a launcher adds to the command line (AWX: a job's extra options, a custom EE).
    cmdline = [*(["--check"] if job_type == "check" else []), *options.pop("cmdline", [])]
    return ansible_runner.run(
        private_data_dir=str(private),
        playbook=playbook or template["playbook"],
        cmdline=shlex.join(cmdline) if cmdline else None,
        envvars={
            # An execution environment has ansible on PATH; here it is the venv's.
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "ROLLBACKCTL_STATE_DIR": str(sandbox.state_dir),
            "ANSIBLE_NOCOLOR": "1",
            # As AWX sets it: the execution environment's collections, not the project's
            # ansible.cfg (here the EE's dependencies are the project's pinned collections).
            "ANSIBLE_COLLECTIONS_PATH": f"{project.parent / 'ee' / 'collections'}:"
            f"{project / 'collections'}",
            **(envvars or {}),
        },
        **options,
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


# What an operator types into a required text question of a survey.
SURVEY_ANSWERS = {"rollback_service": "payment"}


def stdout_tail(runner: ansible_runner.Runner) -> str:
    return runner.stdout.read()[-3000:]


@pytest.mark.parametrize("template_name", [p.stem for p in awx.rollback_playbooks(REPO_ROOT)])
def test_job_without_confirmation_is_refused_and_changes_nothing(
    project: Path, sandbox: Sandbox, tmp_path: Path, template_name: str
) -> None:
    before = sandbox.host_state()
    template = yaml.safe_load(
        (REPO_ROOT / "awx" / "job_templates" / f"{template_name}.yml").read_text()
    )
    required = {
        q["variable"]: q["choices"][0] if q.get("choices") else SURVEY_ANSWERS[q["variable"]]
        for q in template["survey_spec"]["spec"]
        if q["required"]
    }

    runner = launch(project, sandbox, tmp_path, template_name, **required)

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


@pytest.mark.parametrize(
    ("playbook", "text"),
    [
        ("playbooks/app.yml", None),
        (
            "awx/playbooks/steered.yml",
            "- ansible.builtin.import_playbook: rollbackctl.runbooks.app\n"
            "  vars: {release_select_target: 2026.11.2}\n",
        ),
    ],
    ids=["project-copy", "import-with-vars"],
)
def test_a_project_playbook_that_is_not_the_collections_runbook_is_refused(
    project: Path, sandbox: Sandbox, tmp_path: Path, playbook: str, text: str | None
) -> None:
    """The project's own copy of a runbook imports its preflight from the project, and a
    file that imports the runbook with variables changes it: neither is the runbook."""
    if text:
        (project / playbook).write_text("---\n" + text)
    before = sandbox.host_state()

    try:
        runner = launch(
            project, sandbox, tmp_path, "app", playbook=playbook, rollback_confirmed="true"
        )
    finally:
        if text:
            (project / playbook).unlink()

    assert runner.status == "failed", stdout_tail(runner)
    (role, _task, message), *_ = failed_tasks(runner)
    assert role == "rollback_authorize"
    expected = "is not one plain import of" if text else "not a runbook of this collection"
    assert expected in message
    assert sandbox.host_state() == before


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
    audited = len(AuditLog(sandbox.audit_path).entries())

    runner = launch(project, sandbox, tmp_path, "app", awx_user="dora", rollback_confirmed="true")

    assert runner.status == "successful", stdout_tail(runner)
    entries = AuditLog(sandbox.audit_path).entries()[audited:]
    attempts = [e for e in entries if e.get("event") == "attempt"]
    assert [e["launched_by"] for e in attempts] == ["dora"]
    assert attempts[0]["outcome"] == "started"


# --- a guarded environment: AWX's word for who launched is not proof of who asks --------------
GUARDED_APPROVER = "erin"  # an engineering manager: may approve an app rollback


def project_audit(project: Path, environment: str) -> list[dict[str, Any]]:
    """A guarded environment's audit log as the job's own project keeps it (its policy's
    state_dir, relative to the tree the plugins came from: the installed collection)."""
    path = trust_root(project) / ".state" / "guarded" / environment / "audit.jsonl"
    return AuditLog(path).entries() if path.exists() else []


def project_locks(project: Path, environment: str) -> list[str]:
    folder = trust_root(project) / ".state" / "guarded" / environment / "locks"
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


# --- what else a launcher controls: the job's options, extra vars and injected env vars ------
CONFIRMED = {"rollback_confirmed": True, "rollback_to": GOOD}
# Values the later tasks read: what an attacker sets to steer a job that skipped its preflight.
STEERING = {
    "rollback_confirmed": True,
    "rollback_to": GOOD,
    "release_select_target": GOOD,
    "release_select_from": BAD,
}


def job_output(runner: ansible_runner.Runner) -> str:
    return "\n".join(m for _role, _task, m in failed_tasks(runner)) + runner.stdout.read()


@pytest.mark.parametrize(
    ("job_options", "extra_vars", "refusal"),
    [
        ({"tags": "never"}, STEERING, "--tags refused: a runbook runs whole"),
        ({"skip_tags": "always"}, STEERING, "--skip-tags refused: a runbook runs whole"),
        (
            {"cmdline": ["--start-at-task", "Drain from nginx"]},
            STEERING,
            "--start-at-task refused: a runbook runs whole",
        ),
        (
            {"cmdline": ["--start-at-task", "release_switch : Switch current release*"]},
            STEERING,
            "--start-at-task refused: a runbook runs whole",
        ),
        ({"limit": "app"}, STEERING, "did not run on localhost"),
        (
            {},
            {**CONFIRMED, "rollbackctl_identity_file": "IDENTITY"},
            "-e rollbackctl_identity_file is not a run input",
        ),
        (
            {},
            {**CONFIRMED, "rollback_type": "emergency-stop"},
            "-e rollback_type is not a run input",
        ),
        (
            {},
            {**CONFIRMED, "rollback_to": "{{ lookup('pipe', 'touch MARK') }}"},
            "-e rollback_to: not a valid id",
        ),
    ],
    ids=[
        "job-tags",
        "skip-tags",
        "start-at-block",
        "start-at-task",
        "limit-without-controller",
        "relabel",
        "type",
        "templated-target",
    ],
)
def test_guarded_job_options_cannot_skip_or_steer_the_preflight(
    project: Path,
    guarded: Sandbox,
    tmp_path: Path,
    job_options: dict[str, str],
    extra_vars: dict[str, Any],
    refusal: str,
) -> None:
    mark = tmp_path / "templated"
    # An identity file of the caller's that says the hosts are the embedded sandbox.
    identity = tmp_path / "identity"
    identity.write_text("sandbox\n")
    extra_vars = {k: str(identity) if v == "IDENTITY" else v for k, v in extra_vars.items()}
    extra_vars = {
        k: v.replace("MARK", str(mark)) if isinstance(v, str) else v for k, v in extra_vars.items()
    }
    before, audited = guarded.host_state(), len(project_audit(project, guarded.environment))
    local = len(guarded.local_refusals())

    runner = launch(
        project,
        guarded,
        tmp_path,
        "app",
        awx_user="oscar",
        extra_vars=extra_vars,
        job_options=job_options,
        attack=True,
    )

    assert runner.status == "failed", stdout_tail(runner)
    assert refusal in job_output(runner)
    assert not mark.exists()
    assert guarded.host_state() == before
    recorded = [
        e
        for e in project_audit(project, guarded.environment)[audited:]
        if e.get("outcome") == "refused"
    ] + guarded.local_refusals()[local:]
    assert recorded, "the refusal was not audited"
    assert not project_locks(project, guarded.environment)


@pytest.fixture(scope="module")
def awx_project(tmp_path_factory: pytest.TempPathFactory, guarded_stack: Sandbox) -> Path:
    """A project whose sandbox-guarded policy takes the user AWX authenticated as the
    requester (awx_requester: true), with the approvers' keys in its own trust root."""

    def awx_requester(inventories: Path) -> None:
        policy = inventories / GUARDED / "policy.yml"
        text = policy.read_text()
        policy.write_text(
            text.replace("\nguarded: true\n", "\nguarded: true\nawx_requester: true\n")
        )
        assert "awx_requester: true" in policy.read_text()

    root = awx_site(tmp_path_factory.mktemp("awx-requester"), awx_requester)
    signers = {name: key for name, key in guarded_stack.keys.items() if name != "mallory"}
    trust = trust_root(root) / ".state" / "guarded" / GUARDED
    write_allowed_signers(trust / "signers" / "allowed_signers", signers)
    return root


def approved_job(
    project: Path, stack: Sandbox, tmp_path: Path, user: str, approval: Path, **options: Any
) -> ansible_runner.Runner:
    """A confirmed app job launched by user with one approval."""
    return launch(
        project,
        stack,
        tmp_path,
        "app",
        awx_user=user,
        extra_vars={"rollback_approvals": [str(approval)]},
        rollback_confirmed="true",
        **options,
    )


def test_awx_user_is_the_requester_where_the_policy_says_so(
    awx_project: Path, guarded: Sandbox, tmp_path: Path
) -> None:
    approval = signed_approval(guarded, GUARDED_APPROVER, "oscar")

    runner = approved_job(awx_project, guarded, tmp_path, "oscar", approval)

    assert runner.status == "successful", stdout_tail(runner)
    assert guarded.served_release() == GOOD
    assert guarded.place_order() == 201
    audit = project_audit(awx_project, GUARDED)
    started = [e for e in audit if e.get("outcome") == "started"]
    assert started, audit
    assert (started[-1]["requester"], started[-1]["requester_proof"]) == ("oscar", "awx")
    assert [a["approver"] for a in started[-1]["approvals"]] == [GUARDED_APPROVER]
    assert audit[-1]["run_id"] == started[-1]["run_id"]
    assert audit[-1]["outcome"] == "succeeded"
    assert not project_locks(awx_project, GUARDED)


def test_awx_user_cannot_approve_their_own_request(
    awx_project: Path, guarded: Sandbox, tmp_path: Path
) -> None:
    # lena is on call and a lead developer: her approval of her own request does not count.
    approval = signed_approval(guarded, "lena", "lena")
    before = guarded.host_state()

    runner = approved_job(awx_project, guarded, tmp_path, "lena", approval)

    assert runner.status == "failed", stdout_tail(runner)
    assert "needs 1 approver" in job_output(runner)
    assert guarded.host_state() == before


def test_injected_state_dir_is_not_the_trust_root(
    awx_project: Path, guarded: Sandbox, tmp_path: Path
) -> None:
    """A credential that injects ROLLBACKCTL_STATE_DIR with its own allowed_signers (mallory's
    key as erin's) moves where the stack's hosts are found, never whose keys are trusted."""
    mine = tmp_path / "state"
    mine.mkdir()
    (mine / GUARDED).symlink_to(guarded.root)
    for folder in (mine / "signers", mine / "signers" / GUARDED):
        write_allowed_signers(folder / "allowed_signers", {"erin": guarded.keys["mallory"]})
    payload = ApprovalPayload.new(
        Request(GUARDED, "app", GOOD, "oscar"), "erin", valid_for=timedelta(minutes=30)
    )
    forged = create_approval(payload, guarded.keys["mallory"], tmp_path / "forged.json")
    before, audited = guarded.host_state(), len(project_audit(awx_project, GUARDED))

    runner = approved_job(
        awx_project,
        guarded,
        tmp_path,
        "oscar",
        forged,
        envvars={"ROLLBACKCTL_STATE_DIR": str(mine)},
    )

    assert runner.status == "failed", stdout_tail(runner)
    assert "signed by a key not in allowed_signers" in job_output(runner)
    assert guarded.host_state() == before
    refused = [
        e for e in project_audit(awx_project, GUARDED)[audited:] if e.get("outcome") == "refused"
    ]
    assert refused and refused[0]["launched_by"] == "oscar"
    assert not (mine / "locks").exists() and not (mine / "audit.jsonl").exists()
