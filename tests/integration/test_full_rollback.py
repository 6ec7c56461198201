"""Full system rollback on a real sandbox: every component back to the restore point the
verified deploy of 2026.11.1 recorded, behind the maintenance page, as one run; refusals
before any change, a failure that leaves the page up and says where each component is, and a
kill -9 mid-run that a rerun converges."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from rollbackctl.run.report import FULL_STEPS
from tests.support.dbsandbox import DbSandbox
from tests.support.sandbox import APP_HOSTS, Sandbox

pytestmark = pytest.mark.integration

GOOD, BAD = "2026.11.1", "2026.11.2"


@pytest.fixture(scope="module")
def stack(sandbox_stack: Sandbox) -> Sandbox:
    return sandbox_stack


def restore_points(stack: Sandbox) -> list[dict[str, Any]]:
    listed = stack.cli("restore-points", "sandbox", "-o", "json")
    assert listed.code == 0, listed.stderr
    return json.loads(listed.stdout)["restore_points"]


@pytest.fixture(scope="module")
def point(stack: Sandbox) -> dict[str, Any]:
    """The restore point `sandbox up` left: its good release's verified deploy."""
    points = restore_points(stack)
    assert [p["release"] for p in points] == [GOOD]
    return points[0]


def settings(stack: Sandbox, host: str = "app1") -> str:
    return (stack.root / "app" / host / "shared/settings.env").read_text()


def commit_and_deploy(stack: Sandbox, edit, message: str, **extra: Any) -> str:
    path = stack.root / "config/app/settings.env"
    path.write_text(edit(path.read_text()))
    stack.config_git("commit", "--quiet", "--allow-empty", "-am", message)
    commit = stack.config_git("rev-parse", "HEAD")
    run = stack.run_playbook(
        "config_deploy.yml",
        "-e",
        json.dumps({"config_deploy_commit": commit, "config_deploy_verify": False, **extra}),
    )
    assert run.returncode == 0, run.stdout[-3000:]
    return commit


@pytest.fixture
def drifted(stack: Sandbox, point: dict[str, Any]) -> Iterator[DbSandbox]:
    """Components away from the restore point: chatty logs, a product added after its
    backup, and (until a full rollback put it back) the bad release current."""
    db = DbSandbox(stack)
    commit_and_deploy(stack, lambda t: t.replace("LOG_LEVEL=info", "LOG_LEVEL=debug"), "Debug")
    db.execute(
        "INSERT INTO products (sku, name, price_cents, stock)"
        " VALUES ('after-' || md5(random()::text), 'after the point', 1, 1)"
    )
    assert "LOG_LEVEL=debug" in settings(stack)
    yield db
    if stack.locks():
        stack.cli("unlock", "sandbox")


def test_restore_points_list_the_verified_deploy(stack: Sandbox, point: dict[str, Any]) -> None:
    assert point["complete"] and point["missing"] == []
    ledger = json.loads((stack.root / "app/app1/config-ledger.json").read_text())
    assert point["config_commit"] == ledger["current"]
    assert point["backup"] in {b["id"] for b in DbSandbox(stack).backups()}
    assert point["infra_snapshot"] == point["id"]


def test_a_full_rollback_puts_every_component_back(
    stack: Sandbox, point: dict[str, Any], drifted: DbSandbox
) -> None:
    db = drifted
    run = stack.cli("full", "sandbox", "--to", point["id"], "--yes", "-o", "json")

    assert run.code == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["full"]["state"] == "rolled-back"
    assert list(result["full"]["steps"]) == list(FULL_STEPS)
    assert (result["from"], result["to"]) == (BAD, point["id"])
    assert stack.served_release() == GOOD
    assert stack.place_order() == 201
    assert all("LOG_LEVEL=info" in settings(stack, host) for host in APP_HOSTS)
    assert not db.query("SELECT 1 FROM products WHERE name = 'after the point'")
    kept = [d for d in db.databases() if d.startswith("market_pre_")]
    assert any(
        db.query("SELECT 1 FROM products WHERE name = 'after the point'", dbname=d) for d in kept
    )
    assert not stack.maintenance_flag.exists()
    assert stack.states()["app1"][BAD] == "bad"
    events = [e for e in stack.audit_entries() if e.get("run_id") == result["run_id"]]
    assert [e["outcome"] for e in events][-1] == "succeeded"
    # Monitoring: the environment's alerts silenced for the window, the rollback announced.
    assert (result["monitoring"]["state"], result["monitoring"]["event"]) == (
        "silenced",
        "RollbackRan",
    )
    assert stack.silence_of(result["run_id"])["status"]["state"] == "active"
    (event,) = stack.rollback_events(result["run_id"])
    assert event["labels"]["rollback_type"] == "full"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ([], "a full rollback needs the restore point to go back to; name one with --to"),
        (["--to", "rp-20260101T000000Z-none"], "unknown restore point rp-20260101T000000Z-none"),
        (["--to", "2026.11.1"], "'2026.11.1' is not a restore point id (rp-...)"),
    ],
    ids=["none-named", "unknown", "not-a-restore-point"],
)
def test_bad_input_is_refused_before_any_change(
    stack: Sandbox, args: list[str], problem: str
) -> None:
    before = stack.host_state()
    run = stack.cli("full", "sandbox", "--yes", *args)
    assert run.code != 0
    assert problem in run.stderr.strip().splitlines()[-1]
    assert stack.host_state() == before


def test_a_restore_point_lacking_its_backup_is_refused_before_any_change(
    stack: Sandbox, point: dict[str, Any]
) -> None:
    folder = stack.root / "restore-points"
    broken = {**point, "id": "rp-20260101T000000Z-lacking", "backup": "20260101T000000Z-gone"}
    for key in ("missing", "complete"):
        broken.pop(key)
    path = folder / f"{broken['id']}.json"
    path.write_text(json.dumps(broken))
    try:
        listed = {p["id"]: p for p in restore_points(stack)}
        assert listed[broken["id"]]["missing"] == ["backup 20260101T000000Z-gone is no longer kept"]
        before = stack.host_state()
        run = stack.cli("full", "sandbox", "--to", broken["id"], "--yes")
        assert run.code != 0
        assert "20260101T000000Z-gone" in run.stderr.strip().splitlines()[-1]
        assert stack.host_state() == before
    finally:
        path.unlink()


def test_a_failed_step_leaves_the_page_up_and_says_where_each_component_is(
    stack: Sandbox, point: dict[str, Any], drifted: DbSandbox
) -> None:
    """The payment provider refuses the live pin (full leaves integrations to third-party):
    the validation fails after every component moved, and the page stays up."""
    pinned = stack.root / "config/integrations/payment.env"
    good_pin = pinned.read_text()
    pinned.write_text(good_pin.replace("2025-03-31", "2026-11-01"))
    stack.config_git("commit", "--quiet", "-am", "Pin the payment API to 2026-11-01")
    deploy = {"config_deploy_commit": "HEAD", "config_deploy_verify": False}
    run = stack.run_playbook(
        "config_deploy.yml", "-e", json.dumps({**deploy, "config_deploy_service": "payment"})
    )
    assert run.returncode == 0, run.stdout[-3000:]
    try:
        failed = stack.cli("full", "sandbox", "--to", point["id"], "--yes")
        assert failed.code != 0
        assert "unknown API version '2026-11-01'" in failed.stderr.strip().splitlines()[-1]
        assert stack.maintenance_flag.exists()
        status, _headers, _body = stack.fetch("/api/orders", method="POST")
        assert status == 503
        report = failed.stdout
        for step in ("emergency_stop", "database", "application", "configuration"):
            assert f"  {step:<15} NOT DONE" not in report
        assert f"  {'validation':<15} NOT DONE: unchanged by this run" in report
        assert f"  {'resume':<15} NOT DONE: unchanged by this run" in report
        assert "the maintenance page is up; rerun the full rollback to converge" in report
        # The failed run ended its silence: what is still broken pages again.
        finished = [e for e in stack.audit_entries() if e.get("event") == "finished"][-1]
        assert finished["outcome"] == "failed"
        assert stack.silence_of(finished["run_id"])["status"]["state"] == "expired"
        assert not stack.rollback_events(finished["run_id"])
    finally:
        pinned.write_text(good_pin)
        stack.config_git("commit", "--quiet", "-am", "Pin the payment API back to 2025-03-31")
        mended = stack.run_playbook(
            "config_deploy.yml", "-e", json.dumps({**deploy, "config_deploy_service": "payment"})
        )
        assert mended.returncode == 0, mended.stdout[-3000:]
    rerun = stack.cli("full", "sandbox", "--to", point["id"], "--yes")
    assert rerun.code == 0, rerun.stderr[-3000:]
    assert not stack.maintenance_flag.exists()
    assert stack.place_order() == 201


def test_a_kill_mid_run_leaves_each_component_old_or_new_and_a_rerun_converges(
    stack: Sandbox, point: dict[str, Any], drifted: DbSandbox
) -> None:
    versions = {settings(stack), settings(stack).replace("LOG_LEVEL=debug", "LOG_LEVEL=info")}
    run = drifted.start_run("full", "sandbox", "--to", point["id"], "--yes")
    try:
        # The database is back, the configuration on its way: the worst moment to die.
        run.wait_until(
            "the configuration step",
            lambda: run.saw("runner_on_start", "Write the commit's files"),
            timeout=600,
        )
    finally:
        run.kill_9()
    assert set(stack.current_links().values()) <= {GOOD, BAD}
    assert all(settings(stack, host) in versions for host in APP_HOSTS)
    assert stack.maintenance_flag.exists()

    assert stack.cli("unlock", "sandbox").code == 0
    rerun = stack.cli("full", "sandbox", "--to", point["id"], "--yes", "-o", "json")

    assert rerun.code == 0, rerun.stderr[-3000:]
    assert json.loads(rerun.stdout)["full"]["state"] == "rolled-back"
    assert stack.served_release() == GOOD
    assert all("LOG_LEVEL=info" in settings(stack, host) for host in APP_HOSTS)
    assert not stack.maintenance_flag.exists()
    assert stack.place_order() == 201
