"""Application rollback on the real sandbox, through the real CLI, seen through nginx."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import rendered_dom, screenshot
from tests.support.checkout import cli_from, copy_checkout
from tests.support.sandbox import APP_HOSTS, Sandbox, without_checklist_writes

pytestmark = pytest.mark.integration

GOOD, BAD, NEWER = "2026.11.1", "2026.11.2", "2026.11.3"


def test_rollback_serves_the_stable_release_and_fixes_order_placement(sandbox: Sandbox) -> None:
    assert sandbox.served_release() == BAD
    assert sandbox.place_order() == 500

    result = sandbox.cli("app", "sandbox", "--yes")

    assert result.code == 0, result.stderr
    assert sandbox.served_release() == GOOD
    assert sandbox.place_order() == 201
    assert sandbox.current_links() == {host: GOOD for host in APP_HOSTS}
    # What monitoring sees on each app host: the release it now runs, the order it took.
    for host in APP_HOSTS:
        with urllib.request.urlopen(f"http://127.0.0.1:{sandbox.ports[host]}/metrics") as resp:
            exposed = resp.read().decode()
        assert f'market_release_info{{release="{GOOD}",schema="1"}} 1.0' in exposed
    assert sandbox.fetch("/metrics")[0] == 404  # nginx keeps them off the public side


def test_sandbox_status_names_the_url_and_database_the_stack_serves(sandbox: Sandbox) -> None:
    status = sandbox.status()

    with urllib.request.urlopen(status["url"] + "/api/health", timeout=5) as resp:
        assert json.load(resp)["release"] == BAD
    assert status["database"]["port"] == sandbox.db_port
    assert sandbox.database_fingerprint()["tables"]["products"][0] > 0
    assert status["services"] == {"app1": True, "app2": True, "db1": True, "lb1": True}
    assert status["current"] == {host: BAD for host in APP_HOSTS}


def test_prometheus_scrapes_each_app_host_and_a_raised_signal_reaches_alertmanager(
    sandbox: Sandbox,
) -> None:
    """The stack's monitoring chain: app /metrics, Prometheus with the environment's trigger
    rules, its Alertmanager. The security trigger has no window: it fires at the next scrape."""
    groups = sandbox.prometheus("rules")["groups"]
    fired_by = {
        r["labels"]["trigger"] for g in groups for r in g["rules"] if r["name"] == "RollbackTrigger"
    }
    assert fired_by == {"uptime", "error_rate", "payment_failures", "data_corruption", "security"}
    signal = sandbox.root / "app/app1/shared/security-signal"
    signal.touch()
    try:
        deadline = time.monotonic() + 180
        while not (alerts := _trigger_alerts(sandbox)):
            assert time.monotonic() < deadline, "the security trigger never reached Alertmanager"
            time.sleep(1)
    finally:
        signal.unlink()
    assert [a["labels"] for a in alerts] == [
        {
            "alertname": "RollbackTrigger",
            "environment": "sandbox",
            "trigger": "security",
            "rollback": "emergency-stop",
            "mode": "shadow",
            "severity": "critical",
        }
    ]
    # A host restarted by the test before may have missed its last scrape: the next one counts.
    deadline = time.monotonic() + 60
    while (health := _target_health(sandbox)) != [("app1", "up"), ("app2", "up")]:
        assert time.monotonic() < deadline, f"Prometheus does not scrape every app host: {health}"
        time.sleep(1)


def _target_health(sandbox: Sandbox) -> list[tuple[str, str]]:
    targets = sandbox.prometheus("targets")["activeTargets"]
    return sorted((t["labels"]["host"], t["health"]) for t in targets)


def _trigger_alerts(sandbox: Sandbox) -> list[dict[str, Any]]:
    alerts = sandbox.alertmanager("alerts")
    return [a for a in alerts if a["labels"].get("alertname") == "RollbackTrigger"]


def test_rolled_away_release_is_marked_bad_and_kept_on_disk(sandbox: Sandbox) -> None:
    assert sandbox.cli("app", "sandbox", "--yes").code == 0

    for host, states in sandbox.states().items():
        assert states[BAD] == "bad", host
        assert states["current"] == GOOD, host
        assert sandbox.release_file(host, BAD).exists()


def test_release_rolled_away_from_is_never_chosen_again(sandbox: Sandbox) -> None:
    assert sandbox.cli("app", "sandbox", "--yes").code == 0  # 2026.11.2 -> 2026.11.1
    # 2026.11.3 passes verification (stable, newest), then gets rolled away from.
    verified = sandbox.run_playbook("deploy.yml", "-e", f"release_deploy_id={NEWER}")
    assert verified.returncode == 0, verified.stdout[-2000:]
    assert sandbox.cli("app", "sandbox", "--yes").code == 0  # 2026.11.3 -> 2026.11.1
    # The bad 2026.11.2 goes live again; the newest stable-looking candidate is 2026.11.3.
    redeployed = sandbox.run_playbook(
        "deploy.yml", "-e", f"release_deploy_id={BAD}", "-e", "release_deploy_verify=false"
    )
    assert redeployed.returncode == 0, redeployed.stdout[-2000:]

    result = sandbox.cli("app", "sandbox", "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    assert (result.json()["from"], result.json()["to"]) == (BAD, GOOD)
    assert sandbox.states()["app1"][NEWER] == "bad"
    assert sandbox.served_release() == GOOD


def test_to_picks_the_named_release_over_the_newest_stable(sandbox: Sandbox) -> None:
    # 2026.11.3 verified (stable, newest), then the bad 2026.11.2 made current again.
    for extra in (
        [f"release_deploy_id={NEWER}"],
        [f"release_deploy_id={BAD}", "release_deploy_verify=false"],
    ):
        args = [arg for value in extra for arg in ("-e", value)]
        assert sandbox.run_playbook("deploy.yml", *args).returncode == 0
    assert sandbox.served_release() == BAD

    result = sandbox.cli("app", "sandbox", "--to", GOOD, "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    assert result.json()["to"] == GOOD
    assert sandbox.served_release() == GOOD


def test_default_target_is_the_newest_stable_release(sandbox: Sandbox) -> None:
    for extra in (
        [f"release_deploy_id={NEWER}"],
        [f"release_deploy_id={BAD}", "release_deploy_verify=false"],
    ):
        args = [arg for value in extra for arg in ("-e", value)]
        assert sandbox.run_playbook("deploy.yml", *args).returncode == 0

    result = sandbox.cli("app", "sandbox", "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    assert result.json()["to"] == NEWER
    assert sandbox.served_release() == NEWER


def test_failed_verification_puts_the_previous_release_back(sandbox: Sandbox) -> None:
    # The stable release got broken on disk since it was verified: payments now fail.
    for host in APP_HOSTS:
        path = sandbox.release_file(host, GOOD)
        meta = json.loads(path.read_text())
        path.write_text(json.dumps({**meta, "faults": ["payment_processing"]}))

    result = sandbox.cli("app", "sandbox", "--yes", "--output", "json")

    assert result.code == 6
    assert "payment" in result.stderr.splitlines()[-1]
    assert result.json()["status"] == "failed"
    assert sandbox.served_release() == BAD
    for host, states in sandbox.states().items():
        assert states["current"] == BAD, host
        assert states[BAD] == "deployed", host  # not blamed: the rollback is what failed


def test_check_shows_the_plan_and_changes_nothing(sandbox: Sandbox) -> None:
    before = sandbox.host_state()

    result = sandbox.cli("app", "sandbox", "--check", "--output", "json")

    assert result.code == 0, result.stderr
    plan = result.json()
    assert (plan["status"], plan["from"], plan["to"]) == ("planned", BAD, GOOD)
    assert sandbox.host_state() == before


def test_json_output_is_one_document_with_the_run_record(sandbox: Sandbox) -> None:
    result = sandbox.cli("app", "sandbox", "--yes", "--output", "json")

    doc = result.json()
    assert doc["status"] == "succeeded"
    assert (doc["environment"], doc["type"], doc["from"], doc["to"]) == (
        "sandbox",
        "app",
        BAD,
        GOOD,
    )
    assert set(doc["hosts"]) >= {"app1", "app2", "lb1"}
    assert any(s["task"].startswith("Switch current release") for s in doc["steps"])
    assert all(item["ok"] for item in doc["checklist"])
    artifacts = Path(doc["artifacts"])
    assert doc["run_id"] == artifacts.name
    assert json.loads((artifacts / "result.json").read_text())["run_id"] == doc["run_id"]
    assert list((artifacts / "artifacts" / "ansible" / "job_events").glob("*.json"))


def test_result_goes_to_stdout_and_progress_to_stderr(sandbox: Sandbox) -> None:
    result = sandbox.cli("app", "sandbox", "--yes")

    assert result.stdout.startswith("app rollback on sandbox: SUCCEEDED")
    assert "Switch current release" not in result.stdout
    assert "SUCCEEDED" not in result.stderr
    assert any(
        "app2" in line and "Switch current release" in line for line in result.stderr.splitlines()
    )


def test_without_terminal_or_yes_the_run_is_refused(sandbox: Sandbox) -> None:
    before = sandbox.host_state()

    result = sandbox.cli("app", "sandbox", stdin="")

    assert result.code == 8
    assert "--yes" in result.stderr
    assert sandbox.host_state() == before


def test_plain_ansible_playbook_without_confirmation_is_refused(sandbox: Sandbox) -> None:
    before = sandbox.host_state()

    run = sandbox.run_playbook("app.yml")

    assert run.returncode != 0
    assert "not confirmed" in run.stdout
    assert sandbox.host_state() == before


def test_the_reason_and_note_given_are_recorded_with_the_run(sandbox: Sandbox) -> None:
    note = "checkout answers 500 since 02:10, 40 tickets"
    args = ("--reason", "feature-broken", "--note", note)

    result = sandbox.cli("app", "sandbox", "--yes", *args, "--output", "json")

    assert result.code == 0, result.stderr
    document = result.json()
    assert (document["requested"]["reason"], document["requested"]["note"]) == (
        "feature-broken",
        note,
    )
    (attempt,) = [
        entry
        for entry in sandbox.audit_entries()
        if entry.get("run_id") == document["run_id"] and entry.get("event") == "attempt"
    ]
    assert attempt["trigger"] == {"reason": "feature-broken", "note": note}
    history = sandbox.cli("history", "sandbox")
    line = next(line for line in history.stdout.splitlines() if document["run_id"] in line)
    assert line.endswith(f'(feature-broken "{note}")')

    # The incident record: why, who allowed it, each step in time, and a post-mortem draft.
    shown = sandbox.cli("show", document["run_id"])
    assert shown.code == 0, shown.stderr
    assert f"reason: feature-broken; note: {note}" in shown.stdout
    assert "allowed: sandbox app rollback needs no approval" in shown.stdout
    # One host at a time: a step of each host's batch, each changing its host.
    switched = [line for line in shown.stdout.splitlines() if "Switch current release" in line]
    assert [("app1 changed" in line, "app2 changed" in line) for line in switched] == [
        (True, False),
        (False, True),
    ]
    record = sandbox.cli("show", document["run_id"], "--output", "json").json()
    window = record["timeline"]["impact_window"]
    assert document["started_at"][:19] <= window["start"][:19] <= window["end"][:19]
    draft = Path(record["postmortem"]).read_text()
    for heading in ("## Timeline (UTC)", "## Root cause", "## Lessons learned", "## Prevention"):
        assert heading in draft
    assert f"- Reason: feature-broken; note: ` {note} `" in draft
    assert Path(record["postmortem"]).with_name("timeline.json").is_file()

    # The same record as one page, as a real browser shows it.
    page = Path(record["html_report"])
    assert f"HTML report: {page}" in shown.stdout
    dom = rendered_dom(page)
    assert '<span class="verdict succeeded" id="verdict">SUCCEEDED</span>' in dom
    assert dom.count("Switch current release") == 2
    assert f"note: {note}" in dom and "allowed: sandbox app rollback needs no approval" in dom
    shot = screenshot(page, "app-rollback-report")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_the_post_rollback_checklist_is_checked_by_the_run_ticked_by_people_and_late_in_history(
    sandbox: Sandbox,
) -> None:
    run_id = sandbox.cli("app", "sandbox", "--yes", "--output", "json").json()["run_id"]

    listed = sandbox.cli("checklist", run_id, "--output", "json")
    assert listed.code == 0, listed.stderr
    states = {item["id"]: item["state"] for item in listed.json()["items"]}
    # The run's own checklist through nginx passed: those items are done by the run.
    assert states["services-running"] == states["core-functionality"] == "passed"
    assert states["transaction-consistency"] == "not applicable"  # no database restored
    assert states["status-page"] == states["root-cause"] == "open"

    ticked = sandbox.cli(
        "checklist", run_id, "--tick", "status-page", "--by", "oscar", "--note", "incident 42"
    )
    again = sandbox.cli("checklist", run_id, "--tick", "status-page", "--by", "erin")
    refused = sandbox.cli("checklist", run_id, "--tick", "services-running", "--by", "oscar")
    unknown = sandbox.cli("checklist", run_id, "--tick", "pray", "--by", "oscar")

    assert ticked.code == 0 and again.code == 0, ticked.stderr + again.stderr
    assert "[done] status-page" in ticked.stdout and "(oscar, " in ticked.stdout
    ticks = [
        (e["item"], e["by"], e["note"])
        for e in sandbox.audit_entries()
        if e.get("event") == "checklist_tick" and e.get("run_id") == run_id
    ]
    assert ticks == [("status-page", "oscar", "incident 42")]  # the second tick added none
    assert refused.code == 2 and "services-running of run" in refused.stderr
    assert unknown.code == 2 and "no checklist item 'pray'" in unknown.stderr

    # Three hours later, what is still open of the first two phases is overdue.
    record = sandbox.runs_dir / run_id / "result.json"
    result = json.loads(record.read_text())
    result["finished_at"] = "2020-01-01T00:00:00+00:00"
    record.write_text(json.dumps(result))
    history = sandbox.cli("history", "sandbox").stdout.splitlines()
    late = history[history.index(next(line for line in history if run_id in line)) + 1]
    # An app rollback checked no database: its integrity is a person's item.
    assert late.startswith(
        "    CHECKLIST OVERDUE: data-integrity, error-rates, notify-team, monitor-stability"
    )
    assert "status-page" not in late and "services-running" not in late


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"rollback_reason": "boredom"}, "-e rollback_reason: not a manual reason (one of "),
        ({"rollback_reason": ["feature-broken"]}, "-e rollback_reason: not a manual reason"),
        (
            {"rollback_note": "{{ lookup('pipe', 'id') }}"},
            "-e rollback_note: must not contain template markers",
        ),
    ],
    ids=["unknown-reason", "reason-list", "templated-note"],
)
def test_a_reason_or_note_that_is_not_plain_is_refused_by_the_run_itself(
    sandbox: Sandbox, given: dict[str, Any], problem: str
) -> None:
    before, audited = sandbox.host_state(), len(sandbox.audit_entries())

    run = sandbox.run_playbook("app.yml", "-e", json.dumps({"rollback_confirmed": True, **given}))

    assert run.returncode != 0
    assert problem in run.stdout
    assert sandbox.host_state() == before
    (refusal,) = sandbox.audit_entries()[audited:]
    assert refusal["outcome"] == "refused"
    assert refusal["trigger"] == {"reason": None, "note": None}  # none of it is kept


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["app", "sandbox", "--note", "{{ lookup('pipe', 'id') }}", "--yes"],
            2,
            "note: must not contain template markers",
        ),
        (["app", "nowhere", "--yes"], 2, "unknown environment 'nowhere'"),
        (["app", "sandbox", "--to", "1999.01.1", "--yes"], 3, "unknown release 1999.01.1"),
        (["app", "sandbox", "--to", BAD, "--yes"], 3, f"release {BAD} is deployed on app"),
    ],
    ids=["templated-note", "unknown-environment", "unknown-release", "current-target-not-stable"],
)
def test_bad_input_is_one_line_and_changes_nothing(
    sandbox: Sandbox, args: list[str], code: int, message: str
) -> None:
    before = sandbox.host_state()

    result = sandbox.cli(*args)

    assert result.code == code
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("rollbackctl: error: ") and message in last
    assert sandbox.host_state() == before


def test_rollback_to_the_release_every_host_runs_changes_nothing(sandbox: Sandbox) -> None:
    assert sandbox.cli("app", "sandbox", "--yes").code == 0
    before = sandbox.host_state()

    result = sandbox.cli("app", "sandbox", "--to", GOOD, "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    document = result.json()
    assert (document["status"], document["from"], document["to"]) == ("succeeded", GOOD, GOOD)
    assert {host: counts["changed"] for host, counts in document["hosts"].items()} == {
        host: 0 for host in document["hosts"]
    }
    assert without_checklist_writes(sandbox.host_state()) == without_checklist_writes(before)
    assert sandbox.served_release() == GOOD


def test_no_stable_release_to_go_back_to_is_refused(sandbox: Sandbox) -> None:
    assert sandbox.cli("app", "sandbox", "--yes").code == 0
    before = sandbox.host_state()

    result = sandbox.cli("app", "sandbox", "--yes")

    assert result.code == 3
    assert "no stable release other than current 2026.11.1" in result.stderr
    assert sandbox.host_state() == before


def test_bad_release_cannot_be_named_as_target(sandbox: Sandbox) -> None:
    assert sandbox.cli("app", "sandbox", "--yes").code == 0

    result = sandbox.cli("app", "sandbox", "--to", BAD, "--yes")

    assert result.code == 3
    assert f"release {BAD} is bad" in result.stderr


def test_malformed_inventory_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    # A checkout of its own: the CLI trusts only the inventories of the checkout it runs from.
    checkout = copy_checkout(tmp_path / "checkout", "rollbackctl")
    broken = checkout / "inventories" / "broken-inventory-test"
    broken.mkdir()
    (broken / "hosts.yml").write_text("all:\n  children:\n    app:\n      hosts: [oops\n")
    before = sandbox.host_state()

    result = cli_from(checkout, sandbox.env, "app", "broken-inventory-test", "--yes")

    assert result.code == 2
    assert "malformed inventory" in result.stderr.strip().splitlines()[-1]
    assert sandbox.host_state() == before


def test_host_failing_mid_switch_gets_its_release_back_and_the_run_stops(
    sandbox: Sandbox,
) -> None:
    # app2's copy of the stable release cannot come up healthy; app1's can.
    path = sandbox.release_file("app2", GOOD)
    path.write_text(json.dumps({**json.loads(path.read_text()), "faults": ["health"]}))

    result = sandbox.cli("app", "sandbox", "--yes", "--output", "json")

    assert result.code == 6
    last = result.stderr.strip().splitlines()[-1]
    assert f"rollback to {GOOD} failed on app2: Start the current release" in last
    assert f"release {BAD} was put back and serves again" in last
    # One host at a time: app1 made it, app2 runs what it ran before; both serve, none drained.
    assert sandbox.current_links() == {"app1": GOOD, "app2": BAD}
    servers = sandbox.upstream_servers()
    assert len(servers) == len(APP_HOSTS) and not [s for s in servers if "down" in s], servers
    assert {sandbox.served_release() for _ in range(6)} == {GOOD, BAD}
    assert sandbox.states()["app2"][GOOD] != "bad"  # the host failed, not the release


def test_deploy_failing_mid_switch_restores_the_previous_release_and_stops(
    sandbox: Sandbox,
) -> None:
    # A redeploy of 2026.11.1 whose copy on app1 cannot come up healthy.
    path = sandbox.release_file("app1", GOOD)
    path.write_text(json.dumps({**json.loads(path.read_text()), "faults": ["health"]}))

    run = sandbox.run_playbook("deploy.yml", "-e", f"release_deploy_id={GOOD}")

    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert f"deploy of {GOOD} failed on app1" in output
    assert f"release {BAD} was put back and serves again" in output
    assert "rollback failed" not in output  # a deploy, not a rollback
    # The rescue ran on app1 only (one host at a time): back on the release it ran before.
    assert sandbox.current_links() == {"app1": BAD, "app2": BAD}
    servers = sandbox.upstream_servers()
    assert len(servers) == len(APP_HOSTS) and not [s for s in servers if "down" in s], servers
    assert {sandbox.served_release() for _ in range(4)} == {BAD}
    # A release already verified stable keeps its verdict; the rescue says so.
    assert f"release {GOOD} is current and stable on this host; not marking it bad" in output
    assert sandbox.states()["app1"][GOOD] == "stable"


def test_releases_shows_every_hosts_releases_after_a_rollback(sandbox: Sandbox) -> None:
    assert sandbox.cli("app", "sandbox", "--yes").code == 0

    result = sandbox.cli("releases", "sandbox", "--output", "json")

    assert result.code == 0, result.stderr
    hosts = result.json()["hosts"]
    assert sorted(hosts) == list(APP_HOSTS)
    for host in APP_HOSTS:
        listed = {r["id"]: (r["state"], r["current"]) for r in hosts[host]["releases"]}
        assert listed[GOOD] == ("stable", True), host
        assert listed[BAD] == ("bad", False), host
        assert hosts[host]["current"] == GOOD
