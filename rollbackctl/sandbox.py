"""The embedded sandbox: PostgreSQL, nginx and two app hosts on loopback, under the state dir.

`up` deploys the good release, marks it stable, then deploys the bad one as current, so the
first thing a newcomer can do is roll it back.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from rollbackctl.environments import get_environment
from rollbackctl.errors import RollbackError
from rollbackctl.paths import project_dir, state_dir
from rollbackctl.rollback import failure_message
from rollbackctl.runner import RunOutcome, run_playbook

ENVIRONMENT = "sandbox"
GOOD_RELEASE = "2026.11.1"
BAD_RELEASE = "2026.11.2"
ARTIFACT_RELEASES = ("2026.11.1", "2026.11.2", "2026.11.3")
PORT_NAMES = ("app1", "app2", "db1", "lb1")


def sandbox_dir() -> Path:
    return state_dir() / "sandbox"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _settings() -> dict[str, Any]:
    path = sandbox_dir() / "sandbox.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _write_settings() -> dict[str, Any]:
    settings = _settings()
    if not settings:
        settings = {"ports": {name: _free_port() for name in PORT_NAMES}}
        sandbox_dir().mkdir(parents=True, exist_ok=True)
        (sandbox_dir() / "sandbox.json").write_text(json.dumps(settings, indent=2) + "\n")
    return settings


def _build_artifacts() -> None:
    out = sandbox_dir() / "artifacts"
    out.mkdir(parents=True, exist_ok=True)
    builder = project_dir() / "sample_app" / "build_release.py"
    for release in ARTIFACT_RELEASES:
        target = out / f"{release}.tar.gz"
        if not target.exists():
            subprocess.run(
                [sys.executable, str(builder), release, str(target)],
                check=True,
                capture_output=True,
            )


def _run(playbook: str, extravars: dict[str, Any] | None = None) -> RunOutcome:
    outcome = run_playbook(get_environment(ENVIRONMENT), playbook, extravars=extravars)
    if not outcome.ok:
        raise RollbackError(f"sandbox: {playbook} failed: {failure_message(outcome)}")
    return outcome


def up() -> dict[str, Any]:
    _write_settings()
    _build_artifacts()
    _run("sandbox.yml", {"sandbox_state": "started"})
    if not (sandbox_dir() / "app" / "app1" / "ledger.json").exists():
        _run("deploy.yml", {"release_deploy_id": GOOD_RELEASE})
        # The bad release passes deploy without the checklist, as bad releases do in real life.
        _run("deploy.yml", {"release_deploy_id": BAD_RELEASE, "release_deploy_verify": False})
    else:
        # Already deployed: make sure every app host runs its current release.
        _run("app_service.yml")
    return status()


def down(purge: bool = False) -> dict[str, Any]:
    if _settings():
        _run("sandbox.yml", {"sandbox_state": "stopped"})
    if purge and sandbox_dir().exists():
        shutil.rmtree(sandbox_dir())
    return status()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def status() -> dict[str, Any]:
    settings = _settings()
    ports = settings.get("ports", {})
    current = {}
    for host in ("app1", "app2"):
        link = sandbox_dir() / "app" / host / "current"
        current[host] = Path(link.readlink()).name if link.is_symlink() else None
    return {
        "environment": ENVIRONMENT,
        "state_dir": str(sandbox_dir()),
        "configured": bool(settings),
        "url": f"http://127.0.0.1:{ports['lb1']}" if ports else None,
        "database": {
            "host": "127.0.0.1",
            "port": ports.get("db1"),
            "name": "market",
            "user": "market",
        },
        "services": {name: _listening(port) for name, port in ports.items()},
        "current": current,
    }
