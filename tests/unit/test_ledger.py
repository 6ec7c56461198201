"""The release ledger's rules: what a rollback goes back to, and what it never picks."""

from __future__ import annotations

import json
from pathlib import Path

import ledger  # plugins/module_utils, put on sys.path by conftest
import pytest

NOW = "2026-11-28T03:00:00+00:00"


def deployed(*states: tuple[str, str], current: str | None = None) -> dict:
    book = ledger.empty()
    for release_id, state in states:
        ledger.register(book, release_id, NOW)
        ledger.mark(book, release_id, state, NOW)
    if current:
        ledger.set_current(book, current, NOW)
    return book


def test_target_is_the_newest_stable_release_other_than_current() -> None:
    book = deployed(("a", "stable"), ("b", "stable"), ("c", "deployed"), current="c")
    assert ledger.choose_target(book, "app1") == "b"


def test_bad_and_incomplete_releases_are_never_chosen() -> None:
    book = deployed(
        ("a", "stable"), ("b", "bad"), ("c", "incomplete"), ("d", "deployed"), current="d"
    )
    assert ledger.choose_target(book, "app1") == "a"


def test_order_comes_from_deploy_sequence_not_names_or_times() -> None:
    # "zeta" sorts after "alpha" and could have a newer mtime; deploy order still wins.
    book = deployed(("zeta", "stable"), ("alpha", "stable"), ("cur", "deployed"), current="cur")
    assert ledger.choose_target(book, "app1") == "alpha"


def test_named_release_is_used_when_stable() -> None:
    book = deployed(("a", "stable"), ("b", "stable"), ("c", "deployed"), current="c")
    assert ledger.choose_target(book, "app1", requested="a") == "a"


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        ("x", "unknown release x (known: a, b)"),
        ("b", "release b is already current on app1"),
    ],
)
def test_named_release_must_exist_and_differ_from_current(requested: str, message: str) -> None:
    book = deployed(("a", "stable"), ("b", "stable"), current="b")
    with pytest.raises(ledger.LedgerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ledger.choose_target(book, "app1", requested=requested)


def test_named_bad_release_is_refused() -> None:
    book = deployed(("a", "bad"), ("b", "deployed"), current="b")
    with pytest.raises(ledger.LedgerError, match="release a is bad on app1, not stable"):
        ledger.choose_target(book, "app1", requested="a")


def test_no_stable_release_other_than_current_is_an_error() -> None:
    book = deployed(("a", "stable"), current="a")
    with pytest.raises(ledger.LedgerError, match="no stable release other than current a"):
        ledger.choose_target(book, "app1")


def test_no_current_release_means_nothing_to_roll_back() -> None:
    with pytest.raises(ledger.LedgerError, match="no current release on app1"):
        ledger.choose_target(ledger.empty(), "app1")


def test_registering_twice_keeps_the_first_entry() -> None:
    book = deployed(("a", "stable"))
    assert ledger.register(book, "a", NOW) is False
    assert book["releases"]["a"]["state"] == "stable"


def test_marking_records_the_reason_in_history() -> None:
    book = deployed(("a", "deployed"))
    ledger.mark(book, "a", "bad", NOW, "rolled back to z")
    assert book["releases"]["a"]["events"][-1] == {
        "at": NOW,
        "event": "marked bad",
        "reason": "rolled back to z",
    }


def test_unknown_state_is_refused() -> None:
    with pytest.raises(ledger.LedgerError, match="unknown release state"):
        ledger.mark(deployed(("a", "stable")), "a", "great", NOW)


def test_save_keeps_the_previous_version(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.json")
    ledger.save(path, deployed(("a", "stable")))
    ledger.save(path, deployed(("a", "stable"), ("b", "deployed")))
    assert set(json.loads(Path(path + ".prev").read_text())["releases"]) == {"a"}
    assert set(ledger.load(path)["releases"]) == {"a", "b"}


def test_corrupt_ledger_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    path.write_text("{not json")
    with pytest.raises(ledger.LedgerError, match="not valid JSON"):
        ledger.load(str(path))
