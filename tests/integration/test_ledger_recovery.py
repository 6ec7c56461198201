"""A corrupt ledger is named with its fix; a rerun after an interrupted rollout converges."""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.sandbox import APP_HOSTS, Sandbox

pytestmark = pytest.mark.integration

GOOD, BAD = "2026.11.1", "2026.11.2"


def served_by_each_host(sandbox: Sandbox) -> dict[str, str]:
    """host -> release its app process answers with, asked directly (not through nginx)."""
    ports = json.loads((sandbox.root / "sandbox.json").read_text())["ports"]
    served = {}
    for host in APP_HOSTS:
        url = f"http://127.0.0.1:{ports[host]}/api/health"
        with urllib.request.urlopen(url, timeout=10) as resp:
            served[host] = json.loads(resp.read())["release"]
    return served


def corrupt_ledger(sandbox: Sandbox, host: str) -> str:
    """Valid JSON of the wrong shape: 'releases' as a list, the way a bad hand edit leaves it."""
    path = sandbox.root / "app" / host / "ledger.json"
    book = json.loads(path.read_text())
    book["releases"] = list(book["releases"].values())
    path.write_text(json.dumps(book))
    return str(path)


def leave_on_good(sandbox: Sandbox, host: str) -> None:
    """What a rollout interrupted after its first host leaves there: symlink, ledger, process."""
    app = sandbox.root / "app" / host
    book = json.loads((app / "ledger.json").read_text())
    book["current"] = GOOD
    book["releases"][GOOD]["events"].append(
        {"at": datetime.now(UTC).isoformat(timespec="seconds"), "event": "made current"}
    )
    (app / "ledger.json").write_text(json.dumps(book, indent=2, sort_keys=True))
    link, tmp = app / "current", app / "current.tmp-test"
    tmp.symlink_to(f"releases/{GOOD}")
    os.replace(tmp, link)
    started = sandbox.run_playbook("app_service.yml")
    assert started.returncode == 0, started.stdout[-2000:]
    assert served_by_each_host(sandbox) == {"app1": GOOD, "app2": BAD}


def one_line_error(stderr: str) -> str:
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("rollbackctl: error: "), stderr[-2000:]
    return last


@pytest.fixture
def mixed_fleet(sandbox: Sandbox) -> dict[str, Any]:
    """app1 already on the stable release, app2 still on the bad one; app1's ledger then."""
    leave_on_good(sandbox, "app1")
    return sandbox.ledgers()["app1"]


def test_corrupt_ledger_makes_releases_name_the_file_and_the_fix(sandbox: Sandbox) -> None:
    path = corrupt_ledger(sandbox, "app2")

    result = sandbox.cli("releases", "sandbox")

    assert result.code != 0
    line = one_line_error(result.stderr)
    assert f"release ledger {path}" in line
    assert "'releases' is a list" in line
    assert f"restore it from the previous copy {path}.prev" in line


def test_corrupt_ledger_stops_app_rollback_on_every_host(sandbox: Sandbox) -> None:
    path = corrupt_ledger(sandbox, "app2")
    before = sandbox.host_state()

    result = sandbox.cli("app", "sandbox", "--yes")

    assert result.code == 3
    line = one_line_error(result.stderr)
    assert f"release ledger {path} on app2 is corrupt: 'releases' is a list" in line
    assert f"{path}.prev" in line
    assert sandbox.host_state() == before
    assert served_by_each_host(sandbox) == {"app1": BAD, "app2": BAD}


def test_rerun_to_named_release_converges_a_half_rolled_fleet(
    sandbox: Sandbox, mixed_fleet: dict[str, Any]
) -> None:
    result = sandbox.cli("app", "sandbox", "--yes", "--to", GOOD, "--output", "json")

    assert result.code == 0, result.stderr
    assert (result.json()["from"], result.json()["to"]) == (BAD, GOOD)
    assert served_by_each_host(sandbox) == {"app1": GOOD, "app2": GOOD}
    assert {sandbox.served_release() for _ in range(4)} == {GOOD}
    assert sandbox.current_links() == {host: GOOD for host in APP_HOSTS}
    assert sandbox.ledgers()["app1"] == mixed_fleet  # already there: left as it was
    assert sandbox.states()["app2"][BAD] == "bad"


def test_rerun_without_to_picks_the_release_the_first_hosts_reached(
    sandbox: Sandbox, mixed_fleet: dict[str, Any]
) -> None:
    result = sandbox.cli("app", "sandbox", "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    assert (result.json()["from"], result.json()["to"]) == (BAD, GOOD)
    assert served_by_each_host(sandbox) == {"app1": GOOD, "app2": GOOD}
    assert sandbox.ledgers()["app1"] == mixed_fleet
    assert sandbox.states()["app2"] == {GOOD: "stable", BAD: "bad", "current": GOOD}


def test_check_on_a_half_rolled_fleet_plans_the_hosts_left(
    sandbox: Sandbox, mixed_fleet: dict[str, Any]
) -> None:
    # Not host_state(): through nginx, a half-rolled fleet answers with either release.
    before = (sandbox.ledgers(), sandbox.current_links(), served_by_each_host(sandbox))

    result = sandbox.cli("app", "sandbox", "--check", "--output", "json")

    assert result.code == 0, result.stderr
    assert (result.json()["status"], result.json()["from"], result.json()["to"]) == (
        "planned",
        BAD,
        GOOD,
    )
    assert (sandbox.ledgers(), sandbox.current_links(), served_by_each_host(sandbox)) == before


def test_rerun_to_named_release_on_a_converged_fleet_changes_nothing(
    sandbox: Sandbox, mixed_fleet: dict[str, Any]
) -> None:
    assert sandbox.cli("app", "sandbox", "--yes", "--to", GOOD).code == 0
    before = apps_and_nginx(sandbox)

    result = sandbox.cli("app", "sandbox", "--yes", "--to", GOOD, "--output", "json")

    assert result.code == 0, result.stderr
    assert (result.json()["from"], result.json()["to"]) == (GOOD, GOOD)
    assert {host: counts["changed"] for host, counts in result.json()["hosts"].items()} == {
        host: 0 for host in result.json()["hosts"]
    }
    assert apps_and_nginx(sandbox) == before
    assert served_by_each_host(sandbox) == {"app1": GOOD, "app2": GOOD}


def apps_and_nginx(sandbox: Sandbox) -> dict[str, Any]:
    """host_state() but the database, where every run's checklist places an order."""
    return {key: value for key, value in sandbox.host_state().items() if key != "database"}
