"""kill -9 of a database rollback at its riskiest moments: the data must survive every one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.dbsandbox import DB, DbSandbox, kill_9
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(sandbox_stack: Sandbox) -> DbSandbox:
    """The module's sandbox with the good app release live, so the app checklist can pass."""
    assert sandbox_stack.cli("app", "sandbox", "--yes").code == 0
    return DbSandbox(sandbox_stack)


@pytest.fixture
def backup(db: DbSandbox) -> Iterator[dict[str, Any]]:
    """A fresh backup, then a row added after it: the live database differs from the backup."""
    taken = db.take_backup()
    taken["emails"] = db.emails()
    db.add_user(f"after-{taken['id'].lower()}@example.com")
    yield taken
    for marker in db.backups_dir.glob("*.paused"):
        marker.unlink()


def interrupt(db: DbSandbox, backup: dict[str, Any], hook: dict[str, str], marker: str) -> None:
    proc = db.start_restore(backup["id"], hook)
    try:
        db.wait_for_file(marker, proc)
    finally:
        kill_9(proc)
    db.wait_until_gone(marker)


def assert_live_database_is_the_original(db: DbSandbox, before: dict[str, int]) -> None:
    assert DB in db.databases()
    assert db.row_counts() == before


def rerun_completes(db: DbSandbox, backup: dict[str, Any]) -> None:
    # The killed run could not release the environment lock; the operator clears it first.
    refused = db.cli("db", "sandbox", "--backup", backup["id"], "--yes")
    assert refused.code == 5 and "stale lock" in refused.stderr, refused.stderr
    assert db.cli("unlock", "sandbox").code == 0
    result = db.cli("db", "sandbox", "--backup", backup["id"], "--yes", "--output", "json")
    assert result.code == 0, result.stderr
    # The app checklist places an order after the restore; users are the rows to compare.
    assert db.emails() == backup["emails"]
    assert not list(db.backups_dir.glob("restore-*.journal.json"))


def test_kill_during_safety_backup_leaves_original_and_rerun_completes(
    db: DbSandbox, backup: dict[str, Any]
) -> None:
    before = db.row_counts()
    listed = {b["id"] for b in db.backups()}

    interrupt(db, backup, {"backup_db_pause_at": "dumped"}, ".partial-*.paused")

    assert_live_database_is_the_original(db, before)
    assert {b["id"] for b in db.backups()} == listed  # the half-made backup is not listed
    rerun_completes(db, backup)
    assert not [
        p for p in db.backups_dir.iterdir() if p.name.startswith(".partial-") and p.is_dir()
    ]


def test_kill_during_staging_restore_leaves_original_and_rerun_completes(
    db: DbSandbox, backup: dict[str, Any]
) -> None:
    before = db.row_counts()

    interrupt(db, backup, {"restore_db_pause_at": "staging"}, "restore-market.staging.paused")

    assert_live_database_is_the_original(db, before)
    staging = {name for name in db.databases() if name.startswith("market_restore_")}
    assert staging  # the half-restored copy is there, under its own name
    rerun_completes(db, backup)
    assert not staging & db.databases()


def test_kill_inside_swap_leaves_original_and_rerun_completes(
    db: DbSandbox, backup: dict[str, Any]
) -> None:
    before = db.row_counts()
    emails = db.emails()

    interrupt(db, backup, {"restore_db_pause_at": "swap"}, "restore-market.swap.paused")

    assert_live_database_is_the_original(db, before)
    assert db.emails() == emails
    rerun_completes(db, backup)
    kept = sorted(name for name in db.databases() if name.startswith("market_pre_"))
    assert db.emails(kept[-1]) == emails  # nothing written before the rollback is lost
