"""show: a run's incident record, readable: the result, the timeline, the post-mortem draft and
where its HTML report is."""

from __future__ import annotations

from typing import Any

import click

from rollbackctl.cli.common import EXIT_CODE_HELP, emit, output_option, remember_output
from rollbackctl.run import html_report, timeline
from rollbackctl.run.records import recorded_result
from rollbackctl.run.report import render_text


def _text(document: dict[str, Any]) -> str:
    result = document["result"]
    requested = result.get("requested") or {}
    why = [f"reason: {requested['reason']}"] if requested.get("reason") else []
    why += [f"note: {requested['note']}"] if requested.get("note") else []
    return (
        render_text(result)
        + (f"{'; '.join(why)}\n" if why else "")
        + timeline.render_text(document["timeline"])
        + (f"post-mortem draft: {document['postmortem']}\n" if document["postmortem"] else "")
        + (f"HTML report: {document['html_report']}\n" if document["html_report"] else "")
    )


@click.command(epilog=EXIT_CODE_HELP)
@click.argument("run_id")
@output_option
@remember_output
def show(run_id: str, output: str) -> None:
    """The incident record of RUN_ID: what ran, who asked and why, each step in time.

    The timeline is rebuilt from the run's events and its environment's audit log, so a
    sign-off given later shows; the run folder keeps timeline.json, postmortem.md and
    report.html, the record as one page to open in a browser.
    """
    result, folder = recorded_result(run_id)
    document = {
        "result": result,
        "timeline": timeline.for_run(result, folder),
        # Runs recorded before drafts were kept have none.
        "postmortem": str(draft) if (draft := folder / "postmortem.md").exists() else None,
        "html_report": str(page) if (page := folder / html_report.NAME).exists() else None,
    }
    emit(document, output, _text)


def register(main: click.Group) -> None:
    main.add_command(show)
