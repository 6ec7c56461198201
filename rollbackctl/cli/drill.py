"""Drill commands: run molecule drill scenarios and show which drills the schedule says are due."""

from __future__ import annotations

import getpass
from typing import Any

import click

from rollbackctl.cli.common import EXIT_CODE_HELP, emit, output_option, remember_output
from rollbackctl.tools import drills


def _status_text(document: dict[str, Any]) -> str:
    lines = [f"drill schedule at {document['now']}:"]
    for drill in document["drills"]:
        if drill["state"] == "ok":
            when = f"passed {drill['last_passed_at']}; next due {drill['due_at']}"
        elif drill["state"] == "due":
            when = f"passed {drill['last_passed_at']}; DUE since {drill['due_at']}"
        else:
            when = "never passed; DUE"
        if drill["scenarios"]:
            how = f"rollbackctl drill run {' '.join(drill['scenarios'])}"
        else:
            how = f"by hand, then: rollbackctl drill record {drill['kind']} --passed --note ..."
        lines.append(f"  {drill['kind']:<18} {drill['schedule']}")
        lines.append(f"  {'':<18} {when}")
        lines.append(f"  {'':<18} {how}")
    lines.append("due now: " + (", ".join(document["due"]) or "nothing"))
    return "\n".join(lines) + "\n"


def _run_text(document: dict[str, Any]) -> str:
    lines = []
    for entry in document["drills"]:
        where = f" at {entry['failed_action']}" if entry["failed_action"] else ""
        lines.append(
            f"  {entry['outcome'].upper():<7} {entry['scenario']:<20} {entry['duration_s']:>7.1f}s"
            f"{where}"
        )
    lines.append(f"logs: {document['logs']}")
    return "\n".join(lines) + "\n" + _status_text(document["schedule"])


def show_progress(line: str) -> None:
    # Molecule's per-action lines are the steps an operator follows; the rest is in the log.
    match = drills.ACTION_LINE.search(line)
    if match:
        click.echo(
            f"  {match['result'].lower():<11} {match['scenario']:<20} {match['action']}", err=True
        )


def _outcome(outcome: drills.DrillOutcome) -> None:
    verdict = "passed" if outcome.passed else f"FAILED at {outcome.failed_action}"
    click.echo(f"drill {outcome.scenario}: {verdict} in {outcome.duration_s}s", err=True)


@click.group(name="drill")
def drill_group() -> None:
    """Rollback drills: molecule scenarios on a local Docker engine, and their schedule."""


@drill_group.command(
    name="run",
    epilog=EXIT_CODE_HELP,
    help=(
        "Run drill SCENARIOs (molecule test each) and record the outcomes in the drill history."
        f"\n\nScenarios: {', '.join(drills.SCENARIOS)}, or {drills.ALL}."
    ),
)
@click.argument("scenarios", nargs=-1, required=True, metavar=f"SCENARIO...|{drills.ALL}")
@click.option(
    "--no-build",
    is_flag=True,
    help="Skip the engine bootstrap (scripts/build-images.sh) before the drills.",
)
@output_option
@remember_output
def run(scenarios: tuple[str, ...], no_build: bool, output: str) -> None:
    drills.resolve(scenarios)
    document = drills.run(scenarios, build=not no_build, on_line=show_progress, on_outcome=_outcome)
    emit(document, output, _run_text)
    drills.raise_if_failed(document)


@drill_group.command(name="status")
@output_option
def status(output: str) -> None:
    """Show which drills are due: monthly app, quarterly database, twice-yearly full, yearly DR."""
    emit(drills.status(), output, _status_text)


@drill_group.command(name="record")
@click.argument("kind", type=click.Choice([k.name for k in drills.SCHEDULE]))
@click.option("--passed/--failed", required=True, help="How the drill went.")
@click.option("--note", required=True, help="What was exercised, where, and by whom.")
@output_option
def record(kind: str, passed: bool, note: str, output: str) -> None:
    """Record a drill run by hand, such as a disaster-recovery exercise."""
    document = drills.record_manual(kind, passed=passed, note=note, by=getpass.getuser())
    emit(document, output, lambda d: _status_text(d["schedule"]))


def register(main: click.Group) -> None:
    main.add_command(drill_group)
