#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Take, list, check and annotate database backups on the database host."""

DOCUMENTATION = r"""
module: db_backup
short_description: Take, list, check and annotate PostgreSQL backups with a SHA-256 manifest
description:
  - C(action=create) runs C(pg_dump) in directory format (parallel with O(jobs)) from a snapshot
    it also reads the metadata from, so row counts and schema version match the dump exactly.
    The backup is written under a hidden partial folder and renamed into place only when the
    dump, C(manifest.sha256) and C(metadata.json) are complete. Then retention keeps the newest
    O(keep) backups and the newest verified one.
  - C(action=list) returns every complete backup, newest first.
  - C(action=check) chooses a backup (O(backup_id), or the newest verified one with
    O(latest_verified)) and fails unless its manifest, metadata and versions allow a restore.
  - C(action=record) stores a verification outcome in the backup's metadata.
  - Supports check mode; in check mode nothing is written.
options:
  action:
    description: What to do.
    type: str
    choices: [create, list, check, record]
    default: list
  root:
    description: Folder holding the backups of this environment on the database host.
    type: path
    required: true
  database:
    description: Database the backups are of.
    type: str
    required: true
  backup_id:
    description: Backup to check or annotate.
    type: str
  latest_verified:
    description: For C(action=check) without O(backup_id), take the newest verified backup.
    type: bool
    default: false
  kind:
    description: Why the backup is taken; kept in its metadata.
    type: str
    choices: [manual, scheduled, safety, restore-point]
    default: manual
  app_release:
    description: Application release current when the backup is taken.
    type: str
    default: unknown
  core_tables:
    description: Tables whose row counts go into the metadata.
    type: list
    elements: str
    default: [users, orders, products]
  jobs:
    description: Parallel C(pg_dump) workers.
    type: int
    default: 2
  compression:
    description: gzip level of the dump files (0 stores them uncompressed).
    type: int
    default: 1
  keep:
    description: How many backups retention keeps (the newest verified one is always kept).
    type: int
    default: 7
  verification:
    description: For C(action=record), the outcome to store (ok, checks, at, detail).
    type: dict
  environment:
    description: Environment name used in messages.
    type: str
    default: this environment
extends_documentation_fragment:
  - rollbackctl.runbooks.postgres
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Take a safety backup
  rollbackctl.runbooks.db_backup:
    action: create
    root: /var/backups/rollbackctl
    database: market
    kind: safety
    app_release: 2026.11.1

- name: Check the newest verified backup before restoring it
  rollbackctl.runbooks.db_backup:
    action: check
    root: /var/backups/rollbackctl
    database: market
    latest_verified: true
"""

RETURN = r"""
backup:
  description: Metadata of the backup created, checked or annotated, plus its path.
  type: dict
  returned: when action is create, check or record
backups:
  description: Every complete backup, newest first.
  type: list
  elements: dict
  returned: always
deleted:
  description: Backup ids removed by retention.
  type: list
  elements: str
  returned: when action is create
"""

import os
import shutil
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.rollbackctl.runbooks.plugins.module_utils import dbbackup, pgtools


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_partials(root):
    """Partial folders of dumps whose process is gone are debris from an interrupted backup."""
    removed = []
    for name in os.listdir(root):
        if not name.startswith(dbbackup.PARTIAL_PREFIX):
            continue
        path = os.path.join(root, name)
        try:
            with open(os.path.join(path, dbbackup.OWNER_FILE)) as handle:
                pid = int(handle.read().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if not pid or not _pid_alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


def _create(module, params):
    root = params["root"]
    os.makedirs(root, mode=0o700, exist_ok=True)
    os.chmod(root, 0o700)
    stale = _remove_stale_partials(root)
    backup_id = dbbackup.new_backup_id()
    partial = os.path.join(root, dbbackup.PARTIAL_PREFIX + backup_id)
    os.makedirs(partial, mode=0o700)
    with open(os.path.join(partial, dbbackup.OWNER_FILE), "w") as handle:
        handle.write(str(os.getpid()))
    started = time.monotonic()
    dump_version = dbbackup.parse_version_num(pgtools.tool_version_text(params, "pg_dump"))
    # Metadata and dump come from one exported snapshot: the counts describe exactly the dump.
    with pgtools.connect(params, params["database"], autocommit=False) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = pgtools.scalar(conn, "SELECT pg_export_snapshot()")
        counts = {}
        for table in params["core_tables"]:
            counts[table] = None
            if pgtools.scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", [table]):
                query = pgtools.sql.SQL("SELECT count(*) FROM {}")
                counts[table] = pgtools.scalar(conn, query.format(pgtools.sql.Identifier(table)))
        metadata = {
            "id": backup_id,
            "kind": params["kind"],
            "created_at": dbbackup.now_utc().isoformat(timespec="seconds"),
            "database": params["database"],
            "server_version_num": int(pgtools.scalar(conn, "SHOW server_version_num")),
            "server_version": pgtools.scalar(conn, "SHOW server_version"),
            "pg_dump_version_num": dump_version,
            "schema_version": pgtools.schema_version(conn),
            "row_counts": counts,
            "app_release": params["app_release"],
            "format": "directory",
            "jobs": params["jobs"],
            "compression": params["compression"],
        }
        pgtools.run_tool(
            params,
            "pg_dump",
            "--format=directory",
            f"--jobs={params['jobs']}",
            f"--compress={params['compression']}",
            f"--snapshot={snapshot}",
            f"--file={os.path.join(partial, dbbackup.DUMP)}",
            f"--dbname={params['database']}",
        )
        conn.rollback()
    metadata["files"] = dbbackup.write_manifest(partial)
    metadata["size_bytes"] = sum(
        os.path.getsize(os.path.join(folder, name))
        for folder, _dirs, names in os.walk(os.path.join(partial, dbbackup.DUMP))
        for name in names
    )
    metadata["dump_seconds"] = round(time.monotonic() - started, 3)
    dbbackup.atomic_write_json(os.path.join(partial, dbbackup.METADATA), metadata)
    final = os.path.join(root, backup_id)
    os.rename(partial, final)
    os.unlink(os.path.join(final, dbbackup.OWNER_FILE))
    deleted = []
    for victim in dbbackup.retention_victims(dbbackup.list_backups(root), params["keep"]):
        shutil.rmtree(os.path.join(root, victim))
        deleted.append(victim)
    return dict(metadata, path=final), deleted, stale


def _check(params, backups):
    backup = dbbackup.choose_backup(
        backups, params["backup_id"], params["latest_verified"], params["environment"]
    )
    problems = dbbackup.metadata_problems(backup, backup["id"], params["database"])
    problems += dbbackup.check_manifest(backup["path"])
    if problems:
        raise dbbackup.BackupError(
            "backup {} failed its integrity check ({}); choose another backup".format(
                backup["id"], "; ".join(problems[:3])
            )
        )
    tool = dbbackup.parse_version_num(pgtools.tool_version_text(params, "pg_restore"))
    with pgtools.connect(params, "postgres") as conn:
        server = int(pgtools.scalar(conn, "SHOW server_version_num"))
    problem = dbbackup.version_problem(backup, server, tool)
    if problem:
        raise dbbackup.BackupError(f"backup {backup['id']} cannot be restored here: {problem}")
    return backup


def _record(params, backups):
    backup = dbbackup.choose_backup(backups, params["backup_id"], environment=params["environment"])
    metadata = dbbackup.load_metadata(backup["path"])
    verification = dict(params["verification"] or {})
    verification.setdefault("at", dbbackup.now_utc().isoformat(timespec="seconds"))
    metadata["verification"] = verification
    return metadata, backup["path"]


def main():
    module = AnsibleModule(
        argument_spec={
            "action": {
                "type": "str",
                "default": "list",
                "choices": ["create", "list", "check", "record"],
            },
            "root": {"type": "path", "required": True},
            "database": {"type": "str", "required": True},
            "backup_id": {"type": "str"},
            "latest_verified": {"type": "bool", "default": False},
            "kind": {
                "type": "str",
                "default": "manual",
                "choices": ["manual", "scheduled", "safety", "restore-point"],
            },
            "app_release": {"type": "str", "default": "unknown"},
            "core_tables": {
                "type": "list",
                "elements": "str",
                "default": ["users", "orders", "products"],
            },
            "jobs": {"type": "int", "default": 2},
            "compression": {"type": "int", "default": 1},
            "keep": {"type": "int", "default": 7},
            "verification": {"type": "dict"},
            "environment": {"type": "str", "default": "this environment"},
            **pgtools.CONNECTION_ARGS,
        },
        required_if=[("action", "record", ["backup_id", "verification"])],
        supports_check_mode=True,
    )
    params = module.params
    if not pgtools.HAS_PSYCOPG and params["action"] in ("create", "check"):
        module.fail_json(msg=missing_required_lib("psycopg"))
    result = {"changed": False}
    try:
        if params["action"] == "create":
            result["changed"] = True
            if not module.check_mode:
                backup, deleted, stale = _create(module, params)
                result.update(backup=backup, deleted=deleted, stale_partials_removed=stale)
                result["msg"] = f"backup {backup['id']} of {params['database']} taken"
        elif params["action"] == "check":
            backup = _check(params, dbbackup.list_backups(params["root"]))
            result["backup"] = backup
            result["msg"] = f"backup {backup['id']} is intact and restorable here"
        elif params["action"] == "record":
            metadata, path = _record(params, dbbackup.list_backups(params["root"]))
            result["changed"] = True
            if not module.check_mode:
                dbbackup.atomic_write_json(os.path.join(path, dbbackup.METADATA), metadata)
            result["backup"] = dict(metadata, path=path, verified=dbbackup.is_verified(metadata))
    except (dbbackup.BackupError, pgtools.PgToolError) as exc:
        module.fail_json(msg=str(exc), **result)
    except pgtools.DB_ERRORS as exc:
        module.fail_json(msg=f"database error: {pgtools.first_line(exc)}", **result)
    except OSError as exc:
        module.fail_json(msg=f"backup files: {exc}", exception=traceback.format_exc(), **result)
    result["backups"] = dbbackup.list_backups(params["root"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
