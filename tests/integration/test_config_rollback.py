"""Configuration rollback on a real sandbox: the app's managed settings and the nginx site go
back to a stable commit of the stack's configuration repository, checked first, and stay only
when a person confirms in time (rollbackctl confirm); otherwise the previous files come back.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dbsandbox import DbSandbox
from tests.support.sandbox import APP_HOSTS, REPO_ROOT, Sandbox

pytestmark = pytest.mark.integration

WAIT_LINE = "Wait for rollbackctl confirm sandbox "
DRAIN_TASK = "Set this app host in the nginx upstream to drained"


@pytest.fixture(scope="module")
def stack(sandbox_stack: Sandbox) -> Sandbox:
    """The module's stack with the good release live: orders depend on configuration only."""
    assert sandbox_stack.cli("app", "sandbox", "--yes").code == 0
    assert sandbox_stack.place_order() == 201
    return sandbox_stack


def settings(stack: Sandbox, host: str = "app1") -> str:
    return (stack.root / "app" / host / "shared/settings.env").read_text()


def ledger(stack: Sandbox, host: str) -> dict:
    folder = stack.root / ("nginx" if host == "lb1" else f"app/{host}")
    return json.loads((folder / "config-ledger.json").read_text())


def commit_file(stack: Sandbox, name: str, text: str, message: str) -> str:
    (stack.root / "config" / name).write_text(text)
    # A commit even when the repository already holds this text (an earlier test's commit
    # that was rolled back on the hosts but not reverted in the repository).
    stack.config_git("commit", "--quiet", "--allow-empty", "-am", message)
    return stack.config_git("rev-parse", "HEAD")


def deploy(stack: Sandbox, commit: str, *, verify: bool = False) -> None:
    """A deploy; without verify it skips the checklist, as bad configuration reaches users."""
    run = stack.run_playbook(
        "config_deploy.yml",
        "-e",
        json.dumps({"config_deploy_commit": commit, "config_deploy_verify": verify}),
    )
    assert run.returncode == 0, run.stdout[-3000:]


@pytest.fixture
def ordering_off(stack: Sandbox) -> Iterator[tuple[str, str]]:
    """(good, bad): the stable commit live before, and a commit that switches ordering off,
    deployed. Afterwards the good commit's files are live again, whatever the test did."""
    good = ledger(stack, "app1")["current"]
    text = settings(stack).replace("ORDERS_ENABLED=true", "ORDERS_ENABLED=false")
    bad = commit_file(stack, "app/settings.env", text, "Switch ordering off")
    deploy(stack, bad)
    assert stack.place_order() == 503
    yield good, bad
    # A test that failed half-way must not leave the next one a locked environment.
    if stack.locks():
        stack.cli("unlock", "sandbox")
    if ledger(stack, "app1")["current"] != good:
        fixed = stack.config_git("show", f"{good}:app/settings.env") + "\n"
        mended = commit_file(stack, "app/settings.env", fixed, "Ordering on again")
        deploy(stack, mended, verify=True)
    assert stack.place_order() == 201


def start_config_rollback(stack: Sandbox, *args: str) -> tuple[subprocess.Popen[str], Path]:
    """`rollbackctl config sandbox` in the background; its stderr goes to a file to follow."""
    errors = stack.state_dir / f"config-run-{time.monotonic_ns()}.err"
    process = subprocess.Popen(
        [str(REPO_ROOT / ".venv/bin/rollbackctl"), "config", "sandbox", "--yes", *args],
        cwd=REPO_ROOT,
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=errors.open("w"),
        text=True,
    )
    return process, errors


def waits(stack: Sandbox, run_id: str) -> bool:
    """The run announced its wait for confirmation in the audit log."""
    return any(
        e.get("event") == "config_awaiting_confirmation" and e.get("run_id") == run_id
        for e in stack.audit_entries()
    )


def waiting_run_id(stack: Sandbox, process: subprocess.Popen[str], errors: Path) -> str:
    """The run id the run names while it waits for confirmation, once its wait is recorded."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for line in errors.read_text().splitlines():
            if WAIT_LINE in line and waits(stack, run_id := line.split(WAIT_LINE)[1].split()[0]):
                return run_id
        assert process.poll() is None, f"the run ended without waiting: {errors.read_text()}"
        time.sleep(0.5)
    raise AssertionError("the run never waited for confirmation")


def test_a_confirmed_rollback_keeps_the_previous_good_configuration(
    stack: Sandbox, ordering_off: tuple[str, str]
) -> None:
    good, bad = ordering_off
    process, errors = start_config_rollback(stack, "--confirm-within", "300", "-o", "json")
    run_id = waiting_run_id(stack, process, errors)

    # Live and checked before anyone confirms: users can order again while the run waits.
    assert stack.place_order() == 201
    confirmed = stack.cli("confirm", "sandbox", run_id, "--by", "erin")
    assert confirmed.code == 0, confirmed.stderr
    assert f"run {run_id} confirmed by erin" in confirmed.stdout
    stdout = process.communicate(timeout=300)[0]

    assert process.returncode == 0, errors.read_text()[-3000:]
    result = json.loads(stdout)
    assert (result["from"], result["to"]) == (bad, good)
    assert result["config"]["state"] == "confirmed"
    assert result["config"]["confirmed_by"] == "erin"
    assert "-ORDERS_ENABLED=false" in result["config"]["diff"]
    assert "+ORDERS_ENABLED=true" in result["config"]["diff"]
    assert all("ORDERS_ENABLED=true" in settings(stack, host) for host in APP_HOSTS)
    for host in (*APP_HOSTS, "lb1"):
        assert ledger(stack, host)["current"] == good
        assert ledger(stack, host)["releases"][bad]["state"] == "bad"
    assert stack.place_order() == 201
    again = stack.cli("confirm", "sandbox", run_id)
    assert again.code == 2
    assert "already confirmed by erin" in again.stderr or "no longer waits" in again.stderr


def test_without_confirmation_the_previous_files_come_back(
    stack: Sandbox, ordering_off: tuple[str, str]
) -> None:
    good, bad = ordering_off
    before = settings(stack)
    process, errors = start_config_rollback(stack, "--confirm-within", "3")
    run_id = waiting_run_id(stack, process, errors)
    process.communicate(timeout=300)

    assert process.returncode != 0
    last = errors.read_text().strip().splitlines()[-1]
    assert f"configuration {good} was put back to {bad}: no one confirmed it by" in last
    assert all(settings(stack, host) == before for host in APP_HOSTS)
    assert not (stack.root / "app/app1/config-backups/pending.json").exists()
    assert all(stack.place_order() == 503 for attempt in range(4))
    for host in (*APP_HOSTS, "lb1"):
        assert ledger(stack, host)["current"] == bad
        assert ledger(stack, host)["releases"][good]["state"] == "stable"
    closed = [
        e
        for e in stack.audit_entries()
        if e.get("event") == "config_confirmation_closed" and e.get("run_id") == run_id
    ]
    assert [e["outcome"] for e in closed] == ["expired"]
    late = stack.cli("confirm", "sandbox", run_id)
    assert late.code == 2
    assert "no longer waits: it was expired" in late.stderr


def open_files_limit(stack: Sandbox, host: str) -> int:
    """The soft limit on open files of the app process the host's supervisor runs."""
    pid = (stack.root / "app" / host / "run/app.pid").read_text().strip()
    line = next(
        line
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines()
        if line.startswith("Max open files")
    )
    return int(line.split()[3])


def test_the_service_definition_restarts_the_app_with_it_and_rolls_back(stack: Sandbox) -> None:
    """The app's service definition is managed configuration: a change restarts each app
    host's app under it, and a confirmed rollback restarts it under the previous one."""
    good = ledger(stack, "app1")["current"]
    kept = stack.config_git("show", f"{good}:app/service.env") + "\n"
    assert "OPEN_FILES_LIMIT=4096" in kept
    assert {open_files_limit(stack, host) for host in APP_HOSTS} == {4096}
    bad = commit_file(
        stack,
        "app/service.env",
        kept.replace("OPEN_FILES_LIMIT=4096", "OPEN_FILES_LIMIT=256"),
        "Lower the app's open files limit",
    )
    deploy(stack, bad)
    assert {open_files_limit(stack, host) for host in APP_HOSTS} == {256}
    try:
        process, errors = start_config_rollback(stack, "--confirm-within", "300", "-o", "json")
        run_id = waiting_run_id(stack, process, errors)
        # Applied before anyone confirms: the app already runs under the previous definition.
        assert {open_files_limit(stack, host) for host in APP_HOSTS} == {4096}
        assert stack.cli("confirm", "sandbox", run_id, "--by", "erin").code == 0
        stdout = process.communicate(timeout=300)[0]
        assert process.returncode == 0, errors.read_text()[-3000:]
    finally:
        if stack.locks():
            stack.cli("unlock", "sandbox")
        # The repository's head gets the definition back for the tests after this one.
        commit_file(stack, "app/service.env", kept, "Open files limit back to 4096")
    result = json.loads(stdout)
    assert (result["from"], result["to"]) == (bad, good)
    diff = result["config"]["diff"]
    assert "-OPEN_FILES_LIMIT=256" in diff and "+OPEN_FILES_LIMIT=4096" in diff
    assert not any("ORDERS_ENABLED" in line or "proxy_read_timeout" in line for line in diff)
    for host in APP_HOSTS:
        assert (stack.root / "app" / host / "shared/service.env").read_text() == kept
        assert open_files_limit(stack, host) == 4096
        assert ledger(stack, host)["releases"][bad]["state"] == "bad"
    assert stack.place_order() == 201


def test_check_mode_shows_the_diff_and_changes_nothing(
    stack: Sandbox, ordering_off: tuple[str, str]
) -> None:
    good, bad = ordering_off
    before, audited = stack.host_state(), len(stack.audit_entries())
    plan = stack.cli("config", "sandbox", "--check", "-o", "json")
    assert plan.code == 0, plan.stderr
    assert (plan.json()["from"], plan.json()["to"]) == (bad, good)
    assert plan.json()["config"]["state"] == "planned"
    assert "+ORDERS_ENABLED=true" in plan.json()["config"]["diff"]
    assert stack.host_state() == before
    events = {e.get("event") for e in stack.audit_entries()[audited:]}
    assert "config_awaiting_confirmation" not in events


def ledger_paths(stack: Sandbox) -> list[Path]:
    return [stack.root / "nginx/config-ledger.json"] + [
        stack.root / "app" / host / "config-ledger.json" for host in APP_HOSTS
    ]


@pytest.fixture
def stable_in_ledgers(stack: Sandbox) -> Iterator:
    """Records a commit as stable on every host, as a deploy before today's checks did; the
    ledgers are put back afterwards, so later tests never plan that commit."""
    kept = {path: path.read_text() for path in ledger_paths(stack)}

    def record(commit: str) -> None:
        for path in ledger_paths(stack):
            data = json.loads(path.read_text())
            data["releases"][commit] = {
                "id": commit,
                "state": "stable",
                "seq": data["next_seq"],
                "deployed_at": "2026-11-01T00:00:00+00:00",
                "events": [],
            }
            data["next_seq"] += 1
            path.write_text(json.dumps(data))

    yield record
    for path, text in kept.items():
        path.write_text(text)


@pytest.mark.parametrize(
    ("name", "edit", "problem"),
    [
        (
            "nginx/site.conf",
            lambda text: text + "proxy_read_timeout;\n",
            "nginx/site.conf of configuration commit {commit} fails nginx -t on lb1",
        ),
        (
            "app/settings.env",
            lambda text: text.replace("LOG_LEVEL=info", "LOG_LEVEL=chatty"),
            "app/settings.env of configuration commit {commit} fails the app's settings check "
            "on app1: settings {candidates}/settings.env: LOG_LEVEL=chatty is not one of debug, "
            "info, warning, error",
        ),
        (
            "app/service.env",
            lambda text: re.sub(r"OPEN_FILES_LIMIT=\d+", "OPEN_FILES_LIMIT=lots", text),
            "app/service.env of configuration commit {commit} fails the service definition "
            "check on app1: {candidates}/service.env: OPEN_FILES_LIMIT must be a whole number, "
            "not 'lots'",
        ),
    ],
    ids=["nginx-site", "app-settings", "service-definition"],
)
def test_a_target_that_fails_its_check_changes_nothing(
    stack: Sandbox, stable_in_ledgers, name: str, edit, problem: str
) -> None:
    current = ledger(stack, "app1")["current"]
    text = (stack.root / "config" / name).read_text()
    broken = commit_file(stack, name, edit(text), f"Break {name}")
    commit_file(stack, name, text, f"Mend {name}")
    stable_in_ledgers(broken)
    before = stack.host_state()

    run = stack.cli("config", "sandbox", "--yes", "--to", broken)

    assert run.code != 0
    last = run.stderr.strip().splitlines()[-1]
    candidates = stack.root / "app/app1/shared.candidate"
    assert problem.format(commit=broken, candidates=candidates) in last
    assert last.endswith("nothing was changed")
    after = stack.host_state()
    assert after == before
    assert ledger(stack, "app1")["current"] == current
    assert stack.place_order() == 201
    # The run stopped before its last play: its export of the commit went all the same.
    exports = stack.config_exports_of(stack.latest_run_dir())
    assert exports and not [path for path in exports if path.exists()]


def test_an_unknown_commit_is_refused_naming_it(stack: Sandbox) -> None:
    before = stack.host_state()
    unknown = "0" * 40
    run = stack.cli("config", "sandbox", "--yes", "--to", unknown)
    assert run.code != 0
    last = run.stderr.strip().splitlines()[-1]
    assert f"unknown configuration commit {unknown}" in last
    assert stack.host_state() == before


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["sandbox", "20261130T000000Z-abcdef"], "no configuration rollback 20261130T000000Z"),
        (["nowhere", "20261130T000000Z-abcdef"], "unknown environment 'nowhere'"),
        (["sandbox", "{{ x }}"], "is not a valid id"),
    ],
    ids=["unknown-run", "unknown-environment", "template"],
)
def test_confirm_of_a_run_that_does_not_wait_is_refused(
    stack: Sandbox, args: list[str], problem: str
) -> None:
    audited = len(stack.audit_entries())
    confirmed = stack.cli("confirm", *args)
    assert confirmed.code == 2
    assert problem in confirmed.stderr
    assert len(stack.audit_entries()) == audited


def test_a_kill_mid_apply_leaves_each_file_old_or_new_and_a_rerun_converges(
    stack: Sandbox, ordering_off: tuple[str, str]
) -> None:
    good, bad = ordering_off
    versions = {stack.config_git("show", f"{c}:app/settings.env") + "\n" for c in (good, bad)}
    run = DbSandbox(stack).start_run("config", "sandbox", "--yes", "--confirm-within", "300")
    try:
        # app1 has its new file and has not restarted yet: the worst moment to die.
        run.wait_until("app1 drained", lambda: run.saw("runner_on_start", DRAIN_TASK))
    finally:
        run.kill_9()
    assert all(settings(stack, host) in versions for host in APP_HOSTS)
    assert settings(stack, "app1") != settings(stack, "app2")

    # The operator's way back: clear the stale lock, run the same rollback again.
    assert stack.cli("unlock", "sandbox").code == 0
    process, errors = start_config_rollback(stack, "--confirm-within", "300", "-o", "json")
    confirmed = stack.cli("confirm", "sandbox", waiting_run_id(stack, process, errors))
    assert confirmed.code == 0, confirmed.stderr
    stdout = process.communicate(timeout=300)[0]

    assert process.returncode == 0, errors.read_text()[-3000:]
    assert json.loads(stdout)["to"] == good
    assert all("ORDERS_ENABLED=true" in settings(stack, host) for host in APP_HOSTS)
    assert stack.upstream_servers() and all("down" not in s for s in stack.upstream_servers())
    # Every app host serves the good settings: the one that died unrestarted was restarted.
    assert all(stack.place_order() == 201 for attempt in range(4))


def test_a_run_killed_while_it_waits_keeps_nothing_unconfirmed(
    stack: Sandbox, ordering_off: tuple[str, str]
) -> None:
    """Its change is live but never confirmed: confirm refuses it, and the next run that is
    not confirmed either puts back the files from before the killed run."""
    _good, bad = ordering_off
    before = {host: settings(stack, host) for host in APP_HOSTS}
    run = DbSandbox(stack).start_run("config", "sandbox", "--yes", "--confirm-within", "300")
    try:
        run.wait_until("the wait", lambda: waits(stack, run.id))
    finally:
        run.kill_9()
    assert stack.place_order() == 201  # the killed run's change is live
    late = stack.cli("confirm", "sandbox", run.id)
    assert late.code == 2
    assert f"run {run.id} is no longer running" in late.stderr
    assert stack.cli("unlock", "sandbox").code == 0

    rerun = stack.cli("config", "sandbox", "--yes", "--confirm-within", "2")

    assert rerun.code != 0
    assert "no one confirmed it" in rerun.stderr.strip().splitlines()[-1]
    assert {host: settings(stack, host) for host in APP_HOSTS} == before
    assert all(ledger(stack, host)["current"] == bad for host in (*APP_HOSTS, "lb1"))
    assert all(stack.place_order() == 503 for attempt in range(4))


def failure_line(run: subprocess.CompletedProcess[str]) -> str:
    """The message of the task that failed the run, as ansible-playbook printed it."""
    lines = [line for line in run.stdout.splitlines() if '"msg":' in line or "msg:" in line]
    return lines[-1] if lines else run.stdout[-2000:]


def test_plain_ansible_playbook_waits_too_and_reverts_unconfirmed(
    stack: Sandbox, ordering_off: tuple[str, str]
) -> None:
    """The wait lives in the run: AWX or ansible-playbook get no change without a person."""
    good, bad = ordering_off
    before = settings(stack)
    variables = {"rollback_confirmed": True, "rollback_confirm_seconds": 2}
    run = stack.run_playbook("config.yml", "-e", json.dumps(variables))
    assert run.returncode != 0
    assert f"configuration {good} was put back to {bad}: no one confirmed it" in run.stdout
    assert settings(stack) == before
    assert stack.place_order() == 503


@pytest.mark.parametrize("seconds", [0, 3601, "abc", True, "{{ 300 }}", 1.5])
def test_a_confirmation_window_outside_1_to_3600_is_refused_before_any_change(
    stack: Sandbox, seconds: object
) -> None:
    before = stack.host_state()
    variables = {"rollback_confirmed": True, "rollback_confirm_seconds": seconds}
    run = stack.run_playbook("config.yml", "-e", json.dumps(variables))
    assert run.returncode != 0
    assert "-e rollback_confirm_seconds: not 1 to 3600 seconds" in failure_line(run)
    assert stack.host_state() == before


def test_a_host_that_fails_to_apply_sends_every_host_back(
    stack: Sandbox, ordering_off: tuple[str, str]
) -> None:
    """app2 does not come back after its restart: the apply stops there, and app1, already
    changed, goes back with it; nothing waits for a confirmation."""
    good, bad = ordering_off
    before = {host: settings(stack, host) for host in APP_HOSTS}
    appctl = stack.root / "app/app2/bin/appctl"
    kept = appctl.read_text()
    fault = stack.state_dir / "app2-start-fails-once"
    fault.touch()
    shebang, rest = kept.split("\n", 1)
    appctl.write_text(
        f'{shebang}\nif [ "$1" = ensure-started ] && [ -e "{fault}" ]; then\n'
        f'  rm -f "{fault}"; echo "app2 start refused (test fault)" >&2; exit 1\nfi\n{rest}'
    )
    try:
        run = stack.cli("config", "sandbox", "--yes", "--confirm-within", "300")
    finally:
        appctl.write_text(kept)

    assert run.code != 0
    last = run.stderr.strip().splitlines()[-1]
    assert f"configuration {good} was put back to {bad}: applying it failed on app2" in last
    assert not fault.exists()  # the fault fired
    assert {host: settings(stack, host) for host in APP_HOSTS} == before
    assert all(ledger(stack, host)["current"] == bad for host in (*APP_HOSTS, "lb1"))
    assert all("down" not in s for s in stack.upstream_servers())
    assert all(stack.place_order() == 503 for attempt in range(4))
    waited = [e for e in stack.audit_entries() if e.get("event") == "config_awaiting_confirmation"]
    assert all(e["run_id"] not in run.stderr for e in waited)
