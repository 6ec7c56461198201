"""What the database commands show: backup summaries and restore reports."""

from __future__ import annotations

from rollbackctl.cli import backups as cli_db
from rollbackctl.cli.main import main
from rollbackctl.run import backups, report


def test_database_commands_are_registered() -> None:
    assert {"backup", "backups", "db", "read-only", "data-corruption"} <= set(main.commands)


def test_summary_shows_when_a_backup_was_verified() -> None:
    summary = backups.summarize(
        {"id": "b1", "verified": True, "verification": {"ok": True, "at": "2026-11-28T03:00"}}
    )

    assert summary["verified_at"] == "2026-11-28T03:00"
    assert "verification_error" not in summary


def test_summary_shows_why_verification_failed() -> None:
    summary = backups.summarize(
        {"id": "b1", "verified": False, "verification": {"ok": False, "detail": "bad SHA-256"}}
    )

    assert summary["verified_at"] is None
    assert summary["verification_error"] == "bad SHA-256"


def test_backup_list_says_none_when_there_are_no_backups() -> None:
    text = cli_db._backups_text({"environment": "prod", "backups": []})

    assert text == "backups of prod (newest first):\n  none\n"


def test_restore_report_names_the_kept_database_and_the_swap_window() -> None:
    result = {
        "type": "db",
        "environment": "prod",
        "status": "succeeded",
        "from": "market_pre_1",
        "to": "b1",
        "run_id": "r1",
        "operator": "ops",
        "duration_s": 12.0,
        "hosts": {},
        "artifacts": "/runs/r1",
        "database": {
            "previous_database": "market_pre_1",
            "swap_ms": 2.5,
            "safety_backup": "s1",
            "kept_vs_restored": {"summary": "only in market_pre_1: orders: 2 added"},
        },
        "corruption": {"before": [{"name": "orders with a negative total", "count": 4}]},
    }

    text = report.render_text(result)

    assert "previous database kept as market_pre_1" in text
    assert "writes held for the swap: 2.5 ms" in text
    assert "safety backup: s1" in text
    assert "corruption before: orders with a negative total: 4" in text
    assert "only in market_pre_1: orders: 2 added (rollbackctl db-diff for every table)" in text


def test_restore_plan_says_what_it_would_keep_not_what_it_kept() -> None:
    plan = {
        "type": "db",
        "environment": "prod",
        "status": "planned",
        "check": True,
        "from": "market",
        "to": "b1",
        "run_id": "r1",
        "operator": "ops",
        "duration_s": 2.0,
        "hosts": {},
        "artifacts": "/runs/r1",
        "database": {"previous_database": "market_pre_1", "safety_backup": "(none taken)"},
    }

    text = report.render_text(plan)

    assert "would keep the current database as market_pre_1" in text
    assert "would take a safety backup first" in text
    assert "kept as" not in text
    assert "safety backup:" not in text


def test_read_only_result_shows_the_mode_and_its_write_probe() -> None:
    result = {
        "type": "read-only",
        "environment": "prod",
        "status": "succeeded",
        "run_id": "r1",
        "operator": "ops",
        "duration_s": 1.0,
        "hosts": {},
        "artifacts": "/runs/r1",
        "database": {"read_only": True, "write_probe": "rejected"},
    }

    assert "read-only on: write probe rejected" in report.render_text(result)
