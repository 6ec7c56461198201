"""db-diff: the rows a database rollback's kept database holds that the restored one lacks."""

from __future__ import annotations

from typing import Any

import click

from rollbackctl.cli.common import EXIT_CODE_HELP, emit, output_option, remember_output
from rollbackctl.run.dbdiff import kept_vs_restored


def _table_line(table: dict[str, Any]) -> str:
    if table.get("problem"):
        return f"  {table['table']:<12} not compared: {table['problem']}"
    line = (
        f"  {table['table']:<12} {table['only_in_previous']:>7} added  {table['changed']:>7} "
        f"changed  {table['only_in_restored']:>7} deleted since the backup"
    )
    keys = table["only_in_previous_keys"] + table["changed_keys"]
    return line + (f"\n               keys: {', '.join(keys)}" if keys else "")


def _text(document: dict[str, Any]) -> str:
    if not document.get("compared", True):
        return (
            f"run {document['run_id']}: {document['previous']} was not compared with the "
            f"restored {document['restored']}: {document['summary']}\n"
        )
    lines = [
        f"run {document['run_id']} ({document['type']}, backup {document['backup'] or '?'}): "
        f"{document['written_after_backup']} rows only in {document['previous']}, "
        f"kept beside the restored {document['restored']}"
    ]
    lines += [_table_line(table) for table in document["tables"]]
    return "\n".join(lines) + "\n"


@click.command(name="db-diff", epilog=EXIT_CODE_HELP)
@click.argument("environment")
@click.argument("run_id")
@output_option
@remember_output
def db_diff(environment: str, run_id: str, output: str) -> None:
    """Rows that ENVIRONMENT's database kept by run RUN_ID holds and the restored one lacks.

    Read from the run's record: per core table, the rows added, changed or deleted after the
    backup was taken, with their first keys, so no order written after it is forgotten.
    """
    emit(kept_vs_restored(environment, run_id), output, _text)


def register(main: click.Group) -> None:
    main.add_command(db_diff)
