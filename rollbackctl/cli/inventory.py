"""Environments and what runs on them: envs and releases."""

from __future__ import annotations

from typing import Any

import click

from rollbackctl.cli.common import emit, output_option, remember_output
from rollbackctl.run.environments import list_environments
from rollbackctl.run.releases import list_releases


@click.command()
@output_option
def envs(output: str) -> None:
    """List environments (inventories/<name>/hosts.yml)."""
    names = list_environments()
    emit({"environments": names}, output, lambda d: "".join(f"{n}\n" for n in d["environments"]))


def _releases_text(document: dict[str, Any]) -> str:
    lines = []
    for host, ledger in sorted(document["hosts"].items()):
        lines.append(f"{host}:")
        for release in reversed(ledger["releases"]):
            marker = "*" if release["current"] else " "
            lines.append(f"  {marker} {release['id']:<14} {release['state']}")
    return "\n".join(lines) + "\n"


@click.command()
@click.argument("environment")
@output_option
@remember_output
def releases(environment: str, output: str) -> None:
    """List each app host's releases, newest first; * marks the current one."""
    emit(list_releases(environment), output, _releases_text)


def register(group: click.Group) -> None:
    for command in (envs, releases):
        group.add_command(command)
