"""A private sandbox stack for one benchmark, and running the CLI against it.

Each benchmark brings up its own stack under a temporary state folder, so it measures nothing
another run left behind, and purges it afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
CLI = [str(BIN / "rollbackctl")]


def sh(cmd: list[str], env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run cmd; a failure ends the benchmark naming the command and its last error lines."""
    proc = subprocess.run(cmd, env=env, check=False, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise SystemExit(f"{' '.join(cmd[:3])} failed (exit {proc.returncode}): {tail}")
    return proc


def timed(cmd: list[str], env: dict[str, str], **kw: Any) -> float:
    """Wall seconds of one successful run of cmd."""
    started = time.perf_counter()
    sh(cmd, env, **kw)
    return time.perf_counter() - started


def status_of(url: str) -> int:
    """The HTTP status a user gets at url; 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def medians(samples: dict[str, list[float]]) -> dict[str, float]:
    return {name: round(statistics.median(values), 3) for name, values in samples.items()}


@dataclass(frozen=True)
class Stack:
    state: Path
    env: dict[str, str]
    status: dict[str, Any]

    @property
    def root(self) -> Path:
        return self.state / "sandbox"

    @property
    def url(self) -> str:
        return self.status["url"]

    @property
    def db_port(self) -> int:
        return int(self.status["database"]["port"])


@contextmanager
def private_sandbox(*, good_release_live: bool = False, keep: bool = False) -> Iterator[Stack]:
    """A running sandbox (bad release current, or the good one when good_release_live)."""
    state = Path(tempfile.mkdtemp(prefix="rollbackctl-bench-"))
    state.chmod(0o755)
    env = {**os.environ, "ROLLBACKCTL_STATE_DIR": str(state), "PATH": f"{BIN}:{os.environ['PATH']}"}
    try:
        sh([*CLI, "sandbox", "up"], env)
        if good_release_live:
            sh([*CLI, "app", "sandbox", "--yes"], env)
        status = json.loads(sh([*CLI, "sandbox", "status", "-o", "json"], env).stdout)
        yield Stack(state, env, status)
    finally:
        if not keep:
            subprocess.run(
                [*CLI, "sandbox", "down", "--purge"], env=env, capture_output=True, check=False
            )
            shutil.rmtree(state, ignore_errors=True)
