"""Database backups: backup and backups list|verify (the restores are registered rollbacks)."""

from __future__ import annotations

from typing import Any

import click

from rollbackctl.cli.common import (
    EXIT_CODE_HELP,
    emit,
    output_option,
    remember_output,
    show_progress,
)
from rollbackctl.run import backups


def _backup_line(backup: dict[str, Any]) -> str:
    mark = "verified" if backup["verified"] else "-"
    return (
        f"  {backup['id']:<24} {backup['kind'] or '':<9} schema {backup['schema_version']!s:<4}"
        f" {mark:<9} app {backup['app_release'] or '?':<11} {backup['path']}"
    )


def _backups_text(document: dict[str, Any]) -> str:
    lines = [f"backups of {document['environment']} (newest first):"]
    lines += [_backup_line(b) for b in document["backups"]] or ["  none"]
    return "\n".join(lines) + "\n"


def _backup_taken_text(document: dict[str, Any]) -> str:
    lines = ["backup taken:", _backup_line(document["backup"])]
    lines += [f"  retention removed {victim}" for victim in document["deleted"]]
    return "\n".join(lines) + "\n"


def _verified_text(document: dict[str, Any]) -> str:
    lines = [f"backup {document['backup']} verified"]
    for item in document["checklist"]:
        lines.append(f"  [{'PASS' if item.get('ok') else 'FAIL'}] {item['name']}: {item['detail']}")
    return "\n".join(lines) + "\n"


@click.command(epilog=EXIT_CODE_HELP)
@click.argument("environment")
@click.option(
    "--kind",
    type=click.Choice(["manual", "scheduled", "safety"]),
    default="manual",
    show_default=True,
    help="Why the backup is taken; kept in its metadata.",
)
@output_option
@remember_output
def backup(environment: str, kind: str, output: str) -> None:
    """Back up ENVIRONMENT's database on its db host (dump, SHA-256 manifest, metadata)."""
    emit(
        backups.take_backup(environment, kind=kind, on_step=show_progress),
        output,
        _backup_taken_text,
    )


@click.group(name="backups")
def backups_group() -> None:
    """List and verify the database backups of an environment."""


@backups_group.command(name="list")
@click.argument("environment")
@output_option
@remember_output
def list_command(environment: str, output: str) -> None:
    """List ENVIRONMENT's backups, newest first."""
    emit(backups.list_backups(environment), output, _backups_text)


@backups_group.command(epilog=EXIT_CODE_HELP)
@click.argument("environment")
@click.argument("backup_id", metavar="[ID]", required=False)
@output_option
@remember_output
def verify(environment: str, backup_id: str | None, output: str) -> None:
    """Restore a backup (default: the newest) into a scratch database and check it."""
    emit(
        backups.verify_backup(environment, backup_id, on_step=show_progress), output, _verified_text
    )


def register(main: click.Group) -> None:
    """Add the database commands to the rollbackctl group."""
    for command in (backup, backups_group):
        main.add_command(command)
