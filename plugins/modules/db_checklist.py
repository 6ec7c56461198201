#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Run the database verification checklist against one database."""

DOCUMENTATION = r"""
module: db_checklist
short_description: Run the database verification checklist of the rollback runbook
description:
  - Checks, in order, the connection, that the core tables exist and hold rows, that every
    constraint is validated and no foreign key points at a missing row, that a write works
    (made inside a transaction that is rolled back), and that C(schema_migrations) runs 1..n
    without gaps up to the version the application release needs.
  - Every check runs even when an earlier one fails, so the report shows the whole picture.
  - Connects as the application's role, so the checklist proves what the app will be able to do.
  - Changes nothing; runs in check mode too.
options:
  database:
    description: Database to check (the live one, a staging or a scratch copy).
    type: str
    required: true
  core_tables:
    description: Tables that must exist and hold at least one row.
    type: list
    elements: str
    default: [users, orders, products]
  expected_schema:
    description: Schema version the application release needs; omit to only check for gaps.
    type: int
  schema_source:
    description: Who needs O(expected_schema), for the detail line.
    type: str
    default: the app release
  write_probe:
    description: Statement that must modify at least one row; it is rolled back.
    type: str
    default: UPDATE users SET updated_at = updated_at WHERE id = (SELECT min(id) FROM users)
extends_documentation_fragment:
  - rollbackctl.runbooks.postgres
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Verify the staging copy before it is swapped in
  rollbackctl.runbooks.db_checklist:
    database: market_restore_20261128_150200
    login_user: market
    expected_schema: 1
"""

RETURN = r"""
checks:
  description: One entry per checklist item with name, ok, detail and milliseconds.
  type: list
  elements: dict
  returned: always
schema_version:
  description: Highest applied migration found.
  type: int
  returned: when the database could be reached
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.rollbackctl.runbooks.plugins.module_utils import pgtools

FOREIGN_KEYS = """
SELECT c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text,
       array_agg(a.attname ORDER BY k.n), array_agg(fa.attname ORDER BY k.n)
FROM pg_constraint c
CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(col, fcol, n)
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col
JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = k.fcol
WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
GROUP BY c.oid, c.conname, c.conrelid, c.confrelid
"""


class Checklist:
    def __init__(self):
        self.checks = []

    def run(self, name, func):
        started = time.monotonic()
        try:
            ok, detail = func()
        except pgtools.DB_ERRORS as exc:
            ok, detail = False, pgtools.first_line(exc)
        except pgtools.PgToolError as exc:
            ok, detail = False, str(exc)
        self.checks.append(
            {
                "name": name,
                "ok": bool(ok),
                "detail": detail,
                "ms": round((time.monotonic() - started) * 1000, 1),
            }
        )
        return ok


def _tables(conn, tables):
    missing = [t for t in tables if not pgtools.scalar(conn, "SELECT to_regclass(%s)", [t])]
    if missing:
        return False, "missing: " + ", ".join(missing)
    return True, ", ".join(tables) + " present"


def _populated(conn, tables):
    counts = {}
    for table in tables:
        query = pgtools.sql.SQL("SELECT count(*) FROM {}").format(pgtools.sql.Identifier(table))
        counts[table] = pgtools.scalar(conn, query)
    empty = [t for t, n in counts.items() if not n]
    detail = ", ".join(f"{t}={n}" for t, n in counts.items())
    return not empty, detail if not empty else f"empty: {', '.join(empty)} ({detail})"


def _constraints(conn):
    invalid = conn.execute(
        "SELECT conrelid::regclass::text || '.' || conname FROM pg_constraint"
        " WHERE NOT convalidated AND connamespace = 'public'::regnamespace"
    ).fetchall()
    if invalid:
        return False, "not validated: " + ", ".join(r[0] for r in invalid)
    total = pgtools.scalar(
        conn, "SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
    )
    return True, f"{total} constraints validated"


def _foreign_keys(conn):
    ident, sql = pgtools.sql.Identifier, pgtools.sql.SQL
    broken = []
    keys = conn.execute(FOREIGN_KEYS).fetchall()
    for name, child, parent, cols, fcols in keys:
        join = sql(" AND ").join(
            sql("p.{} = c.{}").format(ident(f), ident(c)) for c, f in zip(cols, fcols, strict=True)
        )
        not_null = sql(" AND ").join(sql("c.{} IS NOT NULL").format(ident(c)) for c in cols)
        query = sql(
            "SELECT count(*) FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})"
        ).format(sql(child), not_null, sql(parent), join)
        orphans = pgtools.scalar(conn, query)
        if orphans:
            broken.append(f"{name}: {orphans} rows")
    if broken:
        return False, "foreign key violations: " + "; ".join(broken)
    return True, f"{len(keys)} foreign keys hold"


def _write_probe(conn, statement):
    # READ WRITE on purpose: this proves the database accepts writes; read-only mode is
    # the default for sessions and is checked where it is switched.
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION READ WRITE")
        rows = conn.execute(statement).rowcount
    return rows > 0, f"write of {rows} row(s) succeeded and was rolled back"


def _migrations(conn, expected, source):
    if not pgtools.scalar(conn, "SELECT to_regclass('public.schema_migrations') IS NOT NULL"):
        return False, "schema_migrations is missing"
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    current = versions[-1] if versions else None
    if versions != list(range(1, len(versions) + 1)):
        return False, f"schema_migrations has gaps: {versions}"
    if expected is not None and current != expected:
        return False, f"database is at schema {current} but {source} needs {expected}"
    needs = f", {source} needs {expected}" if expected is not None else ""
    return True, f"schema {current}{needs}"


def main():
    module = AnsibleModule(
        argument_spec={
            "database": {"type": "str", "required": True},
            "core_tables": {
                "type": "list",
                "elements": "str",
                "default": ["users", "orders", "products"],
            },
            "expected_schema": {"type": "int"},
            "schema_source": {"type": "str", "default": "the app release"},
            "write_probe": {
                "type": "str",
                "default": "UPDATE users SET updated_at = updated_at"
                " WHERE id = (SELECT min(id) FROM users)",
            },
            **pgtools.CONNECTION_ARGS,
        },
        supports_check_mode=True,
    )
    if not pgtools.HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"))
    params = module.params
    checklist = Checklist()
    result = {"changed": False}
    try:
        conn = pgtools.connect(params, params["database"], app_name="rollbackctl-checklist")
    except pgtools.PgToolError as exc:
        reason = str(exc)
        checklist.run("db connection", lambda: (False, reason))
        conn = None
    if conn is not None:
        with conn:
            checklist.run(
                "db connection",
                lambda: (True, f"{params['database']} as {params['login_user']}"),
            )
            tables = params["core_tables"]
            if checklist.run("db core tables present", lambda: _tables(conn, tables)):
                checklist.run("db core tables populated", lambda: _populated(conn, tables))
            checklist.run("db constraints valid", lambda: _constraints(conn))
            checklist.run("db foreign keys hold", lambda: _foreign_keys(conn))
            checklist.run("db read/write", lambda: _write_probe(conn, params["write_probe"]))
            checklist.run(
                "db schema_migrations",
                lambda: _migrations(conn, params["expected_schema"], params["schema_source"]),
            )
            result["schema_version"] = pgtools.schema_version(conn)
    result["checks"] = checklist.checks
    failed = [c for c in checklist.checks if not c["ok"]]
    if failed:
        module.fail_json(
            msg="database checklist failed on {}: {}".format(
                params["database"], "; ".join(f"{c['name']}: {c['detail']}" for c in failed)
            ),
            **result,
        )
    result["msg"] = f"database checklist passed on {params['database']}"
    module.exit_json(**result)


if __name__ == "__main__":
    main()
