#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Count rows matching the corruption assessment queries of an environment."""

DOCUMENTATION = r"""
module: db_assess
short_description: Run corruption assessment queries read-only and report their counts
description:
  - Each query is a condition on one table (for example C(orders) with C(total_cents < 0));
    the module counts the matching rows inside a read-only transaction, so a query from the
    inventory can never change data.
  - Changes nothing; runs in check mode too.
options:
  database:
    description: Database to assess.
    type: str
    required: true
  queries:
    description: Assessment queries, each with name, table and where (an SQL condition).
    type: list
    elements: dict
    required: true
  statement_timeout_ms:
    description: Longest any one query may run.
    type: int
    default: 60000
extends_documentation_fragment:
  - rollbackctl.runbooks.postgres
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Assess the corruption
  rollbackctl.runbooks.db_assess:
    database: market
    queries:
      - name: orders with a negative total
        table: orders
        where: total_cents < 0
"""

RETURN = r"""
findings:
  description: One entry per query with name, table, where and count.
  type: list
  elements: dict
  returned: always
corrupt_rows:
  description: Sum of all counts.
  type: int
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.rollbackctl.runbooks.plugins.module_utils import pgtools


def main():
    module = AnsibleModule(
        argument_spec={
            "database": {"type": "str", "required": True},
            "queries": {"type": "list", "elements": "dict", "required": True},
            "statement_timeout_ms": {"type": "int", "default": 60000},
            **pgtools.CONNECTION_ARGS,
        },
        supports_check_mode=True,
    )
    if not pgtools.HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"))
    params = module.params
    sql = pgtools.sql
    findings = []
    for query in params["queries"]:
        missing = [key for key in ("name", "table", "where") if not query.get(key)]
        if missing:
            module.fail_json(msg=f"assessment query {query!r} lacks {', '.join(missing)}")
    try:
        with pgtools.connect(params, params["database"], app_name="rollbackctl-assess") as conn:
            for query in params["queries"]:
                with conn.transaction(force_rollback=True):
                    conn.execute("SET TRANSACTION READ ONLY")
                    conn.execute(
                        "SELECT set_config('statement_timeout', %s, true)",
                        [str(params["statement_timeout_ms"])],
                    )
                    statement = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
                        sql.Identifier(query["table"]), sql.SQL(query["where"])
                    )
                    count = pgtools.scalar(conn, statement)
                findings.append(
                    {
                        "name": query["name"],
                        "table": query["table"],
                        "where": query["where"],
                        "count": int(count),
                    }
                )
    except pgtools.PgToolError as exc:
        module.fail_json(msg=str(exc), findings=findings)
    except pgtools.DB_ERRORS as exc:
        module.fail_json(
            msg=f"assessment query failed: {pgtools.first_line(exc)}; fix it in the inventory",
            findings=findings,
        )
    total = sum(f["count"] for f in findings)
    summary = ", ".join(f"{f['name']}: {f['count']}" for f in findings)
    module.exit_json(
        changed=False, findings=findings, corrupt_rows=total, msg=f"{total} rows ({summary})"
    )


if __name__ == "__main__":
    main()
