"""Data-corruption response, read-only mode, backup verification and secrets, on real PostgreSQL."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.checkout import cli_from, copy_checkout
from tests.support.dbsandbox import DbSandbox
from tests.support.sandbox import CliResult, Sandbox

pytestmark = pytest.mark.integration

APP_PASSWORD = "app-Secret-7f3a91c2"
ADMIN_PASSWORD = "admin-Secret-0b8e44d6"


@pytest.fixture(scope="module")
def db(sandbox_stack: Sandbox) -> DbSandbox:
    """The module's sandbox with the good app release live, so the app checklist can pass."""
    assert sandbox_stack.cli("app", "sandbox", "--yes").code == 0
    return DbSandbox(sandbox_stack)


def app_write_error(db: DbSandbox) -> str | None:
    """What a fresh app session gets when it writes: None when the write works."""
    try:
        with db.connect(user="market") as conn, conn.transaction(force_rollback=True):
            conn.execute("UPDATE users SET updated_at = updated_at")
    except psycopg.Error as exc:
        return type(exc).__name__
    return None


def test_read_only_mode_rejects_writes(db: DbSandbox) -> None:
    result = db.cli("read-only", "sandbox", "on", "--output", "json")
    try:
        assert result.code == 0, result.stderr
        assert result.json()["database"]["write_probe"] == "rejected"
        assert app_write_error(db) == "ReadOnlySqlTransaction"
        assert db.sandbox.place_order() >= 500
    finally:
        db.cli("read-only", "sandbox", "off")


def test_read_only_mode_is_reversible(db: DbSandbox) -> None:
    assert db.cli("read-only", "sandbox", "on").code == 0

    result = db.cli("read-only", "sandbox", "off", "--output", "json")

    assert result.code == 0, result.stderr
    assert result.json()["database"]["write_probe"] == "accepted"
    assert app_write_error(db) is None
    assert db.sandbox.place_order() == 201


def test_read_only_mode_ends_sessions_opened_before_it(db: DbSandbox) -> None:
    with db.connect(user="market") as old_session:
        assert db.cli("read-only", "sandbox", "on").code == 0
        try:
            with pytest.raises(psycopg.OperationalError):
                old_session.execute("UPDATE users SET updated_at = updated_at")
        finally:
            assert db.cli("read-only", "sandbox", "off").code == 0


def test_backups_verify_marks_the_backup_verified(db: DbSandbox) -> None:
    backup = db.take_backup()

    result = db.cli("backups", "verify", "sandbox", backup["id"], "--output", "json")

    assert result.code == 0, result.stderr
    listed = {b["id"]: b for b in db.backups()}
    assert listed[backup["id"]]["verified"] is True
    assert not {n for n in db.databases() if n.startswith("market_verify_")}


def test_backups_verify_of_a_damaged_backup_fails_and_is_recorded(db: DbSandbox) -> None:
    backup = db.take_backup()
    db.flip_byte(backup["id"])

    result = db.cli("backups", "verify", "sandbox", backup["id"])

    assert result.code == 7
    assert "does not match its SHA-256" in result.stderr.splitlines()[-1]
    listed = {b["id"]: b for b in db.backups()}[backup["id"]]
    assert listed["verified"] is False
    assert "SHA-256" in listed["verification_error"]


def test_data_corruption_restores_the_last_verified_backup(db: DbSandbox) -> None:
    backup = db.take_backup(verify=True)
    db.execute("UPDATE orders SET total_cents = -100 WHERE id = (SELECT min(id) FROM orders)")
    db.execute("UPDATE users SET created_at = updated_at + interval '1 day' WHERE id = 1")
    db.take_backup()  # newer, unverified, and already corrupted: must not be chosen

    result = db.cli("data-corruption", "sandbox", "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    document = result.json()
    assert document["to"] == backup["id"]
    before = {f["name"]: f["count"] for f in document["corruption"]["before"]}
    after = {f["name"]: f["count"] for f in document["corruption"]["after"]}
    assert before == {
        "users updated before they were created": 1,
        "orders with a negative total": 1,
    }
    assert set(after.values()) == {0}
    assert app_write_error(db) is None  # read-only mode was left
    kept = document["database"]["previous_database"]
    assert db.query("SELECT count(*) FROM orders WHERE total_cents < 0", kept)[0][0] == 1
    # The corrupted rows are what the kept database alone holds: named, key by key.
    (order_id,) = db.query("SELECT min(id)::text FROM orders")[0]
    changed = {
        table["table"]: table["changed_keys"]
        for table in document["database"]["kept_vs_restored"]["tables"]
    }
    assert changed == {"users": ["1"], "orders": [order_id], "products": []}


def test_data_corruption_restores_the_backup_named_not_the_newest(db: DbSandbox) -> None:
    older = db.take_backup(verify=True)
    older["emails"] = db.emails()
    db.add_user("between-the-backups@example.com")
    newer = db.take_backup(verify=True)
    db.execute("UPDATE orders SET total_cents = -100 WHERE id = (SELECT min(id) FROM orders)")

    result = db.cli(
        "data-corruption", "sandbox", "--backup", older["id"], "--yes", "--output", "json"
    )

    assert result.code == 0, result.stderr
    assert result.json()["to"] == older["id"] != newer["id"]
    assert db.emails() == older["emails"]
    assert db.query("SELECT count(*) FROM orders WHERE total_cents < 0")[0][0] == 0
    assert app_write_error(db) is None


def test_data_corruption_without_corrupted_rows_restores_nothing(db: DbSandbox) -> None:
    db.take_backup(verify=True)
    db.add_user("signed-up-after-the-backup@example.com")
    assert db.query("SELECT count(*) FROM orders WHERE total_cents < 0")[0][0] == 0
    before = db.databases(), db.emails()

    result = db.cli("data-corruption", "sandbox", "--yes", "--output", "json")

    assert result.code == 0, result.stderr
    database = result.json()["database"]
    assert database["restored"] is False
    assert "found no corrupted rows; name a backup (--backup)" in database["reason"]
    assert (db.databases(), db.emails()) == before
    assert app_write_error(db) is None


@pytest.fixture
def secret_checkout(db: DbSandbox) -> Iterator[Callable[..., CliResult]]:
    """rollbackctl run from a copy of the checkout whose sandbox inventory carries the passwords.

    The CLI trusts only the checkout it runs from, so the passwords go into a checkout of
    their own (outside the repository), run against this module's stack. Yields a cli(*args).
    """
    checkout = copy_checkout(Path(tempfile.mkdtemp(prefix="rollbackctl-secrets-")), "rollbackctl")
    (checkout / "inventories/sandbox/group_vars/all/zz_secrets.yml").write_text(
        f"---\ndb_password: {APP_PASSWORD}\ndb_admin_password: {ADMIN_PASSWORD}\n"
    )
    # Trust auth still lets everyone in; what matters is that the secrets travel everywhere.
    db.execute(f"ALTER ROLE market PASSWORD '{APP_PASSWORD}'", "postgres")
    db.execute(f"ALTER ROLE postgres PASSWORD '{ADMIN_PASSWORD}'", "postgres")

    def cli(*args: str) -> CliResult:
        return cli_from(checkout, db.sandbox.env, *args)

    try:
        yield cli
    finally:
        db.execute("ALTER ROLE market PASSWORD NULL", "postgres")
        db.execute("ALTER ROLE postgres PASSWORD NULL", "postgres")
        shutil.rmtree(checkout, ignore_errors=True)


def test_database_passwords_never_appear_in_output_or_artifacts(
    db: DbSandbox, secret_checkout: Callable[..., CliResult]
) -> None:
    outputs: list[str] = []

    def run(*args: str) -> Any:
        result = secret_checkout(*args)
        outputs.extend((result.stdout, result.stderr))
        assert result.code == 0, result.stderr
        return result

    run("backup", "sandbox", "--output", "json")
    run("backups", "verify", "sandbox")
    run("backups", "list", "sandbox", "--output", "json")
    run("read-only", "sandbox", "on")
    run("read-only", "sandbox", "off", "--output", "json")
    run("db", "sandbox", "--yes", "--output", "json")
    run("data-corruption", "sandbox", "--yes")

    leaks = [APP_PASSWORD, ADMIN_PASSWORD]
    assert not [s for s in leaks for text in outputs if s in text]
    state = db.sandbox.state_dir
    scanned, masked = 0, 0
    for path in state.rglob("*"):
        # The server's own files and the app's config are the secrets' homes, not artifacts.
        if not path.is_file() or "postgres" in path.parts or path.name == "app.env":
            continue
        data = path.read_bytes()
        scanned += 1
        masked += b'"login_password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in data
        assert not [s for s in leaks if s.encode() in data], path
    assert scanned > 100
    assert masked  # the passwords did travel through the runs, masked
