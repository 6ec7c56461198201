"""Shared fixtures: each module gets a stack as new (a worker sets each kind up once and
puts it back from a copy for every module), reset between tests."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.checkout import CLI_CONTENT, copy_checkout
from tests.support.keys import make_key, write_allowed_signers
from tests.support.pool import StackPool, lent
from tests.support.sandbox import REPO_ROOT, Sandbox

# The modules that take longest start first: workers take modules in collection order, and a
# long module started last (as these fell alphabetically) keeps one worker busy while the
# others idle at the end of the run.
LONGEST_FIRST = (
    "test_full_rollback.py",
    "test_hostile_operator.py",
    "test_third_party_rollback.py",
    "test_authorization.py",
    "test_config_rollback.py",
    "test_infra.py",
)

GUARDED = "sandbox-guarded"
# The production policy's people: cto, two managers, lead dev, devops lead, on-call.
SIGNERS = ("carol", "erin", "ezra", "lena", "dmitri", "oscar")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest modules first, the rest in the order collected (each module's own order kept)."""

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)


@contextmanager
def _stack(
    environment: str, checkout: Path = REPO_ROOT, runtime: str = "service"
) -> Iterator[Sandbox]:
    # Not pytest's tmp tree: it is root-only, and the postgres user must reach its data dir.
    state = Path(tempfile.mkdtemp(prefix="rollbackctl-test-"))
    state.chmod(0o755)
    stack = Sandbox(state, environment, checkout, runtime)
    try:
        stack.up()
        stack.snapshot()
        yield stack
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def stack_pool() -> Iterator[StackPool]:
    """The worker's stacks, set up the first time a module asks and taken down at the end."""
    pool = StackPool()
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def sandbox_stack(stack_pool: StackPool) -> Iterator[Sandbox]:
    """A running sandbox as new: 2026.11.1 stable, 2026.11.2 (bad) current."""
    yield from lent(stack_pool, "sandbox", lambda: _stack("sandbox"))


@pytest.fixture
def sandbox(sandbox_stack: Sandbox) -> Iterator[Sandbox]:
    """The module's sandbox, back in its just-started state for every test."""
    yield sandbox_stack
    sandbox_stack.restore()


@pytest.fixture(scope="module")
def guarded_stack(stack_pool: StackPool) -> Iterator[Sandbox]:
    """A sandbox-guarded stack (the production policy) as new, the approvers' keys installed
    and its trust root (signers, nonces, lock, audit log) empty of any run."""
    yield from lent(stack_pool, GUARDED, _guarded_stack)


@contextmanager
def _guarded_stack() -> Iterator[Sandbox]:
    """A guarded stack of its own. Its trust root is the state dir its policy names, under the
    checkout: the stack runs from a copy of the checkout of its own, so that workers can run
    side by side."""
    checkout = Path(tempfile.mkdtemp(prefix="rollbackctl-checkout-"))
    checkout.chmod(0o755)
    copy_checkout(checkout, *CLI_CONTENT)
    try:
        with _stack(GUARDED, checkout) as stack:
            keys_dir = stack.state_dir / "test-keys"
            keys_dir.mkdir()
            stack.keys = {name: make_key(keys_dir, name) for name in (*SIGNERS, "mallory")}
            signers = {name: stack.keys[name] for name in SIGNERS}
            write_allowed_signers(stack.trust_dir / "signers" / "allowed_signers", signers)
            yield stack
    finally:
        shutil.rmtree(checkout, ignore_errors=True)


@pytest.fixture(scope="module")
def container_stack() -> Iterator[Sandbox]:
    """A running sandbox on the container runtime: each app host runs its release's image.

    Its purge must leave none of the stack's containers or images on the engine.
    """
    names = ""
    try:
        with _stack("sandbox", runtime="container") as stack:
            names = f"rollbackctl-sandbox-{stack.ports['lb1']}"
            yield stack
    finally:
        # Whatever is left goes, so that a failed run leaves nothing on the engine.
        left = _remove_docker_leftovers(names) if names else []
    assert not left, f"sandbox down --purge left {left} on the Docker engine"


def _remove_docker_leftovers(names: str) -> list[str]:
    """Remove the containers and images whose names start with names; return what was there."""
    containers = _docker_lines("ps", "-a", "--filter", f"name={names}-", "--format", "{{.Names}}")
    images = _docker_lines("images", f"local/{names}", "--format", "{{.Repository}}:{{.Tag}}")
    for command, leftovers in (("rm", containers), ("rmi", images)):
        for leftover in leftovers:
            subprocess.run(["docker", command, "-f", leftover], capture_output=True, check=False)
    return containers + images


def _docker_lines(*args: str) -> list[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True
    ).stdout.split()


@pytest.fixture
def guarded(guarded_stack: Sandbox) -> Iterator[Sandbox]:
    """The module's guarded stack for one test; a lock the test leaves behind fails it."""
    guarded_stack.env.pop("ROLLBACKCTL_OPERATOR", None)
    yield guarded_stack
    leaked = guarded_stack.locks()
    guarded_stack.restore()
    assert not leaked, f"the test left a lock behind: {leaked}"
