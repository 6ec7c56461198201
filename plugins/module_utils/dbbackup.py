# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Backups on the database host: ids, SHA-256 manifests, metadata, retention, restore journal."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import secrets

METADATA = "metadata.json"
MANIFEST = "manifest.sha256"
DUMP = "dump"
# A backup is written under this prefix and renamed into place only when complete, so a
# killed pg_dump never leaves anything that looks like a backup.
PARTIAL_PREFIX = ".partial-"
OWNER_FILE = "owner.pid"
REQUIRED_METADATA = (
    "id",
    "created_at",
    "database",
    "server_version_num",
    "pg_dump_version_num",
    "schema_version",
    "row_counts",
    "format",
)
# Journal phases of a restore, in order. Before "swapping" the original database was never
# touched; from "swapped" on the restored database holds the original name.
PHASES = ("staging", "staged", "swapping", "swapped")


class BackupError(Exception):
    """A backup is missing, unknown, damaged or unusable; the message is one line."""


def now_utc():
    return datetime.datetime.now(datetime.UTC)


def new_backup_id(now=None, token=None):
    """Ids sort by creation time; the random tail keeps two backups in one second apart."""
    now = now or now_utc()
    return "{}-{}".format(now.strftime("%Y%m%dT%H%M%SZ"), token or secrets.token_hex(2))


def sha256_file(path, chunk=1024 * 1024):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _dump_files(backup_path):
    root = os.path.join(backup_path, DUMP)
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(folder, name)
            found.append(os.path.relpath(full, backup_path))
    return sorted(found)


def write_manifest(backup_path):
    """Write manifest.sha256 (sha256sum format) over every dump file; return the line count."""
    lines = [
        f"{sha256_file(os.path.join(backup_path, rel))}  {rel}\n"
        for rel in _dump_files(backup_path)
    ]
    with open(os.path.join(backup_path, MANIFEST), "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    return len(lines)


def check_manifest(backup_path):
    """Problems found comparing the dump files with the manifest; empty means intact."""
    path = os.path.join(backup_path, MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return [f"manifest {MANIFEST} is missing"]
    expected = {}
    for number, line in enumerate(text.splitlines(), start=1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64:
            return [f"manifest line {number} is malformed"]
        expected[rel] = digest
    if not expected:
        return ["manifest lists no files"]
    problems = []
    present = set(_dump_files(backup_path))
    for rel, digest in sorted(expected.items()):
        full = os.path.join(backup_path, rel)
        if rel not in present:
            problems.append(f"{rel} is missing")
        elif sha256_file(full) != digest:
            problems.append(f"{rel} does not match its SHA-256")
    problems.extend(f"{rel} is not in the manifest" for rel in sorted(present - set(expected)))
    return problems


def atomic_write_json(path, data):
    """Write via a temporary file and rename, so readers see the old or the new file whole."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load_metadata(backup_path):
    try:
        with open(os.path.join(backup_path, METADATA), encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise BackupError(f"{backup_path} has no readable {METADATA}") from exc
    except ValueError as exc:
        raise BackupError(f"{backup_path}/{METADATA} is not valid JSON") from exc
    if not isinstance(data, dict):
        raise BackupError(f"{backup_path}/{METADATA} is not a JSON object")
    return data


def metadata_problems(metadata, backup_id, database):
    """What makes this metadata unusable for restoring backup_id of database."""
    problems = [f"metadata lacks {k}" for k in REQUIRED_METADATA if k not in metadata]
    if problems:
        return problems
    if metadata["id"] != backup_id:
        problems.append(
            "metadata says id {} but the folder is {}".format(metadata["id"], backup_id)
        )
    if metadata["database"] != database:
        problems.append("backup is of database {}, not {}".format(metadata["database"], database))
    if metadata["format"] != "directory":
        problems.append("backup format {} is not supported".format(metadata["format"]))
    return problems


def is_verified(metadata):
    verification = metadata.get("verification") or {}
    return verification.get("ok") is True


def list_backups(root):
    """Complete backups under root, newest first, each its metadata plus path and verified."""
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if name.startswith(".") or not os.path.isdir(path):
            continue
        try:
            metadata = load_metadata(path)
        except BackupError:
            continue
        found.append(dict(metadata, id=name, path=path, verified=is_verified(metadata)))
    return sorted(found, key=lambda b: b["id"], reverse=True)


def choose_backup(backups, backup_id=None, latest_verified=False, environment="this environment"):
    """The backup to restore: the named one, or the newest verified one."""
    if backup_id:
        for backup in backups:
            if backup["id"] == backup_id:
                return backup
        known = ", ".join(b["id"] for b in backups[:3]) or "none"
        raise BackupError(
            f"unknown backup {backup_id} in {environment} (newest: {known}); "
            "see 'rollbackctl backups list'"
        )
    if not backups:
        raise BackupError(f"no backup of {environment} exists; take one with 'rollbackctl backup'")
    if latest_verified:
        verified = [b for b in backups if b.get("verified")]
        if not verified:
            raise BackupError(
                f"no verified backup of {environment}; "
                "run 'rollbackctl backups verify' or pass --backup"
            )
        return verified[0]
    return backups[0]


def retention_victims(backups, keep):
    """Ids to delete: beyond the newest `keep`, sparing the newest verified backup."""
    if keep < 1:
        raise BackupError(f"retention must keep at least 1 backup, not {keep}")
    ordered = sorted(backups, key=lambda b: b["id"], reverse=True)
    verified = [b["id"] for b in ordered if b.get("verified")]
    spare = verified[0] if verified else None
    return [b["id"] for b in ordered[keep:] if b["id"] != spare]


def version_problem(metadata, server_version_num, restore_tool_version_num):
    """Why this backup cannot be restored on that server with that pg_restore, or None."""
    backup_major = int(metadata["server_version_num"]) // 10000
    dump_major = int(metadata["pg_dump_version_num"]) // 10000
    server_major = int(server_version_num) // 10000
    tool_major = int(restore_tool_version_num) // 10000
    if server_major < backup_major:
        return (
            f"backup comes from PostgreSQL {backup_major} but the server runs {server_major}; "
            f"restore on {backup_major} or newer"
        )
    if tool_major < dump_major:
        return (
            f"backup was dumped by pg_dump {dump_major} but pg_restore is {tool_major}; "
            f"use client {dump_major} or newer"
        )
    return None


def parse_version_num(text):
    """'pg_restore (PostgreSQL) 15.18 (Debian ...)' -> 150018."""
    for word in text.split():
        parts = word.split(".")
        if parts[0].isdigit() and len(parts) >= 2 and parts[1].isdigit():
            return int(parts[0]) * 10000 + int(parts[1])
    raise BackupError(f"cannot read a version from {text.strip()!r}")


def load_journal(path):
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BackupError(
            f"restore journal {path} is unreadable; inspect it, then remove it"
        ) from exc
    if not isinstance(data, dict) or data.get("phase") not in PHASES:
        raise BackupError(f"restore journal {path} is malformed; inspect it, then remove it")
    return data


def resume_plan(journal, backup_id, databases):
    """Decide how a restore starts given an unfinished journal and the databases that exist.

    Returns (mode, drop): mode is "fresh", "staged" (restore done and checked, swap pending) or
    "swapped" (nothing left but verification); drop lists staging databases to remove first.
    The catalog is the truth about the swap; the journal only says which names to look for.
    """
    if not journal:
        return "fresh", []
    staging, previous = journal["staging"], journal["previous"]
    swapped = previous in databases and staging not in databases
    if journal["backup_id"] == backup_id:
        if swapped:
            return "swapped", []
        if journal["phase"] in ("staged", "swapping") and staging in databases:
            return "staged", []
    if swapped:
        # A different backup was swapped in earlier and that run only missed its verification:
        # its restore is complete, so a new one starts from the current state.
        return "fresh", []
    return "fresh", [staging] if staging in databases else []


def staging_names(database, stamp):
    """Names of the staging copy and of the kept previous database for one restore."""
    return f"{database}_restore_{stamp}", f"{database}_pre_{stamp}"


def restore_stamp(now=None):
    return (now or now_utc()).strftime("%Y%m%d_%H%M%S")
