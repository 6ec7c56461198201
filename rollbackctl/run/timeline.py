"""The incident record of a run: its timeline, and a post-mortem draft built from it.

The timeline joins what the run's record says (who asked, why, the outcome), what the audit
log says (the authorization, the approvers, a sign-off) and the runner's job events (each step
with its start and end on each host). Built from the run folder and the audit log alone, so it
can be rebuilt at any time; the run's bundle keeps a copy (timeline.json, postmortem.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.audit import AuditLog
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import RollbackError

from rollbackctl.run.runner import BOOKKEEPING_TASKS, EVENT_STATUS, EventFolder

UNTIMED = "?"


def task_entries(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per task: from its first host's start to its last host's end, with how it
    went on each host. Skipped tasks and argument validation are left out."""
    tasks: dict[str, dict[str, Any]] = {}
    for event in events:
        status = EVENT_STATUS.get(str(event.get("event")))
        data = event.get("event_data") or {}
        task, host = str(data.get("task") or ""), str(data.get("host") or "")
        if not status or not task or not host or task.startswith(BOOKKEEPING_TASKS):
            continue
        result = data.get("res") or {}
        if status == "skipped":
            continue
        if status == "ok" and result.get("changed"):
            status = "changed"
        key = str(data.get("task_uuid") or task)
        entry = tasks.setdefault(
            key,
            {"kind": "step", "what": task, "start": None, "end": None, "hosts": {}},
        )
        start, end = data.get("start"), data.get("end")
        if start and (entry["start"] is None or start < entry["start"]):
            entry["start"] = start
        if end and (entry["end"] is None or end > entry["end"]):
            entry["end"] = end
        entry["hosts"][host] = status
        if status in ("failed", "unreachable") and not data.get("ignore_errors"):
            message = str(result.get("msg") or "").strip().splitlines()
            entry["detail"] = f"{host}: {message[0] if message else status}"
    return sorted(tasks.values(), key=lambda e: e["start"] or UNTIMED)


def audit_entries(entries: Sequence[Mapping[str, Any]], run_id: str) -> list[dict[str, Any]]:
    """The audit log's events of run_id as timeline entries."""
    out = []
    for entry in entries:
        if entry.get("run_id") != run_id:
            continue
        event = entry.get("event")
        if event == "attempt":
            approvers = [a.get("approver") for a in entry.get("approvals") or []]
            allowed = entry.get("outcome") != "refused"
            detail = f"{'allowed' if allowed else 'refused'}: {entry.get('reason') or ''}".strip()
            if approvers:
                detail += f"; approved by {', '.join(str(a) for a in approvers)}"
            # ts (written when the decision was recorded, to the microsecond), not the
            # whole-second started_at: it then sorts after the steps that led to it.
            start = entry.get("ts") or entry.get("started_at")
            out.append({"kind": "authorization", "what": detail, "start": start})
        elif event == "finished":
            out.append(
                {
                    "kind": "finished",
                    "what": f"run {entry.get('outcome')}",
                    "start": entry.get("finished_at"),
                }
            )
        elif event == "sign_off":
            signed = ", ".join(entry.get("signed_off_by") or [])
            out.append(
                {"kind": "sign-off", "what": f"signed off by {signed}", "start": entry.get("ts")}
            )
    return out


def build(
    result: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]],
    audit: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The timeline document of one run: what, who, why, each step, and the impact window."""
    requested = result.get("requested") or {}
    steps = task_entries(events)
    # A plan changes nothing: its "changed" steps are what a real run would change.
    changing = [s for s in steps if "changed" in s["hosts"].values()]
    if result.get("check"):
        changing = []
    entries = [
        {
            "kind": "requested",
            "what": f"{result.get('type')} rollback on {result.get('environment')} requested by "
            f"{result.get('operator')}",
            "start": result.get("started_at"),
            "reason": requested.get("reason"),
            "note": requested.get("note"),
        },
        *audit_entries(audit, str(result.get("run_id"))),
        *steps,
        {
            "kind": "result",
            "what": f"{result.get('status')}: {_from_to(result)}",
            "start": result.get("finished_at"),
            "detail": result.get("error"),
        },
    ]
    entries.sort(key=_order)
    return {
        "run_id": result.get("run_id"),
        "environment": result.get("environment"),
        "type": result.get("type"),
        "status": result.get("status"),
        # Hosts changed from the first changing step's start to the last one's end.
        "impact_window": {
            "start": changing[0]["start"] if changing else None,
            "end": max((s["end"] or "" for s in changing), default=None) or None,
        },
        "entries": entries,
    }


def _from_to(result: Mapping[str, Any]) -> str:
    return f"{result.get('from') or '?'} -> {result.get('to') or '?'}"


# Entries that close the run: at a time given in whole seconds, after every step of it.
CLOSING = frozenset({"finished", "result"})


def _order(entry: Mapping[str, Any]) -> str:
    """Sort key: the moment, whole seconds padded to open (or, for closing entries, end) it."""
    moment = _moment(entry.get("start"))
    if moment != UNTIMED and "." not in moment[19:]:
        moment += ".999999" if entry.get("kind") in CLOSING else ".000000"
    return moment


def _moment(value: Any) -> str:
    """A sortable UTC moment: audit and result times carry +00:00, runner times are naive UTC."""
    text = str(value or "")
    return text.replace("+00:00", "").replace("Z", "") or UNTIMED


def for_run(result: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    """The timeline of the run in run_dir, from its events and its environment's audit log."""
    events = EventFolder(run_dir).read_new()
    environment = str(result.get("environment") or "")
    try:
        audit = AuditLog.for_environment(environment).entries(environment) if environment else []
    except (OSError, ValueError, RollbackError):
        audit = []  # the record stands without the audit's part; `audit verify` says why
    return build(result, events, audit)


def render_text(timeline: Mapping[str, Any]) -> str:
    lines = ["timeline (UTC):"]
    for entry in timeline["entries"]:
        at = clock(entry.get("start"))
        if entry["kind"] == "step":
            hosts = ", ".join(f"{h} {s}" for h, s in sorted(entry["hosts"].items()))
            lines.append(f"  {at}  {entry['what']} [{hosts}]{took(entry)}")
        else:
            lines.append(f"  {at}  {entry['what']}")
        for key in ("reason", "note", "detail"):
            if entry.get(key):
                lines.append(f"            {key}: {entry[key]}")
    window = timeline["impact_window"]
    if window["start"]:
        lines.append(f"hosts changing: {clock(window['start'])} to {clock(window['end'])}")
    return "\n".join(lines) + "\n"


def clock(value: Any) -> str:
    """The time of day of a moment, to the millisecond, padded to a column."""
    text = _moment(value)
    return (text[11:23] if len(text) >= 19 else text).ljust(12)


def took(entry: Mapping[str, Any]) -> str:
    """' 1.25s' for an entry with a start and an end a hundredth of a second apart or more."""
    try:
        seconds = (
            datetime.fromisoformat(_moment(entry["end"]))
            - datetime.fromisoformat(_moment(entry["start"]))
        ).total_seconds()
    except (TypeError, ValueError):
        return ""
    return f" {seconds:.2f}s" if seconds >= 0.01 else ""


POSTMORTEM_OPEN = "_To be written by the incident owner._"


def _code(text: str) -> str:
    """Operator text as a Markdown code span: shown as written, never a link or markup."""
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}"


def postmortem(result: Mapping[str, Any], timeline: Mapping[str, Any]) -> str:
    """A Markdown post-mortem draft: the facts filled in, the runbook's headings left open."""
    requested = result.get("requested") or {}
    window = timeline["impact_window"]
    lines = [
        f"# Post-mortem: {result.get('type')} rollback on {result.get('environment')} "
        f"({result.get('run_id')})",
        "",
        "## Summary",
        "",
        f"- Outcome: {result.get('status')}, {_from_to(result)}",
        f"- Started by {result.get('operator')} at {result.get('started_at')}, "
        f"finished at {result.get('finished_at')} ({result.get('duration_s')} s)",
        f"- Reason: {requested.get('reason') or 'not given'}; "
        f"note: {_code(requested['note']) if requested.get('note') else 'none'}",
        f"- Hosts changing: {window['start'] or 'none'} to {window['end'] or 'none'} (UTC)",
    ]
    if result.get("error"):
        lines.append(f"- Error: {result['error']}")
    lines += ["", "## Timeline (UTC)", "", "| When | What | Hosts |", "| --- | --- | --- |"]
    for entry in timeline["entries"]:
        hosts = ", ".join(f"{h} {s}" for h, s in sorted((entry.get("hosts") or {}).items()))
        what = str(entry["what"]).replace("|", "\\|")
        lines.append(f"| {_moment(entry.get('start'))} | {what} | {hosts} |")
    lines += ["", "## Contributing data", ""]
    for item in result.get("checklist") or []:
        mark = "PASS" if item.get("ok") else "FAIL"
        lines.append(f"- Checklist {mark}: {item.get('name')}: {item.get('detail')}")
    comparison = (result.get("database") or {}).get("kept_vs_restored")
    if comparison:
        lines.append(f"- Database: {comparison.get('summary')}")
    for label, findings in (result.get("corruption") or {}).items():
        counts = ", ".join(f"{f['name']}: {f['count']}" for f in findings)
        lines.append(f"- Corruption {label}: {counts}")
    lines.append(f"- Evidence: {result.get('artifacts')}")
    for heading in ("Root cause", "Lessons learned", "Process improvements", "Prevention"):
        lines += ["", f"## {heading}", "", POSTMORTEM_OPEN]
    return "\n".join(lines) + "\n"


def write(result: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    """Add the timeline and the post-mortem draft to the run's bundle; the timeline."""
    timeline = for_run(result, run_dir)
    (run_dir / "timeline.json").write_text(json.dumps(timeline, indent=2) + "\n")
    (run_dir / "postmortem.md").write_text(postmortem(result, timeline))
    return timeline
