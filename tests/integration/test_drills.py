"""Every molecule drill passes on the local Docker engine through `rollbackctl drill run`.

One `drill run all` for the module (each scenario runs check, converge, idempotence and verify
on its own containers); the tests then read what it recorded and what the schedule says.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollbackctl.tools import drills
from tests.support.sandbox import REPO_ROOT, ROLLBACKCTL

pytestmark = pytest.mark.drills

SEQUENCE = ["destroy", "syntax", "create", "prepare", "check", "converge", "idempotence", "verify"]


def rollbackctl(state: Path, *args: str, timeout: int = 3600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROLLBACKCTL), *args],
        env={**os.environ, "ROLLBACKCTL_STATE_DIR": str(state)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def state() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rollbackctl-drills-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def run_all(state: Path) -> dict[str, Any]:
    """`rollbackctl drill run all --output json`: its exit code and result document."""
    result = rollbackctl(state, "drill", "run", drills.ALL, "--output", "json")
    document = json.loads(result.stdout) if result.stdout.strip() else {}
    return {"code": result.returncode, "stderr": result.stderr, "document": document}


def outcome(run_all: dict[str, Any], scenario: str) -> dict[str, Any]:
    entries = [e for e in run_all["document"].get("drills", []) if e["scenario"] == scenario]
    assert entries, f"no outcome recorded for {scenario}: {run_all['stderr'][-3000:]}"
    return entries[0]


def log_tail(entry: dict[str, Any]) -> str:
    log = Path(entry["log"])
    return log.read_text()[-4000:] if log.is_file() else "(no log)"


@pytest.mark.parametrize("scenario", list(drills.SCENARIOS))
def test_drill_passes_every_step(run_all: dict[str, Any], scenario: str) -> None:
    entry = outcome(run_all, scenario)
    assert entry["outcome"] == "passed", log_tail(entry)
    steps = [a["action"] for a in entry["actions"]]
    assert steps[: len(SEQUENCE)] == SEQUENCE
    assert all(a["result"] == "Successful" for a in entry["actions"]), entry["actions"]


def test_run_of_every_drill_exits_zero(run_all: dict[str, Any]) -> None:
    assert run_all["code"] == 0, run_all["stderr"][-3000:]


def test_outcomes_are_in_the_drill_history(run_all: dict[str, Any], state: Path) -> None:
    recorded = drills.read_history(state / "drills" / "history.jsonl")
    assert [e["scenario"] for e in recorded] == [*drills.SCENARIOS, drills.ALL]


def test_schedule_has_nothing_due_after_passing_drills(
    run_all: dict[str, Any], state: Path
) -> None:
    assert run_all["code"] == 0, run_all["stderr"][-3000:]
    result = rollbackctl(state, "drill", "status", "--output", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["due"] == []
