# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Snapshots of a host's managed infrastructure files: taken, listed, verified and restored.

A snapshot is a folder <root>/<id>/ holding a copy of each managed file that existed, and a
manifest.json naming each file's path, owner, group, mode and SHA-256, the service that reads
it, and which services were running. It is written under a temporary name and renamed into
place, so a snapshot either is complete or does not exist. Restoring checks every copy
against its checksum before it writes anything.
"""

import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import tempfile
from datetime import UTC, datetime

MANIFEST = "manifest.json"
SNAPSHOT_FORMAT = 1
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}")
MODE_RE = re.compile(r"[0-7]{4}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")


class SnapshotError(Exception):
    """A snapshot problem worded for the operator."""


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def describe(path):
    """What a managed file is now: None when it does not exist."""
    if not os.path.isfile(path):
        return None
    info = os.stat(path)
    return {
        "mode": "%04o" % (info.st_mode & 0o7777),
        "owner": _name(pwd.getpwuid, info.st_uid),
        "group": _name(grp.getgrgid, info.st_gid),
        "sha256": sha256(path),
    }


def take(root, snapshot_id, files, running, reason, now=None):
    """Copy the managed files that exist into <root>/<snapshot_id>; return its manifest.

    files: [{"path", "service"}]; running: {service: bool}. Returns None when none of the
    files exists (nothing to keep). An id that exists already is refused: a safety copy must
    hold the files as they are now, never stand in for an older one.
    """
    _check_id(snapshot_id)
    folder = os.path.join(root, snapshot_id)
    if os.path.lexists(folder):
        raise SnapshotError(f"snapshot {snapshot_id} exists already; nothing was taken")
    entries = []
    for index, item in enumerate(files):
        state = describe(item["path"])
        entries.append(
            {
                "path": item["path"],
                "service": item["service"],
                "index": index,
                "exists": state is not None,
                **(state or {}),
            }
        )
    if not any(entry["exists"] for entry in entries):
        return None
    os.makedirs(root, mode=0o700, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{snapshot_id}-", dir=root)
    try:
        os.mkdir(os.path.join(staging, "files"))
        for entry in entries:
            if entry["exists"]:
                stored = os.path.join(staging, "files", str(entry["index"]))
                shutil.copy2(entry["path"], stored)
                if sha256(stored) != entry["sha256"]:
                    raise SnapshotError(
                        "{} changed while it was being copied; take the snapshot again".format(
                            entry["path"]
                        )
                    )
        manifest = {
            "format": SNAPSHOT_FORMAT,
            "id": snapshot_id,
            "taken_at": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "reason": reason,
            "files": entries,
            "running": dict(sorted(running.items())),
        }
        with open(os.path.join(staging, MANIFEST), "w") as handle:
            json.dump(manifest, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def load(root, snapshot_id):
    _check_id(snapshot_id)
    path = os.path.join(root, snapshot_id, MANIFEST)
    try:
        with open(path) as handle:
            manifest = json.load(handle)
    except FileNotFoundError:
        raise SnapshotError(
            f"unknown snapshot {snapshot_id}; see rollbackctl infra snapshots"
        ) from None
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"snapshot {snapshot_id} has an unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(f"snapshot {snapshot_id} has a manifest this version does not read")
    if manifest.get("id") != snapshot_id or not _entries_sound(manifest.get("files")):
        raise SnapshotError(f"snapshot {snapshot_id} has a damaged manifest; restore another one")
    return manifest


def _entries_sound(entries):
    """Every entry as take writes it: its own index, an absolute path, and when the file
    existed, a mode, an owner and a SHA-256 (restore writes and checks exactly these)."""
    if not isinstance(entries, list):
        return False
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("index") != index:
            return False
        path, service = entry.get("path"), entry.get("service")
        if not (isinstance(path, str) and os.path.isabs(path) and isinstance(service, str)):
            return False
        if entry.get("exists") is False:
            continue
        if entry.get("exists") is not True:
            return False
        texts = [entry.get(key) for key in ("mode", "sha256", "owner", "group")]
        if not all(isinstance(text, str) and text for text in texts):
            return False
        if not (MODE_RE.fullmatch(entry["mode"]) and SHA256_RE.fullmatch(entry["sha256"])):
            return False
    return True


def problems(root, manifest):
    """Why the snapshot's copies cannot be trusted; empty when every checksum matches."""
    found = []
    for entry in manifest["files"]:
        if not entry["exists"]:
            continue
        stored = os.path.join(root, manifest["id"], "files", str(entry["index"]))
        if not os.path.isfile(stored):
            found.append("the copy of {} is missing".format(entry["path"]))
        elif sha256(stored) != entry["sha256"]:
            found.append("the copy of {} does not match its checksum".format(entry["path"]))
    return found


def list_snapshots(root):
    """Every complete snapshot under root, newest first, each with verified true or false."""
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        if name.startswith(".") or not ID_RE.fullmatch(name):
            continue
        try:
            manifest = load(root, name)
        except SnapshotError:
            continue
        found.append(
            {
                "id": manifest["id"],
                "taken_at": manifest["taken_at"],
                "reason": manifest["reason"],
                "files": [e["path"] for e in manifest["files"] if e["exists"]],
                "running": manifest["running"],
                "verified": not problems(root, manifest),
            }
        )
    return sorted(found, key=lambda s: (s["taken_at"], s["id"]), reverse=True)


def differences(manifest):
    """The managed files whose content, mode or owner differ from the snapshot's."""
    changed = []
    for entry in manifest["files"]:
        now = describe(entry["path"])
        if not entry["exists"]:
            if now is not None:
                changed.append(entry)
            continue
        wanted = {key: entry[key] for key in ("mode", "owner", "group", "sha256")}
        if now != wanted:
            changed.append(entry)
    return changed


def restore(root, snapshot_id, check=False):
    """Put the snapshot's files back; return the entries that changed (or would).

    Every copy is verified first: a damaged snapshot changes nothing. Each file is written
    beside its destination and renamed over it, so a reader sees the old or the new file.
    A file the snapshot records as absent is removed.
    """
    manifest = load(root, snapshot_id)
    damaged = problems(root, manifest)
    if damaged:
        raise SnapshotError(f"snapshot {snapshot_id} is damaged: {damaged[0]}; nothing was changed")
    changed = differences(manifest)
    if check:
        return changed
    # Owners first: a restore that could not finish is refused before it writes anything.
    owners = {e["index"]: _ids(e) for e in changed if e["exists"]}
    for entry in changed:
        if not entry["exists"]:
            os.unlink(entry["path"])
            continue
        stored = os.path.join(root, snapshot_id, "files", str(entry["index"]))
        directory = os.path.dirname(entry["path"])
        handle, temporary = tempfile.mkstemp(prefix=".rollbackctl-", dir=directory)
        os.close(handle)
        try:
            shutil.copyfile(stored, temporary)
            os.chmod(temporary, int(entry["mode"], 8))
            if os.geteuid() == 0:
                os.chown(temporary, *owners[entry["index"]])
            with open(temporary, "rb") as written:
                os.fsync(written.fileno())
            os.rename(temporary, entry["path"])
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
    return changed


def _ids(entry):
    """(uid, gid) of the entry's owner and group on this host."""
    try:
        return pwd.getpwnam(entry["owner"]).pw_uid, grp.getgrnam(entry["group"]).gr_gid
    except KeyError:
        owner = f"{entry['owner']}:{entry['group']}"
        missing = f"owner {owner} of {entry['path']} no longer exists on this host"
        raise SnapshotError(missing) from None


def _check_id(snapshot_id):
    if not isinstance(snapshot_id, str) or not ID_RE.fullmatch(snapshot_id):
        raise SnapshotError(f"snapshot id {snapshot_id!r} is not a snapshot id")
