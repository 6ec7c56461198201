"""A run outlives its terminal: kill -9 or Ctrl-C of the CLI never leaves a hung run or a
drained host; the run finishes by itself, is recorded, and `attach` reports it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.sandbox import APP_HOSTS, ROLLBACKCTL, Sandbox

pytestmark = pytest.mark.integration

GOOD = "2026.11.1"
DRAIN = "Set this app host in the nginx upstream to drained"
SWITCH = f"Switch current release to {GOOD}"
VERIFY = "Verify the application checklist through nginx"
# The whole rollback takes about a minute on a busy machine; a hung run never ends.
FINISH_SECONDS = 180
EVENT_SECONDS = 180

Event = dict[str, Any]


def start_rollback(sandbox: Sandbox) -> subprocess.Popen[str]:
    """The CLI as an operator's shell runs it: a process group of its own, like a terminal job."""
    return subprocess.Popen(
        [str(ROLLBACKCTL), "app", "sandbox", "--yes"],
        env=sandbox.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def runs_dir(sandbox: Sandbox) -> Path:
    return sandbox.state_dir / "runs"


def run_ids(sandbox: Sandbox) -> set[str]:
    folder = runs_dir(sandbox)
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def new_run(sandbox: Sandbox, before: set[str]) -> str:
    deadline = time.monotonic() + EVENT_SECONDS
    while time.monotonic() < deadline:
        fresh = sorted(run_ids(sandbox) - before)
        if fresh:
            return fresh[-1]
        time.sleep(0.1)
    raise AssertionError("the CLI never started a run")


def events(sandbox: Sandbox, run_id: str) -> list[Event]:
    folder = runs_dir(sandbox) / run_id / "artifacts" / "ansible" / "job_events"
    found = []
    for path in folder.glob("*.json") if folder.exists() else []:
        if re.match(r"^\d+-", path.name) and not path.name.endswith("-partial.json"):
            found.append(json.loads(path.read_text()))
    return sorted(found, key=lambda e: e["counter"])


def wait_for_event(sandbox: Sandbox, run_id: str, matches: Callable[[Event], bool]) -> None:
    deadline = time.monotonic() + EVENT_SECONDS
    while time.monotonic() < deadline:
        if any(matches(e) for e in events(sandbox, run_id)):
            return
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached the event")


def task_done_on(task: str, host: str) -> Callable[[Event], bool]:
    def matches(event: Event) -> bool:
        data = event.get("event_data") or {}
        return (
            event.get("event") == "runner_on_ok"
            and data.get("task") == task
            and data.get("host") == host
        )

    return matches


def task_started(task: str) -> Callable[[Event], bool]:
    def matches(event: Event) -> bool:
        data = event.get("event_data") or {}
        return event.get("event") == "playbook_on_task_start" and data.get("task") == task

    return matches


def kill_cli(cli: subprocess.Popen[str]) -> None:
    os.killpg(cli.pid, signal.SIGKILL)
    cli.communicate(timeout=30)


def wait_until_finished(sandbox: Sandbox, run_id: str) -> dict[str, Any]:
    """The run's row in `rollbackctl status` once it is no longer running."""
    deadline = time.monotonic() + FINISH_SECONDS
    while time.monotonic() < deadline:
        status = sandbox.cli("status", "sandbox", "--output", "json")
        assert status.code == 0, status.stderr
        row = next(r for r in status.json()["runs"] if r["run_id"] == run_id)
        if row["outcome"] != "running":
            return row
        time.sleep(1)
    raise AssertionError(f"run {run_id} still running after {FINISH_SECONDS} s")


def release_of(server_line: str) -> str:
    address = server_line.split()[1].rstrip(";")
    with urllib.request.urlopen(f"http://{address}/api/health", timeout=10) as resp:
        return json.loads(resp.read())["release"]


def assert_rolled_back_and_released(sandbox: Sandbox, run_id: str) -> None:
    servers = sandbox.upstream_servers()
    assert len(servers) == len(APP_HOSTS), servers
    assert not [s for s in servers if "down" in s], servers  # every app host back in nginx
    assert [release_of(s) for s in servers] == [GOOD] * len(APP_HOSTS)
    assert {sandbox.served_release() for _ in range(4)} == {GOOD}
    locks = sandbox.state_dir / "locks"
    assert not (list(locks.iterdir()) if locks.exists() else []), "a lock was left behind"
    history = sandbox.cli("history", "sandbox", "--output", "json").json()["runs"]
    assert next(r for r in history if r["run_id"] == run_id)["outcome"] == "succeeded"


@pytest.mark.parametrize(
    "kill_after",
    [
        pytest.param(task_done_on(DRAIN, "app1"), id="app1-drained"),
        pytest.param(task_done_on(SWITCH, "app1"), id="app1-switched"),
        pytest.param(task_started(VERIFY), id="verifying"),
    ],
)
def test_killed_cli_leaves_the_run_to_finish_and_release_the_lock(
    sandbox: Sandbox, kill_after: Callable[[Event], bool]
) -> None:
    before = run_ids(sandbox)
    cli = start_rollback(sandbox)
    run_id = new_run(sandbox, before)
    wait_for_event(sandbox, run_id, kill_after)

    kill_cli(cli)

    assert wait_until_finished(sandbox, run_id)["outcome"] == "succeeded"
    assert_rolled_back_and_released(sandbox, run_id)
    attached = sandbox.cli("attach", run_id, "--output", "json", timeout=FINISH_SECONDS)
    assert attached.code == 0, attached.stderr
    result = attached.json()
    assert (result["run_id"], result["status"], result["to"]) == (run_id, "succeeded", GOOD)
    # The evidence bundle is there although the CLI that started the run never wrote it.
    assert json.loads((runs_dir(sandbox) / run_id / "result.json").read_text())["to"] == GOOD


def test_ctrl_c_detaches_with_the_attach_command_and_the_run_completes(
    sandbox: Sandbox,
) -> None:
    before = run_ids(sandbox)
    cli = start_rollback(sandbox)
    run_id = new_run(sandbox, before)
    wait_for_event(sandbox, run_id, task_done_on(DRAIN, "app1"))

    os.killpg(cli.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground job
    _, stderr = cli.communicate(timeout=30)

    assert cli.returncode == 130, stderr
    hint = [line for line in stderr.splitlines() if "continues detached" in line]
    assert len(hint) == 1, stderr
    assert f"rollbackctl attach {run_id}" in hint[0]
    attached = sandbox.cli("attach", run_id, timeout=FINISH_SECONDS)
    assert attached.code == 0, attached.stderr
    assert "SUCCEEDED" in attached.stdout
    assert_rolled_back_and_released(sandbox, run_id)


def test_status_shows_the_run_holding_the_lock_while_it_runs(sandbox: Sandbox) -> None:
    before = run_ids(sandbox)
    cli = start_rollback(sandbox)
    run_id = new_run(sandbox, before)
    wait_for_event(sandbox, run_id, task_done_on(DRAIN, "app1"))

    status = sandbox.cli("status", "sandbox", "--output", "json")

    kill_cli(cli)
    assert status.code == 0, status.stderr
    lock = status.json()["lock"]
    assert (lock["run_id"], lock["type"], lock["state"]) == (run_id, "app", "alive")
    assert wait_until_finished(sandbox, run_id)["outcome"] == "succeeded"
