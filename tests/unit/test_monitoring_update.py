"""What a rollback tells the environment's Alertmanager, and how a failed run ends its
silences: the parts that need no Alertmanager (the integration tests use a real one)."""

from __future__ import annotations

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import grant, guard

from rollbackctl.run.report import _monitoring_lines
from rollbackctl.tools.background import free_port


def test_a_run_keeps_the_silences_it_made_with_its_grant(pid: int) -> None:
    assert grant.add_silence(pid, "http://127.0.0.1:9093", "s-1") is None  # no grant, no run
    grant.write(
        pid,
        grant.Grant(
            environment="sandbox",
            rollback_type="infra",
            target="",
            run_id="20261207T000000Z-abcdef",
            playbook="infra.yml",
            requester="oscar",
            check=False,
            hosts=["lb1"],
        ),
    )
    grant.add_silence(pid, "http://127.0.0.1:9093", "s-1")
    held = grant.read(pid)
    assert held is not None and held.silences == [{"url": "http://127.0.0.1:9093", "id": "s-1"}]


def test_a_silence_that_cannot_be_ended_is_left_to_lapse_and_says_why() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    (outcome,) = guard._end_silences([{"url": closed, "id": "s-1"}])
    assert outcome.startswith(f"s-1 left to lapse: Alertmanager {closed}/api/v2/silence/s-1 ")
    assert "did not answer" in outcome


@pytest.mark.parametrize(
    ("monitoring", "line"),
    [
        ({}, None),
        (
            {"state": "skipped", "reason": "no Alertmanager configured"},
            "monitoring skipped: no Alertmanager configured",
        ),
        (
            {"state": "failed", "alertmanager": "http://am", "error": "it did not answer"},
            "monitoring not updated: it did not answer",
        ),
        (
            {
                "state": "silenced",
                "alertmanager": "http://am",
                "silence": "s-1",
                "until": "2026-12-07T10:10:00.000000Z",
                "event": "RollbackRan",
            },
            "monitoring silenced in http://am: silence s-1 until 2026-12-07T10:10:00.000000Z, "
            "event RollbackRan posted",
        ),
        (
            {"state": "would be silenced", "alertmanager": "http://am"},
            "monitoring would be silenced in http://am",
        ),
    ],
    ids=["none", "skipped", "failed", "silenced", "check-mode"],
)
def test_the_report_says_what_monitoring_was_told(monitoring: dict, line: str | None) -> None:
    assert _monitoring_lines(monitoring) == ([line] if line else [])
