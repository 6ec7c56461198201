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


def test_named_release_must_exist() -> None:
    book = deployed(("a", "stable"), ("b", "stable"), current="b")
    with pytest.raises(ledger.LedgerError, match=r"unknown release x \(known: a, b\)"):
        ledger.choose_target(book, "app1", requested="x")


def test_named_stable_release_already_current_is_a_no_op() -> None:
    book = deployed(("a", "stable"), ("b", "stable"), current="b")
    assert ledger.choose_target(book, "app1", requested="b") == "b"


def test_named_release_already_current_but_not_stable_is_refused() -> None:
    book = deployed(("a", "stable"), ("b", "deployed"), current="b")
    with pytest.raises(ledger.LedgerError, match="release b is deployed on app1, not stable"):
        ledger.choose_target(book, "app1", requested="b")


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


def _write(tmp_path: Path, book: object, prev: bool = True) -> str:
    path = tmp_path / "ledger.json"
    path.write_text(json.dumps(book))
    if prev:
        (tmp_path / "ledger.json.prev").write_text(json.dumps(deployed(("a", "stable"))))
    return str(path)


def _sound() -> dict:
    return deployed(("a", "stable"), ("b", "deployed"), current="b")


def _with(**changes: object) -> dict:
    return {**_sound(), **changes}


def _release_with(**changes: object) -> dict:
    book = _sound()
    book["releases"]["b"].update(changes)
    for key, value in changes.items():
        if value is None:
            del book["releases"]["b"][key]
    return book


@pytest.mark.parametrize(
    ("book", "problem"),
    [
        (_with(releases=[{"id": "a"}]), "'releases' is a list, expected an object"),
        (_with(releases=None), "'releases' is null"),
        (_with(current=3), "'current' is a number, expected a release id or null"),
        (_with(current=["b"]), "'current' is a list"),
        (_with(current="zz"), "'current' names zz, which is not in 'releases'"),
        (_with(next_seq="3"), "'next_seq' is a string, expected an integer"),
        (_release_with(state=None), "releases['b'] has no 'state'"),
        (_release_with(seq=None), "releases['b'] has no 'seq'"),
        (_release_with(seq="2"), "releases['b'] has 'seq' a string, expected an integer"),
        (_release_with(state="great"), "releases['b'] has unknown state 'great'"),
        (_release_with(id="c"), "releases['b'] has 'id' 'c', expected 'b'"),
        (_release_with(events={}), "releases['b'] has 'events' an object, expected a list"),
        (_with(releases={"b": "deployed"}), "releases['b'] is a string, expected an object"),
    ],
    ids=[
        "releases-list",
        "releases-null",
        "current-number",
        "current-list",
        "current-unknown",
        "next-seq-string",
        "release-without-state",
        "release-without-seq",
        "seq-string",
        "unknown-state",
        "id-mismatch",
        "events-object",
        "release-not-object",
    ],
)
def test_wrong_shape_names_the_file_the_key_and_the_fix(
    tmp_path: Path, book: dict, problem: str
) -> None:
    path = _write(tmp_path, book)

    with pytest.raises(ledger.LedgerError) as caught:
        ledger.load(path)

    message = str(caught.value)
    assert message.startswith(f"release ledger {path} is corrupt: {problem}")
    assert message.endswith(f"restore it from the previous copy {path}.prev")
    assert "\n" not in message


def test_wrong_shape_without_previous_copy_says_which_key_to_fix(tmp_path: Path) -> None:
    path = _write(tmp_path, _release_with(state=None), prev=False)

    with pytest.raises(ledger.LedgerError, match=r"has no 'state'; fix that key by hand"):
        ledger.load(path)


def test_wrong_shape_names_the_host_when_given(tmp_path: Path) -> None:
    path = _write(tmp_path, _with(releases=[]))

    with pytest.raises(ledger.LedgerError, match=f"release ledger {path} on app2 is corrupt"):
        ledger.load(path, "app2")


def test_sound_ledger_loads_as_saved(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.json")
    ledger.save(path, _sound())

    assert ledger.load(path) == _sound()


def test_ledger_without_current_is_sound(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.json")
    ledger.save(path, deployed(("a", "incomplete")))

    assert ledger.load(path)["current"] is None


# --- reruns after an interrupted rollout -------------------------------------------------
GOOD, BAD = "2026.11.1", "2026.11.2"


def at(second: int) -> str:
    return f"2026-11-28T03:00:{second:02d}+00:00"


def host_on(current: str, bad_state: str = "deployed") -> dict:
    """A host that ran GOOD, then BAD; a rollback to GOOD got as far as current."""
    book = ledger.empty()
    for second, (release_id, state) in enumerate([(GOOD, "stable"), (BAD, bad_state)]):
        ledger.register(book, release_id, at(second))
        ledger.mark(book, release_id, state, at(second))
        ledger.set_current(book, release_id, at(10 + second))
    if current == GOOD:
        ledger.set_current(book, GOOD, at(30))
    return book


def test_host_already_on_named_target_is_a_no_op_while_others_move() -> None:
    assert ledger.choose_target(host_on(GOOD), "app1", GOOD, [GOOD, BAD]) == GOOD


def test_host_still_on_old_release_moves_to_named_target() -> None:
    assert ledger.choose_target(host_on(BAD), "app2", GOOD, [GOOD, BAD]) == GOOD


def test_named_target_current_on_every_host_is_a_no_op() -> None:
    assert ledger.choose_target(host_on(GOOD), "app1", GOOD, [GOOD, GOOD]) == GOOD


def test_without_to_a_fleet_on_its_only_stable_release_is_refused() -> None:
    with pytest.raises(ledger.LedgerError, match=f"no stable release other than current {GOOD}"):
        ledger.choose_target(host_on(GOOD), "app1", fleet=[GOOD, GOOD])


def test_host_on_named_target_that_is_not_stable_is_refused() -> None:
    book = host_on(GOOD)
    ledger.mark(book, GOOD, "deployed", at(40))

    with pytest.raises(ledger.LedgerError, match=f"release {GOOD} is deployed on app1"):
        ledger.choose_target(book, "app1", GOOD, [GOOD, BAD])


@pytest.mark.parametrize("bad_state", ["deployed", "bad"])
def test_without_to_hosts_on_the_stable_release_stay_and_the_rest_follow(
    bad_state: str,
) -> None:
    fleet = [GOOD, BAD]

    assert ledger.choose_target(host_on(GOOD, bad_state), "app1", fleet=fleet) == GOOD
    assert ledger.choose_target(host_on(BAD, bad_state), "app2", fleet=fleet) == GOOD


def test_without_to_host_that_never_ran_the_other_release_plans_as_before() -> None:
    # app1 reached GOOD from some other release: not the interrupted rollout from BAD.
    book = deployed(("old", "stable"), (GOOD, "stable"), (BAD, "deployed"), current=GOOD)

    assert ledger.choose_target(book, "app1", fleet=[GOOD, BAD]) == "old"


def test_without_to_three_releases_in_the_fleet_plan_as_before() -> None:
    book = host_on(BAD)

    assert ledger.choose_target(book, "app2", fleet=[GOOD, BAD, "other"]) == GOOD
    with pytest.raises(ledger.LedgerError, match="no stable release other than current"):
        ledger.choose_target(host_on(GOOD), "app1", fleet=[GOOD, BAD, "other"])


def test_previous_current_is_the_release_made_current_before_this_one() -> None:
    assert ledger.previous_current(host_on(GOOD)) == BAD
    assert ledger.previous_current(host_on(BAD)) == GOOD


def test_previous_current_is_unknown_when_two_releases_tie() -> None:
    book = host_on(GOOD)
    ledger.register(book, "x", at(1))
    book["releases"]["x"]["events"].append({"at": at(11), "event": "made current"})

    assert ledger.previous_current(book) is None
