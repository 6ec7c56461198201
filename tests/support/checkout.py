"""Copies of the reviewed tree, as an AWX project sync or a second checkout holds it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.sandbox import REPO_ROOT, CliResult, Sandbox

# What an AWX project sync brings from the repository (the project is the collection too),
# with the policies beside their inventories.
PROJECT_CONTENT = (
    "ansible.cfg",
    "awx",
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


# The link that makes a checkout its own collection: scripts/setup.sh makes it, a project sync
# does not bring it.
SELF_LINK = Path("collections/ansible_collections/rollbackctl/runbooks")


def install_collection(checkout: Path, dest: Path) -> Path:
    """The collection of checkout, built and installed under dest/collections the way
    ansible-builder installs it into an execution environment image; its installed root."""
    galaxy = str(Path(sys.executable).parent / "ansible-galaxy")
    build = dest / "build"
    subprocess.run(
        [galaxy, "collection", "build", "--output-path", str(build), str(checkout)],
        check=True,
        capture_output=True,
    )
    tarball = next(build.glob("rollbackctl-runbooks-*.tar.gz"))
    install = [galaxy, "collection", "install", "--offline", "--no-deps", "--force"]
    subprocess.run(
        [*install, "-p", str(dest / "collections"), str(tarball)],
        check=True,
        capture_output=True,
    )
    return dest / "collections" / "ansible_collections" / "rollbackctl" / "runbooks"


def cli_from(checkout: Path, env: dict[str, str], *args: str) -> CliResult:
    """rollbackctl run from checkout: the library, and the checkout it trusts, are the copy's."""
    return Sandbox(Path(env["ROLLBACKCTL_STATE_DIR"]), checkout=checkout).cli_with(env, *args)
