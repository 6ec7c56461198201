"""Configuration rollback on a real sandbox: the app's managed settings and the nginx site go
back to a stable commit of the stack's configuration repository, checked first, and stay only
when a person confirms in time (rollbackctl confirm); otherwise the previous files come back.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sandbox import APP_HOSTS, REPO_ROOT, Sandbox

pytestmark = pytest.mark.integration

GIT_AUTHOR = ["-c", "user.name=Config Tester", "-c", "user.email=tester@example.invalid"]
WAIT_LINE = "Wait for rollbackctl confirm sandbox "


@pytest.fixture(scope="module")
def stack(sandbox_stack: Sandbox) -> Sandbox:
    """The module's stack with the good release live: orders depend on configuration only."""
    assert sandbox_stack.cli("app", "sandbox", "--yes").code == 0
    assert sandbox_stack.place_order() == 201
    return sandbox_stack


def git(stack: Sandbox, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(stack.root / "config"), *GIT_AUTHOR, *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def settings(stack: Sandbox, host: str = "app1") -> str:
    return (stack.root / "app" / host / "shared/settings.env").read_text()


def ledger(stack: Sandbox, host: str) -> dict:
    folder = stack.root / ("nginx" if host == "lb1" else f"app/{host}")
    return json.loads((folder / "config-ledger.json").read_text())


def commit_file(stack: Sandbox, name: str, text: str, message: str) -> str:
    (stack.root / "config" / name).write_text(text)
    # A commit even when the repository already holds this text (an earlier test's commit
    # that was rolled back on the hosts but not reverted in the repository).
    git(stack, "commit", "--quiet", "--allow-empty", "-am", message)
    return git(stack, "rev-parse", "HEAD")


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
    if ledger(stack, "app1")["current"] != good:
        git(stack, "revert", "--no-edit", "--quiet", "HEAD")
        deploy(stack, "HEAD", verify=True)
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


def waiting_run_id(process: subprocess.Popen[str], errors: Path) -> str:
    """The run id the run names while it waits for confirmation."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for line in errors.read_text().splitlines():
            if WAIT_LINE in line:
                return line.split(WAIT_LINE)[1].split()[0]
        assert process.poll() is None, f"the run ended without waiting: {errors.read_text()}"
        time.sleep(0.5)
    raise AssertionError("the run never waited for confirmation")


def test_a_confirmed_rollback_keeps_the_previous_good_configuration(
    stack: Sandbox, ordering_off: tuple[str, str]
) -> None:
    good, bad = ordering_off
    process, errors = start_config_rollback(stack, "--confirm-within", "300", "-o", "json")
    run_id = waiting_run_id(process, errors)

    # Live and checked before anyone confirms: users can order again while the run waits.
    assert stack.place_order() == 201
    confirmed = stack.cli("confirm", "sandbox", run_id, "--by", "erin")
    assert confirmed.code == 0, confirmed.stderr
    assert f"run {run_id} confirmed by erin" in confirmed.stdout
    stdout, _ = process.communicate(timeout=300)

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
    run_id = waiting_run_id(process, errors)
    process.communicate(timeout=300)

    assert process.returncode != 0
    last = errors.read_text().strip().splitlines()[-1]
    assert f"configuration {good} was put back to {bad}: no one confirmed it by" in last
    assert settings(stack) == before
    assert stack.place_order() == 503
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


def stable_in_ledgers(stack: Sandbox, commit: str) -> None:
    """Record commit as stable on every host, as a deploy before today's checks did."""
    for host in (*APP_HOSTS, "lb1"):
        folder = stack.root / ("nginx" if host == "lb1" else f"app/{host}")
        path = folder / "config-ledger.json"
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
            "on app1: settings {path}: LOG_LEVEL=chatty is not one of debug, info, warning, error",
        ),
    ],
    ids=["nginx-site", "app-settings"],
)
def test_a_target_that_fails_its_check_changes_nothing(
    stack: Sandbox, name: str, edit, problem: str
) -> None:
    current = ledger(stack, "app1")["current"]
    text = (stack.root / "config" / name).read_text()
    broken = commit_file(stack, name, edit(text), f"Break {name}")
    git(stack, "revert", "--no-edit", "--quiet", "HEAD")
    stable_in_ledgers(stack, broken)
    before = stack.host_state()

    run = stack.cli("config", "sandbox", "--yes", "--to", broken)

    assert run.code != 0
    last = run.stderr.strip().splitlines()[-1]
    candidate = stack.root / "app/app1/shared.candidate/settings.env"
    assert problem.format(commit=broken, path=candidate) in last
    assert last.endswith("nothing was changed")
    after = stack.host_state()
    assert after == before
    assert ledger(stack, "app1")["current"] == current
    assert stack.place_order() == 201


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
