#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Restore a backup into a staging database and swap it in under the original name."""

DOCUMENTATION = r"""
module: db_restore
short_description: Restore a PostgreSQL backup via a staging database and an atomic rename swap
description:
  - The original database is never written to. C(action=stage) restores the backup into a new
    staging database with C(pg_restore --exit-on-error). C(action=swap) renames the original to
    a kept C(<database>_pre_<stamp>) and the staging copy to the original name in one
    transaction, so at every instant the original name holds a complete database.
  - A journal file on the database host records the phase and the names. A rerun with the same
    backup resumes (a finished staging copy is reused, a completed swap is not repeated); an
    unfinished staging copy is dropped and restored again. C(action=finish) closes the journal,
    C(action=discard) drops a staging copy that was never swapped in.
  - C(action=scratch) restores into a throw-away C(<database>_verify_<stamp>) database and
    C(action=drop) removes such a scratch or staging database; neither touches the journal.
  - Database-level settings of the original (for example read-only mode) are copied onto the
    staging copy before the swap.
  - Supports check mode; in check mode nothing is changed.
options:
  action:
    description: What to do.
    type: str
    choices: [stage, swap, finish, discard, scratch, drop]
    required: true
  root:
    description: Folder holding the backups (and the restore journal) on the database host.
    type: path
    required: true
  database:
    description: Name of the database being restored.
    type: str
    required: true
  owner:
    description: Role that owns the database (the application's role).
    type: str
    required: true
  backup_id:
    description: Backup to restore (stage, scratch).
    type: str
  name:
    description: Scratch or staging database to drop (drop).
    type: str
  jobs:
    description: Parallel C(pg_restore) workers.
    type: int
    default: 2
  swap_attempts:
    description: How often the swap is retried while sessions keep the database busy.
    type: int
    default: 20
extends_documentation_fragment:
  - rollbackctl.runbooks.postgres
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Restore the backup into a staging database
  rollbackctl.runbooks.db_restore:
    action: stage
    root: /var/backups/rollbackctl
    database: market
    owner: market
    backup_id: 20261128T150200Z-3f9a
  register: staged

- name: Swap the staging database in under the original name
  rollbackctl.runbooks.db_restore:
    action: swap
    root: /var/backups/rollbackctl
    database: market
    owner: market
"""

RETURN = r"""
staging:
  description: Name of the staging (or scratch) database.
  type: str
  returned: when action is stage, swap or scratch
previous:
  description: Name the original database is kept under after the swap.
  type: str
  returned: when action is stage, swap or finish
swapped:
  description: The restored database holds the original name.
  type: bool
  returned: when action is stage, swap or discard
resumed:
  description: An unfinished restore of the same backup was picked up.
  type: bool
  returned: when action is stage
swap_ms:
  description: Milliseconds the swap transaction held the database (writes fail only then).
  type: float
  returned: when action is swap and the swap ran
kept:
  description: Previous copies of the database that are kept until the operator drops them.
  type: list
  elements: str
  returned: when action is finish
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.rollbackctl.runbooks.plugins.module_utils import dbbackup, pgtools


def _journal_path(params):
    return os.path.join(params["root"], "restore-{}.journal.json".format(params["database"]))


def _save(params, journal, phase):
    journal["phase"] = phase
    journal["updated_at"] = dbbackup.now_utc().isoformat(timespec="seconds")
    dbbackup.atomic_write_json(_journal_path(params), journal)


def _ident(name):
    return pgtools.sql.Identifier(name)


def _drop(conn, params, name):
    """Drop a staging or scratch copy; the original and the kept previous copies are refused."""
    database = params["database"]
    if not (name.startswith(database + "_restore_") or name.startswith(database + "_verify_")):
        raise dbbackup.BackupError(f"refusing to drop {name}: not a staging or scratch copy")
    conn.execute(pgtools.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(_ident(name)))


def _restore_into(conn, params, name, backup):
    conn.execute(
        pgtools.sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
            _ident(name), _ident(params["owner"])
        )
    )
    dump = os.path.join(backup["path"], dbbackup.DUMP)
    common = ["--exit-on-error", "--no-password", f"--dbname={name}"]
    pgtools.run_tool(params, "pg_restore", f"--jobs={params['jobs']}", *common, dump)


def _backup(params):
    backups = dbbackup.list_backups(params["root"])
    return dbbackup.choose_backup(backups, params["backup_id"])


def _stage(module, params, conn):
    database = params["database"]
    dbs = pgtools.databases(conn)
    if database not in dbs:
        raise dbbackup.BackupError(f"database {database} does not exist on this server")
    journal = dbbackup.load_journal(_journal_path(params))
    mode, drop = dbbackup.resume_plan(journal, params["backup_id"], dbs)
    if mode != "fresh":
        return {
            "changed": False,
            "staging": journal["staging"],
            "previous": journal["previous"],
            "swapped": mode == "swapped",
            "resumed": True,
            "msg": f"resuming the restore of backup {params['backup_id']} ({mode})",
        }
    backup = _backup(params)
    staging, previous = dbbackup.staging_names(database, dbbackup.restore_stamp())
    result = {"changed": True, "staging": staging, "previous": previous, "swapped": False}
    result["resumed"] = False
    if module.check_mode:
        return result
    for name in drop:
        _drop(conn, params, name)
    journal = {
        "backup_id": backup["id"],
        "database": database,
        "staging": staging,
        "previous": previous,
        "started_at": dbbackup.now_utc().isoformat(timespec="seconds"),
    }
    # The journal names the staging copy before it exists, so a rerun can always find it.
    _save(params, journal, "staging")
    _restore_into(conn, params, staging, backup)
    _save(params, journal, "staged")
    result["dropped"] = drop
    result["msg"] = f"backup {backup['id']} restored into {staging}"
    return result


def _copy_database_settings(conn, source, target):
    """ALTER DATABASE ... SET values (read-only mode among them) follow the name, not the oid."""
    rows = conn.execute(
        "SELECT r.rolname, s.setconfig FROM pg_db_role_setting s"
        " JOIN pg_database d ON d.oid = s.setdatabase"
        " LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE d.datname = %s",
        [source],
    ).fetchall()
    copied = []
    for role, settings in rows:
        for item in settings or []:
            name, _sep, value = item.partition("=")
            if role:
                statement = pgtools.sql.SQL("ALTER ROLE {} IN DATABASE {} SET {} = {}").format(
                    _ident(role), _ident(target), _ident(name), pgtools.sql.Literal(value)
                )
            else:
                statement = pgtools.sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    _ident(target), _ident(name), pgtools.sql.Literal(value)
                )
            conn.execute(statement)
            copied.append(item)
    return copied


def _swap(module, params, conn):
    database = params["database"]
    journal = dbbackup.load_journal(_journal_path(params))
    if not journal and module.check_mode:
        return {
            "changed": True,
            "swapped": True,
            "msg": f"would swap the restored copy in as {database}",
        }
    if not journal:
        raise dbbackup.BackupError(
            f"no restore of {database} is staged; run the restore from the start"
        )
    staging, previous = journal["staging"], journal["previous"]
    result = {"staging": staging, "previous": previous, "changed": False}
    dbs = pgtools.databases(conn)
    if previous in dbs and staging not in dbs:
        if not module.check_mode:
            _save(params, journal, "swapped")
        return dict(result, swapped=True, msg=f"already swapped; previous kept as {previous}")
    if journal["phase"] not in ("staged", "swapping") or staging not in dbs:
        raise dbbackup.BackupError(
            f"staging copy {staging} is not complete; rerun the restore to stage it again"
        )
    result.update(changed=True, swapped=True)
    if module.check_mode:
        return result
    result["settings_copied"] = _copy_database_settings(conn, database, staging)
    _save(params, journal, "swapping")
    terminated = 0
    for attempt in range(1, params["swap_attempts"] + 1):
        # The app reconnects per request, so ending its sessions costs it one failed request.
        terminated += pgtools.terminate_sessions(conn, database)
        terminated += pgtools.terminate_sessions(conn, staging)
        started = time.monotonic()
        try:
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '5s'")
                conn.execute(
                    pgtools.sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        _ident(database), _ident(previous)
                    )
                )
                conn.execute(
                    pgtools.sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        _ident(staging), _ident(database)
                    )
                )
            break
        except pgtools.psycopg.errors.ObjectInUse:
            if attempt == params["swap_attempts"]:
                raise dbbackup.BackupError(
                    f"sessions kept reconnecting to {database}; stop the clients that are not "
                    "the app and rerun (the original database is untouched)"
                ) from None
            time.sleep(0.1)
    result["swap_ms"] = round((time.monotonic() - started) * 1000, 1)
    result["attempts"] = attempt
    result["sessions_terminated"] = terminated
    _save(params, journal, "swapped")
    result["msg"] = f"{staging} swapped in as {database}; previous kept as {previous}"
    return result


def _finish(module, params, conn):
    journal = dbbackup.load_journal(_journal_path(params))
    kept = sorted(
        name for name in pgtools.databases(conn) if name.startswith(params["database"] + "_pre_")
    )
    result = {"changed": False, "kept": kept, "previous": journal and journal["previous"]}
    if journal:
        if journal["phase"] != "swapped":
            raise dbbackup.BackupError("the restore was not swapped in; nothing to finish")
        result["changed"] = True
        if not module.check_mode:
            os.unlink(_journal_path(params))
    return result


def _discard(module, params, conn):
    journal = dbbackup.load_journal(_journal_path(params))
    if not journal:
        return {"changed": False, "swapped": False}
    dbs = pgtools.databases(conn)
    if journal["previous"] in dbs and journal["staging"] not in dbs:
        return {"changed": False, "swapped": True, "previous": journal["previous"]}
    if not module.check_mode:
        _drop(conn, params, journal["staging"])
        os.unlink(_journal_path(params))
    return {"changed": True, "swapped": False, "dropped": journal["staging"]}


def _scratch(module, params, conn):
    name = "{}_verify_{}".format(params["database"], dbbackup.restore_stamp())
    if not module.check_mode:
        try:
            _restore_into(conn, params, name, _backup(params))
        except Exception:
            # A half-restored scratch copy is debris nobody else knows the name of.
            _drop(conn, params, name)
            raise
    return {"changed": True, "staging": name}


def main():
    module = AnsibleModule(
        argument_spec={
            "action": {
                "type": "str",
                "required": True,
                "choices": ["stage", "swap", "finish", "discard", "scratch", "drop"],
            },
            "root": {"type": "path", "required": True},
            "database": {"type": "str", "required": True},
            "owner": {"type": "str", "required": True},
            "backup_id": {"type": "str"},
            "name": {"type": "str"},
            "jobs": {"type": "int", "default": 2},
            "swap_attempts": {"type": "int", "default": 20},
            **pgtools.CONNECTION_ARGS,
        },
        required_if=[
            ("action", "stage", ["backup_id"]),
            ("action", "scratch", ["backup_id"]),
            ("action", "drop", ["name"]),
        ],
        supports_check_mode=True,
    )
    if not pgtools.HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"))
    params = module.params
    actions = {
        "stage": _stage,
        "swap": _swap,
        "finish": _finish,
        "discard": _discard,
        "scratch": _scratch,
    }
    try:
        with pgtools.connect(params, "postgres") as conn:
            if params["action"] == "drop":
                existed = params["name"] in pgtools.databases(conn)
                if existed and not module.check_mode:
                    _drop(conn, params, params["name"])
                result = {"changed": existed}
            else:
                result = actions[params["action"]](module, params, conn)
    except (dbbackup.BackupError, pgtools.PgToolError) as exc:
        module.fail_json(msg=str(exc))
    except pgtools.DB_ERRORS as exc:
        module.fail_json(msg=f"database error: {pgtools.first_line(exc)}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
