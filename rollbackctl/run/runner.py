"""Run a playbook through ansible-runner in a private data dir and collect what happened."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ansible_runner
import yaml
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import RollbackError
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.grant import process_start
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import (
    project_dir,
    state_dir,
)

from rollbackctl.run.environments import Environment

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


# Tasks that are bookkeeping, not steps an operator or a post-mortem follows.
BOOKKEEPING_TASKS = ("Validating arguments against", "Gathering Facts")
# Tasks whose start is shown too: they wait for a person, whose prompt is the task's name.
ANNOUNCED_TASKS = ("Wait ",)


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
    """Strings go out quoted, and tagged !unsafe where they could be a template."""


def _unsafe_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Ansible resolves an !unsafe scalar's type again ('on' would come back as true), so
    # only what could be a template is tagged; the rest goes out as a quoted string.
    if any(mark in value for mark in ("{{", "{%", "{#")):
        return dumper.represent_scalar("!unsafe", value, style="'")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")


_UnsafeDumper.add_representer(str, _unsafe_str)


def write_extravars(run_dir: Path, extravars: dict[str, Any]) -> Path:
    """Run inputs as data: ansible-runner passes this file with -e @file."""
    path = run_dir / "env" / "extravars"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.dump(extravars, Dumper=_UnsafeDumper, sort_keys=True))
    path.chmod(0o600)
    return path


class _UnsafeLoader(yaml.SafeLoader):
    """Reads an extravars file back: its !unsafe strings are plain strings to Python."""


def _unsafe_scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(
            None, None, "!unsafe on a non-scalar", node.start_mark
        )
    return loader.construct_scalar(node)


_UnsafeLoader.add_constructor("!unsafe", _unsafe_scalar)


def read_extravars(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "env" / "extravars"
    if not path.exists():
        return {}
    data = yaml.load(path.read_text(), Loader=_UnsafeLoader)  # a SafeLoader: data only
    return data if isinstance(data, dict) else {}


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
    """Run playbooks/<playbook> against env; every run gets its own folder under runs/.

    The run belongs to a supervisor process of its own session, not to the caller: a closed
    terminal, Ctrl-C or kill -9 of the caller leaves it running to its end, recorded. The
    caller follows it through the events it writes, and can re-attach the same way.
    """
    run_id = run_id or new_run_id()
    run_dir = runs_dir() / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    write_extravars(run_dir, extravars or {})
    spec = RunSpec(
        run_id=run_id,
        playbook=playbook,
        environment=env.name,
        inventory=str(env.inventory),
        check=check,
        timeout=timeout,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    _write_json(run_dir / SPEC_FILE, asdict(spec))
    supervisor = start_supervisor(run_dir)
    return follow_run(run_dir, on_step=on_step, supervisor=supervisor)


# --- the detached run: what to run, who runs it, how it ended ---------------------------------
SPEC_FILE = "run.json"  # what the supervisor runs, written before it starts
SUPERVISOR_FILE = "supervisor.json"  # the supervisor's pid and start time
STATUS_FILE = "status.json"  # written once, when the run has ended
SUPERVISOR_LOG = "supervisor.log"
POLL_SECONDS = 0.1
# A supervisor that has not said who it is by then never started.
SUPERVISOR_START_SECONDS = 30.0
EVENT_FILE_RE = re.compile(r"^(\d+)-[0-9a-fA-F-]+\.json$")


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    playbook: str
    environment: str
    inventory: str
    check: bool
    timeout: int
    created_at: str = ""


class RunDetached(RollbackError):
    """The caller stopped following; the run itself goes on in its supervisor."""

    def __init__(self, run_id: str, signum: int) -> None:
        super().__init__(
            f"run {run_id} continues detached",
            hint=f"follow it with 'rollbackctl attach {run_id}'",
        )
        # The shell's convention for a command ended by a signal: 130 for Ctrl-C.
        self.exit_code = 128 + signum


class RunLostError(RollbackError):
    """The supervisor of a run ended without recording how the run ended."""

    exit_code = 6


def read_spec(run_dir: Path) -> RunSpec:
    data = json.loads((run_dir / SPEC_FILE).read_text())
    return RunSpec(**{k: v for k, v in data.items() if k in RunSpec.__dataclass_fields__})


def read_status(run_dir: Path) -> dict[str, Any] | None:
    """How the run ended, or None while it runs."""
    try:
        data: dict[str, Any] = json.loads((run_dir / STATUS_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data


def start_supervisor(run_dir: Path) -> subprocess.Popen[bytes]:
    """python -m rollbackctl.run.supervise RUN_DIR in a session of its own, no terminal attached."""
    with open(run_dir / SUPERVISOR_LOG, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "rollbackctl.run.supervise", str(run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: no terminal's SIGHUP or SIGINT reaches it, and killing the
            # caller's process group leaves it alone.
            start_new_session=True,
            # The checkout is the trust root: the supervisor imports this package from there,
            # in the same controlled environment its playbook gets.
            cwd=str(project_dir()),
            env=ansible_env(),
        )


def supervise(run_dir: Path) -> dict[str, Any]:
    """Run the run dir's spec through ansible-runner here, then record how it ended."""
    spec = read_spec(run_dir)
    _write_json(
        run_dir / SUPERVISOR_FILE,
        {"pid": os.getpid(), "pid_start": process_start(os.getpid())},
    )
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    status: dict[str, Any] = {"run_id": spec.run_id, "playbook": spec.playbook}
    try:
        if Path(spec.playbook).name != spec.playbook:
            raise ValueError(f"playbook {spec.playbook!r} is not a file name")
        with controlled_environ(ansible_env()):
            runner = ansible_runner.run(
                private_data_dir=str(run_dir),
                project_dir=str(project_dir()),
                playbook=str(project_dir() / "playbooks" / spec.playbook),
                inventory=spec.inventory,
                cmdline="--check" if spec.check else None,
                ident="ansible",
                quiet=True,
                suppress_env_files=True,
                timeout=spec.timeout,
            )
        status.update(status=runner.status, rc=runner.rc, stats=runner.stats)
    except Exception as exc:  # the follower must learn of it, not wait for a status forever
        status.update(status="error", rc=None, stats=None, error=f"{type(exc).__name__}: {exc}")
    status.update(
        started_at=started_at,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(time.monotonic() - started, 3),
    )
    _write_json(run_dir / STATUS_FILE, status)
    _prune_runs()
    return status


def supervisor_alive(run_dir: Path) -> bool | None:
    """Whether the run's supervisor process still exists; None before it has said who it is."""
    try:
        data = json.loads((run_dir / SUPERVISOR_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    started = process_start(int(data["pid"]))
    return bool(started) and started == data.get("pid_start")


class EventFolder:
    """The job events ansible-runner writes for a run, each returned once, in counter order.

    ansible-runner renames every event file into place whole; its partial and temporary
    files are not events yet and are left for a later read.
    """

    def __init__(self, run_dir: Path) -> None:
        self.folder = run_dir / "artifacts" / "ansible" / "job_events"
        self._seen: set[str] = set()

    def read_new(self) -> list[dict[str, Any]]:
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        fresh = []
        for name in names:
            match = EVENT_FILE_RE.match(name)
            if match and name not in self._seen:
                fresh.append((int(match.group(1)), name))
        events = []
        for _, name in sorted(fresh):
            try:
                event = json.loads((self.folder / name).read_text())
            except (OSError, ValueError):
                continue
            self._seen.add(name)
            events.append(event)
        return events


class EventCollector:
    """Steps and stats of a run, built from its events; on_step sees each step as it lands."""

    def __init__(self, on_step: Callable[[Step], None] | None = None) -> None:
        self.on_step = on_step
        self.steps: list[Step] = []
        self.stats: dict[str, Any] = {}
        self.host_stats: dict[str, dict[str, int]] = {}

    def handle(self, event: dict[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind == "playbook_on_stats":
            self.stats.update(data.get("artifact_data") or {})
            for key in ("ok", "changed", "failures", "skipped", "rescued", "ignored", "dark"):
                for host, count in (data.get(key) or {}).items():
                    self.host_stats.setdefault(host, {})[key] = count
        elif kind == "runner_on_start" and str(data.get("task", "")).startswith(ANNOUNCED_TASKS):
            # Shown, not kept: the step's outcome follows as its own event.
            if self.on_step:
                self.on_step(
                    Step(
                        host=data.get("host", ""),
                        task=data["task"],
                        role="",
                        status="started",
                        changed=False,
                    )
                )
        elif kind in EVENT_STATUS and data.get("host"):
            step = _step_from_event(kind, data)
            self.steps.append(step)
            if self.on_step:
                self.on_step(step)
        return True  # keep the event on disk too: the artifacts are the evidence


def follow_run(
    run_dir: Path,
    *,
    on_step: Callable[[Step], None] | None = None,
    supervisor: subprocess.Popen[bytes] | None = None,
    poll: float = POLL_SECONDS,
) -> RunOutcome:
    """Follow a run from its events until its supervisor records the end; its RunOutcome.

    SIGINT, SIGTERM and SIGHUP raise RunDetached: they stop the following, never the run.
    """
    spec = read_spec(run_dir)
    events = EventFolder(run_dir)
    collector = EventCollector(on_step)
    waited = time.monotonic()
    with _detach_on_signals(spec.run_id):
        while True:
            for event in events.read_new():
                collector.handle(event)
            status = read_status(run_dir)
            if status is not None:
                break
            if supervisor is not None:
                # Our own child: poll() also reaps it, and a zombie would still look alive.
                alive: bool | None = supervisor.poll() is None
            else:
                alive = supervisor_alive(run_dir)
            if alive is False or (
                alive is None and time.monotonic() - waited > SUPERVISOR_START_SECONDS
            ):
                status = read_status(run_dir)  # it may have finished since the last look
                if status is not None:
                    break
                raise RunLostError(
                    f"run {spec.run_id}: its supervisor ended without recording an outcome",
                    hint=f"see {run_dir / SUPERVISOR_LOG} and 'rollbackctl status "
                    f"{spec.environment}'",
                )
            time.sleep(poll)
        # Every event is on disk before the status is: these are the last ones.
        for event in events.read_new():
            collector.handle(event)
    if supervisor is not None:
        supervisor.wait()
    return RunOutcome(
        run_id=spec.run_id,
        playbook=spec.playbook,
        status=str(status.get("status")),
        rc=status.get("rc"),
        steps=collector.steps,
        stats=collector.stats,
        host_stats=collector.host_stats,
        run_dir=run_dir,
        started_at=str(status.get("started_at") or spec.created_at),
        finished_at=str(status.get("finished_at") or ""),
        duration_s=float(status.get("duration_s") or 0.0),
    )


@contextmanager
def _detach_on_signals(run_id: str) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def detach(signum: int, _frame: object) -> None:
        raise RunDetached(run_id, signum)

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, detach) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Readers see the whole document or none of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


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
        # Another run's supervisor may be pruning the same folder at the same moment.
        with suppress(FileNotFoundError):
            for path in sorted(old.rglob("*"), reverse=True):
                path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
            old.rmdir()
