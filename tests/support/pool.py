"""Stacks shared by the test modules one worker runs, each module getting a stack as new.

Setting a stack up costs about as much as a module's tests: the configuration, two releases
and a verified deploy go through the real runbooks. A worker sets each kind of stack up once,
stops it and keeps a copy of its files (the database's data folder among them, copied while
PostgreSQL is stopped). Every module after the first gets the stack back from that copy, on
the same ports: the same state as a new stack, at a fifth of the cost.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, suppress
from pathlib import Path

from tests.support.sandbox import Sandbox


class PooledStack:
    """One stack and the copy of its files taken just after it was set up."""

    def __init__(self, stack: Sandbox) -> None:
        self.stack = stack
        self._copy = Path(tempfile.mkdtemp(prefix="rollbackctl-stack-copy-"))
        stack.stop()
        _copy_tree(stack.state_dir, self._copy / "state")
        if stack.guarded:
            # The trust root (signers, nonces, lock, audit log) lives in the stack's checkout.
            _copy_tree(stack.trust_dir, self._copy / "trust")

    def lend(self) -> Sandbox:
        """The stack as it was when it was set up, running."""
        _copy_tree(self._copy / "state", self.stack.state_dir)
        if self.stack.guarded:
            _copy_tree(self._copy / "trust", self.stack.trust_dir)
        self.stack.up()
        return self.stack

    def give_back(self) -> None:
        """Stop the stack, and whatever a module's runs left behind on it (a confirmer that
        outlives a failed run ends by itself later, which must not be on the next module's
        stack)."""
        try:
            self.stack.stop()
        finally:
            _kill_processes_of(self.stack.state_dir)

    def close(self) -> None:
        """Forget the copy; the stack's owner takes it down."""
        shutil.rmtree(self._copy, ignore_errors=True)


class StackPool:
    """The worker's stacks by kind, each made by its factory the first time it is asked for."""

    def __init__(self) -> None:
        self._stacks: dict[str, PooledStack] = {}
        self._owners = ExitStack()

    def lend(self, kind: str, make: Callable[[], AbstractContextManager[Sandbox]]) -> Sandbox:
        if kind not in self._stacks:
            pooled = PooledStack(self._owners.enter_context(make()))
            # Callbacks run last in, first out: the copy goes before its owner takes it down.
            self._owners.callback(pooled.close)
            self._stacks[kind] = pooled
        return self._stacks[kind].lend()

    def give_back(self, kind: str) -> None:
        self._stacks[kind].give_back()

    def close(self) -> None:
        self._owners.close()


def lent(
    pool: StackPool, kind: str, make: Callable[[], AbstractContextManager[Sandbox]]
) -> Iterator[Sandbox]:
    """A module fixture's body: the pool's stack of kind for the module, given back after it."""
    stack = pool.lend(kind, make)
    try:
        yield stack
    finally:
        pool.give_back(kind)


def _copy_tree(source: Path, target: Path) -> None:
    # cp -a keeps owners (PostgreSQL's data folder belongs to its own user), modes and links.
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)


def _kill_processes_of(state_dir: Path) -> None:
    """Kill every process started for the stack under state_dir: its environment names it."""
    marker = f"ROLLBACKCTL_STATE_DIR={state_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0") and not _gone(entry):
                found.append(int(entry.name))
        except OSError:
            continue
    for pid in found:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(_gone(Path(f"/proc/{pid}")) for pid in found):
        time.sleep(0.05)


def _gone(proc: Path) -> bool:
    """The process ended: no entry, or a zombie its parent has not reaped yet."""
    try:
        return proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True
