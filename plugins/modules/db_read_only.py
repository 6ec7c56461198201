#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Switch a database's read-only mode and prove it with a write probe."""

DOCUMENTATION = r"""
module: db_read_only
short_description: Put a PostgreSQL database into read-only mode, or take it out, and prove it
description:
  - Sets (C(state=on)) or resets (C(state=off)) C(default_transaction_read_only) on the database,
    then ends the other sessions of the application's role so they reconnect and pick the
    setting up, then connects as the application's role and attempts a write that changes no row.
  - With C(state=on) the probe must be rejected as a read-only transaction; with C(state=off)
    it must succeed. Otherwise the module fails.
  - Supports check mode; in check mode only the current mode is read.
options:
  database:
    description: Database to switch.
    type: str
    required: true
  state:
    description: Read-only mode on or off.
    type: str
    choices: ['on', 'off']
    required: true
  app_user:
    description: Application role whose sessions are ended and which the probe connects as.
    type: str
    required: true
  app_password:
    description: Password of O(app_user).
    type: str
    default: ''
  probe:
    description: A write that changes no row; it only has to reach the executor.
    type: str
    default: UPDATE schema_migrations SET version = version WHERE false
extends_documentation_fragment:
  - rollbackctl.runbooks.postgres
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Stop all writes to the marketplace database
  rollbackctl.runbooks.db_read_only:
    database: market
    state: "on"
    app_user: market
"""

RETURN = r"""
read_only:
  description: Read-only mode after the module ran (in check mode, before).
  type: bool
  returned: always
sessions_terminated:
  description: Sessions of the application's role that were ended.
  type: int
  returned: when the mode was switched
probe:
  description: Outcome of the write probe.
  type: str
  returned: unless in check mode
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.rollbackctl.runbooks.plugins.module_utils import pgtools

CURRENT = """
SELECT coalesce(bool_or(c = 'default_transaction_read_only=on'), false)
FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase,
     unnest(s.setconfig) AS c
WHERE d.datname = %s AND s.setrole = 0
"""


def _probe(params):
    """'rejected' or 'accepted': what a fresh app session gets when it tries to write."""
    conn = pgtools.connect(
        params,
        params["database"],
        user=params["app_user"],
        password=params["app_password"],
        app_name="rollbackctl-probe",
    )
    with conn:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(params["probe"])
        except pgtools.psycopg.errors.ReadOnlySqlTransaction:
            return "rejected"
    return "accepted"


def main():
    module = AnsibleModule(
        argument_spec={
            "database": {"type": "str", "required": True},
            "state": {"type": "str", "required": True, "choices": ["on", "off"]},
            "app_user": {"type": "str", "required": True},
            "app_password": {"type": "str", "default": "", "no_log": True},
            "probe": {
                "type": "str",
                "default": "UPDATE schema_migrations SET version = version WHERE false",
            },
            **pgtools.CONNECTION_ARGS,
        },
        supports_check_mode=True,
    )
    if not pgtools.HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"))
    params = module.params
    want = params["state"] == "on"
    ident = pgtools.sql.Identifier(params["database"])
    result = {"changed": False}
    try:
        with pgtools.connect(params, "postgres") as conn:
            current = bool(pgtools.scalar(conn, CURRENT, [params["database"]]))
            result["read_only"] = current
            if current != want:
                result["changed"] = True
                if module.check_mode:
                    module.exit_json(**result)
                statement = (
                    "ALTER DATABASE {} SET default_transaction_read_only = on"
                    if want
                    else "ALTER DATABASE {} RESET default_transaction_read_only"
                )
                conn.execute(pgtools.sql.SQL(statement).format(ident))
                result["read_only"] = want
            if module.check_mode:
                module.exit_json(**result)
            # Existing sessions keep the setting they started with; ending them is what makes
            # the mode hold. Done on every run, so a rerun also catches late connections.
            if want:
                result["sessions_terminated"] = pgtools.terminate_sessions(
                    conn, params["database"], user=params["app_user"]
                )
        result["probe"] = _probe(params)
    except pgtools.PgToolError as exc:
        module.fail_json(msg=str(exc), **result)
    except pgtools.DB_ERRORS as exc:
        module.fail_json(msg=f"database error: {pgtools.first_line(exc)}", **result)
    expected = "rejected" if want else "accepted"
    if result["probe"] != expected:
        module.fail_json(
            msg="read-only mode is {} on {} but a write was {}; check role and session "
            "settings that override default_transaction_read_only".format(
                params["state"], params["database"], result["probe"]
            ),
            **result,
        )
    result["msg"] = "read-only mode {} on {}: a write probe was {}".format(
        params["state"], params["database"], result["probe"]
    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
