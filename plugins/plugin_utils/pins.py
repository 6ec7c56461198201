"""Which configuration commit pins an API version: a third-party rollback named by version.

A service's settings file (``PAYMENT_API_VERSION=2025-03-31`` and the like) is read from the
configuration repository at each candidate commit, never from a host's live file: the live
file is what went wrong.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError

# The ledgers record full ids; anything else is not read.
FULL_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def pinned_version(text: str, key: str) -> str | None:
    """The value of key in an env-style settings file, or None when it has none."""
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            return value.strip()
    return None


def read_pins(
    repo: str, path: str, key: str, commits: Sequence[str]
) -> list[tuple[str, str | None]]:
    """(commit, pinned version) for each commit, in the order given; one git process for all.

    A commit without the file, or a value that is not a full commit id, pins nothing.
    """
    wanted = [commit for commit in commits if FULL_COMMIT_ID.fullmatch(commit)]
    if not wanted:
        return []
    # --batch answers each "<commit>:<path>" with "<id> blob <size>" and the content, or
    # "<name> missing"; replace refs are ignored, as every other git call of the collection does.
    batch = subprocess.run(
        ["git", "--no-replace-objects", "-C", repo, "cat-file", "--batch"],
        input="".join(f"{commit}:{path}\n" for commit in wanted).encode(),
        capture_output=True,
        check=False,
    )
    if batch.returncode != 0:
        raise UsageError(
            f"cannot read {path} from the configuration repository {repo}: "
            f"{batch.stderr.decode(errors='replace').strip() or 'git failed'}",
            hint="clone the environment's configuration repository there (config_repo)",
        )
    out, pins = batch.stdout, []
    for commit in wanted:
        header, _newline, out = out.partition(b"\n")
        fields = header.split()
        if len(fields) != 3 or fields[1] != b"blob":
            pins.append((commit, None))
            continue
        size = int(fields[2])
        content, out = out[:size], out[size + 1 :]
        pins.append((commit, pinned_version(content.decode(errors="replace"), key)))
    return pins


def choose(pins: Sequence[tuple[str, str | None]], version: str, key: str, path: str) -> str:
    """The first (newest) commit that pins version; UsageError lists what the others pin."""
    for commit, pinned in pins:
        if pinned == version:
            return commit
    known = ", ".join(f"{pinned or 'no pin'} in {commit[:12]}" for commit, pinned in pins)
    raise UsageError(
        f"no commit stable on every host pins {key}={version} in {path} "
        f"(stable: {known or 'none'})",
        hint="name one of those versions, or a commit, with --to",
    )
