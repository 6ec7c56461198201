"""Merging the kept and the restored database's (key, row hash) streams."""

from __future__ import annotations

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.module_utils import dbdiff


def test_rows_added_changed_and_deleted_after_the_backup_are_told_apart() -> None:
    kept = [("1", "a"), ("10", "b"), ("2", "c"), ("4", "d")]  # byte order: "10" before "2"
    restored = [("1", "a"), ("2", "x"), ("3", "e"), ("4", "d")]

    diff = dbdiff.merge("orders", kept, restored)

    assert (diff["only_in_previous"], diff["changed"], diff["only_in_restored"]) == (1, 1, 1)
    assert diff["only_in_previous_keys"] == ["10"]
    assert diff["changed_keys"] == ["2"]
    assert diff["only_in_restored_keys"] == ["3"]
    assert dbdiff.written_after_backup(diff) == 2


def test_either_side_empty_and_keys_sampled() -> None:
    kept = [(f"{n:03}", "h") for n in range(30)]

    gone = dbdiff.merge("users", kept, [], sample=5)
    back = dbdiff.merge("users", [], kept, sample=5)

    assert gone["only_in_previous"] == 30 and gone["only_in_previous_keys"] == [
        "000",
        "001",
        "002",
        "003",
        "004",
    ]
    assert back["only_in_restored"] == 30 and back["only_in_previous"] == 0


def test_summary_names_only_what_the_kept_database_alone_holds() -> None:
    same = dbdiff.merge("users", [("1", "a")], [("1", "a")])
    added = dbdiff.merge("orders", [("7", "a"), ("8", "b")], [("7", "a")])
    missing = {**dbdiff.empty_table_diff("products"), "problem": "no table products in market"}

    assert dbdiff.summary([same], "market_pre_x") == (
        "market_pre_x holds no row that the restored database lacks (in users)"
    )
    assert dbdiff.summary([same, added, missing], "market_pre_x") == (
        "only in market_pre_x: orders: 1 added and 0 changed since the backup (keys 8); "
        "products: no table products in market"
    )


def test_keys_read_as_they_are_and_composite_keys_cannot_be_confused() -> None:
    diff = dbdiff.merge("t", [((1,), "a"), ((2,), "b")], [((1,), "a")])
    first = dbdiff.merge("t", [(("a,b", "c"), "h")], [])
    second = dbdiff.merge("t", [(("a", "b,c"), "h")], [])
    hostile = dbdiff.merge("t", [(("x\u202e\n",), "h")], [])

    assert diff["only_in_previous_keys"] == ["2"]
    assert first["only_in_previous_keys"] != second["only_in_previous_keys"]
    assert hostile["only_in_previous_keys"] == ["x\\u202e\\n"]


def test_keys_python_cannot_order_raise_for_the_module_to_report() -> None:
    with pytest.raises(TypeError):
        dbdiff.merge("t", [((1,), "a")], [(("1",), "a")])
