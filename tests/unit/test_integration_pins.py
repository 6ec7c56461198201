"""A third-party rollback named by API version: which commit pins it, read from git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import pins
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError

PATH = "integrations/payment.env"
KEY = "PAYMENT_API_VERSION"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, list[str]]:
    """A repository whose payment pin went 2024-06-20, 2025-03-31, (no file), 2025-03-31 again
    with another endpoint; the commits newest first."""
    repo = tmp_path / "config"
    repo.mkdir()
    git(repo, "init", "-q")
    first = commit(repo, {PATH: f"{KEY}=2024-06-20\n"}, "first")
    second = commit(repo, {PATH: f"# pinned\n{KEY} = 2025-03-31 \nPAYMENT_ENDPOINT=a\n"}, "b")
    git(repo, "rm", "-q", PATH)
    third = commit(repo, {"app.env": "X=1\n"}, "no payment file")
    fourth = commit(repo, {PATH: f"{KEY}=2025-03-31\nPAYMENT_ENDPOINT=b\n"}, "d")
    return repo, [fourth, third, second, first]


def test_the_newest_commit_that_pins_the_version_is_chosen(
    history: tuple[Path, list[str]],
) -> None:
    repo, commits = history
    found = pins.read_pins(str(repo), PATH, KEY, commits)
    assert found == [
        (commits[0], "2025-03-31"),
        (commits[1], None),
        (commits[2], "2025-03-31"),
        (commits[3], "2024-06-20"),
    ]
    assert pins.choose(found, "2025-03-31", KEY, PATH) == commits[0]
    assert pins.choose(found[1:], "2025-03-31", KEY, PATH) == commits[2]
    assert pins.choose(found, "2024-06-20", KEY, PATH) == commits[3]


def test_a_version_no_commit_pins_is_refused_naming_what_they_pin(
    history: tuple[Path, list[str]],
) -> None:
    repo, commits = history
    found = pins.read_pins(str(repo), PATH, KEY, commits[1:])
    with pytest.raises(UsageError) as refused:
        pins.choose(found, "2019-01-01", KEY, PATH)
    message = refused.value.one_line()
    assert f"no commit stable on every host pins {KEY}=2019-01-01 in {PATH}" in message
    assert f"no pin in {commits[1][:12]}, 2025-03-31 in {commits[2][:12]}" in message
    assert "name one of those versions, or a commit, with --to" in message


def test_only_full_commit_ids_are_read(history: tuple[Path, list[str]]) -> None:
    repo, commits = history
    assert pins.read_pins(str(repo), PATH, KEY, ["HEAD", commits[0][:12], "--all"]) == []
    assert pins.read_pins(str(repo), PATH, KEY, ["0" * 40]) == [("0" * 40, None)]


def test_a_missing_repository_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as refused:
        pins.read_pins(str(tmp_path / "none"), PATH, KEY, ["a" * 40])
    message = refused.value.one_line()
    assert f"cannot read {PATH} from the configuration repository {tmp_path / 'none'}" in message
    assert "clone the environment's configuration repository there" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{KEY}=v3\n", "v3"),
        (f"OTHER_{KEY}=v1\n{KEY}=v2\n", "v2"),
        ("# nothing\n", None),
        (f"{KEY}\n", None),
    ],
)
def test_the_pin_is_the_key_s_own_line(text: str, expected: str | None) -> None:
    assert pins.pinned_version(text, KEY) == expected
