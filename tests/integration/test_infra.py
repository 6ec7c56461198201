"""Infrastructure rollback on a real sandbox: nginx's main config, PostgreSQL's settings and
the app hosts' supervisor scripts go back to a snapshot; only what reads a changed file restarts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dbsandbox import DbSandbox
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(sandbox_stack: Sandbox) -> Sandbox:
    """The module's stack with the good release live, and a snapshot of its infrastructure
    (sandbox up takes one before it writes the managed files again)."""
    assert sandbox_stack.cli("app", "sandbox", "--yes").code == 0
    up = sandbox_stack.cli("sandbox", "up")
    assert up.code == 0, up.stderr
    sandbox_stack.snapshot()
    return sandbox_stack


@pytest.fixture
def infra(stack: Sandbox) -> Iterator[Sandbox]:
    """The stack for one test; its managed files are put back as they were afterwards."""
    managed = [nginx_conf(stack), appctl(stack, "app1"), postgres_conf(stack)]
    kept = {path: (path.read_bytes(), path.stat().st_mode) for path in managed}
    yield stack
    changed = [path for path, (data, mode) in kept.items() if path.read_bytes() != data]
    for path, (data, mode) in kept.items():
        path.write_bytes(data)
        path.chmod(mode)
    if nginx_conf(stack) in changed:
        stack.reload_nginx()
    stack.restore()


def nginx_conf(stack: Sandbox) -> Path:
    return stack.root / "nginx" / "conf" / "nginx.conf"


def appctl(stack: Sandbox, host: str) -> Path:
    return stack.root / "app" / host / "bin" / "appctl"


def postgres_conf(stack: Sandbox) -> Path:
    return stack.root / "postgres" / "data" / "postgresql.auto.conf"


def postgres_pid(stack: Sandbox) -> str:
    return (stack.root / "postgres" / "data" / "postmaster.pid").read_text().splitlines()[0]


def snapshots(stack: Sandbox) -> list[dict]:
    listed = stack.cli("infra", "snapshots", "sandbox", "--output", "json")
    assert listed.code == 0, listed.stderr
    return listed.json()["snapshots"]


def break_nginx(stack: Sandbox) -> None:
    """A bad change to nginx's main config: every ordinary route answers 502."""
    head, proxied, tail = nginx_conf(stack).read_text().rpartition("proxy_pass http://app;")
    assert proxied, "nginx.conf has no proxied location"
    nginx_conf(stack).write_text(head + "return 502;" + tail)
    stack.reload_nginx()
    # A reload is asynchronous: wait until the new workers answer.
    deadline = time.monotonic() + 10
    while stack.fetch("/api/admin/summary")[0] != 502:
        assert time.monotonic() < deadline, "nginx did not take the broken config"
        time.sleep(0.1)


def test_infra_puts_back_the_files_and_restarts_only_what_reads_them(infra: Sandbox) -> None:
    good = {path: path.read_bytes() for path in (nginx_conf(infra), postgres_conf(infra))}
    target = next(s for s in snapshots(infra) if not s["id"].startswith("pre-"))
    assert target["verified"] and sorted(target["hosts"]) == ["app1", "app2", "db1", "lb1"]
    break_nginx(infra)
    appctl(infra, "app1").chmod(0o700)
    database_pid = postgres_pid(infra)

    plan = infra.cli("infra", "sandbox", "--check", "--output", "json")
    assert plan.code == 0, plan.stderr
    assert plan.json()["infra"]["planned"] == {
        "app1": [str(appctl(infra, "app1"))],
        "app2": [],
        "db1": [],
        "lb1": [str(nginx_conf(infra))],
    }
    assert b"return 502;" in nginx_conf(infra).read_bytes()  # the plan changed nothing

    result = infra.cli("infra", "sandbox", "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    document = result.json()
    assert document["infra"]["snapshot"] == target["id"]
    restarted = {"app1": ["app"], "app2": [], "db1": [], "lb1": ["nginx"]}
    assert document["infra"]["restarted"] == restarted
    assert {p: p.read_bytes() for p in good} == good
    assert appctl(infra, "app1").stat().st_mode & 0o777 == 0o755
    assert infra.place_order() == 201
    assert postgres_pid(infra) == database_pid  # its settings did not change: no restart
    assert all(check["ok"] for check in document["checklist"])
    # Monitoring: the environment's alerts are silenced for the rollback window, all but the
    # event that says the rollback ran.
    monitoring = document["monitoring"]
    assert (monitoring["state"], monitoring["event"]) == ("silenced", "RollbackRan")
    silence = infra.silence_of(document["run_id"])
    assert (silence["id"], silence["status"]["state"]) == (monitoring["silence"], "active")
    assert silence["createdBy"] == "rollbackctl"
    assert {(m["name"], m["value"], m["isEqual"]) for m in silence["matchers"]} == {
        ("environment", "sandbox", True),
        ("alertname", "RollbackRan", False),
    }
    down = {"alertname": "AppDown", "environment": "sandbox", "run": document["run_id"]}
    infra.alertmanager("alerts", [{"labels": down}])
    (alert,) = [a for a in infra.alertmanager("alerts") if a["labels"] == down]
    assert alert["status"]["silencedBy"] == [silence["id"]]
    (event,) = infra.rollback_events(document["run_id"])
    assert (event["status"]["state"], event["labels"]["rollback_type"]) == ("active", "infra")
    assert (
        "monitoring silenced in http://127.0.0.1:" in infra.cli("show", document["run_id"]).stdout
    )
    # Nothing lost: the bad config is kept in the safety snapshot, the newest one.
    safety = snapshots(infra)[0]
    assert safety["id"] == f"pre-{document['run_id']}" and safety["verified"]
    kept = infra.root / "infra-snapshots" / "lb1" / safety["id"] / "files" / "0"
    assert b"return 502;" in kept.read_bytes()
    # A rerun without --to never picks that safety copy: it converges on the same snapshot.
    # Without an Alertmanager in the inventory it says that monitoring was skipped.
    settings = infra.root / "sandbox.json"
    kept_settings = settings.read_text()
    unmonitored = {k: v for k, v in json.loads(kept_settings).items() if k != "monitoring"}
    settings.write_text(json.dumps(unmonitored))
    try:
        again = infra.cli("infra", "sandbox", "--yes", "--output", "json")
    finally:
        settings.write_text(kept_settings)
    assert again.code == 0, again.stderr
    assert again.json()["infra"]["snapshot"] == target["id"]
    assert set(map(tuple, again.json()["infra"]["restored"].values())) == {()}
    assert again.json()["monitoring"] == {
        "state": "skipped",
        "reason": "no Alertmanager configured for this environment (monitoring_alertmanager_url)",
    }


def test_an_unknown_snapshot_is_refused_and_changes_nothing(infra: Sandbox) -> None:
    before = infra.host_state()

    refused = infra.cli("infra", "sandbox", "--to", "20200101T000000Z", "--yes")

    assert refused.code == 2, refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert "unknown snapshot 20200101T000000Z on" in last
    assert "see rollbackctl infra snapshots sandbox" in last
    assert infra.host_state() == before


def test_a_damaged_snapshot_is_refused_before_any_host_changes(infra: Sandbox) -> None:
    target = next(s for s in snapshots(infra) if not s["id"].startswith("pre-"))
    copy = infra.root / "infra-snapshots" / "lb1" / target["id"] / "files" / "0"
    original = copy.read_bytes()
    break_nginx(infra)
    broken = nginx_conf(infra).read_bytes()
    copy.write_bytes(original.replace(b"worker_processes 1;", b"worker_processes 9;"))
    try:
        listed = next(s for s in snapshots(infra) if s["id"] == target["id"])
        assert listed["verified"] is False and listed["hosts"]["lb1"]["verified"] is False

        refused = infra.cli("infra", "sandbox", "--to", target["id"], "--yes")

        assert refused.code == 2, refused.stderr
        last = refused.stderr.strip().splitlines()[-1]
        assert f"snapshot {target['id']} on lb1 is damaged" in last
        assert nginx_conf(infra).read_bytes() == broken
        assert (
            json.loads(
                (
                    infra.root / "infra-snapshots" / "lb1" / target["id"] / "manifest.json"
                ).read_text()
            )["id"]
            == target["id"]
        )
    finally:
        copy.write_bytes(original)


def test_kill_during_the_restore_leaves_each_file_whole_and_a_rerun_converges(
    infra: Sandbox,
) -> None:
    good = nginx_conf(infra).read_bytes()
    break_nginx(infra)
    broken = nginx_conf(infra).read_bytes()
    db = DbSandbox(infra)
    run = db.start_run("infra", "sandbox", "--yes")
    try:
        # Between the database host's restore and nginx's: the app hosts are on their turn.
        run.wait_until(
            "the app hosts' restore", lambda: run.saw("runner_on_ok", "Put back the managed files")
        )
    finally:
        run.kill_9()

    assert nginx_conf(infra).read_bytes() in (good, broken)  # old or new, never half
    status = infra.cli("status", "sandbox", "--output", "json")
    assert status.json()["lock"]["state"] == "stale", status.stdout
    assert infra.cli("unlock", "sandbox").code == 0

    rerun = infra.cli("infra", "sandbox", "--yes", "--output", "json")

    assert rerun.code == 0, rerun.stderr
    assert nginx_conf(infra).read_bytes() == good
    assert infra.place_order() == 201


def test_infra_under_an_emergency_stop_is_refused_and_changes_nothing(infra: Sandbox) -> None:
    break_nginx(infra)  # before the stop: afterwards every route answers the page
    assert infra.cli("emergency-stop", "sandbox").code == 0
    before = infra.host_state()

    refused = infra.cli("infra", "sandbox", "--yes")

    assert refused.code == 3, refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert "sandbox is under an emergency stop" in last and "resume it first" in last
    assert infra.host_state() == before


def test_a_restore_that_fails_puts_back_what_the_host_had(infra: Sandbox) -> None:
    # An nginx.conf that fails `nginx -t`, on disk only (nginx keeps serving the good one),
    # gets into a snapshot: sandbox up takes one before it writes the config again.
    good = nginx_conf(infra).read_bytes()
    nginx_conf(infra).write_bytes(good + b"\nthis is not nginx;\n")
    assert infra.cli("sandbox", "up").code == 0
    assert nginx_conf(infra).read_bytes() == good
    bad = next(s for s in snapshots(infra) if not s["id"].startswith("pre-"))

    result = infra.cli("infra", "sandbox", "--to", bad["id"], "--yes")

    assert result.code == 6, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert f"restoring snapshot {bad['id']} failed on lb1" in last
    assert "its files were put back from pre-" in last
    assert nginx_conf(infra).read_bytes() == good
    # The failed run ended its silence at once: the alerts of what is broken page again.
    finished = [e for e in infra.audit_entries() if e.get("event") == "finished"][-1]
    assert finished["outcome"] == "failed"
    silence = infra.silence_of(finished["run_id"])
    assert silence["status"]["state"] == "expired"
    assert finished["silences"] == [f"{silence['id']} ended"]
    assert infra.place_order() == 201
