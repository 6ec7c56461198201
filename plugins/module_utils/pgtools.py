# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""PostgreSQL connections and client binaries for the database modules, passwords kept off argv."""

import os
import subprocess

try:
    import psycopg
    from psycopg import sql  # pylint: disable=unused-import  # the modules use pgtools.sql

    HAS_PSYCOPG = True
    DB_ERRORS = (psycopg.Error,)
except ImportError:  # reported by the module through missing_required_lib
    psycopg = None
    sql = None
    HAS_PSYCOPG = False
    DB_ERRORS = ()

# Options every database module shares; the password is no_log so Ansible masks it anywhere.
CONNECTION_ARGS = {
    "login_host": {"type": "str", "default": "127.0.0.1"},
    "login_port": {"type": "int", "default": 5432},
    "login_user": {"type": "str", "default": "postgres"},
    "login_password": {"type": "str", "default": "", "no_log": True},
    "bin_dir": {"type": "path", "default": "/usr/lib/postgresql/15/bin"},
}
CONNECT_TIMEOUT_SECONDS = 10


class PgToolError(Exception):
    """A client binary or query failed; the message is one line without secrets."""


def connect(params, dbname, *, user=None, password=None, autocommit=True, app_name=None):
    """A psycopg connection; an empty password is not sent so trust and .pgpass still work."""
    kwargs = {
        "host": params["login_host"],
        "port": params["login_port"],
        "user": user or params["login_user"],
        "dbname": dbname,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": app_name or "rollbackctl",
        "autocommit": autocommit,
    }
    secret = params["login_password"] if password is None else password
    if secret:
        kwargs["password"] = secret
    try:
        return psycopg.connect(**kwargs)
    except psycopg.Error as exc:
        raise PgToolError(
            "cannot connect to database {} on {}:{} as {}: {}".format(
                dbname, kwargs["host"], kwargs["port"], kwargs["user"], first_line(exc)
            )
        ) from exc


def first_line(exc):
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def tool_env(params):
    """Environment for pg_dump/pg_restore: the password travels in PGPASSWORD, never on argv."""
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    if params["login_password"]:
        env["PGPASSWORD"] = params["login_password"]
    return env


def tool_argv(params, tool, *args):
    return [
        os.path.join(params["bin_dir"], tool),
        "--host",
        params["login_host"],
        "--port",
        str(params["login_port"]),
        "--username",
        params["login_user"],
        "--no-password",
        *args,
    ]


def run_tool(params, tool, *args):
    """Run a client binary; raise with the tail of its stderr on failure."""
    proc = subprocess.run(
        tool_argv(params, tool, *args),
        env=tool_env(params),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = [line for line in proc.stderr.strip().splitlines() if line.strip()][-3:]
        raise PgToolError("{} failed (exit {}): {}".format(tool, proc.returncode, " | ".join(tail)))
    return proc


def tool_version_text(params, tool):
    """The --version line of a client binary, for dbbackup.parse_version_num."""
    proc = subprocess.run(
        [os.path.join(params["bin_dir"], tool), "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise PgToolError(f"{tool} --version failed; is bin_dir {params['bin_dir']} right?")
    return proc.stdout


def databases(conn):
    return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


def scalar(conn, query, args=None):
    row = conn.execute(query, args).fetchone()
    return row[0] if row else None


def schema_version(conn):
    """Highest applied migration, or None when schema_migrations does not exist."""
    if not scalar(conn, "SELECT to_regclass('public.schema_migrations') IS NOT NULL"):
        return None
    return scalar(conn, "SELECT max(version) FROM schema_migrations")


def terminate_sessions(conn, dbname, *, user=None, wait_ms=5000):
    """End other sessions on dbname (of one user, if given); return how many were ended."""
    query = (
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, %s)) FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid()"
    )
    args = [wait_ms, dbname]
    if user:
        query += " AND usename = %s"
        args.append(user)
    return int(scalar(conn, query, args) or 0)
