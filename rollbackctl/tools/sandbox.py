"""The embedded sandbox: PostgreSQL, nginx and two app hosts on loopback, under the state dir.

`up` deploys the good release, marks it stable, then deploys the bad one as current, so the
first thing a newcomer can do is roll it back.

Each local environment (sandbox, and sandbox-guarded: the same stack under the production
policy) has a stack of its own under <state>/<environment>/. A stack's hosts carry the
environment's identity in <stack>/identity. A guarded stack is set up while not enrolled (no
identity yet, so the setup playbooks may change it) and enrolled as its last step; from then
on its hosts change only inside an authorized run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    PreflightError,
    RollbackError,
    UsageError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import (
    project_dir,
    state_dir,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.trust import is_guarded

from rollbackctl.run import triggers
from rollbackctl.run.environments import get_environment
from rollbackctl.run.rollback import failure_message
from rollbackctl.run.runner import RunOutcome, run_playbook
from rollbackctl.tools import background, monitoring, prometheus, providers

ENVIRONMENT = "sandbox"
LOCAL_ENVIRONMENTS = ("sandbox", "sandbox-guarded")
GOOD_RELEASE = "2026.11.1"
BAD_RELEASE = "2026.11.2"
ARTIFACT_RELEASES = ("2026.11.1", "2026.11.2", "2026.11.3")
PORT_NAMES = ("app1", "app2", "db1", "lb1")
APP_HOSTS = ("app1", "app2")
# The stack's monitoring, each when its program is on the machine.
MONITORS = {"alertmanager": monitoring, "prometheus": prometheus}
# The configuration repository's first commit: the app's managed settings and service
# definition, and the nginx site.
CONFIG_FILES = {
    "app/settings.env": "# Managed app settings (the app's schema: settings.py)\n"
    "ORDERS_ENABLED=true\nORDER_MAX_QUANTITY=100\nLOG_LEVEL=info\n",
    "app/service.env": "# The app's service definition, read by appctl (roles/app_service)\n"
    "RESTART_DELAY_SECONDS=1\nSTOP_TIMEOUT_SECONDS=4\nOPEN_FILES_LIMIT=4096\n",
    "nginx/site.conf": "# Managed nginx site settings, included in the server block\n"
    "client_max_body_size 64k;\nproxy_read_timeout 30s;\n",
}
# The app's third-party integrations, one file per provider, pinned to versions the stand-ins
# speak ({port} is the provider's port in the stack).
INTEGRATION_FILES = {
    "payment": "PAYMENT_API_VERSION=2025-03-31\nPAYMENT_ENDPOINT=http://127.0.0.1:{port}\n"
    "PAYMENT_CLIENT_VERSION=4.2.0\n",
    "email": "EMAIL_API_VERSION=v3\nEMAIL_ENDPOINT=http://127.0.0.1:{port}\n"
    "EMAIL_CLIENT_VERSION=6.1.0\n",
    "push": "PUSH_API_VERSION=2\nPUSH_ENDPOINT=http://127.0.0.1:{port}\nPUSH_CLIENT_VERSION=1.0.3\n",
}
# A fixed author and date keep the first commit's id the same from stack to stack.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "rollbackctl sandbox",
    "GIT_AUTHOR_EMAIL": "sandbox@rollbackctl.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "rollbackctl sandbox",
    "GIT_COMMITTER_EMAIL": "sandbox@rollbackctl.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}
# service: each app host runs under appctl; container: the release's image on the local
# Docker engine, on this machine's network.
RUNTIMES = ("service", "container")
DEFAULT_RUNTIME = "service"


def sandbox_dir(environment: str = ENVIRONMENT) -> Path:
    return state_dir() / environment


def identity_file(environment: str = ENVIRONMENT) -> Path:
    return sandbox_dir(environment) / "identity"


def _check_local(environment: str) -> None:
    if environment not in LOCAL_ENVIRONMENTS:
        raise UsageError(
            f"{environment} is not a local sandbox environment",
            hint=f"choose one of {', '.join(LOCAL_ENVIRONMENTS)}",
        )


def enroll(environment: str) -> None:
    """Write the stack's identity: from now on its hosts belong to environment."""
    path = identity_file(environment)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(environment + "\n")
    tmp.replace(path)


def unenroll(environment: str) -> None:
    identity_file(environment).unlink(missing_ok=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_port(value: object) -> bool:
    # bool is an int too, and JSON true must not pass for port 1.
    return isinstance(value, int) and not isinstance(value, bool) and 1024 <= value <= 65535


def _settings(environment: str) -> dict[str, Any]:
    """The stack's sandbox.json, refused unless it is what `up` writes: the inventory builds
    paths and Docker names from it."""
    path = sandbox_dir(environment) / "sandbox.json"
    if not path.exists():
        return {}
    try:
        settings = json.loads(path.read_text())
        ports = settings["ports"]
        valid = (
            isinstance(settings, dict)
            and set(ports) == set(PORT_NAMES)
            and all(_is_port(p) for p in ports.values())
            and settings.get("runtime", DEFAULT_RUNTIME) in RUNTIMES
            and set(settings.get("providers", {})) <= set(INTEGRATION_FILES)
            and all(_is_port(p) for p in settings.get("providers", {}).values())
            and set(settings.get("monitoring", {})) <= set(MONITORS)
            and all(_is_port(p) for p in settings.get("monitoring", {}).values())
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        valid = False
    if not valid:
        raise UsageError(
            f"{path} is not a sandbox settings file (ports {', '.join(PORT_NAMES)} as numbers, "
            f"runtime one of {', '.join(RUNTIMES)})",
            hint=f"remove {path.parent} (or run 'rollbackctl sandbox down --env {environment} "
            "--purge' if the stack still runs) and run 'rollbackctl sandbox up' again",
        )
    return settings


def _write_settings(environment: str, runtime: str | None) -> dict[str, Any]:
    """The stack's settings: kept as they are, or new ones with free ports and runtime."""
    settings = _settings(environment)
    kept = settings.get("runtime", DEFAULT_RUNTIME) if settings else None
    if kept and runtime not in (None, kept):
        raise UsageError(
            f"the {environment} stack runs its app as a {kept}, not as a {runtime}",
            hint=f"run 'rollbackctl sandbox down --env {environment} --purge' first "
            f"to start it over with --runtime {runtime}",
        )
    if (kept or runtime) == "container":
        _require_docker_engine()
    # A stack made before the third-party stand-ins or its monitoring existed gets their
    # ports added; without Alertmanager or Prometheus on the machine the stack runs without
    # it, and runs say so.
    monitors = {name for name, program in MONITORS.items() if program.installed()}
    complete = set(settings.get("providers", {})) == set(INTEGRATION_FILES) and monitors <= set(
        settings.get("monitoring", {})
    )
    if settings and complete:
        return settings
    settings = settings or {
        "ports": {name: _free_port() for name in PORT_NAMES},
        "runtime": runtime or DEFAULT_RUNTIME,
    }
    if set(settings.get("providers", {})) != set(INTEGRATION_FILES):
        settings["providers"] = {name: _free_port() for name in INTEGRATION_FILES}
    for name in sorted(monitors - set(settings.get("monitoring", {}))):
        settings.setdefault("monitoring", {})[name] = _free_port()
    folder = sandbox_dir(environment)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sandbox.json").write_text(json.dumps(settings, indent=2) + "\n")
    return settings


def _require_docker_engine() -> None:
    """The container runtime needs the local Docker engine; say so before any change."""
    try:
        answered = (
            subprocess.run(
                ["docker", "version", "--format", "{{.Server.Version}}"],
                capture_output=True,
                timeout=30,
                check=False,
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        answered = False
    if not answered:
        raise PreflightError(
            "the container runtime needs the local Docker engine, which does not answer",
            hint="start it with scripts/docker-engine.sh (scripts/build-images.sh also builds "
            "the base image the release images need)",
        )


def _build_artifacts(environment: str) -> None:
    out = sandbox_dir(environment) / "artifacts"
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


def config_repo(environment: str = ENVIRONMENT) -> Path:
    return sandbox_dir(environment) / "config"


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in repo; its output, stripped."""
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(repo), **(env or {})},
    )
    return done.stdout.strip()


def providers_dir(environment: str = ENVIRONMENT) -> Path:
    return sandbox_dir(environment) / "providers"


def monitoring_dir(environment: str = ENVIRONMENT) -> Path:
    return sandbox_dir(environment) / "monitoring"


def prometheus_dir(environment: str = ENVIRONMENT) -> Path:
    return monitoring_dir(environment) / "prometheus"


def _create_config_repo(environment: str, ports: dict[str, int]) -> None:
    """The stack's configuration repository with its first commit, unless it exists; a
    repository made before the integrations gets them in a commit of their own."""
    repo = config_repo(environment)
    files = {
        f"integrations/{name}.env": text.format(port=ports[name])
        for name, text in INTEGRATION_FILES.items()
    }
    if (repo / ".git").exists():
        if (repo / "integrations").exists():
            return
        message = "Third-party integrations of the stack"
    else:
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "--quiet", "--initial-branch=main")
        files = {**CONFIG_FILES, **files}
        message = "Managed configuration of the stack"
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message, env=GIT_IDENTITY)


def _run(environment: str, playbook: str, extravars: dict[str, Any] | None = None) -> RunOutcome:
    outcome = run_playbook(get_environment(environment), playbook, extravars=extravars)
    if not outcome.ok:
        raise RollbackError(f"sandbox: {playbook} failed: {failure_message(outcome)}")
    return outcome


def up(environment: str = ENVIRONMENT, runtime: str | None = None) -> dict[str, Any]:
    """Start the stack; a new one runs its app on runtime (default service)."""
    _check_local(environment)
    guarded = is_guarded(environment)
    settings = _write_settings(environment, runtime)
    _build_artifacts(environment)
    # The stack belongs to whoever runs this machine; a guarded one is taken out of its
    # environment while it is being set up, and enrolled again when it is done.
    if guarded:
        unenroll(environment)
    else:
        enroll(environment)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    _run(environment, "sandbox.yml", {"sandbox_state": "started", "sandbox_snapshot_id": stamp})
    providers.start(providers_dir(environment), settings["providers"])
    if settings.get("monitoring"):
        monitoring.start(monitoring_dir(environment), settings["monitoring"]["alertmanager"])
    _create_config_repo(environment, settings["providers"])
    app1 = sandbox_dir(environment) / "app" / "app1"
    # Before the first release: the app starts with its settings, nothing restarts.
    baseline = {
        "config_deploy_commit": "HEAD",
        "config_deploy_verify": False,
        "config_deploy_baseline": True,
    }
    if not (app1 / "config-ledger.json").exists():
        # The configuration and every service's settings in one run: a run each cost a new
        # stack half its start-up time.
        _run(environment, "config_baseline.yml", baseline)
    for service in INTEGRATION_FILES:
        # A stack made before a service was integrated gets its settings on their own.
        if not (app1 / "integrations" / service / "ledger.json").exists():
            _run(environment, "config_deploy.yml", {**baseline, "config_deploy_service": service})
    if not (sandbox_dir(environment) / "app" / "app1" / "ledger.json").exists():
        _run(environment, "deploy.yml", {"release_deploy_id": GOOD_RELEASE})
        # The bad release passes deploy without the checklist, as bad releases do in real life.
        _run(
            environment,
            "deploy.yml",
            {"release_deploy_id": BAD_RELEASE, "release_deploy_verify": False},
        )
    else:
        # Already deployed: make sure every app host runs its current release.
        _run(environment, "app_service.yml")
    monitors = settings.get("monitoring", {})
    if "prometheus" in monitors:
        # Last: its first scrapes find every app host up.
        app_ports = {host: settings["ports"][host] for host in APP_HOSTS}
        prometheus.start(
            prometheus_dir(environment),
            monitors["prometheus"],
            triggers.load(environment),
            app_ports,
            monitors.get("alertmanager"),
        )
    enroll(environment)
    return status(environment)


def down(environment: str = ENVIRONMENT, purge: bool = False) -> dict[str, Any]:
    _check_local(environment)
    settings = _settings(environment)
    if settings:
        # Before the stack leaves its environment: stopping containers needs the engine.
        if settings.get("runtime") == "container":
            _require_docker_engine()
        unenroll(environment)
        _run(environment, "sandbox.yml", {"sandbox_state": "stopped", "sandbox_purge": purge})
        providers.stop(providers_dir(environment))
        prometheus.stop(prometheus_dir(environment))
        monitoring.stop(monitoring_dir(environment))
    if purge and sandbox_dir(environment).exists():
        shutil.rmtree(sandbox_dir(environment))
    return status(environment)


def status(environment: str = ENVIRONMENT) -> dict[str, Any]:
    _check_local(environment)
    settings = _settings(environment)
    ports = settings.get("ports", {})
    current = {}
    for host in APP_HOSTS:
        link = sandbox_dir(environment) / "app" / host / "current"
        current[host] = Path(link.readlink()).name if link.is_symlink() else None
    return {
        "environment": environment,
        "state_dir": str(sandbox_dir(environment)),
        "enrolled": identity_file(environment).exists(),
        "configured": bool(settings),
        "runtime": settings.get("runtime", DEFAULT_RUNTIME) if settings else None,
        "url": f"http://127.0.0.1:{ports['lb1']}" if ports else None,
        "database": {
            "host": "127.0.0.1",
            "port": ports.get("db1"),
            "name": "market",
            "user": "market",
        },
        "services": {name: providers.listening(port) for name, port in ports.items()},
        "providers": {
            name: providers.listening(port) for name, port in settings.get("providers", {}).items()
        },
        "monitoring": {
            name: background.url(port) if background.ready(port) else None
            for name, port in settings.get("monitoring", {}).items()
        },
        "current": current,
    }
