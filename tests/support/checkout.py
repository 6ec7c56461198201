"""Copies of the reviewed tree, as an AWX project sync or a second checkout holds it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.sandbox import REPO_ROOT, CliResult, Sandbox

# What an AWX project sync brings from the repository (the project is the collection too),
# with the policies beside their inventories.
PROJECT_CONTENT = (
    "ansible.cfg",
    "galaxy.yml",
    "meta",
    "playbooks",
    "roles",
    "plugins",
    "collections",
    "inventories",
)
# What the CLI needs beside the project: its own package and the sample app it deploys.
CLI_CONTENT = ("rollbackctl", "sample_app")


def copy_checkout(dest: Path, *extra: str) -> Path:
    """dest with the project's content (plus extra top-level names): no .venv, no .state."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in (*PROJECT_CONTENT, *extra):
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, dest / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(source, dest / name)
    return dest


def cli_from(checkout: Path, env: dict[str, str], *args: str) -> CliResult:
    """rollbackctl run from checkout: the library, and the checkout it trusts, are the copy's."""
    return Sandbox(Path(env["ROLLBACKCTL_STATE_DIR"]), checkout=checkout).cli_with(env, *args)
