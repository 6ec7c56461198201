"""The local stacks' Prometheus (Debian's prometheus), on a loopback port of its own, started by
`sandbox up` and stopped by `sandbox down`: it scrapes each app host's /metrics, evaluates the
environment's rollback triggers (`rollbackctl triggers rules ENV`) and sends what fires to the
stack's Alertmanager. A machine without Prometheus runs the stack without it.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from rollbackctl.run import triggers
from rollbackctl.tools import background

PROGRAM = "prometheus"
PID_FILE = "prometheus.pid"
LOG_FILE = "prometheus.log"
CONFIG_FILE = "prometheus.yml"
RULES_FILE = "rules.yml"
# The stack's job name for its app hosts: the one the triggers' uptime reads.
APP_JOB = "market-app"


def installed() -> bool:
    return shutil.which(PROGRAM) is not None


def config(
    loaded: triggers.TriggerSet, app_ports: Mapping[str, int], alertmanager: int | None
) -> dict[str, Any]:
    """prometheus.yml: the app hosts scraped at the triggers' evaluation interval, the rules
    evaluated at it, alerts to the stack's Alertmanager when it has one."""
    document: dict[str, Any] = {
        "global": {
            "scrape_interval": loaded.interval,
            "evaluation_interval": loaded.interval,
            "external_labels": {"environment": loaded.environment},
        },
        "rule_files": [RULES_FILE],
        "scrape_configs": [
            {
                "job_name": APP_JOB,
                "static_configs": [
                    {
                        "targets": [f"{background.LOOPBACK}:{port}"],
                        "labels": {"host": host},
                    }
                    for host, port in sorted(app_ports.items())
                ],
            }
        ],
    }
    if alertmanager is not None:
        document["alerting"] = {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"{background.LOOPBACK}:{alertmanager}"]}]}
            ]
        }
    return document


def _pid(folder: Path) -> int | None:
    return background.running_pid(folder / PID_FILE, PROGRAM, folder)


def start(
    folder: Path,
    port: int,
    loaded: triggers.TriggerSet,
    app_ports: Mapping[str, int],
    alertmanager: int | None,
) -> None:
    """Start Prometheus for the stack whose folder this is, unless it runs; its rules and
    targets are written anew each time, so a changed triggers.yml applies at the next start."""
    if _pid(folder) is not None:
        return
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / RULES_FILE).write_text(triggers.render_rules(loaded), encoding="utf-8")
    settings = config(loaded, app_ports, alertmanager)
    (folder / CONFIG_FILE).write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    argv = [
        PROGRAM,
        f"--config.file={folder / CONFIG_FILE}",
        f"--storage.tsdb.path={folder / 'data'}",
        "--storage.tsdb.retention.time=2d",
        f"--web.listen-address={background.LOOPBACK}:{port}",
        "--log.level=warn",
    ]
    background.start(
        argv,
        pid_file=folder / PID_FILE,
        log_file=folder / LOG_FILE,
        ready=lambda: background.ready(port),
        what="Prometheus",
        # It opens (or replays) its time-series database first: slower than the others.
        seconds=60.0,
    )


def stop(folder: Path) -> None:
    background.stop(_pid(folder), folder / PID_FILE)
