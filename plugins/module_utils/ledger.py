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


def empty():
    return {"format": LEDGER_FORMAT, "current": None, "next_seq": 1, "releases": {}}


def load(path):
    if not os.path.exists(path):
        if os.path.exists(path + ".prev"):
            raise LedgerError(
                f"release ledger {path} is missing but {path}.prev exists; restore it from "
                "the previous copy before going on"
            )
        return empty()
    try:
        with open(path) as handle:
            ledger = json.load(handle)
    except ValueError as exc:
        raise LedgerError(
            f"release ledger {path} is not valid JSON ({exc}); restore it from the "
            f"previous copy {path}.prev"
        ) from exc
    if not isinstance(ledger, dict) or ledger.get("format") != LEDGER_FORMAT:
        raise LedgerError(
            f"release ledger {path} has an unknown format; expected format {LEDGER_FORMAT}"
        )
    return ledger


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


def choose_target(ledger, host, requested=None):
    """The release a rollback goes to: the named one, or the newest stable one but current."""
    current = ledger["current"]
    if current is None:
        raise LedgerError(f"no current release on {host}; nothing to roll back")
    if requested:
        release = get(ledger, requested)
        if requested == current:
            raise LedgerError(
                f"release {requested} is already current on {host}; name another with --to"
            )
        if release["state"] != "stable":
            raise LedgerError(
                "release {} is {} on {}, not stable; pick a stable release from "
                "'rollbackctl releases ENV'".format(requested, release["state"], host)
            )
        return requested
    candidates = [
        r for r in releases_in_order(ledger) if r["state"] == "stable" and r["id"] != current
    ]
    if not candidates:
        raise LedgerError(
            f"no stable release other than current {current} on {host}; deploy a known-good "
            "release or name one with --to"
        )
    return candidates[-1]["id"]
