"""The post-rollback checklist of a run: what the run checked itself, what people ticked.

The items are the runbook's (meta/post_rollback.yml), in three phases due 30 minutes, 2 hours
and 5 days after the run ends. Ticks are audit log entries (event checklist_tick), so they are
hash-chained with the run they belong to and every controller sharing the log sees them.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.audit import AuditLog
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import project_dir
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.runbooks import (
    NAME_RE,
    note_problem,
)

from rollbackctl.run.records import recorded_result

TICK_EVENT = "checklist_tick"


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    phase: str
    due_minutes: int
    checks: tuple[str, ...] = ()
    database: str | None = None


def items() -> list[Item]:
    """The runbook's post-rollback items, in order."""
    data = yaml.safe_load((project_dir() / "meta" / "post_rollback.yml").read_text())
    return [
        Item(
            id=raw["id"],
            text=raw["text"],
            phase=phase,
            due_minutes=int(spec["due_minutes"]),
            checks=tuple(raw.get("checks") or ()),
            database=raw.get("database"),
        )
        for phase, spec in data["phases"].items()
        for raw in spec["items"]
    ]


def _by_run_check(result: Mapping[str, Any], item: Item) -> tuple[str, str] | None:
    """(state, detail) when the run itself checked item; None when a person must."""
    if item.database == "written_after_backup":
        comparison = (result.get("database") or {}).get("kept_vs_restored")
        if not comparison:
            return "not applicable", "this run restored no database"
        left = comparison.get("written_after_backup")
        if left == 0:
            return "passed", comparison.get("summary") or "no row only in the kept database"
        # Rows to reconcile by hand: a person ticks it when done.
        return "open", comparison.get("summary") or "the comparison did not run"
    found = {c.get("name"): c for c in result.get("checklist") or []}
    if not item.checks or not all(name in found for name in item.checks):
        return None
    failed = [name for name in item.checks if not found[name].get("ok")]
    if failed:
        return "failed", "; ".join(f"{n}: {found[n].get('detail')}" for n in failed)
    return "passed", "; ".join(str(found[n].get("detail")) for n in item.checks)


def states(
    result: Mapping[str, Any], ticks: Sequence[Mapping[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """Each item of the run with its state: passed, failed, ticked, open, overdue or not
    applicable, its due time and, when ticked, by whom and when."""
    finished = datetime.fromisoformat(str(result["finished_at"]))
    ticked = {str(t.get("item")): t for t in ticks}
    out = []
    for item in items():
        due = finished + timedelta(minutes=item.due_minutes)
        row = {"id": item.id, "phase": item.phase, "text": item.text, "due": due.isoformat()}
        checked = _by_run_check(result, item)
        tick = ticked.get(item.id)
        if checked and checked[0] in ("passed", "not applicable"):
            row.update(state=checked[0], detail=checked[1], by="the run")
        elif tick:
            row.update(
                state="ticked", by=tick.get("by"), at=tick.get("ts"), detail=tick.get("note")
            )
        else:
            # A check the run failed stays FAIL until a person fixes it and ticks it.
            state = "overdue" if now > due else (checked[0] if checked else "open")
            row.update(state=state, detail=checked[1] if checked else None)
        out.append(row)
    return out


def _real_run(run_id: str) -> dict[str, Any]:
    result, _folder = recorded_result(run_id)
    if result.get("check"):
        raise UsageError(
            f"run {run_id} is a plan (check mode); only a real rollback has a checklist",
            hint="pass the run id of the rollback itself",
        )
    if not result.get("finished_at"):
        raise UsageError(f"run {run_id} has not finished", hint=f"rollbackctl attach {run_id}")
    return result


def authorized_runs(entries: Sequence[Mapping[str, Any]]) -> set[str]:
    """The runs that got past their authorization: a refused run changed nothing to check."""
    return {
        str(e.get("run_id"))
        for e in entries
        if e.get("event") == "attempt" and e.get("outcome") != "refused"
    }


def _ticks(log: AuditLog, environment: str, run_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in log.entries(environment)
        if e.get("event") == TICK_EVENT and e.get("run_id") == run_id
    ]


def show(run_id: str, now: datetime | None = None) -> dict[str, Any]:
    result = _real_run(run_id)
    environment = str(result["environment"])
    log = AuditLog.for_environment(environment)
    if run_id not in authorized_runs(log.entries(environment)):
        raise UsageError(
            f"run {run_id} was refused before it changed anything; it has no checklist",
            hint=f"see rollbackctl history {environment}",
        )
    ticks = _ticks(log, environment, run_id)
    rows = states(result, ticks, now or datetime.now(UTC))
    return {
        "run_id": run_id,
        "environment": environment,
        "type": result.get("type"),
        "finished_at": result["finished_at"],
        "items": rows,
        "overdue": [row["id"] for row in rows if row["state"] == "overdue"],
    }


def tick(run_id: str, item_id: str, by: str, note: str | None = None) -> dict[str, Any]:
    """Record that `by` did item_id of run_id; a second tick of the same item records nothing."""
    known = {item.id: item for item in items()}
    if item_id not in known:
        raise UsageError(f"no checklist item {item_id!r}", hint=f"one of {', '.join(known)}")
    if not NAME_RE.match(by or ""):
        raise UsageError(f"--by {by!r} is not a name", hint="your name, as the policy lists it")
    if note and note_problem(note):
        raise UsageError(f"--note {note_problem(note)}", hint="one plain line")
    document = show(run_id)
    row = next(r for r in document["items"] if r["id"] == item_id)
    if row["state"] in ("passed", "not applicable"):
        raise UsageError(
            f"{item_id} of run {run_id} is {row['state']} by the run; nothing to tick",
            hint=f"see rollbackctl checklist {run_id}",
        )
    if row["state"] != "ticked":
        AuditLog.for_environment(document["environment"]).append(
            {
                "event": TICK_EVENT,
                "environment": document["environment"],
                "run_id": run_id,
                "item": item_id,
                "by": by,
                "operator": getpass.getuser(),
                "note": note,
            }
        )
    return show(run_id)


def overdue_by_run(
    environment: str,
    entries: Sequence[Mapping[str, Any]],
    results: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> dict[str, list[str]]:
    """run id -> its overdue items, for the runs whose results this controller holds."""
    ticks: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        if entry.get("event") == TICK_EVENT:
            ticks.setdefault(str(entry.get("run_id")), []).append(entry)
    out = {}
    authorized = authorized_runs(entries)
    for run_id, result in results.items():
        if run_id not in authorized:
            continue
        if (
            result.get("check")
            or not result.get("finished_at")
            or result.get("environment") != environment
        ):
            continue
        late = [
            r["id"] for r in states(result, ticks.get(run_id, []), now) if r["state"] == "overdue"
        ]
        if late:
            out[run_id] = late
    return out


def local_results(run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The result documents this controller holds for run_ids (runs elsewhere have none)."""
    found = {}
    for run_id in run_ids:
        try:
            found[run_id] = recorded_result(run_id)[0]
        except UsageError:
            continue
    return found
