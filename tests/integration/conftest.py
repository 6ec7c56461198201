"""Shared fixtures: one private sandbox stack per test module, reset between tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox_stack() -> Iterator[Sandbox]:
    """A running sandbox: 2026.11.1 stable, 2026.11.2 (bad) current. Purged afterwards."""
    # Not pytest's tmp tree: it is root-only, and the postgres user must reach its data dir.
    state = Path(tempfile.mkdtemp(prefix="rollbackctl-test-"))
    state.chmod(0o755)
    stack = Sandbox(state)
    try:
        stack.up()
        stack.snapshot()
        yield stack
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def sandbox(sandbox_stack: Sandbox) -> Iterator[Sandbox]:
    """The module's sandbox, back in its just-started state for every test."""
    yield sandbox_stack
    sandbox_stack.restore()
