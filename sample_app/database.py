"""Open PostgreSQL connections for the app and its migrations from the shared settings."""

from __future__ import annotations

import psycopg

from settings import Settings

# A short timeout turns an unreachable database into a quick 503 instead of a hung request.
CONNECT_TIMEOUT_SECONDS = 3


def connect(settings: Settings, *, application_name: str = "africanmarket") -> psycopg.Connection:
    """A new connection; use it as a context manager so the transaction commits or rolls back."""
    params: dict[str, str | int] = {
        "host": settings.db_host,
        "port": settings.db_port,
        "dbname": settings.db_name,
        "user": settings.db_user,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": application_name,
    }
    # An empty password must not be sent at all, or libpq skips ~/.pgpass and trust setups.
    if settings.db_password:
        params["password"] = settings.db_password
    return psycopg.connect(**params)


def schema_version(conn: psycopg.Connection) -> int | None:
    """The highest applied migration, or None when the migrations table does not exist yet."""
    row = conn.execute("SELECT to_regclass('public.schema_migrations') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return None
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return row[0] if row else None
