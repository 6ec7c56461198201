"""The drill schedule: which drills are due from the recorded passes, and the drill CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError
from click.testing import CliRunner

from rollbackctl.cli.main import main
from rollbackctl.tools import drills

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
REPO_ROOT = Path(__file__).resolve().parents[2]


def entry(scenario: str, finished_at: str, *, passed: bool = True) -> dict[str, Any]:
    kinds = [drills.FULL_KIND] if scenario == drills.ALL else list(drills.SCENARIOS[scenario].kinds)
    return {
        "scenario": scenario,
        "kinds": kinds,
        "outcome": "passed" if passed else "failed",
        "started_at": finished_at,
        "finished_at": finished_at,
    }


def drill(document: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(d for d in document["drills"] if d["kind"] == kind)


def test_every_drill_is_due_when_none_ever_passed() -> None:
    document = drills.schedule_status([], now=NOW)
    assert document["due"] == ["app", "database", "full", "disaster_recovery"]
    assert drill(document, "app")["state"] == "never passed"


def test_app_drill_passed_this_month_is_not_due() -> None:
    document = drills.schedule_status(
        [entry("planned_rollback", "2026-11-10T09:00:00+00:00")], now=NOW
    )
    app = drill(document, "app")
    assert (app["due"], app["due_at"]) == (False, "2026-12-10T09:00:00+00:00")
    assert "app" not in document["due"]


def test_app_drill_passed_over_a_month_ago_is_due() -> None:
    document = drills.schedule_status(
        [entry("partial_rollback", "2026-10-27T09:00:00+00:00")], now=NOW
    )
    assert drill(document, "app")["state"] == "due"
    assert "app" in document["due"]


def test_failed_drill_does_not_count_as_a_pass() -> None:
    history = [
        entry("planned_rollback", "2026-10-01T09:00:00+00:00"),
        entry("planned_rollback", "2026-11-27T09:00:00+00:00", passed=False),
    ]
    app = drill(drills.schedule_status(history, now=NOW), "app")
    assert app["last_passed_at"] == "2026-10-01T09:00:00+00:00"
    assert (app["last_outcome"], app["state"]) == ("failed", "due")


def test_database_drill_is_quarterly() -> None:
    history = [entry("data_rollback", "2026-09-01T00:00:00+00:00")]
    database = drill(drills.schedule_status(history, now=NOW), "database")
    assert (database["due_at"], database["due"]) == ("2026-12-01T00:00:00+00:00", False)


def test_app_drill_does_not_satisfy_the_database_drill() -> None:
    document = drills.schedule_status(
        [entry("planned_rollback", "2026-11-27T00:00:00+00:00")], now=NOW
    )
    assert drill(document, "database")["state"] == "never passed"


def test_full_drill_needs_the_emergency_scenario_or_a_run_of_every_scenario() -> None:
    one = drills.schedule_status([entry("planned_rollback", "2026-11-27T00:00:00+00:00")], now=NOW)
    emergency = drills.schedule_status(
        [entry("emergency_rollback", "2026-11-27T00:00:00+00:00")], now=NOW
    )
    every = drills.schedule_status([entry(drills.ALL, "2026-11-27T00:00:00+00:00")], now=NOW)
    assert drill(one, "full")["due"] is True
    assert drill(emergency, "full")["due_at"] == "2027-05-27T00:00:00+00:00"
    assert drill(every, "full")["due_at"] == "2027-05-27T00:00:00+00:00"
    assert drill(every, "full")["scenarios"] == ["emergency_rollback", drills.ALL]


def test_disaster_recovery_is_yearly_and_covered_by_the_emergency_scenario() -> None:
    empty = drill(drills.schedule_status([], now=NOW), "disaster_recovery")
    assert (empty["every_months"], empty["scenarios"]) == (12, ["emergency_rollback"])
    passed = drills.schedule_status(
        [entry("emergency_rollback", "2026-11-27T00:00:00+00:00")], now=NOW
    )
    assert drill(passed, "disaster_recovery")["due_at"] == "2027-11-27T00:00:00+00:00"


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2026-01-31", 1, "2026-02-28"),
        ("2028-01-31", 1, "2028-02-29"),
        ("2026-11-30", 3, "2027-02-28"),
        ("2026-08-31", 6, "2027-02-28"),
        ("2026-12-15", 12, "2027-12-15"),
    ],
)
def test_months_are_calendar_months_clamped_to_the_last_day(
    start: str, months: int, expected: str
) -> None:
    moment = datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert drills.add_months(moment, months).date().isoformat() == expected


def test_history_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(json.dumps(entry("planned_rollback", "2026-11-27T00:00:00+00:00")) + '\n{"scen')
    assert [e["scenario"] for e in drills.read_history(path)] == ["planned_rollback"]


def test_history_with_a_broken_line_inside_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    good = json.dumps(entry("planned_rollback", "2026-11-27T00:00:00+00:00"))
    path.write_text(f"{good}\nnot json\n{good}\n")
    with pytest.raises(UsageError, match="line 2 is not JSON"):
        drills.read_history(path)


def test_unknown_scenario_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UsageError, match="unknown drill scenario 'nightly'") as caught:
        drills.resolve(["nightly"])
    assert "planned_rollback" in caught.value.one_line()


def test_all_runs_every_scenario() -> None:
    assert [s.name for s in drills.resolve([drills.ALL])] == list(drills.SCENARIOS)


def test_scenario_list_matches_the_molecule_folder() -> None:
    on_disk = {p.parent.name for p in (REPO_ROOT / "molecule").glob("*/molecule.yml")}
    assert on_disk == set(drills.SCENARIOS)


def test_molecule_action_lines_are_parsed() -> None:
    line = "ERROR    [planned_rollback > converge] Executed: Failed"
    match = drills.ACTION_LINE.search(line)
    assert match is not None
    assert (match["scenario"], match["action"], match["result"]) == (
        "planned_rollback",
        "converge",
        "Failed",
    )


def test_cli_status_json_says_what_is_due(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLBACKCTL_STATE_DIR", str(tmp_path))
    today = datetime.now(UTC).isoformat(timespec="seconds")
    history = tmp_path / "drills" / "history.jsonl"
    history.parent.mkdir()
    history.write_text(json.dumps(entry("data_rollback", today)) + "\n")
    result = CliRunner().invoke(main, ["drill", "status", "--output", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["due"] == ["app", "full", "disaster_recovery"]


def test_cli_manual_disaster_recovery_drill_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROLLBACKCTL_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(
        main,
        [
            "drill",
            "record",
            "disaster_recovery",
            "--passed",
            "--note",
            "DR site restore",
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "disaster_recovery" not in json.loads(result.stdout)["schedule"]["due"]


def test_cli_unknown_scenario_exits_with_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROLLBACKCTL_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["drill", "run", "nightly"])
    assert result.exit_code == 2
    assert "unknown drill scenario 'nightly'" in result.stderr
