# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""What a database kept from before a restore holds that the restored database does not.

Each table is read from both databases as (primary key, row hash) pairs ordered by the key,
and the two streams are merged: memory stays constant whatever the size. The key is a tuple
of the primary key's values, ordered by the database the way Python orders them (numbers,
times and UUIDs by value, anything else as text in byte order).
A key only in the kept database is a row written after the backup; the same key with another
hash is a row changed after it; a key only in the restored database is a row deleted after
it, which the restore brought back.
"""

import json

SAMPLE_KEYS = 20


def empty_table_diff(table):
    return {
        "table": table,
        "only_in_previous": 0,
        "changed": 0,
        "only_in_restored": 0,
        "only_in_previous_keys": [],
        "changed_keys": [],
        "only_in_restored_keys": [],
    }


def _printable(value):
    """A key value as text a terminal shows as it is: anything else escaped."""
    text = str(value)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def key_text(key):
    """A key as the operator reads it: the value, or a composite key's values as a JSON list
    (so "a,b" + "c" and "a" + "b,c" do not read the same)."""
    if isinstance(key, tuple) and len(key) == 1:
        key = key[0]
    if isinstance(key, tuple):
        return json.dumps([_printable(value) for value in key])
    return _printable(key)


def _count(result, kind, key, sample):
    result[kind] += 1
    keys = result[f"{kind}_keys"]
    if len(keys) < sample:
        keys.append(key_text(key))


def merge(table, previous, restored, sample=SAMPLE_KEYS):
    """Compare two iterables of (key, row_hash), each ordered by key as Python orders keys;
    the table's diff."""
    result = empty_table_diff(table)
    previous, restored = iter(previous), iter(restored)
    old, new = next(previous, None), next(restored, None)
    while old is not None or new is not None:
        if new is None or (old is not None and old[0] < new[0]):
            _count(result, "only_in_previous", old[0], sample)
            old = next(previous, None)
        elif old is None or new[0] < old[0]:
            _count(result, "only_in_restored", new[0], sample)
            new = next(restored, None)
        else:
            if old[1] != new[1]:
                _count(result, "changed", old[0], sample)
            old, new = next(previous, None), next(restored, None)
    return result


def written_after_backup(diff):
    """Rows the kept database holds that the restored one lacks: added or changed since."""
    return diff["only_in_previous"] + diff["changed"]


def summary(diffs, previous):
    """One line for the operator: what only the kept database has, table by table."""
    parts = []
    for diff in diffs:
        if diff.get("problem"):
            parts.append(f"{diff['table']}: {diff['problem']}")
        elif written_after_backup(diff):
            keys = diff["only_in_previous_keys"] + diff["changed_keys"]
            shown = ", ".join(keys[:5]) + (", ..." if written_after_backup(diff) > 5 else "")
            parts.append(
                f"{diff['table']}: {diff['only_in_previous']} added and {diff['changed']} "
                f"changed since the backup (keys {shown})"
            )
    compared = ", ".join(d["table"] for d in diffs if not d.get("problem"))
    if not parts:
        return f"{previous} holds no row that the restored database lacks (in {compared})"
    return f"only in {previous}: " + "; ".join(parts)
