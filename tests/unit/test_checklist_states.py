"""Post-rollback checklist states: checked by the run, ticked by people, open, overdue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rollbackctl.run import checklist

FINISHED = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


def result(**changes: Any) -> dict[str, Any]:
    return {
        "finished_at": FINISHED.isoformat(),
        "environment": "prod",
        "checklist": [
            {"name": "health", "ok": True, "detail": "release 2026.11.1 healthy"},
            {"name": "authentication", "ok": True, "detail": "signed in"},
            {"name": "order_placement", "ok": False, "detail": "HTTP 500"},
            {"name": "payment_processing", "ok": True, "detail": "paid"},
            {"name": "notifications", "ok": True, "detail": "sent"},
        ],
        **changes,
    }


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in rows}


def test_the_runs_own_checks_pass_or_fail_the_items_they_cover() -> None:
    rows = by_id(checklist.states(result(), [], FINISHED))

    assert rows["services-running"]["state"] == "passed"
    assert rows["core-functionality"]["state"] == "failed"
    assert rows["core-functionality"]["detail"] == "order_placement: HTTP 500"
    # No database checks in this run: a person validates the data.
    assert rows["data-integrity"]["state"] == "open"
    assert rows["transaction-consistency"]["state"] == "not applicable"


def test_open_items_become_overdue_at_their_phase_deadline_and_ticks_close_them() -> None:
    ticks = [{"item": "status-page", "by": "oscar", "ts": "2026-11-29T02:05:00Z", "note": "ok"}]
    half_hour = FINISHED + timedelta(minutes=31)

    rows = by_id(checklist.states(result(), ticks, half_hour))

    assert rows["status-page"]["state"] == "ticked" and rows["status-page"]["by"] == "oscar"
    assert rows["error-rates"]["state"] == "overdue"
    assert rows["core-functionality"]["state"] == "overdue"  # failed, and still not fixed
    assert rows["review-logs"]["state"] == "open"  # short-term: due after 2 hours
    assert rows["services-running"]["state"] == "passed"


def test_rows_written_after_the_backup_keep_reconciliation_open_until_ticked() -> None:
    kept = {"written_after_backup": 3, "summary": "only in market_pre_1: orders: 3 added"}
    none_left = {"written_after_backup": 0, "summary": "market_pre_1 holds no row"}

    open_rows = by_id(checklist.states(result(database={"kept_vs_restored": kept}), [], FINISHED))
    done_rows = by_id(
        checklist.states(result(database={"kept_vs_restored": none_left}), [], FINISHED)
    )

    assert open_rows["transaction-consistency"]["state"] == "open"
    assert open_rows["transaction-consistency"]["detail"].endswith("orders: 3 added")
    assert done_rows["transaction-consistency"]["state"] == "passed"


def test_history_flags_only_authorized_finished_real_runs_of_the_environment() -> None:
    entries = [
        {"event": "attempt", "run_id": "r1", "outcome": "started"},
        {"event": "attempt", "run_id": "r2", "outcome": "refused"},
        {"event": "attempt", "run_id": "r3", "outcome": "started"},
        {"event": "checklist_tick", "run_id": "r1", "item": "error-rates", "by": "oscar"},
    ]
    results = {"r1": result(), "r2": result(), "r3": result(check=True)}

    late = checklist.overdue_by_run("prod", entries, results, FINISHED + timedelta(hours=3))

    assert set(late) == {"r1"}
    assert "error-rates" not in late["r1"] and "notify-team" in late["r1"]


def test_the_shipped_items_are_the_runbooks_three_phases_with_unique_ids() -> None:
    items = checklist.items()

    assert [item.phase for item in items].count("immediate") >= 3
    assert {item.phase: item.due_minutes for item in items} == {
        "immediate": 30,
        "short-term": 120,
        "long-term": 7200,
    }
    assert len({item.id for item in items}) == len(items)
