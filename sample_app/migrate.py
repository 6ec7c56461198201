"""Apply the release's SQL migrations in order, then seed: `python3 migrate.py --config app.env`."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import psycopg

import database
import release_info
import seed
import settings

HERE = Path(__file__).resolve().parent
MIGRATION_NAME = re.compile(r"(\d{4})_(\w+)\.sql")
# Any constant works; it only has to be the same for every migrate.py run against one database.
ADVISORY_LOCK_ID = 7_420_260_111


class MigrationError(Exception):
    """A migration cannot be found or applied; the message is one line."""


def available_migrations(directory: Path = HERE / "migrations") -> dict[int, Path]:
    """Migration files by version; a gap or a duplicate version is an error, not a skip."""
    found: dict[int, Path] = {}
    for path in sorted(directory.glob("*.sql")):
        match = MIGRATION_NAME.fullmatch(path.name)
        if not match:
            raise MigrationError(f"unexpected file in migrations: {path.name}")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations for version {version}")
        found[version] = path
    if sorted(found) != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration versions are not 1..n: {sorted(found)}")
    return found


def migrate(conn: psycopg.Connection, target: int, migrations: dict[int, Path]) -> list[str]:
    """Apply each missing migration up to target in its own transaction; names of those applied."""
    if target not in migrations:
        raise MigrationError(f"no migration {target:04d} here (have {len(migrations)})")
    applied = []
    for version in range(1, target + 1):
        path = migrations[version]
        with conn.transaction():
            # Two hosts may run migrate.py at once during a rollout; the lock serialises them and
            # the version is re-read under it.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_ID,))
            current = database.schema_version(conn) or 0
            if current >= version:
                continue
            conn.execute(path.read_text(encoding="utf-8"))
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (version, path.stem),
            )
        applied.append(path.stem)
        print(f"migrate: applied {path.stem}", file=sys.stderr)
    return applied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="path to the KEY=VALUE app.env file")
    parser.add_argument(
        "--to", type=int, help="schema version to reach (default: this release's schema_version)"
    )
    args = parser.parse_args(argv)
    try:
        config = settings.load(args.config, for_app=False)
        target = args.to if args.to is not None else release_info.load(HERE).schema_version
        migrations = available_migrations()
        with database.connect(config, application_name="africanmarket-migrate") as conn:
            conn.autocommit = True  # each migration opens its own transaction block
            applied = migrate(conn, target, migrations)
            current = database.schema_version(conn) or 0
            if current > target:
                # There are no down migrations: going back is a database restore, not a migrate.
                print(
                    f"migrate: database is at schema {current}, ahead of {target}; left as is",
                    file=sys.stderr,
                )
            with conn.transaction():
                seeded = seed.seed(conn, config)
    except (settings.ConfigError, MigrationError, OSError, ValueError) as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        detail = str(exc).strip().splitlines() or [type(exc).__name__]
        print(f"migrate: database error: {detail[0]}", file=sys.stderr)
        return 1
    # One JSON document on stdout so Ansible can decide `changed` from it.
    print(json.dumps({"schema_version": current, "applied": applied, "seeded": seeded}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
