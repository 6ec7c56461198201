"""`rollbackctl triggers list|rules ENV`: an environment's rollback triggers, and the Prometheus
alerting rules made from them."""

from __future__ import annotations

from typing import Any

import click

from rollbackctl.cli.common import EXIT_CODE_HELP, emit, output_option, remember_output
from rollbackctl.run import triggers


def _list_text(document: dict[str, Any]) -> str:
    evaluation = document["evaluation"]
    lines = [
        f"triggers of {document['environment']} (evaluated every {evaluation['interval']}, "
        f"rates over {evaluation['rate_interval']}):"
    ]
    for t in document["triggers"]:
        traffic = f", at least {t['min_traffic']:g} requests" if t["traffic"] else ""
        lines.append(
            f"  {t['name']:<17} {t['fires']} {t['threshold']:g} for {t['window']}{traffic}"
            f" -> {t['rollback']} ({t['mode']})"
        )
        lines.append(f"      {t['description']}")
    return "\n".join(lines) + "\n"


@click.group(name="triggers")
def triggers_group() -> None:
    """Rollback triggers: the runbook's thresholds as data, per environment."""


@triggers_group.command(name="list", epilog=EXIT_CODE_HELP)
@click.argument("environment")
@output_option
@remember_output
def list_triggers(environment: str, output: str) -> None:
    """List ENVIRONMENT's triggers: threshold, window, minimum traffic, the rollback each
    maps to and its mode (shadow, confirm or auto)."""
    emit(triggers.load(environment).as_document(), output, _list_text)


@triggers_group.command(name="rules", epilog=EXIT_CODE_HELP)
@click.argument("environment")
@output_option
@remember_output
def rules(environment: str, output: str) -> None:
    """Print ENVIRONMENT's triggers as a Prometheus rule file (YAML; json with -o json):
    an alert per trigger, and the alerts that say a trigger cannot be judged."""
    loaded = triggers.load(environment)
    emit(triggers.alert_rules(loaded), output, lambda _document: triggers.render_rules(loaded))


def register(main: click.Group) -> None:
    main.add_command(triggers_group)
