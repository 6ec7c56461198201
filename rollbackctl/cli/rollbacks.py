"""The rollback commands, one per type of the collection's registry (meta/rollbacks.yml).

Each command's arguments and flags are the registry entry's: adding a type to the registry
adds its command, with the same confirmation, check mode, approvals and output as the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import registry
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import (
    RUN_INPUTS,
    SECONDS_RANGE,
)

from rollbackctl.cli.common import (
    EXIT_CODE_HELP,
    confirm_and_run,
    emit,
    guard_options,
    output_option,
    remember_output,
    show_progress,
    trigger_options,
)
from rollbackctl.run.report import render_text
from rollbackctl.run.rollback import run_rollback

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def run_registered(
    entry: registry.RollbackType,
    environment: str,
    *,
    output: str,
    target: str | None = None,
    check: bool = False,
    yes: bool = False,
    approvals: tuple[str, ...] = (),
    break_glass: bool = False,
    key: str | None = None,
    reason: str | None = None,
    note: str | None = None,
    **given: Any,
) -> None:
    """Run one registered type with the values its own arguments and flags were given."""
    inputs: dict[str, Any] = {arg.input: given[arg.name] for arg in entry.arguments}
    for option in entry.options:
        value = given.get(option.param)
        if value is None or value is False:
            continue
        if option.conflicts == "target" and target and entry.target:
            raise click.UsageError(f"pass {entry.target.option} or {option.flag}, not both")
        if option.input:
            # A flag sets its input to true; an option with a value passes the value.
            inputs[option.input] = value

    def run(to: str | None, plan_only: bool) -> dict[str, Any]:
        return run_rollback(
            entry.name,
            environment,
            target=to,
            check=plan_only,
            on_step=show_progress,
            inputs=inputs,
            approvals=approvals,
            break_glass=break_glass,
            key=key,
            reason=reason,
            note=note,
        )

    if entry.confirm:
        result = confirm_and_run(
            run,
            what=f"{entry.name} rollback on {environment}",
            target=target,
            check=check,
            yes=yes,
            render=render_text,
        )
    else:
        result = run(target, False)
    emit(result, output, render_text)


def _parameters(entry: registry.RollbackType) -> list[Decorator]:
    """The command's parameters, in the order --help shows them."""
    params: list[Decorator] = [click.argument("environment")]
    params += [
        click.argument(arg.name, type=click.Choice(list(arg.choices))) for arg in entry.arguments
    ]
    if entry.target:
        target = entry.target
        params.append(
            click.option(target.option, "target", metavar=target.metavar, help=target.help)
        )
    params += [
        # A wait in seconds is checked here and again in the run, as is every other value.
        click.option(
            option.flag,
            option.param,
            type=click.IntRange(*SECONDS_RANGE)
            if RUN_INPUTS.get(option.input or "") == "seconds"
            else str,
            metavar=option.metavar,
            required=option.required,
            help=option.help,
        )
        if option.metavar
        else click.option(option.flag, option.param, is_flag=True, help=option.help)
        for option in entry.options
    ]
    if entry.confirm:
        params.append(click.option("--check", is_flag=True, help="Show the plan; change nothing."))
        params.append(
            click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
        )
    return [*params, guard_options, trigger_options, output_option, remember_output]


def rollback_command(entry: registry.RollbackType) -> click.Command:
    def callback(**kwargs: Any) -> None:
        run_registered(entry, **kwargs)

    for decorate in reversed(_parameters(entry)):
        callback = decorate(callback)
    confirm_note = "" if entry.confirm else " Runs without a confirmation prompt."
    return click.command(
        name=entry.name,
        help=f"{entry.summary}{confirm_note}\n\nRuns playbooks/{entry.playbook}; authorized "
        f"by the policy's {entry.policy} rule.",
        short_help=entry.summary,
        epilog=EXIT_CODE_HELP,
    )(callback)


def register(group: click.Group) -> None:
    for entry in registry.rollback_types().values():
        group.add_command(rollback_command(entry))
