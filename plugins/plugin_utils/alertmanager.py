"""What a rollback tells the environment's Alertmanager (its API v2): a silence of the
environment's alerts for the rollback window, an event that the rollback ran, and the end of
the silence when the run fails.

The event is an alert of its own (alertname RollbackRan, severity info) that the silence
leaves out, so receivers and dashboards see that a rollback ran while its alerts are quiet.
"""

from __future__ import annotations

import json
import urllib.error
from datetime import UTC, datetime, timedelta
from typing import Any

from ansible.module_utils.urls import open_url
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import PreflightError

EVENT_ALERT = "RollbackRan"
CREATED_BY = "rollbackctl"
TIMEOUT_SECONDS = 10


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _call(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    try:
        answer = open_url(
            url,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
            timeout=TIMEOUT_SECONDS,
        )
        text = answer.read().decode() or "null"
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace").strip()[:200]
        raise PreflightError(f"Alertmanager {url} answered {exc.code}: {detail}") from None
    except (OSError, ValueError) as exc:
        raise PreflightError(f"Alertmanager {url} did not answer: {exc}") from None
    return json.loads(text)


def silence(
    base: str, environment: str, minutes: int, comment: str, now: datetime | None = None
) -> tuple[str, str]:
    """Silence every alert of environment but the rollback events; (silence id, end)."""
    start = now or datetime.now(UTC)
    end = _when(start + timedelta(minutes=minutes))
    answer = _call(
        "POST",
        f"{base.rstrip('/')}/api/v2/silences",
        {
            "matchers": [
                {"name": "environment", "value": environment, "isRegex": False, "isEqual": True},
                {"name": "alertname", "value": EVENT_ALERT, "isRegex": False, "isEqual": False},
            ],
            "startsAt": _when(start),
            "endsAt": end,
            "createdBy": CREATED_BY,
            "comment": comment,
        },
    )
    if not isinstance(answer, dict) or not isinstance(answer.get("silenceID"), str):
        raise PreflightError(f"Alertmanager {base} gave no silence id: {answer!r}"[:300])
    return answer["silenceID"], end


def expire(base: str, silence_id: str) -> None:
    _call("DELETE", f"{base.rstrip('/')}/api/v2/silence/{silence_id}")


def announce(
    base: str, labels: dict[str, str], summary: str, minutes: int, now: datetime | None = None
) -> None:
    """Post the rollback event, active for minutes."""
    start = now or datetime.now(UTC)
    _call(
        "POST",
        f"{base.rstrip('/')}/api/v2/alerts",
        [
            {
                "labels": {"alertname": EVENT_ALERT, "severity": "info", **labels},
                "annotations": {"summary": summary},
                "startsAt": _when(start),
                "endsAt": _when(start + timedelta(minutes=minutes)),
            }
        ],
    )
