"""A run's timeline and post-mortem draft, from its record, audit entries and job events."""

from __future__ import annotations

from typing import Any

from rollbackctl.run import timeline

RESULT = {
    "run_id": "r1",
    "type": "app",
    "environment": "prod",
    "status": "succeeded",
    "from": "2026.11.2",
    "to": "2026.11.1",
    "operator": "oscar",
    "started_at": "2026-11-29T02:10:00+00:00",
    "finished_at": "2026-11-29T02:10:09+00:00",
    "duration_s": 9.0,
    "artifacts": "/runs/r1",
    "requested": {"reason": "feature-broken", "note": "checkout | 500s"},
    "checklist": [{"name": "order_placement", "ok": True, "detail": "order 6 placed"}],
}


def event(kind: str, task: str, host: str, start: str, end: str, **res: Any) -> dict[str, Any]:
    return {
        "event": kind,
        "event_data": {
            "task": task,
            "host": host,
            "task_uuid": task,
            "start": f"2026-11-29T02:10:{start}+00:00",
            "end": f"2026-11-29T02:10:{end}+00:00",
            "res": res,
        },
    }


EVENTS = [
    event("runner_on_ok", "Validating arguments against arg spec 'main'", "app1", "01", "01"),
    event("runner_on_ok", "Switch current release", "app2", "03.500000", "04.000000", changed=True),
    event("runner_on_ok", "Switch current release", "app1", "02.000000", "02.500000", changed=True),
    event("runner_on_skipped", "Start a container", "app1", "02.600000", "02.700000"),
    event("runner_on_ok", "Verify the checklist", "lb1", "05.000000", "06.000000"),
]
AUDIT = [
    {"run_id": "other", "event": "attempt", "started_at": "2026-11-29T01:00:00+00:00"},
    {
        "run_id": "r1",
        "event": "attempt",
        "outcome": "started",
        "reason": "prod app rollback approved by lena",
        "approvals": [{"approver": "lena"}],
        "started_at": "2026-11-29T02:10:01+00:00",
    },
    {
        "run_id": "r1",
        "event": "finished",
        "outcome": "succeeded",
        "finished_at": "2026-11-29T02:10:09+00:00",
    },
]


def test_each_step_spans_its_hosts_and_bookkeeping_and_skips_are_left_out() -> None:
    steps = timeline.task_entries(EVENTS)

    assert [s["what"] for s in steps] == ["Switch current release", "Verify the checklist"]
    switch = steps[0]
    assert switch["hosts"] == {"app1": "changed", "app2": "changed"}
    assert (switch["start"][17:19], switch["end"][17:26]) == ("02", "04.000000")


def test_the_timeline_orders_request_authorization_steps_and_outcome() -> None:
    document = timeline.build(RESULT, EVENTS, AUDIT)

    kinds = [e["kind"] for e in document["entries"]]
    assert kinds == ["requested", "authorization", "step", "step", "finished", "result"]
    assert document["entries"][1]["what"] == (
        "allowed: prod app rollback approved by lena; approved by lena"
    )
    assert document["entries"][0]["reason"] == "feature-broken"
    window = document["impact_window"]
    assert (window["start"][17:26], window["end"][17:26]) == ("02.000000", "04.000000")


def test_the_post_mortem_draft_fills_in_the_facts_and_leaves_the_analysis_open() -> None:
    draft = timeline.postmortem(RESULT, timeline.build(RESULT, EVENTS, AUDIT))

    assert draft.startswith("# Post-mortem: app rollback on prod (r1)\n")
    assert "- Reason: feature-broken; note: ` checkout | 500s `" in draft
    assert "| Switch current release | app1 changed, app2 changed |" in draft
    assert "- Checklist PASS: order_placement: order 6 placed" in draft
    for heading in ("Root cause", "Lessons learned", "Process improvements", "Prevention"):
        assert f"## {heading}\n\n{timeline.POSTMORTEM_OPEN}" in draft


def test_a_failed_step_names_the_host_and_the_first_line_of_its_message() -> None:
    failed = event("runner_on_failed", "Start the release", "app2", "03", "04", msg="dead\nmore")

    (step,) = timeline.task_entries([failed])

    assert step["hosts"] == {"app2": "failed"} and step["detail"] == "app2: dead"
