"""The alerting rules made from each environment's triggers, checked and unit-tested by
Prometheus's own promtool: each trigger fires once its value is past its threshold for its
window and not before, stays quiet below its minimum traffic, and no data never fires it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollbackctl.run import triggers
from rollbackctl.run.environments import list_environments

STEP = 15  # seconds between samples, the evaluation interval of the tests
STEPS = 120  # 30 minutes of samples: past every default window and its margin
PER_STEP = 100  # requests per step where a trigger's traffic is counted


def series(name: str, values: str) -> dict[str, str]:
    return {"series": name, "values": values}


def counter(per_step: int) -> str:
    return f"0+{per_step}x{STEPS}"


def gauge(value: float) -> str:
    return f"{value:g}+0x{STEPS}"


def ratio_series(bad: str, total: str, *, extra_label: str = "") -> Callable[..., list]:
    """Series of a ratio trigger: `bad` of every PER_STEP requests (or of `per_step`)."""

    def build(failing: int, per_step: int = PER_STEP) -> list[dict[str, str]]:
        if extra_label:
            # As the app counts them: no 5xx series at all until a request fails.
            failed = [series(f'{total}{{route="place_order",status="500"}}', counter(failing))]
            return [
                *(failed if failing else []),
                series(f'{total}{{route="place_order",status="201"}}', counter(per_step - failing)),
                # Health checks: never traffic, however many.
                series(f'{total}{{route="health",status="200"}}', counter(10 * PER_STEP)),
            ]
        return [series(bad, counter(failing)), series(total, counter(per_step))]

    return build


RATIOS = {
    "error_rate": ratio_series("", "market_http_requests_total", extra_label="status"),
    "payment_failures": ratio_series(
        "market_payment_failures_total", "market_payment_attempts_total"
    ),
}
GAUGES = {
    "uptime": 'up{job="market-app",instance="app1"}',
    "data_corruption": "market_data_integrity_violations",
    "security": "market_security_signal",
}


def past(trigger: triggers.Trigger) -> tuple[list[dict[str, str]], float]:
    """Input series whose value is just past the trigger's threshold, and that value."""
    if trigger.name in RATIOS:
        failing = round(trigger.threshold * PER_STEP) + 1
        return RATIOS[trigger.name](failing), failing / PER_STEP
    value = trigger.threshold + 1 if trigger.fires == "above" else trigger.threshold / 2
    return [series(GAUGES[trigger.name], gauge(value))], value


def short_of(trigger: triggers.Trigger) -> list[dict[str, str]]:
    """Input series whose value is on the quiet side of the threshold."""
    if trigger.name in RATIOS:
        return RATIOS[trigger.name](max(round(trigger.threshold * PER_STEP) - 1, 0))
    value = trigger.threshold if trigger.fires == "above" else min(trigger.threshold * 1.02, 1)
    return [series(GAUGES[trigger.name], gauge(value))]


def seconds(duration: str) -> int:
    return int(triggers.seconds(duration))


def at(offset: int) -> str:
    return f"{offset}s"


def fired(trigger: triggers.Trigger, environment: str, value: float) -> list[dict[str, Any]]:
    return [
        {
            "exp_labels": {
                "environment": environment,
                "trigger": trigger.name,
                "rollback": trigger.rollback,
                "mode": trigger.mode,
                "severity": "critical",
            },
            "exp_annotations": {"summary": trigger.description, "value": f"{value:.4g}"},
        }
    ]


def inconclusive(trigger: triggers.Trigger, environment: str, why: str, summary: str) -> list:
    labels = {"environment": environment, "trigger": trigger.name, "severity": "info", "why": why}
    return [{"exp_labels": labels, "exp_annotations": {"summary": summary}}]


def cases(loaded: triggers.TriggerSet) -> list[dict[str, Any]]:
    """promtool test groups: in each, one trigger's series under test, and every other
    trigger's series short of its threshold, so that only the one under test can fire."""
    env = loaded.environment
    groups = []
    for trigger in loaded.triggers:
        others = [s for t in loaded.triggers if t is not trigger for s in short_of(t)]
        window = seconds(trigger.window)
        # Past the threshold from the first evaluation that has two samples to rate: firing
        # one step after the window at most.
        after = window + 2 * STEP
        rising, value = past(trigger)
        checks = [
            {
                "eval_time": at(after),
                "alertname": triggers.ALERT,
                "exp_alerts": fired(trigger, env, value),
            }
        ]
        if window > STEP * 2:
            # Past the threshold since the first samples, but not yet for the whole window.
            checks.append(
                {"eval_time": at(window - STEP), "alertname": triggers.ALERT, "exp_alerts": []}
            )
        groups.append(
            {
                "name": f"{trigger.name} past its threshold",
                "input_series": rising + others,
                "alert_rule_test": checks,
            }
        )
        groups.append(
            {
                "name": f"{trigger.name} short of its threshold",
                "input_series": short_of(trigger) + others,
                "alert_rule_test": [
                    {"eval_time": at(after), "alertname": triggers.ALERT, "exp_alerts": []}
                ],
            }
        )
        if trigger.traffic is not None:
            # Every request failing, but fewer requests per rate interval than the minimum.
            per_step = max(
                int((trigger.min_traffic or 0) * STEP / seconds(loaded.rate_interval)) - 1, 1
            )
            low = (
                f"{trigger.name} cannot be judged: fewer than {trigger.min_traffic:g} requests"
                f" in {loaded.rate_interval}"
            )
            groups.append(
                {
                    "name": f"{trigger.name} below its minimum traffic",
                    "input_series": RATIOS[trigger.name](per_step, per_step) + others,
                    "alert_rule_test": [
                        {"eval_time": at(after), "alertname": triggers.ALERT, "exp_alerts": []},
                        {
                            "eval_time": at(after),
                            "alertname": triggers.INCONCLUSIVE,
                            "exp_alerts": inconclusive(trigger, env, "too little traffic", low),
                        },
                    ],
                }
            )
    after_all = max(seconds(t.window) for t in loaded.triggers) + 2 * STEP
    # A healthy app: requests, none failing, so no 5xx series exists. Nothing fires, and
    # no trigger calls that no data.
    healthy = [
        s for t in loaded.triggers for s in (RATIOS[t.name](0) if t.name in RATIOS else short_of(t))
    ]
    groups.append(
        {
            "name": "healthy traffic",
            "input_series": healthy,
            "alert_rule_test": [
                {"eval_time": at(after_all), "alertname": name, "exp_alerts": []}
                for name in (triggers.ALERT, triggers.INCONCLUSIVE)
            ],
        }
    )
    # No series of any trigger's metric: nothing fires, and each trigger says it cannot judge.
    no_data = [
        inconclusive(t, env, "no data", f"{t.name} cannot be judged: no data")[0]
        for t in loaded.triggers
    ]
    groups.append(
        {
            "name": "no data",
            "input_series": [series("market_orders_total", counter(1))],
            "alert_rule_test": [
                {"eval_time": at(after_all), "alertname": triggers.ALERT, "exp_alerts": []},
                {
                    "eval_time": at(after_all),
                    "alertname": triggers.INCONCLUSIVE,
                    "exp_alerts": no_data,
                },
            ],
        }
    )
    return groups


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert shutil.which("promtool"), "promtool is missing: make setup installs Debian's prometheus"
    return subprocess.run(["promtool", *args], capture_output=True, text=True, check=False)


@pytest.fixture(params=list_environments())
def loaded(request: pytest.FixtureRequest) -> triggers.TriggerSet:
    return triggers.load(request.param)


def test_the_rules_of_every_environment_pass_promtool_check(loaded, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(triggers.render_rules(loaded))
    checked = promtool("check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    alerts = yaml.safe_load(rules.read_text())["groups"][0]["rules"]
    assert sum(rule["alert"] == triggers.ALERT for rule in alerts) == len(loaded.triggers)


def test_each_trigger_fires_after_its_window_only_past_its_threshold_and_with_data(
    loaded, tmp_path: Path
) -> None:
    (tmp_path / "rules.yml").write_text(triggers.render_rules(loaded))
    suite = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": loaded.interval,
        "tests": [{"interval": f"{STEP}s", **group} for group in cases(loaded)],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(suite, sort_keys=False))
    tested = promtool("test", "rules", str(tmp_path / "tests.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
