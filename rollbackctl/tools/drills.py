"""Rollback drills: run a molecule scenario, record its outcome, and say which drills are due."""

from __future__ import annotations

import calendar
import fcntl
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    LockedError,
    RunFailedError,
    UsageError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import (
    project_dir,
    state_dir,
)


@dataclass(frozen=True)
class DrillKind:
    """One line of the runbook's drill schedule."""

    name: str
    every_months: int
    label: str


@dataclass(frozen=True)
class Scenario:
    """A molecule scenario under molecule/ and the drill kinds a pass of it counts for."""

    name: str
    kinds: tuple[str, ...]
    summary: str


# The runbook's schedule: monthly app, quarterly database, twice-yearly full, yearly DR.
SCHEDULE: tuple[DrillKind, ...] = (
    DrillKind("app", 1, "application rollback, monthly"),
    DrillKind("database", 3, "database rollback, quarterly"),
    DrillKind("full", 6, "full system rollback (or every scenario in one run), twice a year"),
    DrillKind(
        "disaster_recovery", 12, "disaster recovery: every component from a restore point, yearly"
    ),
)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "planned_rollback",
            ("app",),
            "bad release rolled back on both app hosts behind nginx, under traffic",
        ),
        Scenario(
            "partial_rollback",
            ("app",),
            "one app host rolled back, the rest verified untouched",
        ),
        Scenario(
            "container_rollback",
            ("app",),
            "container strategy: image tags rolled back behind nginx, under traffic",
        ),
        Scenario(
            "data_rollback",
            ("database",),
            "corruption, read-only mode, restore of the last verified backup",
        ),
        Scenario(
            "config_rollback",
            (),
            "configuration put back unconfirmed, then kept when confirmed; payment pin rolled"
            " back against the provider",
        ),
        Scenario(
            "emergency_rollback",
            ("full", "disaster_recovery"),
            "critical failure of every component: emergency stop, full rollback to the restore"
            " point, validation, resume",
        ),
    )
}
# A run of every scenario that passes as a whole counts as the full-system drill too.
FULL_KIND = "full"
ALL = "all"

# Molecule's per-action log line, e.g. "INFO  [planned_rollback > converge] Executed: Failed".
ACTION_LINE = re.compile(r"\[(?P<scenario>[\w-]+) > (?P<action>[\w-]+)\] Executed: (?P<result>\w+)")
DEFAULT_TIMEOUT_SECONDS = 1800
# Scenarios run side by side: each drill keeps about one CPU busy, and their containers and
# networks are named after the scenario.
DRILLS_AT_ONCE = 2


@dataclass
class DrillOutcome:
    """One drill run as recorded in the history."""

    scenario: str
    kinds: list[str]
    passed: bool
    started_at: str
    finished_at: str
    duration_s: float
    exit_code: int | None
    failed_action: str | None = None
    log: str = ""
    actions: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": "passed" if self.passed else "failed", **asdict(self)}


def drills_dir() -> Path:
    return state_dir() / "drills"


def history_path() -> Path:
    return drills_dir() / "history.jsonl"


def scenario_names() -> list[str]:
    return list(SCENARIOS)


def resolve(names: Sequence[str]) -> list[Scenario]:
    """The scenarios named ("all" for every one), or UsageError naming the known ones."""
    if not names or ALL in names:
        return list(SCENARIOS.values())
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise UsageError(
            f"unknown drill scenario '{unknown[0]}'",
            hint=f"known: {', '.join(SCENARIOS)} or {ALL}",
        )
    return [SCENARIOS[n] for n in names]


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later, clamped to the month's end (Jan 31 + 1: Feb 28)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_history(path: Path | None = None) -> list[dict[str, Any]]:
    """Every recorded drill, oldest first; a torn last line (crash mid-write) is skipped."""
    path = path or history_path()
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except ValueError as exc:
            if number == len(lines):
                continue
            raise UsageError(
                f"drill history {path} line {number} is not JSON", hint="fix or remove that line"
            ) from exc
    return entries


def record(outcome: DrillOutcome, path: Path | None = None) -> dict[str, Any]:
    """Append one outcome to the history; one line per drill, flushed to disk."""
    path = path or history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = outcome.to_dict()
    with path.open("a") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return entry


def schedule_status(
    history: Sequence[dict[str, Any]], now: datetime | None = None
) -> dict[str, Any]:
    """For each drill kind: the last pass, when the next one is due, and whether it is due now."""
    now = now or datetime.now(UTC)
    drills = []
    for kind in SCHEDULE:
        runs = [e for e in history if kind.name in e.get("kinds", [])]
        passes = [e for e in runs if e.get("outcome") == "passed"]
        last_pass = max((_parse_time(e["finished_at"]) for e in passes), default=None)
        last_run = max(runs, key=lambda e: _parse_time(e["finished_at"]), default=None)
        due_at = add_months(last_pass, kind.every_months) if last_pass else None
        covered_by = [s.name for s in SCENARIOS.values() if kind.name in s.kinds]
        if kind.name == FULL_KIND:
            covered_by = [*covered_by, ALL]
        if last_pass is None:
            state = "never passed"
        elif due_at is not None and now >= due_at:
            state = "due"
        else:
            state = "ok"
        drills.append(
            {
                "kind": kind.name,
                "schedule": kind.label,
                "every_months": kind.every_months,
                "scenarios": covered_by,
                "last_passed_at": last_pass.isoformat(timespec="seconds") if last_pass else None,
                "last_outcome": last_run.get("outcome") if last_run else None,
                "due_at": due_at.isoformat(timespec="seconds") if due_at else None,
                "due": state != "ok",
                "state": state,
            }
        )
    return {
        "now": now.isoformat(timespec="seconds"),
        "due": [d["kind"] for d in drills if d["due"]],
        "drills": drills,
    }


def status() -> dict[str, Any]:
    return schedule_status(read_history())


def record_manual(kind: str, *, passed: bool, note: str, by: str) -> dict[str, Any]:
    """Record a drill run by hand (an exercise no scenario automates, such as a restore onto
    rebuilt hosts at another site)."""
    known = [k.name for k in SCHEDULE]
    if kind not in known:
        raise UsageError(f"unknown drill kind '{kind}'", hint=f"known: {', '.join(known)}")
    if not note.strip():
        raise UsageError("a manual drill needs a note", hint="say what was exercised and where")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    outcome = DrillOutcome(
        scenario="manual",
        kinds=[kind],
        passed=passed,
        started_at=now,
        finished_at=now,
        duration_s=0.0,
        exit_code=None,
        log=f"{by}: {note.strip()}",
    )
    return {"drill": record(outcome), "schedule": status()}


@contextmanager
def _drill_lock() -> Iterator[None]:
    # One run at a time per state folder: the drill history and logs are the run's.
    drills_dir().mkdir(parents=True, exist_ok=True)
    with (drills_dir() / "lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(
                "another drill is running from this state folder",
                hint="wait for it to finish; runs from other state folders share the engine and "
                "a scenario's container names",
            ) from None
        yield


def _tool_env() -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
        "NO_COLOR": "1",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PY_COLORS": "0",
    }


def _stream(
    command: list[str], log: Path, on_line: Callable[[str], None] | None, timeout: int
) -> int:
    """Run command in the project dir, appending its output to log; its exit code."""
    with log.open("a") as out:
        process = subprocess.Popen(
            command,
            cwd=project_dir(),
            env=_tool_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        # A hung drill must not hang CI: kill it even when it prints nothing.
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                out.write(line)
                if on_line:
                    on_line(line.rstrip("\n"))
            code = process.wait()
        finally:
            watchdog.cancel()
        if code < 0:
            out.write(f"drill: {' '.join(command)} killed (signal {-code}; limit {timeout} s)\n")
        return code


def bootstrap(log: Path, on_line: Callable[[str], None] | None = None) -> None:
    """Start the Docker engine and build the drill images when missing (idempotent)."""
    code = _stream([str(project_dir() / "scripts" / "build-images.sh")], log, on_line, 1800)
    if code != 0:
        raise RunFailedError(f"drill engine bootstrap failed (exit {code})", hint=f"see {log}")


def run_scenario(
    scenario: Scenario,
    *,
    log_dir: Path,
    on_line: Callable[[str], None] | None = None,
    timeout: int = DEFAULT_TIMEOUT_SECONDS,
) -> DrillOutcome:
    """`molecule test -s <scenario>`; the outcome says which molecule action failed, if any."""
    log = log_dir / f"{scenario.name}.log"
    actions: list[dict[str, str]] = []

    def watch(line: str) -> None:
        match = ACTION_LINE.search(line)
        if match and match["scenario"] == scenario.name:
            actions.append({"action": match["action"], "result": match["result"]})
        if on_line:
            on_line(line)

    started = time.monotonic()
    started_at = datetime.now(UTC)
    code = _stream(
        ["molecule", "test", "--scenario-name", scenario.name, "--no-command-borders"],
        log,
        watch,
        timeout,
    )
    failed = [a["action"] for a in actions if a["result"].lower() == "failed"]
    return DrillOutcome(
        scenario=scenario.name,
        kinds=list(scenario.kinds),
        passed=code == 0,
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(time.monotonic() - started, 1),
        exit_code=code,
        failed_action=failed[0] if failed else (None if code == 0 else "molecule"),
        log=str(log),
        actions=actions,
    )


def run(
    names: Sequence[str],
    *,
    build: bool = True,
    on_line: Callable[[str], None] | None = None,
    on_outcome: Callable[[DrillOutcome], None] | None = None,
) -> dict[str, Any]:
    """Run the named drills, DRILLS_AT_ONCE at a time, and record each outcome in the order
    named; the run's result document.

    Every scenario runs even after a failure, so one run shows the whole picture. A run of
    every scenario that all pass is also recorded as the full-system drill.
    """
    scenarios = resolve(names)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_dir = drills_dir() / "logs" / run_id
    log_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    with _drill_lock():
        if build:
            bootstrap(log_dir / "bootstrap.log", on_line)
        outcomes = []
        with ThreadPoolExecutor(max_workers=DRILLS_AT_ONCE) as pool:
            # The last scenarios are the longest: started first, they end with the rest.
            running = {
                scenario.name: pool.submit(run_scenario, scenario, log_dir=log_dir, on_line=on_line)
                for scenario in reversed(scenarios)
            }
            for scenario in scenarios:
                outcome = running[scenario.name].result()
                entries.append(record(outcome))
                outcomes.append(outcome)
                if on_outcome:
                    on_outcome(outcome)
        if len(scenarios) == len(SCENARIOS) and all(o.passed for o in outcomes):
            full = DrillOutcome(
                scenario=ALL,
                kinds=[FULL_KIND],
                passed=True,
                started_at=min(o.started_at for o in outcomes),
                finished_at=max(o.finished_at for o in outcomes),
                duration_s=round(
                    (
                        _parse_time(max(o.finished_at for o in outcomes))
                        - _parse_time(min(o.started_at for o in outcomes))
                    ).total_seconds(),
                    1,
                ),
                exit_code=0,
                log=str(log_dir),
            )
            entries.append(record(full))
    failed = [o for o in outcomes if not o.passed]
    error = None
    if failed:
        error = f"drill {failed[0].scenario} failed at {failed[0].failed_action}"
        if len(failed) > 1:
            error += f" (and {len(failed) - 1} more)"
        error += f"; see {failed[0].log}"
    return {
        "run_id": run_id,
        "passed": not failed,
        "error": error,
        "logs": str(log_dir),
        "drills": entries,
        "schedule": status(),
    }


def raise_if_failed(document: dict[str, Any]) -> None:
    """After the result is shown: a failed drill exits like a failed rollback run."""
    if not document["passed"]:
        raise RunFailedError(document["error"])
