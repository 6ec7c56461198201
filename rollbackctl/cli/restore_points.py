"""`rollbackctl restore-points ENV`: what a verified deploy left together, newest first."""

from __future__ import annotations

from typing import Any

import click

from rollbackctl.cli.common import EXIT_CODE_HELP, emit, output_option, remember_output
from rollbackctl.run import restore_points


def _points_text(document: dict[str, Any]) -> str:
    lines = [f"restore points of {document['environment']} (newest first):"]
    for point in document["restore_points"]:
        mark = "complete" if point["complete"] else "INCOMPLETE"
        config = str(point.get("config_commit") or "-")[:12]
        lines.append(
            f"  {point['id']:<36} {point.get('created_at', '')}  {mark:<10} release "
            f"{point.get('release')}, config {config}, backup {point.get('backup')}"
        )
        lines += [f"      missing: {problem}" for problem in point["missing"]]
    if not document["restore_points"]:
        lines.append("  none (a deploy whose checklist passes records one)")
    return "\n".join(lines) + "\n"


@click.command(name="restore-points", epilog=EXIT_CODE_HELP)
@click.argument("environment")
@output_option
@remember_output
def list_points(environment: str, output: str) -> None:
    """List ENVIRONMENT's restore points, newest first: release, configuration commit,
    infrastructure snapshot and database backup of each verified deploy."""
    emit(restore_points.list_restore_points(environment), output, _points_text)


def register(main: click.Group) -> None:
    main.add_command(list_points)
