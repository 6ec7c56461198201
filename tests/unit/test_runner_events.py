"""Following a detached run from the events ansible-runner leaves on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.grant import process_start

from rollbackctl.run.runner import (
    SPEC_FILE,
    STATUS_FILE,
    SUPERVISOR_FILE,
    EventFolder,
    RunDetached,
    RunLostError,
    follow_run,
    read_extravars,
    write_extravars,
)


def job_events(run_dir: Path) -> Path:
    folder = run_dir / "artifacts" / "ansible" / "job_events"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_event(run_dir: Path, counter: int, kind: str, **data: Any) -> None:
    uuid = f"{counter:08x}-0000-0000-0000-000000000000"
    event = {"counter": counter, "uuid": uuid, "event": kind, "event_data": data}
    (job_events(run_dir) / f"{counter}-{uuid}.json").write_text(json.dumps(event))


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data))


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "20261128T000000Z-abcdef"
    folder.mkdir()
    write_json(
        folder / SPEC_FILE,
        {
            "run_id": folder.name,
            "playbook": "app.yml",
            "environment": "sandbox",
            "inventory": "hosts.yml",
            "check": False,
            "timeout": 60,
        },
    )
    return folder


def test_events_come_once_each_in_counter_order(run_dir: Path) -> None:
    folder = EventFolder(run_dir)
    for counter in (10, 2, 1):
        write_event(run_dir, counter, "runner_on_ok", host="app1", task=f"t{counter}")

    first = [e["counter"] for e in folder.read_new()]
    write_event(run_dir, 11, "runner_on_ok", host="app1", task="t11")
    second = [e["counter"] for e in folder.read_new()]

    assert (first, second) == ([1, 2, 10], [11])


def test_partial_and_temporary_files_are_not_events_yet(run_dir: Path) -> None:
    events = job_events(run_dir)
    (events / "0123abcd-0000-0000-0000-000000000000-partial.json").write_text("{}")
    (events / "3-0123abcd-0000-0000-0000-000000000000.json.tmp").write_text('{"count')

    assert EventFolder(run_dir).read_new() == []


def test_no_event_folder_yet_reads_as_no_events(run_dir: Path) -> None:
    assert EventFolder(run_dir).read_new() == []


def test_finished_run_becomes_the_outcome_with_steps_and_stats(run_dir: Path) -> None:
    write_event(run_dir, 1, "playbook_on_task_start", task="Drain")
    write_event(run_dir, 2, "runner_on_ok", host="app1", task="Drain", res={"changed": True})
    write_event(
        run_dir, 3, "runner_on_failed", host="app2", task="Switch", res={"msg": "no release"}
    )
    write_event(
        run_dir,
        4,
        "playbook_on_stats",
        artifact_data={"rollback_to": "2026.11.1"},
        failures={"app2": 1},
        ok={"app1": 1},
    )
    write_json(
        run_dir / STATUS_FILE,
        {"status": "failed", "rc": 2, "started_at": "s", "finished_at": "f", "duration_s": 1.5},
    )
    seen: list[str] = []

    outcome = follow_run(run_dir, on_step=lambda step: seen.append(step.status))

    assert seen == ["changed", "failed"]
    assert (outcome.status, outcome.rc, outcome.duration_s) == ("failed", 2, 1.5)
    assert outcome.stats == {"rollback_to": "2026.11.1"}
    assert outcome.host_stats == {"app2": {"failures": 1}, "app1": {"ok": 1}}
    assert outcome.failures()[0].message == "no release"


def test_supervisor_gone_without_a_status_is_a_lost_run(run_dir: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_json(run_dir / SUPERVISOR_FILE, {"pid": gone.pid, "pid_start": "1"})

    with pytest.raises(RunLostError, match="without recording an outcome"):
        follow_run(run_dir, poll=0.01)


def test_signal_while_following_detaches_with_the_shell_exit_code(run_dir: Path) -> None:
    me = os.getpid()
    write_json(run_dir / SUPERVISOR_FILE, {"pid": me, "pid_start": process_start(me)})

    def interrupt(_step: object) -> None:
        os.kill(me, signal.SIGINT)

    write_event(run_dir, 1, "runner_on_ok", host="app1", task="Drain")
    # A shell starts background jobs with SIGINT ignored: set a known handler, so the check
    # that following puts back the one it found holds however the tests were started.
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(RunDetached) as caught:
            follow_run(run_dir, on_step=interrupt, poll=0.01)
        restored = signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, outer)

    assert caught.value.exit_code == 130
    assert f"rollbackctl attach {run_dir.name}" in caught.value.one_line()
    assert restored is signal.default_int_handler


def test_extravars_read_back_as_plain_data(run_dir: Path) -> None:
    given = {"rollback_to": "{{ lookup('pipe', 'id') }}", "rollback_approvals": ["/a"]}
    write_extravars(run_dir, given)

    assert read_extravars(run_dir) == given
