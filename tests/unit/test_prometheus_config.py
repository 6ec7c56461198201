"""The local stacks' prometheus.yml: each app host scraped, the triggers' rules evaluated at
their interval, alerts sent to the stack's Alertmanager, and promtool accepts it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from rollbackctl.run import triggers
from rollbackctl.tools import prometheus


def test_the_config_scrapes_each_app_host_and_alerts_the_stacks_alertmanager(
    tmp_path: Path,
) -> None:
    loaded = triggers.load("sandbox")
    document = prometheus.config(loaded, {"app2": 4102, "app1": 4101}, alertmanager=4200)

    assert document["global"]["evaluation_interval"] == loaded.interval
    (job,) = document["scrape_configs"]
    assert job["job_name"] == prometheus.APP_JOB
    assert [(c["labels"]["host"], c["targets"]) for c in job["static_configs"]] == [
        ("app1", ["127.0.0.1:4101"]),
        ("app2", ["127.0.0.1:4102"]),
    ]
    (alertmanagers,) = document["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"] == [{"targets": ["127.0.0.1:4200"]}]

    (tmp_path / prometheus.CONFIG_FILE).write_text(yaml.safe_dump(document))
    (tmp_path / prometheus.RULES_FILE).write_text(triggers.render_rules(loaded))
    assert shutil.which("promtool"), "make setup installs Debian's prometheus (promtool)"
    checked = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / prometheus.CONFIG_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_stack_without_alertmanager_evaluates_without_sending() -> None:
    document = prometheus.config(triggers.load("sandbox"), {"app1": 4101}, alertmanager=None)
    assert "alerting" not in document
