#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Report what a database kept from before a restore holds that the restored one does not."""

DOCUMENTATION = r"""
module: db_diff
short_description: Compare the database kept from before a restore with the restored one
description:
  - For each table, reads (primary key, row hash) from both databases in read-only
    transactions, ordered by the key, and merges the two streams, so memory stays constant.
  - Reports per table the rows only the kept database has (written after the backup), the
    rows both have with different contents (changed after it) and the rows only the restored
    database has (deleted after it), with the first keys of each.
  - Rows are hashed over the columns both databases have, so a schema that gained a column
    since the backup does not make every row look changed.
  - Changes nothing; runs in check mode too.
options:
  previous:
    description: The database kept from before the restore (C(<name>_pre_<stamp>)).
    type: str
    required: true
  restored:
    description: The restored database, under its original name.
    type: str
    required: true
  tables:
    description: Tables to compare; each needs a primary key.
    type: list
    elements: str
    required: true
  sample_size:
    description: How many keys of each kind to report per table.
    type: int
    default: 20
  statement_timeout_ms:
    description:
      - Longest any one statement may run (the query of a table, and each fetch of its rows).
    type: int
    default: 600000
extends_documentation_fragment:
  - rollbackctl.runbooks.postgres
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Compare the kept database with the restored one
  rollbackctl.runbooks.db_diff:
    previous: market_pre_20261129T101500Z
    restored: market
    tables: [users, orders, products]
"""

RETURN = r"""
tables:
  description:
    - One entry per table with only_in_previous, changed and only_in_restored (counts),
      their first keys (only_in_previous_keys, changed_keys, only_in_restored_keys), and
      problem when the table could not be compared.
  type: list
  elements: dict
  returned: always
written_after_backup:
  description: Rows the kept database holds that the restored one lacks, over all tables.
  type: int
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.rollbackctl.runbooks.plugins.module_utils import dbdiff, pgtools

COLUMNS = """
SELECT attname FROM pg_attribute
WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped
ORDER BY attnum
"""
# The primary key's columns in the index's own order, with their types.
PRIMARY_KEY = """
SELECT a.attname, t.typname
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
JOIN pg_type t ON t.oid = a.atttypid
WHERE i.indrelid = to_regclass(%s) AND i.indisprimary
ORDER BY k.position
"""
# Key types PostgreSQL orders as Python orders the values psycopg returns (and that have no
# NaN). Any other key is compared as text in byte order (COLLATE "C" both sides).
NATIVE_TYPES = frozenset(
    {"int2", "int4", "int8", "uuid", "date", "timestamp", "timestamptz", "bool"}
)
# The same text for the same row in both databases, whatever settings either carries (the
# kept database keeps its per-database settings; the restored one has the backup's).
SESSION_SETTINGS = (
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO, YMD"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "3"),
    ("bytea_output", "hex"),
)


def _columns(conn, table):
    """(all columns, [(key column, type)] in key order); None when there is no such table."""
    name = [pgtools.sql.Identifier(table).as_string(conn)]
    columns = [row[0] for row in conn.execute(COLUMNS, name).fetchall()]
    if not columns:
        return None
    return columns, [tuple(row) for row in conn.execute(PRIMARY_KEY, name).fetchall()]


def _keyed_hashes(conn, table, key, columns, timeout_ms):
    """Yield (key tuple, md5 of the compared columns) ordered by the key as Python orders it."""
    sql = pgtools.sql
    key_values = [
        sql.Identifier(name)
        if type_name in NATIVE_TYPES
        else sql.SQL('{}::text COLLATE "C"').format(sql.Identifier(name))
        for name, type_name in key
    ]
    row_text = sql.SQL("md5(ROW({})::text)").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    query = sql.SQL("SELECT {keys}, {row} FROM {table} ORDER BY {keys}").format(
        keys=sql.SQL(", ").join(key_values), row=row_text, table=sql.Identifier(table)
    )
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        for setting, value in (*SESSION_SETTINGS, ("statement_timeout", str(timeout_ms))):
            conn.execute("SELECT set_config(%s, %s, true)", [setting, value])
        # A named cursor streams from the server instead of loading the table into memory.
        with conn.cursor(name="rollbackctl_diff") as cursor:
            cursor.itersize = 5000
            cursor.execute(query)
            for row in cursor:
                yield tuple(row[:-1]), row[-1]


def compare_table(old, new, table, params):
    found_old, found_new = _columns(old, table), _columns(new, table)
    diff = dbdiff.empty_table_diff(table)
    if found_old is None or found_new is None:
        where = params["previous"] if found_old is None else params["restored"]
        return {**diff, "problem": f"no table {table} in {where}"}
    (old_columns, old_key), (new_columns, new_key) = found_old, found_new
    # Same columns and types, in the same order: else the two streams are not in one order.
    if not old_key or old_key != new_key:
        return {**diff, "problem": f"{table} has no primary key both databases share"}
    common = [c for c in old_columns if c in new_columns]
    timeout = params["statement_timeout_ms"]
    try:
        return dbdiff.merge(
            table,
            _keyed_hashes(old, table, old_key, common, timeout),
            _keyed_hashes(new, table, new_key, common, timeout),
            params["sample_size"],
        )
    except (TypeError, ArithmeticError) as exc:
        # Keys Python cannot order (a NaN, mixed types): this table stays uncompared.
        return {**diff, "problem": f"{table}'s keys cannot be compared in order: {exc}"}


def main():
    module = AnsibleModule(
        argument_spec={
            "previous": {"type": "str", "required": True},
            "restored": {"type": "str", "required": True},
            "tables": {"type": "list", "elements": "str", "required": True},
            "sample_size": {"type": "int", "default": dbdiff.SAMPLE_KEYS},
            "statement_timeout_ms": {"type": "int", "default": 600000},
            **pgtools.CONNECTION_ARGS,
        },
        supports_check_mode=True,
    )
    if not pgtools.HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"))
    params = module.params
    if not params["tables"]:
        # An empty list must not read as "nothing was lost".
        module.fail_json(msg="no tables to compare: list them (db_core_tables)", tables=[])
    diffs = []
    try:
        app_name = "rollbackctl-diff"
        # Nested, not parenthesized: modules run on the hosts' Python, which may predate 3.10.
        with pgtools.connect(params, params["previous"], app_name=app_name) as old:  # noqa: SIM117
            with pgtools.connect(params, params["restored"], app_name=app_name) as new:
                for table in params["tables"]:
                    diffs.append(compare_table(old, new, table, params))
    except pgtools.PgToolError as exc:
        module.fail_json(msg=str(exc), tables=diffs)
    except pgtools.DB_ERRORS as exc:
        module.fail_json(
            msg=f"comparing {params['previous']} with {params['restored']} failed: "
            f"{pgtools.first_line(exc)}",
            tables=diffs,
        )
    module.exit_json(
        changed=False,
        tables=diffs,
        written_after_backup=sum(dbdiff.written_after_backup(d) for d in diffs),
        msg=dbdiff.summary(diffs, params["previous"]),
    )


if __name__ == "__main__":
    main()
