"""`rollbackctl infra snapshots ENV`: the snapshots an infrastructure rollback can restore."""

from __future__ import annotations

from typing import Any

import click

from rollbackctl.cli.common import EXIT_CODE_HELP, emit, output_option, remember_output
from rollbackctl.run import infra

# Read as `rollbackctl infra snapshots ENV`, beside the rollback `rollbackctl infra ENV`.
SNAPSHOTS_COMMAND = "infra-snapshots"


def _snapshots_text(document: dict[str, Any]) -> str:
    lines = [f"infrastructure snapshots of {document['environment']} (newest first):"]
    for snapshot in document["snapshots"]:
        mark = "verified" if snapshot["verified"] else "DAMAGED"
        hosts = ", ".join(sorted(snapshot["hosts"]))
        lines.append(
            f"  {snapshot['id']:<32} {snapshot['taken_at']}  {mark:<8} {hosts}: "
            f"{snapshot['reason']}"
        )
    if not document["snapshots"]:
        lines.append("  none")
    return "\n".join(lines) + "\n"


@click.command(name=SNAPSHOTS_COMMAND, epilog=EXIT_CODE_HELP)
@click.argument("environment")
@output_option
@remember_output
def snapshots(environment: str, output: str) -> None:
    """List ENVIRONMENT's infrastructure snapshots, newest first (also: infra snapshots ENV)."""
    emit(infra.list_snapshots(environment), output, _snapshots_text)


def register(main: click.Group) -> None:
    main.add_command(snapshots)
