"""A hostile operator on sandbox-guarded, with no valid approval, changes nothing.

Each family of attack from the review is tried through the CLI, plain ansible-playbook or
both: every attempt is refused with a one-line reason and an audit entry, leaves no lock,
and leaves hosts, ledgers, nginx, the app's config and the database as they were.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import registry

from tests.support.sandbox import REPO_ROOT, Sandbox

pytestmark = pytest.mark.integration

ENV, GOOD, BAD = "sandbox-guarded", "2026.11.1", "2026.11.2"
RUNBOOKS = tuple(sorted(registry.by_playbook()))
VENV_BIN = REPO_ROOT / ".venv" / "bin"
# Values that later tasks read: what an attacker sets to steer a run started mid-way.
STEERING = {
    "rollback_confirmed": True,
    "rollback_to": GOOD,
    "release_select_target": GOOD,
    "release_select_from": BAD,
    "rollback_authorize_granted_target": GOOD,
    "read_only_state": "on",
    "restore_db_swapped": False,
}


def refusals(stack: Sandbox, since: int) -> list[dict]:
    return [e for e in stack.audit_entries()[since:] if e.get("outcome") == "refused"]


def playbook(stack: Sandbox, name: str, *args: str, env: dict | None = None, inventory=None):
    """Plain ansible-playbook from the checkout, as an operator with a shell runs it."""
    command = [str(VENV_BIN / "ansible-playbook"), str(stack.checkout / "playbooks" / name)]
    if inventory is not False:
        inventory = inventory or [stack.checkout / "inventories" / ENV / "hosts.yml"]
        command += [f"--inventory={path}" for path in inventory]
    run_env = {**stack.env, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", **(env or {})}
    return subprocess.run(
        [*command, *args],
        cwd=stack.checkout,
        env=run_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def playbooks(stack: Sandbox, runs: list[tuple[str, list[str]]]) -> list[dict]:
    """Many plain ansible-playbook runs of playbook(stack, name, *args), each {code, output}:
    forks of one process with Ansible loaded, each through ansible-playbook's entry point."""
    inventory = stack.checkout / "inventories" / ENV / "hosts.yml"
    commands = [
        [str(stack.checkout / "playbooks" / name), f"--inventory={inventory}", *args]
        for name, args in runs
    ]
    done = subprocess.run(
        [str(VENV_BIN / "python"), str(REPO_ROOT / "tests" / "support" / "forked_playbooks.py")],
        input=json.dumps({"commands": commands, "parallel": 3}),
        cwd=stack.checkout,
        env={**stack.env, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def task_names(stack: Sandbox, name: str) -> list[str]:
    """Every task of a runbook, once each: --start-at-task takes the first of a name."""
    listed = playbook(stack, name, "--list-tasks")
    assert listed.returncode == 0, listed.stderr
    names = []
    for line in listed.stdout.splitlines():
        if line.startswith("      ") and "TAGS:" in line:
            task = line.strip().split("\tTAGS:")[0].strip()
            if task not in names:
                names.append(task)
    return names


def error_lines(run: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(line for line in (run.stdout + run.stderr).splitlines() if "msg" in line)


def test_starting_at_any_task_of_any_runbook_changes_nothing(guarded: Sandbox) -> None:
    before, local = guarded.host_state(), len(guarded.local_refusals())
    attempts = [(book, task) for book in RUNBOOKS for task in task_names(guarded, book)]
    assert len(attempts) > 100

    steering = ["-e", json.dumps(STEERING)]
    runs = playbooks(
        guarded, [(book, ["--start-at-task", task, *steering]) for book, task in attempts]
    )
    succeeded = [attempt for attempt, run in zip(attempts, runs, strict=True) if run["code"] == 0]
    assert not succeeded, f"runs started mid-way that did not fail: {succeeded[:5]}"
    for attempt, run in zip(attempts, runs, strict=True):
        assert "--start-at-task refused: a runbook runs whole" in run["output"], attempt
    assert guarded.host_state() == before
    assert len(guarded.local_refusals()) - local >= len(attempts)


def test_tags_and_steps_cannot_skip_the_preflight(guarded: Sandbox) -> None:
    before, local = guarded.host_state(), len(guarded.local_refusals())
    for options in (["--skip-tags", "always"], ["--tags", "never"], ["--step"]):
        run = playbook(guarded, "app.yml", *options, "-e", json.dumps(STEERING))
        assert run.returncode != 0, options
        assert f"{options[0]} refused: a runbook runs whole" in run.stdout + run.stderr
    assert guarded.host_state() == before
    assert len(guarded.local_refusals()) - local == 3


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("deploy.yml", {"release_deploy_id": GOOD}),
        ("app_service.yml", {}),
        ("sandbox.yml", {"sandbox_state": "stopped"}),
        ("backup_verify.yml", {}),
        ("sandbox.yml", {"sandbox_state": "started", "sandbox_snapshot_id": "20261129T000000Z"}),
        ("config_deploy.yml", {"config_deploy_commit": "HEAD"}),
        ("config_baseline.yml", {"config_deploy_commit": "HEAD", "config_deploy_baseline": True}),
    ],
    ids=[
        "deploy",
        "app-service",
        "sandbox-stop",
        "backup-verify",
        "sandbox-snapshot",
        "config",
        "config-baseline",
    ],
)
def test_helper_playbooks_change_no_guarded_host(guarded: Sandbox, name: str, extra: dict) -> None:
    if name == "backup_verify.yml":
        made = guarded.cli("backup", ENV, "--output", "json")
        assert made.code == 0, made.stderr
    before, audited = guarded.host_state(), len(guarded.audit_entries())
    snapshots = infra_snapshot_files(guarded)
    run = playbook(guarded, name, "-e", json.dumps(extra))
    if name == "backup_verify.yml":
        # Verifying restores the backup into a scratch database and drops it: it runs, and
        # the live database and every other database are as they were.
        assert run.returncode == 0, run.stdout[-2000:]
    else:
        assert run.returncode != 0
        assert "belongs to sandbox-guarded" in error_lines(run)
        assert refusals(guarded, audited)
    assert guarded.host_state() == before
    assert infra_snapshot_files(guarded) == snapshots


@pytest.mark.parametrize("name", ["monitoring_silence.yml", "monitoring_event.yml"])
def test_monitoring_is_told_nothing_outside_an_authorized_run(guarded: Sandbox, name: str) -> None:
    """The runbooks' monitoring steps, run on their own, neither silence the environment's
    alerts nor announce a rollback that never ran."""

    def made() -> tuple[set[str], set[str]]:
        # Only announcements: the stack's Prometheus raises alerts of its own meanwhile.
        return (
            {s["id"] for s in guarded.alertmanager("silences")},
            {
                a["fingerprint"]
                for a in guarded.alertmanager("alerts")
                if a["labels"].get("alertname") == "RollbackRan"
            },
        )

    before = made()
    run = playbook(guarded, name)
    assert run.returncode != 0
    assert "monitoring_update runs only inside an authorized run" in error_lines(run)
    silences, announced = made()
    # An earlier announcement may expire meanwhile; none may appear.
    assert silences == before[0] and announced <= before[1]


def infra_snapshot_files(stack: Sandbox) -> list[str]:
    """Every file of every host's infrastructure snapshots, with its content."""
    root = stack.root / "infra-snapshots"
    return sorted(
        f"{p.relative_to(root)}:{p.read_bytes()!r}" for p in root.rglob("*") if p.is_file()
    )


@pytest.mark.parametrize(
    "step",
    [
        {
            "rollbackctl.runbooks.guarded_docker_image": {
                "name": "local/rollbackctl-intruder",
                "tag": GOOD,
                "source": "build",
                "build": {"path": "/tmp"},
            }
        },
        {
            "rollbackctl.runbooks.guarded_docker_container": {
                "name": "rollbackctl-intruder",
                "image": f"local/rollbackctl-intruder:{GOOD}",
                "network_mode": "host",
                "state": "started",
            }
        },
        {
            "rollbackctl.runbooks.infra_snapshot": {
                "action": "take",
                "root": "{{ infra_snapshot_root }}",
                "id": "intruder",
                "files": "{{ infra_managed_files }}",
            }
        },
        {
            "rollbackctl.runbooks.infra_snapshot": {
                "action": "restore",
                "root": "{{ infra_snapshot_root }}",
                "id": "intruder",
            }
        },
    ],
    ids=["image-build", "container-run", "snapshot-take", "snapshot-restore"],
)
def test_the_collections_host_steps_in_a_playbook_of_ones_own_change_no_guarded_host(
    guarded: Sandbox, tmp_path: Path, step: dict
) -> None:
    """The container runtime's and the infrastructure snapshots' host changes go through the
    guard, whoever's play calls them."""
    own = tmp_path / "own.yml"
    own.write_text(json.dumps([{"hosts": "app", "gather_facts": False, "tasks": [step]}]))
    before, audited = guarded.host_state(), len(guarded.audit_entries())
    snapshots = infra_snapshot_files(guarded)

    run = playbook(guarded, str(own))

    assert run.returncode != 0
    assert "belongs to sandbox-guarded" in error_lines(run)
    assert len(refusals(guarded, audited)) >= 2
    assert guarded.host_state() == before
    assert infra_snapshot_files(guarded) == snapshots


def test_rollback_type_is_the_playbooks_not_a_variable(guarded: Sandbox) -> None:
    before, audited = guarded.host_state(), len(guarded.audit_entries())
    run = playbook(
        guarded,
        "database.yml",
        "-e",
        json.dumps({"rollback_confirmed": True}),
        "-e",
        "rollback_type=app",
    )
    assert run.returncode != 0
    assert "-e rollback_type is not a run input" in error_lines(run)
    assert guarded.host_state() == before
    refused = refusals(guarded, audited)
    assert len(refused) == 1
    assert refused[0]["rollback_type"] == "db"


def test_an_edited_copy_of_a_runbook_is_not_that_runbook(guarded: Sandbox, tmp_path: Path) -> None:
    """A copy outside the collection is not the runbook: what it runs is the copy's."""
    for name in ("app.yml", "preflight.yml"):
        shutil.copy2(guarded.checkout / "playbooks" / name, tmp_path / name)
    edited = tmp_path / "app.yml"
    # The same plays without the last one: the release rolled away from would stay "stable".
    edited.write_text(edited.read_text().split("- name: Mark the release rolled away from")[0])
    before, audited = guarded.host_state(), len(guarded.audit_entries())

    run = playbook(guarded, str(edited), "-e", json.dumps({"rollback_confirmed": True}))

    assert run.returncode != 0
    # ansible wraps the message over lines.
    assert "app.yml is not a runbook of this collection" in " ".join(run.stdout.split())
    assert guarded.host_state() == before
    assert len(refusals(guarded, audited)) == 1


def test_a_run_without_the_record_callback_is_refused(guarded: Sandbox, tmp_path: Path) -> None:
    """The callback tells the authorize step which plays were loaded; turned off, it cannot."""
    before, audited = guarded.host_state(), len(guarded.audit_entries())

    run = playbook(
        guarded,
        "app.yml",
        "-e",
        json.dumps({"rollback_confirmed": True}),
        # Another callback in its place (an empty list is not a valid setting).
        env={
            "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.junit",
            "JUNIT_OUTPUT_DIR": str(tmp_path),
        },
    )

    assert run.returncode != 0
    assert "nothing recorded which plays this run loaded" in " ".join(run.stdout.split())
    assert guarded.host_state() == before
    assert len(refusals(guarded, audited)) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["app", ENV, "--yes", "--to", "{{ lookup('pipe', 'touch MARK') }}"],
        ["db", ENV, "--yes", "--backup", "{{ lookup('pipe', 'touch MARK') }}"],
        ["data-corruption", ENV, "--yes", "--backup", "{{ lookup('pipe', 'touch MARK') }}"],
    ],
    ids=["app-to", "db-backup", "data-corruption-backup"],
)
def test_cli_inputs_are_never_templates(guarded: Sandbox, tmp_path: Path, args: list[str]) -> None:
    mark = tmp_path / "templated"
    before = guarded.host_state()
    result = guarded.cli(*[a.replace("MARK", str(mark)) for a in args])
    assert result.code == 2
    assert "is not a valid id" in result.stderr.strip().splitlines()[-1]
    assert not mark.exists()
    assert guarded.host_state() == before


def test_empty_target_is_an_error_not_a_default(guarded: Sandbox) -> None:
    before = guarded.host_state()
    result = guarded.cli("app", ENV, "--yes", "--to", "")
    assert result.code == 2
    assert "release is empty" in result.stderr
    assert guarded.host_state() == before


def test_playbook_inputs_are_checked_before_anything_templates_them(
    guarded: Sandbox, tmp_path: Path
) -> None:
    mark = tmp_path / "templated"
    before, audited = guarded.host_state(), len(guarded.audit_entries())
    extra = {"rollback_confirmed": True, "rollback_to": f"{{{{ lookup('pipe', 'touch {mark}') }}}}"}
    run = playbook(guarded, "app.yml", "-e", json.dumps(extra))
    assert run.returncode != 0
    assert "-e rollback_to: not a valid id" in error_lines(run)
    assert not mark.exists()
    assert guarded.host_state() == before
    assert len(refusals(guarded, audited)) == 1


def test_callers_state_dir_is_not_a_trust_root(guarded: Sandbox, tmp_path: Path) -> None:
    """Their own allowed_signers, nonces and lock folder, beside a link to the real hosts."""
    mine = tmp_path / "state"
    (mine / "signers" / ENV).mkdir(parents=True)
    (mine / ENV).symlink_to(guarded.root)
    keys = guarded.keys
    # mallory lists her own key as carol's and as oscar's.
    pub = Path(f"{keys['mallory']}.pub").read_text().strip()
    signers = "".join(
        f'{who} namespaces="rollbackctl-approval,rollbackctl-request" {pub}\n'
        for who in ("carol", "oscar")
    )
    for where in (mine / "signers" / ENV, mine / "signers"):
        (where / "allowed_signers").write_text(signers)
    approval = mine / "carol.approval"
    made = guarded.cli(
        "approve", ENV, "app", "--target", GOOD, "--requester", "oscar", "--approver", "carol",
        "--key", str(keys["mallory"]), "--out", str(approval),
    )  # fmt: skip
    assert made.code == 0, made.stderr
    before, audited = guarded.host_state(), len(guarded.audit_entries())
    env = {**guarded.env, "ROLLBACKCTL_STATE_DIR": str(mine), "ROLLBACKCTL_OPERATOR": "oscar"}
    result = guarded.cli_with(
        env, "app", ENV, "--yes", "--approval", str(approval), "--key", str(keys["mallory"])
    )
    assert result.code == 4, result.stderr
    assert "signed by a key not in allowed_signers" in result.stderr.strip().splitlines()[-1]
    assert guarded.host_state() == before
    assert len(refusals(guarded, audited)) == 1
    assert not (mine / "locks").exists() and not (mine / "audit.jsonl").exists()


def _fake_collection(root: Path) -> Path:
    """A collection whose authorize step allows everything, as an attacker would ship it."""
    fake = root / "ansible_collections" / "rollbackctl" / "runbooks"
    shutil.copytree(REPO_ROOT / "plugins", fake / "plugins")
    shutil.copytree(REPO_ROOT / "meta", fake / "meta")
    shutil.copy2(REPO_ROOT / "galaxy.yml", fake / "galaxy.yml")
    (fake / "plugins" / "action" / "authorize.py").write_text(
        "from ansible.plugins.action import ActionBase\n"
        "class ActionModule(ActionBase):\n"
        "    def run(self, tmp=None, task_vars=None):\n"
        "        return {'changed': False, 'target': '', 'decision': {}, 'run_id': 'x',\n"
        "                'environment': 'sandbox-guarded', 'rollback_type': 'app'}\n"
    )
    return root


def test_callers_ansible_and_pg_variables_do_not_reach_the_run(
    guarded: Sandbox, tmp_path: Path
) -> None:
    fake = _fake_collection(tmp_path / "fake")
    (tmp_path / "ansible.cfg").write_text("[defaults]\ncallbacks_enabled =\n")
    hostile = {
        "ANSIBLE_COLLECTIONS_PATH": str(fake),
        "ANSIBLE_COLLECTIONS_PATHS": str(fake),
        "ANSIBLE_ROLES_PATH": str(tmp_path),
        "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
        "ANSIBLE_CALLBACKS_ENABLED": "",
        "ANSIBLE_ACTION_PLUGINS": str(
            fake / "ansible_collections/rollbackctl/runbooks/plugins/action"
        ),
        "ROLLBACKCTL_PROJECT_DIR": str(tmp_path),
        "PGHOST": "192.0.2.1",
        "PGPORT": "1",
        "PGUSER": "nobody",
        "PGDATABASE": "nothing",
    }
    before, audited = guarded.host_state(), len(guarded.audit_entries())
    env = {**guarded.env, **hostile, "ROLLBACKCTL_OPERATOR": "oscar"}
    result = guarded.cli_with(env, "app", ENV, "--yes", "--key", str(guarded.keys["oscar"]))
    assert result.code == 4, result.stderr
    assert "needs 1 approver" in result.stderr.strip().splitlines()[-1]
    assert guarded.host_state() == before
    assert len(refusals(guarded, audited)) == 1
    # PG* of the caller do not break the stack's own setup either.
    up = guarded.cli_with(env, "sandbox", "up", "--env", ENV)
    assert up.code == 0, up.stderr[-2000:]


@pytest.mark.parametrize("how", ["copy", "symlink"])
def test_a_folder_named_sandbox_does_not_make_hosts_sandbox(
    guarded: Sandbox, tmp_path: Path, how: str
) -> None:
    folder = tmp_path / "sandbox"
    source = guarded.checkout / "inventories" / ENV
    if how == "copy":
        shutil.copytree(source, folder, symlinks=False)
    else:
        folder.mkdir()
        for entry in source.iterdir():
            (folder / entry.name).symlink_to(entry)
    before, audited = guarded.host_state(), len(guarded.audit_entries())
    run = playbook(
        guarded, "app.yml", "-e", json.dumps({"rollback_confirmed": True}),
        inventory=[folder / "hosts.yml"],
    )  # fmt: skip
    assert run.returncode != 0
    assert "needs a proven requester" in error_lines(run) or "needs 1 approver" in error_lines(run)
    assert guarded.host_state() == before
    assert len(refusals(guarded, audited)) == 1


def test_a_second_inventory_cannot_relabel_the_hosts(guarded: Sandbox, tmp_path: Path) -> None:
    """Both are refused; a run whose hosts' identity was redirected is recorded in the local
    log, since its environment cannot be trusted."""
    fake_identity = tmp_path / "identity"
    fake_identity.write_text("sandbox\n")
    extra = tmp_path / "relabel.yml"
    extra.write_text(
        "all:\n  vars:\n"
        f"    rollbackctl_identity_file: {fake_identity}\n"
        "    rollbackctl_environment: sandbox\n"
    )
    before, audited = guarded.host_state(), len(guarded.audit_entries())
    local = len(guarded.local_refusals())
    run = playbook(
        guarded, "app.yml", "-e", json.dumps({"rollback_confirmed": True}),
        inventory=[guarded.checkout / "inventories" / ENV / "hosts.yml", extra],
    )  # fmt: skip
    assert run.returncode != 0
    assert "2 inventories given" in error_lines(run)
    relabel = playbook(
        guarded, "app.yml", "-e", json.dumps({"rollback_confirmed": True}),
        "-e", f"rollbackctl_identity_file={fake_identity}",
    )  # fmt: skip
    assert relabel.returncode != 0
    assert "-e rollbackctl_identity_file is not a run input" in error_lines(relabel)
    assert guarded.host_state() == before
    assert len(refusals(guarded, audited)) + len(guarded.local_refusals()) - local == 2


def test_an_inventory_that_moves_the_identity_after_the_preflight_changes_nothing(
    guarded: Sandbox, tmp_path: Path
) -> None:
    """A host's identity holds for the connection it was read over: an inventory whose
    variables read the preflight's identity elsewhere than the later plays reach (here the
    identity file, by play name; over ssh it could be the address or the connection) gets
    an authorized run that no host-changing step accepts."""
    fake_identity = tmp_path / "identity"
    fake_identity.write_text("sandbox\n")
    inventory = tmp_path / "inventory"
    shutil.copytree(guarded.checkout / "inventories" / ENV, inventory)
    with (inventory / "group_vars" / "all" / "connection.yml").open("a") as varsfile:
        varsfile.write(
            "rollbackctl_identity_file: >-\n"
            f"  {{{{ '{fake_identity}' if ansible_play_name == "
            "'Read the environment identity of every host' else sandbox_dir ~ '/identity' }}\n"
        )
    before = guarded.host_state()

    run = playbook(
        guarded,
        "app.yml",
        "-e",
        json.dumps({"rollback_confirmed": True}),
        inventory=[inventory / "hosts.yml"],
    )

    assert run.returncode != 0
    output = " ".join(run.stdout.split())
    assert "reached over another connection than the one its identity was read over" in output
    assert f"identity: {fake_identity} ->" in output
    assert guarded.host_state() == before


def test_a_truncated_audit_log_refuses_and_leaves_no_lock(guarded: Sandbox, tmp_path: Path) -> None:
    """An approved run takes the lock, then cannot write its start to the damaged log: it is
    refused, and gives the lock back."""
    # A refused run writes the environment's log (a plan writes nothing), whatever ran before.
    assert guarded.cli("app", ENV, "--yes").code == 4
    approval = tmp_path / "erin.approval"
    made = guarded.cli(
        "approve", ENV, "app", "--target", GOOD, "--requester", "oscar",
        "--approver", "erin", "--key", str(guarded.keys["erin"]), "--out", str(approval),
    )  # fmt: skip
    assert made.code == 0, made.stderr
    log = guarded.audit_path
    assert log.exists()
    original = log.read_bytes()
    log.write_bytes(original + b'{"event": "attempt", "run_id"')
    try:
        before = guarded.host_state()
        guarded.env["ROLLBACKCTL_OPERATOR"] = "oscar"
        result = guarded.cli(
            "app", ENV, "--yes", "--approval", str(approval), "--key", str(guarded.keys["oscar"])
        )
        assert result.code != 0
        assert "audit" in result.stderr.strip().splitlines()[-1]
        assert guarded.host_state() == before
        assert guarded.locks() == []
    finally:
        log.write_bytes(original)


def test_plan_of_a_guarded_environment_needs_no_key_and_changes_nothing(guarded: Sandbox) -> None:
    before, audited = guarded.host_state(), len(guarded.audit_entries())
    result = guarded.cli("app", ENV, "--check", "--output", "json")
    assert result.code == 0, result.stderr
    plan = result.json()
    assert (plan["from"], plan["to"]) == (BAD, GOOD)
    assert guarded.host_state() == before
    assert guarded.audit_entries()[audited:] == []


def _users(stack: Sandbox) -> set[str]:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=stack.db_port, user="postgres", dbname="market", autocommit=True
    ) as conn:
        return {row[0] for row in conn.execute("SELECT email FROM users")}


def _add_user(stack: Sandbox, email: str) -> None:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=stack.db_port, user="market", dbname="market", autocommit=True
    ) as conn:
        conn.execute("INSERT INTO users (email, password_hash) VALUES (%s, 'x')", (email,))


def _verified_backup(stack: Sandbox) -> str:
    made = stack.cli("backup", ENV, "--output", "json")
    assert made.code == 0, made.stderr
    backup = made.json()["backup"]["id"]
    checked = stack.cli("backups", "verify", ENV, backup)
    assert checked.code == 0, checked.stderr
    return backup


def test_the_approved_backup_is_restored_never_a_newer_one(
    guarded: Sandbox, tmp_path: Path
) -> None:
    """Approvals for backup A while B is the newest verified one, no --backup: A comes back."""
    backup_a = _verified_backup(guarded)
    users_a = _users(guarded)
    _add_user(guarded, "after-a@example.com")
    backup_b = _verified_backup(guarded)
    assert backup_b != backup_a
    _add_user(guarded, "after-b@example.com")
    approvals = []
    for approver in ("carol", "erin"):
        out = tmp_path / f"{approver}.approval"
        made = guarded.cli(
            "approve", ENV, "db", "--target", backup_a, "--requester", "oscar",
            "--approver", approver, "--key", str(guarded.keys[approver]), "--out", str(out),
        )  # fmt: skip
        assert made.code == 0, made.stderr
        approvals += ["--approval", str(out)]
    guarded.env["ROLLBACKCTL_OPERATOR"] = "oscar"
    result = guarded.cli(
        "db", ENV, "--yes", *approvals, "--key", str(guarded.keys["oscar"]), "--output", "json"
    )
    # The database is restored and checked; the app checklist after it then fails on the
    # stack's current release (2026.11.2 breaks order placement), which is the app's fault.
    assert result.code == 6, result.stderr[-2000:]
    assert "order placement is broken in release 2026.11.2" in result.stderr
    assert result.json()["to"] == backup_a
    assert _users(guarded) == users_a
