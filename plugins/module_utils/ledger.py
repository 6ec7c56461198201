# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""The release ledger kept on every app host: which release is current, stable, bad or incomplete.

The ledger, never directory modification times, decides what a rollback goes back to: an
unfinished release directory is newer than the last good one, and picking it by mtime is the
classic way a rollback lands on something broken.
"""

import json
import os
import shutil
import tempfile

LEDGER_FORMAT = 1
STATES = ("incomplete", "deployed", "stable", "bad")


class LedgerError(Exception):
    """A ledger problem worded for the operator."""


# The same ledger records the configuration commits applied to a host (`rollbackctl config`):
# its messages then speak of commits, and point at the repository's history.
KINDS = {
    "release": (),
    "configuration": (
        ("release ledger", "configuration ledger"),
        ("'rollbackctl releases ENV'", "the configuration repository's 'git log'"),
        ("releases", "configuration commits"),
        ("release", "configuration commit"),
    ),
}


def worded_for(kind, message):
    """message as the ledger of kind says it."""
    for old, new in KINDS[kind]:
        message = message.replace(old, new)
    return message


def empty():
    return {"format": LEDGER_FORMAT, "current": None, "next_seq": 1, "releases": {}}


def load(path, host=None):
    """The ledger at path, checked for the shape every reader relies on."""
    where = f"{path} on {host}" if host else path
    if not os.path.exists(path):
        if os.path.exists(path + ".prev"):
            raise LedgerError(
                f"release ledger {where} is missing but {path}.prev exists; restore it from "
                "the previous copy before going on"
            )
        return empty()
    try:
        with open(path) as handle:
            ledger = json.load(handle)
    except ValueError as exc:
        raise LedgerError(
            f"release ledger {where} is not valid JSON ({exc}); restore it from the "
            f"previous copy {path}.prev"
        ) from exc
    if not isinstance(ledger, dict) or ledger.get("format") != LEDGER_FORMAT:
        raise LedgerError(
            f"release ledger {where} has an unknown format; expected format {LEDGER_FORMAT}"
        )
    problem = shape_problem(ledger)
    if problem:
        fix = (
            f"restore it from the previous copy {path}.prev"
            if os.path.exists(path + ".prev")
            else f"fix that key by hand (no previous copy {path}.prev)"
        )
        raise LedgerError(f"release ledger {where} is corrupt: {problem}; {fix}")
    return ledger


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def shape_problem(ledger):
    """What is wrong with a format-1 ledger's shape, naming the key; None when it is sound.

    Valid JSON of the wrong shape would otherwise surface far away, as an attribute or
    template error that names neither the file nor the fix.
    """
    releases = ledger.get("releases")
    if not isinstance(releases, dict):
        return f"'releases' is {_kind(releases)}, expected an object of release id -> entry"
    current = ledger.get("current")
    if current is not None and not isinstance(current, str):
        return f"'current' is {_kind(current)}, expected a release id or null"
    if current is not None and current not in releases:
        return f"'current' names {current}, which is not in 'releases'"
    if not _is_int(ledger.get("next_seq")):
        return "'next_seq' is {}, expected an integer".format(_kind(ledger.get("next_seq")))
    for release_id, release in releases.items():
        key = f"releases[{release_id!r}]"
        if not isinstance(release, dict):
            return f"{key} is {_kind(release)}, expected an object"
        if release.get("id") != release_id:
            return f"{key} has 'id' {release.get('id')!r}, expected {release_id!r}"
        if "state" not in release:
            return f"{key} has no 'state'"
        if release["state"] not in STATES:
            return "{} has unknown state {!r}, expected one of {}".format(
                key, release["state"], ", ".join(STATES)
            )
        if "seq" not in release:
            return f"{key} has no 'seq'"
        if not _is_int(release["seq"]):
            return f"{key} has 'seq' {_kind(release['seq'])}, expected an integer"
        if not isinstance(release.get("events", []), list):
            return f"{key} has 'events' {_kind(release['events'])}, expected a list"
    return None


def _kind(value):
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def save(path, ledger):
    """Write atomically and keep the previous version beside it, so a crash never loses both."""
    directory = os.path.dirname(path) or "."
    handle, tmp = tempfile.mkstemp(prefix=".ledger-", dir=directory)
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(ledger, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        if os.path.exists(path):
            # Copy, not rename: the ledger must exist at every instant, or a reader in
            # between would see an empty ledger and lose the history.
            shutil.copy2(path, path + ".prev")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def releases_in_order(ledger):
    """Releases oldest first, ordered by deploy sequence."""
    return sorted(ledger["releases"].values(), key=lambda release: release["seq"])


def _event(release, now, what, reason=None):
    entry = {"at": now, "event": what}
    if reason:
        entry["reason"] = reason
    release.setdefault("events", []).append(entry)


def register(ledger, release_id, now):
    """Record that release_id is being deployed; it stays incomplete until complete() runs."""
    if release_id in ledger["releases"]:
        return False
    ledger["releases"][release_id] = {
        "id": release_id,
        "state": "incomplete",
        "seq": ledger["next_seq"],
        "deployed_at": now,
    }
    ledger["next_seq"] += 1
    _event(ledger["releases"][release_id], now, "registered")
    return True


def mark(ledger, release_id, state, now, reason=None):
    if state not in STATES:
        raise LedgerError(
            "unknown release state {!r}; use one of {}".format(state, ", ".join(STATES))
        )
    release = get(ledger, release_id)
    if release["state"] == state:
        return False
    _event(release, now, f"marked {state}", reason)
    release["state"] = state
    return True


def set_current(ledger, release_id, now):
    release = get(ledger, release_id)
    if ledger["current"] == release_id:
        return False
    ledger["current"] = release_id
    _event(release, now, "made current")
    return True


def get(ledger, release_id):
    try:
        return ledger["releases"][release_id]
    except KeyError:
        known = ", ".join(r["id"] for r in releases_in_order(ledger)) or "none"
        raise LedgerError(
            f"unknown release {release_id} (known: {known}); run 'rollbackctl releases ENV' to "
            "list them"
        ) from None


def previous_current(ledger):
    """The release this host ran before its current one, from the "made current" events.

    None when the history cannot tell (no such event, or two releases made current in the
    same second).
    """
    latest = {}
    for release in ledger["releases"].values():
        if release["id"] == ledger["current"]:
            continue
        times = [
            event.get("at")
            for event in release.get("events", [])
            if isinstance(event, dict) and event.get("event") == "made current"
        ]
        times = [at for at in times if isinstance(at, str)]
        if times:
            latest[release["id"]] = max(times)
    if not latest:
        return None
    newest = max(latest.values())
    ids = [release_id for release_id, at in latest.items() if at == newest]
    return ids[0] if len(ids) == 1 else None


def choose_target(ledger, host, requested=None, fleet=()):
    """The release a rollback goes to: the named one, or the newest stable one but current.

    fleet holds the current release of every app host in the run. A named stable release a
    host already runs is planned as a no-op for that host (target == current): a rerun after
    an interrupted rollout moves only the hosts left behind, and a rerun on a fleet that is
    already back on the named release changes nothing, so "ensure release X" is idempotent.
    Without a name the target must differ from current, or there is nothing to go back to.
    """
    current = ledger["current"]
    if current is None:
        raise LedgerError(f"no current release on {host}; nothing to roll back")
    elsewhere = {release for release in fleet if release and release != current}
    if requested:
        release = get(ledger, requested)
        if release["state"] != "stable":
            raise LedgerError(
                "release {} is {} on {}, not stable; pick a stable release from "
                "'rollbackctl releases ENV'".format(requested, release["state"], host)
            )
        return requested
    converged = _interrupted_rollout_target(ledger, elsewhere)
    if converged:
        return converged
    candidates = [
        r for r in releases_in_order(ledger) if r["state"] == "stable" and r["id"] != current
    ]
    if not candidates:
        raise LedgerError(
            f"no stable release other than current {current} on {host}; deploy a known-good "
            "release or name one with --to"
        )
    return candidates[-1]["id"]


def _interrupted_rollout_target(ledger, elsewhere):
    """The stable release an interrupted rollout left part of the fleet on, else None.

    The fleet runs exactly two releases: stable X (where the rollout got to) and Y, the
    deployed or bad release the X hosts ran before it. Hosts on X stay; hosts on Y go to X.
    """
    if len(elsewhere) != 1:
        return None
    (other,) = elsewhere
    current = ledger["releases"][ledger["current"]]
    theirs = ledger["releases"].get(other)
    if theirs is None:
        return None
    if current["state"] == "stable" and theirs["state"] in ("deployed", "bad"):
        # This host made it to X; the others are still on what it ran before.
        return current["id"] if previous_current(ledger) == other else None
    if theirs["state"] == "stable" and current["state"] in ("deployed", "bad"):
        return other
    return None
