"""The embedded sandbox stacks: sandbox up, down and status."""

from __future__ import annotations

from typing import Any

import click

from rollbackctl.cli.common import emit, output_option, remember_output
from rollbackctl.tools import sandbox


@click.group(name="sandbox")
def sandbox_group() -> None:
    """The embedded sandbox stack on this machine."""


def _sandbox_text(document: dict[str, Any]) -> str:
    lines = [f"sandbox: {document['state_dir']}"]
    if document["runtime"]:
        lines.append(f"  runtime   {document['runtime']}")
    if document["url"]:
        lines.append(f"  url       {document['url']}")
        db = document["database"]
        lines.append(
            f"  database  postgresql://{db['user']}@{db['host']}:{db['port']}/{db['name']}"
        )
    for name, up in sorted(document["services"].items()):
        lines.append(f"  {name:<9} {'up' if up else 'down'}")
    for name, url in sorted(document.get("monitoring", {}).items()):
        lines.append(f"  {name:<9} {url or 'down'}")
    for host, release in sorted(document["current"].items()):
        lines.append(f"  {host:<9} current {release}")
    return "\n".join(lines) + "\n"


env_option = click.option(
    "--env",
    "environment",
    type=click.Choice(sandbox.LOCAL_ENVIRONMENTS),
    default=sandbox.ENVIRONMENT,
    show_default=True,
    help="Which local stack: sandbox-guarded is a stack of its own under the production policy.",
)


@sandbox_group.command()
@env_option
@click.option(
    "--runtime",
    type=click.Choice(sandbox.RUNTIMES),
    default=None,
    help="How a new stack runs its app: service (default) under a supervisor, or container: "
    "each release's image on the local Docker engine (needs scripts/build-images.sh first). "
    "A kept stack keeps its runtime: naming another is refused until 'down --purge'.",
)
@output_option
@remember_output
def up(environment: str, runtime: str | None, output: str) -> None:
    """Start the stack and enroll its hosts.

    A new stack starts with the good release stable and the bad release current. A stack
    stopped by 'down' without --purge comes back as it was left.
    """
    emit(sandbox.up(environment, runtime), output, _sandbox_text)


@sandbox_group.command()
@env_option
@click.option(
    "--purge",
    is_flag=True,
    help="Also delete the stack's files; on the container runtime, its containers and images too.",
)
@output_option
@remember_output
def down(environment: str, purge: bool, output: str) -> None:
    """Stop the stack's processes (its hosts leave their environment first)."""
    emit(sandbox.down(environment, purge=purge), output, _sandbox_text)


@sandbox_group.command()
@env_option
@output_option
def status(environment: str, output: str) -> None:
    """Show the stack's URL, database settings and what runs."""
    emit(sandbox.status(environment), output, _sandbox_text)


def register(group: click.Group) -> None:
    group.add_command(sandbox_group)
