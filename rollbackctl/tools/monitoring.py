"""The local stacks' monitoring: an Alertmanager (Debian's prometheus-alertmanager) per stack on
a loopback port of its own, started by `sandbox up` and stopped by `sandbox down`.

Runbooks that restart services silence the environment's alerts there for the rollback window
and post an event that the rollback ran (role monitoring_update). A machine without
Alertmanager runs the stack without one, and those runs say that monitoring was skipped.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rollbackctl.tools import background

PROGRAM = "prometheus-alertmanager"
PID_FILE = "alertmanager.pid"
LOG_FILE = "alertmanager.log"
# Every alert goes to a receiver that sends nothing: the stack's alerts are for its tests and
# its drills to read through the API, not for anyone's pager.
CONFIG = """\
route:
  receiver: nobody
  group_wait: 1s
receivers:
  - name: nobody
"""


def installed() -> bool:
    return shutil.which(PROGRAM) is not None


def _pid(folder: Path) -> int | None:
    return background.running_pid(folder / PID_FILE, PROGRAM, folder)


def start(folder: Path, port: int) -> None:
    """Start Alertmanager for the stack whose monitoring folder this is, unless it runs."""
    if _pid(folder) is not None:
        return
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "alertmanager.yml").write_text(CONFIG, encoding="utf-8")
    argv = [
        PROGRAM,
        f"--config.file={folder / 'alertmanager.yml'}",
        f"--storage.path={folder / 'data'}",
        f"--web.listen-address={background.LOOPBACK}:{port}",
        # A stack's Alertmanager is alone: no gossip port to collide with another stack's.
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    background.start(
        argv,
        pid_file=folder / PID_FILE,
        log_file=folder / LOG_FILE,
        ready=lambda: background.ready(port),
        what="Alertmanager",
    )


def stop(folder: Path) -> None:
    background.stop(_pid(folder), folder / PID_FILE)
