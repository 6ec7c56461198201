"""Database rollback on the real sandbox through the real CLI: data back, nothing lost."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.dbsandbox import DB, DbSandbox
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.integration

GOOD = "2026.11.1"
NEWER = "2026.11.3"  # needs schema 2


@pytest.fixture(scope="module")
def db(sandbox_stack: Sandbox) -> DbSandbox:
    """The module's sandbox with the good app release live, so the app checklist can pass."""
    assert sandbox_stack.cli("app", "sandbox", "--yes").code == 0
    return DbSandbox(sandbox_stack)


@pytest.fixture
def backup(db: DbSandbox) -> dict[str, Any]:
    """A verified backup, then a user signed up after it."""
    taken = db.take_backup(verify=True)
    taken["emails"] = db.emails()
    db.add_user(f"after-{taken['id'].lower()}@example.com")
    return taken


def unchanged_state(db: DbSandbox) -> dict[str, Any]:
    return {
        "databases": db.databases(),
        "emails": db.emails(),
        "backups": [b["id"] for b in db.backups()],
    }


def test_db_rollback_brings_back_the_rows_of_the_backup(
    db: DbSandbox, backup: dict[str, Any]
) -> None:
    result = db.cli("db", "sandbox", "--backup", backup["id"], "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    assert db.emails() == backup["emails"]
    assert db.row_counts()["products"] == backup["row_counts"]["products"]
    assert result.json()["to"] == backup["id"]


def test_db_rollback_keeps_pre_rollback_copy(db: DbSandbox, backup: dict[str, Any]) -> None:
    before = db.emails()

    result = db.cli("db", "sandbox", "--backup", backup["id"], "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    kept = result.json()["database"]["previous_database"]
    assert kept.startswith("market_pre_")
    assert db.emails(kept) == before


def test_rows_written_after_the_backup_are_named_and_db_diff_prints_them(
    db: DbSandbox, backup: dict[str, Any]
) -> None:
    """The user signed up after the backup and a restocked product live on only in the kept
    database: the run says which, and db-diff says it again from the run's record."""
    (user_id,) = db.query("SELECT max(id)::text FROM users")[0]
    db.execute("UPDATE products SET stock = stock + 5 WHERE id = (SELECT min(id) FROM products)")
    (product_id,) = db.query("SELECT min(id)::text FROM products")[0]

    result = db.cli("db", "sandbox", "--backup", backup["id"], "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    document = result.json()
    comparison = document["database"]["kept_vs_restored"]
    assert comparison["previous"] == document["database"]["previous_database"]
    tables = {table["table"]: table for table in comparison["tables"]}
    assert set(tables) == {"users", "orders", "products"}
    assert (tables["users"]["only_in_previous"], tables["users"]["changed"]) == (1, 0)
    assert tables["users"]["only_in_previous_keys"] == [user_id]
    assert (tables["products"]["only_in_previous"], tables["products"]["changed"]) == (0, 1)
    assert tables["products"]["changed_keys"] == [product_id]
    assert (tables["orders"]["only_in_previous"], tables["orders"]["changed"]) == (0, 0)
    assert comparison["written_after_backup"] == 2
    # The kept database really holds them: the comparison is not a guess.
    assert db.query(
        f"SELECT count(*) FROM users WHERE id = {int(user_id)}", comparison["previous"]
    ) == [(1,)]
    assert db.query(f"SELECT count(*) FROM users WHERE id = {int(user_id)}") == [(0,)]

    printed = db.cli("db-diff", "sandbox", document["run_id"], "--output", "json")
    assert printed.code == 0, printed.stderr
    assert printed.json()["tables"] == comparison["tables"]
    text = db.cli("db-diff", "sandbox", document["run_id"])
    assert f"2 rows only in {comparison['previous']}" in text.stdout
    assert f"keys: {user_id}" in text.stdout


def test_db_diff_names_what_is_wrong_with_a_run_that_kept_no_database(db: DbSandbox) -> None:
    plan = db.cli("db", "sandbox", "--check", "--output", "json")
    assert plan.code == 0, plan.stderr

    refused = db.cli("db-diff", "sandbox", plan.json()["run_id"])
    unknown = db.cli("db-diff", "sandbox", "20990101T000000Z-abcdef")
    elsewhere = db.cli("db-diff", "sandbox-guarded", plan.json()["run_id"])

    assert refused.code == 2, refused.stderr
    assert "did not swap a database in (planned, check mode)" in refused.stderr
    assert unknown.code == 2 and "no run 20990101T000000Z-abcdef recorded" in unknown.stderr
    assert elsewhere.code == 2 and "ran on sandbox, not sandbox-guarded" in elsewhere.stderr


def test_db_rollback_defaults_to_the_latest_verified_backup(
    db: DbSandbox, backup: dict[str, Any]
) -> None:
    db.take_backup()  # newer, but not verified

    result = db.cli("db", "sandbox", "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    assert result.json()["to"] == backup["id"]


def test_db_rollback_reports_safety_backup_and_swap_window(
    db: DbSandbox, backup: dict[str, Any]
) -> None:
    result = db.cli("db", "sandbox", "--backup", backup["id"], "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    database = result.json()["database"]
    safety = [b for b in db.backups() if b["id"] == database["safety_backup"]]
    assert safety and safety[0]["kind"] == "safety"
    assert 0 < float(database["swap_ms"]) < 5000


def test_check_mode_changes_nothing(db: DbSandbox, backup: dict[str, Any]) -> None:
    before = unchanged_state(db)

    result = db.cli("db", "sandbox", "--backup", backup["id"], "--check", "--output", "json")

    assert result.code == 0, result.stderr
    assert result.json()["status"] == "planned"
    assert unchanged_state(db) == before


def test_backup_with_one_flipped_byte_is_refused_before_anything_changes(
    db: DbSandbox, backup: dict[str, Any]
) -> None:
    db.flip_byte(backup["id"])
    before = unchanged_state(db)

    result = db.cli("db", "sandbox", "--backup", backup["id"], "--yes")

    assert result.code == 3
    assert "does not match its SHA-256" in result.stderr.splitlines()[-1]
    assert unchanged_state(db) == before


def test_unknown_backup_id_is_refused(db: DbSandbox) -> None:
    before = unchanged_state(db)

    result = db.cli("db", "sandbox", "--backup", "20990101T000000Z-beef", "--yes")

    assert result.code == 3
    last = result.stderr.splitlines()[-1]
    assert "unknown backup 20990101T000000Z-beef" in last
    assert "rollbackctl backups list" in last
    assert unchanged_state(db) == before


def test_missing_backups_are_refused(db: DbSandbox) -> None:
    hidden = db.backups_dir.with_name("backups-hidden")
    db.backups_dir.rename(hidden)
    try:
        before = db.databases(), db.emails()

        result = db.cli("db", "sandbox", "--yes")

        assert result.code == 3
        assert "no backup of sandbox exists" in result.stderr.splitlines()[-1]
        assert (db.databases(), db.emails()) == before
    finally:
        shutil.rmtree(db.backups_dir, ignore_errors=True)
        hidden.rename(db.backups_dir)


@pytest.fixture
def app_on_schema_2(db: DbSandbox, backup: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The app moved on to 2026.11.3, whose start migrated the database to schema 2; the
    module's stack goes back to 2026.11.1 and the backup's schema afterwards."""
    deployed = db.sandbox.run_playbook("deploy.yml", "-e", f"release_deploy_id={NEWER}")
    assert deployed.returncode == 0, deployed.stdout[-2000:]
    assert db.schema_version() == 2
    try:
        yield backup
    finally:
        back = db.cli("app", "sandbox", "--to", GOOD, "--yes")
        assert back.code == 0, back.stderr[-2000:]
        if db.schema_version() != 1:
            restored = db.cli("db", "sandbox", "--backup", backup["id"], "--yes")
            assert restored.code == 0, restored.stderr[-2000:]


def test_schema_mismatch_is_refused_naming_the_matching_release(
    db: DbSandbox, app_on_schema_2: dict[str, Any]
) -> None:
    before = unchanged_state(db)

    result = db.cli("db", "sandbox", "--backup", app_on_schema_2["id"], "--yes")

    assert result.code == 3
    last = result.stderr.splitlines()[-1]
    assert f"app release {NEWER} needs schema 2" in last
    assert "roll the app to 2026.11.1 first" in last
    assert unchanged_state(db) == before
    assert DB in db.databases()


def test_allow_schema_mismatch_restores_the_older_schema_and_says_so(
    db: DbSandbox, app_on_schema_2: dict[str, Any]
) -> None:
    result = db.cli(
        "db", "sandbox", "--backup", app_on_schema_2["id"], "--allow-schema-mismatch",
        "--yes", "--output", "json",
    )  # fmt: skip

    assert result.code == 0, result.stderr[-2000:]
    assert db.emails() == app_on_schema_2["emails"]
    assert db.schema_version() == 1
    document = result.json()
    assert document["to"] == app_on_schema_2["id"]
    assert document["requested"]["allow_schema_mismatch"] is True


def test_latest_verified_restores_the_newest_verified_backup(db: DbSandbox) -> None:
    db.take_backup(verify=True)
    newest_verified = db.take_backup(verify=True)
    newest_verified["emails"] = db.emails()
    db.add_user("after-the-newest-verified@example.com")
    db.take_backup()  # newer still, not verified

    result = db.cli("db", "sandbox", "--latest-verified", "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    assert result.json()["to"] == newest_verified["id"]
    assert db.emails() == newest_verified["emails"]


def test_backup_and_latest_verified_together_are_a_usage_error(
    db: DbSandbox, backup: dict[str, Any]
) -> None:
    before = unchanged_state(db)

    result = db.cli("db", "sandbox", "--backup", backup["id"], "--latest-verified", "--yes")

    assert result.code == 2
    assert "pass --backup or --latest-verified, not both" in result.stderr
    assert unchanged_state(db) == before
