"""Run a playbook through ansible-runner in a private data dir and collect what happened."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from rollbackctl.environments import Environment
from rollbackctl.paths import project_dir, state_dir

# Outcome words per runner event, as a user reads them in the progress and the result.
EVENT_STATUS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
    "runner_item_on_failed": "failed",
}
DEFAULT_TIMEOUT_SECONDS = 1800
RUNS_KEPT = 200


@dataclass
class Step:
    host: str
    task: str
    role: str
    status: str
    changed: bool
    message: str = ""
    ignored: bool = False
    result: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class RunOutcome:
    run_id: str
    playbook: str
    status: str
    rc: int | None
    steps: list[Step]
    stats: dict[str, Any]
    host_stats: dict[str, dict[str, int]]
    run_dir: Path
    started_at: str
    finished_at: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.status == "successful"

    def failures(self) -> list[Step]:
        return [s for s in self.steps if s.status in ("failed", "unreachable") and not s.ignored]

    def output_tail(self, lines: int = 40) -> list[str]:
        stdout = self.run_dir / "artifacts" / "ansible" / "stdout"
        return stdout.read_text(errors="replace").splitlines()[-lines:] if stdout.exists() else []

    def changed_anything(self) -> bool:
        return any(s.changed for s in self.steps)


def new_run_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def runs_dir() -> Path:
    return state_dir() / "runs"


# The caller's environment reaches Ansible only through these names: ANSIBLE_*, PG*, PYTHON*
# and the like would otherwise pick another config, plugins, callbacks or database.
PASSED_ENV = ("HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "TMPDIR")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def ansible_env() -> dict[str, str]:
    """The whole environment of an ansible-playbook run: fixed, except the stack location."""
    # ansible-runner calls ansible-playbook from PATH: the one beside this interpreter first.
    venv_bin = str(Path(sys.executable).parent)
    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    env.update(
        {
            "PATH": venv_bin + os.pathsep + SYSTEM_PATH,
            "ANSIBLE_CONFIG": str(project_dir() / "ansible.cfg"),
            # Where the local sandbox stacks are; guarded environments ignore it.
            "ROLLBACKCTL_STATE_DIR": str(state_dir()),
            "ANSIBLE_NOCOLOR": "1",
        }
    )
    return env


@contextmanager
def controlled_environ(env: dict[str, str]) -> Iterator[None]:
    """ansible-runner seeds its child's environment from os.environ: make that exactly env."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class _UnsafeDumper(yaml.SafeDumper):
    """Every string goes out tagged !unsafe: Ansible then never evaluates it as a template."""


def _unsafe_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("!unsafe", value, style="'")


_UnsafeDumper.add_representer(str, _unsafe_str)


def write_extravars(run_dir: Path, extravars: dict[str, Any]) -> Path:
    """Run inputs as data: ansible-runner passes this file with -e @file."""
    path = run_dir / "env" / "extravars"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.dump(extravars, Dumper=_UnsafeDumper, sort_keys=True))
    path.chmod(0o600)
    return path


def run_playbook(
    env: Environment,
    playbook: str,
    *,
    extravars: dict[str, Any] | None = None,
    check: bool = False,
    run_id: str | None = None,
    on_step: Callable[[Step], None] | None = None,
    timeout: int = DEFAULT_TIMEOUT_SECONDS,
) -> RunOutcome:
    """Run playbooks/<playbook> against env; every run gets its own folder under runs/."""
    run_id = run_id or new_run_id()
    run_dir = runs_dir() / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    steps: list[Step] = []
    stats: dict[str, Any] = {}
    host_stats: dict[str, dict[str, int]] = {}

    def handle(event: dict[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind == "playbook_on_stats":
            stats.update(data.get("artifact_data") or {})
            for key in ("ok", "changed", "failures", "skipped", "rescued", "ignored", "dark"):
                for host, count in (data.get(key) or {}).items():
                    host_stats.setdefault(host, {})[key] = count
        elif kind in EVENT_STATUS and data.get("host"):
            step = _step_from_event(kind, data)
            steps.append(step)
            if on_step:
                on_step(step)
        return True  # keep the event on disk too: the artifacts are the evidence

    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    write_extravars(run_dir, extravars or {})
    with controlled_environ(ansible_env()):
        runner = ansible_runner.run(
            private_data_dir=str(run_dir),
            project_dir=str(project_dir()),
            playbook=str(project_dir() / "playbooks" / playbook),
            inventory=str(env.inventory),
            cmdline="--check" if check else None,
            ident="ansible",
            quiet=True,
            suppress_env_files=True,
            timeout=timeout,
            event_handler=handle,
        )
    _prune_runs()
    return RunOutcome(
        run_id=run_id,
        playbook=playbook,
        status=runner.status,
        rc=runner.rc,
        steps=steps,
        stats=stats,
        host_stats=host_stats,
        run_dir=run_dir,
        started_at=started_at,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(time.monotonic() - started, 3),
    )


def _step_from_event(kind: str, data: dict[str, Any]) -> Step:
    res = data.get("res") or {}
    status = EVENT_STATUS[kind]
    if status == "ok" and res.get("changed"):
        status = "changed"
    message = res.get("msg") or ""
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message)
    return Step(
        host=data.get("host", ""),
        task=data.get("task", ""),
        role=data.get("role", "") or "",
        status=status,
        changed=bool(res.get("changed")),
        message=str(message).strip(),
        ignored=bool(data.get("ignore_errors")),
        result=res,
    )


def _prune_runs() -> None:
    """Keep the newest runs only; run ids sort by time."""
    runs = sorted(p for p in runs_dir().iterdir() if p.is_dir())
    for old in runs[:-RUNS_KEPT]:
        for path in sorted(old.rglob("*"), reverse=True):
            path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
        old.rmdir()
