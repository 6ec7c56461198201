"""checklist: the post-rollback items of a run, checked by the run or ticked by people."""

from __future__ import annotations

from typing import Any

import click

from rollbackctl.cli.common import EXIT_CODE_HELP, emit, output_option, remember_output
from rollbackctl.run import checklist as run_checklist

MARKS = {
    "passed": "PASS",
    "failed": "FAIL",
    "ticked": "done",
    "open": "open",
    "overdue": "LATE",
    "not applicable": "n/a",
}


def _text(document: dict[str, Any]) -> str:
    lines = [
        f"post-rollback checklist of run {document['run_id']} ({document['type']} on "
        f"{document['environment']}, finished {document['finished_at']}):"
    ]
    phase = None
    for row in document["items"]:
        if row["phase"] != phase:
            phase = row["phase"]
            lines.append(f"{phase} (due {row['due']}):")
        line = f"  [{MARKS[row['state']]:<4}] {row['id']:<24} {row['text']}"
        if row.get("by"):
            line += f"  ({row['by']}{', ' + row['at'] if row.get('at') else ''})"
        lines.append(line)
        if row.get("detail"):
            lines.append(f"           {row['detail']}")
    if document["overdue"]:
        lines.append(f"overdue: {', '.join(document['overdue'])}")
    return "\n".join(lines) + "\n"


@click.command(epilog=EXIT_CODE_HELP)
@click.argument("run_id")
@click.option("--tick", "item", metavar="ITEM", help="Record that you did ITEM.")
@click.option("--by", metavar="NAME", help="Who did it (with --tick).")
@click.option("--note", metavar="TEXT", help="What was done or found (with --tick; one line).")
@output_option
@remember_output
def checklist(run_id: str, item: str | None, by: str | None, note: str | None, output: str) -> None:
    """The post-rollback checklist of RUN_ID: what is done, open and overdue.

    Items the run checked itself (services, core functionality, data integrity, rows written
    after a backup) show its verdict; the rest are ticked by people with --tick ITEM --by ME.
    """
    if item is None:
        if by or note:
            raise click.UsageError("--by and --note go with --tick ITEM")
        document = run_checklist.show(run_id)
    else:
        if not by:
            raise click.UsageError("--tick needs --by NAME: who did it")
        document = run_checklist.tick(run_id, item, by, note)
    emit(document, output, _text)


def register(main: click.Group) -> None:
    main.add_command(checklist)
