"""kill -9 of a database rollback at its riskiest moments: the data must survive every one.

Each test starts the real `rollbackctl db`, watches the run the way an operator could (its job
events, the database server's sessions, the restore journal on the db host), and at the chosen
moment kills the whole run: the CLI, its supervisor and everything below them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.dbsandbox import DB, DbSandbox, Run
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.integration

GOOD = "2026.11.1"
SAFETY_BACKUP = f"Back up the database {DB}"
VERIFY_STAGING = f"Verify the database checklist on {DB}_restore_"
# Enough orders that pg_dump and pg_restore each run for a while, as they do on real data.
ORDERS = 100_000


@pytest.fixture(scope="module")
def db(sandbox_stack: Sandbox) -> DbSandbox:
    """The module's sandbox with the good app release live and some weight in its database."""
    assert sandbox_stack.cli("app", "sandbox", "--yes").code == 0
    sandbox = DbSandbox(sandbox_stack)
    sandbox.grow(ORDERS)
    return sandbox


@pytest.fixture
def backup(db: DbSandbox) -> Iterator[dict[str, Any]]:
    """A fresh backup, then a user added after it: the live database differs from the backup."""
    taken = db.take_backup()
    taken["emails"] = db.emails()
    db.add_user(f"after-{taken['id'].lower()}@example.com")
    yield taken
    # A test that failed half-way must not leave the next one a locked environment.
    if db.sandbox.locks():
        db.cli("unlock", "sandbox")


def rollback(db: DbSandbox, backup: dict[str, Any]) -> Run:
    return db.start_run("db", "sandbox", "--yes", "--backup", backup["id"])


def interrupt(db: DbSandbox, run: Run, moment: str, reached: Callable[[], bool]) -> None:
    """kill -9 the whole run as soon as `reached` says the moment has come."""
    try:
        run.wait_until(moment, reached)
    finally:
        run.kill_9()
    db.wait_until_gone(moment)


def state(db: DbSandbox) -> dict[str, Any]:
    """What a consistent market holds, for comparison (orders grow with every app checklist)."""
    counts = db.row_counts()
    return {"users": counts["users"], "products": counts["products"], "emails": db.emails()}


def assert_market_complete_and_served(db: DbSandbox, *consistent: dict[str, Any]) -> None:
    assert DB in db.databases()
    assert state(db) in consistent
    status, health = db.sandbox.request("GET", "/api/health")
    assert status == 200 and health["release"] == GOOD and health["database"] == "ok", health


def assert_stale_lock_then_rerun_completes(
    db: DbSandbox, backup: dict[str, Any], before: dict[str, Any]
) -> str:
    """The operator's way back: see the stale lock, clear it, run the same command again.

    Returns the name of the copy of the database kept from before the rollback.
    """
    status = db.cli("status", "sandbox", "--output", "json")
    assert status.code == 0, status.stderr
    assert status.json()["lock"]["state"] == "stale", status.stdout
    refused = db.cli("db", "sandbox", "--backup", backup["id"], "--yes")
    assert refused.code == 5 and "stale lock" in refused.stderr, refused.stderr
    assert db.cli("unlock", "sandbox").code == 0
    assert db.cli("status", "sandbox", "--output", "json").json()["lock"] is None

    result = db.cli("db", "sandbox", "--backup", backup["id"], "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    assert db.emails() == backup["emails"]
    assert db.row_counts()["users"] == backup["row_counts"]["users"]
    assert not db.journal_path.exists()
    assert not [name for name in db.databases() if name.startswith(f"{DB}_restore_")]
    kept = result.json()["database"]["previous_database"]
    assert kept.startswith(f"{DB}_pre_") and kept in db.databases()
    assert db.emails(kept) == before["emails"]  # nothing written before the rollback is lost
    return kept


def test_kill_during_safety_backup_leaves_original_and_rerun_completes(
    db: DbSandbox, backup: dict[str, Any]
) -> None:
    before = state(db)
    listed = {b["id"] for b in db.backups()}
    run = rollback(db, backup)

    with db.connect("postgres") as conn:
        interrupt(
            db,
            run,
            "pg_dump of the safety backup",
            lambda: db.connected(conn, "pg_dump", DB) and run.saw("runner_on_start", SAFETY_BACKUP),
        )

    assert_market_complete_and_served(db, before)
    assert {b["id"] for b in db.backups()} == listed  # the half-made backup is not listed
    assert [p for p in db.backups_dir.glob(".partial-*") if p.is_dir()]
    assert_stale_lock_then_rerun_completes(db, backup, before)
    assert not [p for p in db.backups_dir.glob(".partial-*") if p.is_dir()]


def test_kill_during_staging_restore_leaves_original_and_rerun_completes(
    db: DbSandbox, backup: dict[str, Any]
) -> None:
    before = state(db)
    run = rollback(db, backup)

    with db.connect("postgres") as conn:
        interrupt(
            db,
            run,
            "pg_restore into the staging copy",
            lambda: db.connected(conn, "pg_restore", f"{DB}_restore_"),
        )

    assert_market_complete_and_served(db, before)
    assert db.journal_phase() == "staging"
    staging = {name for name in db.databases() if name.startswith(f"{DB}_restore_")}
    assert staging  # the half-restored copy is there, under its own name
    assert_stale_lock_then_rerun_completes(db, backup, before)
    assert not staging & db.databases()


def test_kill_at_the_swap_leaves_a_complete_database_and_rerun_completes(
    db: DbSandbox, backup: dict[str, Any]
) -> None:
    before = state(db)
    counts = backup["row_counts"]
    restored = {
        "users": counts["users"],
        "products": counts["products"],
        "emails": backup["emails"],
    }
    run = rollback(db, backup)

    # The staging copy passed its checklist; the swap starts by recording it in the journal.
    interrupt(
        db,
        run,
        "the swap",
        lambda: (
            db.journal_phase() in ("swapping", "swapped")
            and run.saw("runner_on_ok", VERIFY_STAGING)
        ),
    )

    # Killed just before the renames, or just after: either database, never half of one.
    assert_market_complete_and_served(db, before, restored)
    assert_stale_lock_then_rerun_completes(db, backup, before)
