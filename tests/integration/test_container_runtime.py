"""`rollbackctl app` on the container runtime, through the CLI, on a sandbox whose app hosts
run each release's image on the local Docker engine (`sandbox up --runtime container`).

What a user sees: which image each host's container runs, what nginx serves, whether requests
through nginx kept being answered during the rollback, and the run's exit code and message.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.dbsandbox import DbSandbox
from tests.support.sandbox import APP_HOSTS, Sandbox, without_checklist_writes

pytestmark = pytest.mark.integration

GOOD, BAD = "2026.11.1", "2026.11.2"


@pytest.fixture
def stack(container_stack: Sandbox) -> Iterator[Sandbox]:
    """The module's container stack, back to the bad release running for every test."""
    yield container_stack
    container_stack.restore()


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


def containers(stack: Sandbox) -> dict[str, dict[str, Any]]:
    """Each app host's container as Docker reports it: id, image, state, network mode."""
    image = f"local/rollbackctl-sandbox-{stack.ports['lb1']}"
    out = {}
    for host in APP_HOSTS:
        found = docker("inspect", f"{image.split('/')[1]}-{host}")
        assert found.returncode == 0, f"no container for {host}: {found.stderr}"
        info = json.loads(found.stdout)[0]
        out[host] = {
            "id": info["Id"],
            "image": info["Config"]["Image"],
            "running": info["State"]["Running"],
            "network": info["HostConfig"]["NetworkMode"],
        }
    return out


def image_of(stack: Sandbox, release: str) -> str:
    return f"local/rollbackctl-sandbox-{stack.ports['lb1']}:{release}"


class Traffic:
    """Requests through nginx in a loop, counting the ones that were not answered with 200."""

    def __init__(self, url: str) -> None:
        self.url = url + "/api/health"
        self.sent = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sent += 1
            try:
                with urllib.request.urlopen(self.url, timeout=5) as resp:
                    if resp.status != 200:
                        self.failed.append(str(resp.status))
            except (urllib.error.URLError, OSError) as exc:
                self.failed.append(str(exc))
            self._stop.wait(0.05)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_a_new_stack_runs_the_bad_release_in_a_container_per_app_host(stack: Sandbox) -> None:
    status = stack.status()
    assert status["runtime"] == "container"
    running = containers(stack)
    for host in APP_HOSTS:
        assert running[host]["image"] == image_of(stack, BAD)
        assert running[host]["running"]
        assert running[host]["network"] == "host"
        # No supervised process: the container is what serves.
        assert not (stack.root / "app" / host / "run" / "supervisor.pid").exists()
    assert stack.served_release() == BAD


def test_app_rollback_runs_the_stable_image_on_every_host_while_nginx_keeps_answering(
    stack: Sandbox,
) -> None:
    before = containers(stack)
    with Traffic(stack.url) as traffic:
        result = stack.cli("app", "sandbox", "--yes", "--output", "json")
    assert result.code == 0, result.stderr
    document = result.json()
    assert (document["status"], document["from"], document["to"]) == ("succeeded", BAD, GOOD)
    after = containers(stack)
    for host in APP_HOSTS:
        assert after[host]["image"] == image_of(stack, GOOD)
        assert after[host]["running"]
        assert after[host]["id"] != before[host]["id"], f"{host}'s container was not replaced"
    assert stack.served_release() == GOOD
    states = stack.states()
    assert {h: s["current"] for h, s in states.items()} == dict.fromkeys(APP_HOSTS, GOOD)
    assert {h: s[BAD] for h, s in states.items()} == dict.fromkeys(APP_HOSTS, "bad")
    assert traffic.sent > 20
    assert traffic.failed == [], f"{len(traffic.failed)} of {traffic.sent}: {traffic.failed[:3]}"
    assert stack.place_order() == 201


def test_a_rerun_to_the_release_every_host_runs_changes_nothing(stack: Sandbox) -> None:
    assert stack.cli("app", "sandbox", "--yes").code == 0
    before, state = containers(stack), stack.host_state()
    result = stack.cli("app", "sandbox", "--yes", "--to", GOOD, "--output", "json")
    assert result.code == 0, result.stderr
    assert all(h["changed"] == 0 for h in result.json()["hosts"].values()), result.json()["hosts"]
    assert containers(stack) == before
    assert without_checklist_writes(stack.host_state()) == without_checklist_writes(state)


def test_check_mode_says_what_it_would_do_and_changes_nothing(stack: Sandbox) -> None:
    before, state = containers(stack), stack.host_state()
    result = stack.cli("app", "sandbox", "--check", "--yes", "--output", "json")
    assert result.code == 0, result.stderr
    document = result.json()
    assert (document["check"], document["from"], document["to"]) == (True, BAD, GOOD)
    assert containers(stack) == before
    assert stack.host_state() == state


@pytest.mark.parametrize("release", [GOOD, BAD], ids=["target", "put-back"])
def test_a_missing_image_of_the_target_or_of_the_release_to_put_back_is_refused_before_any_change(
    stack: Sandbox, release: str
) -> None:
    # The tag goes; its image stays under a tag the test puts back. A running container keeps
    # its image, but a failed rollout could not start it again.
    kept = image_of(stack, release).replace(release, "kept-by-test")
    assert docker("tag", image_of(stack, release), kept).returncode == 0
    assert docker("rmi", image_of(stack, release)).returncode == 0
    try:
        before, state = containers(stack), stack.host_state()
        result = stack.cli("app", "sandbox", "--yes")
        assert result.code != 0
        message = result.stderr.strip().splitlines()[-1]
        assert f"image {image_of(stack, release)} is not on app" in message
        assert "build or pull it there" in message
        assert containers(stack) == before
        assert stack.host_state() == state
    finally:
        docker("tag", kept, image_of(stack, release))
        docker("rmi", kept)


def test_a_kept_stack_keeps_its_runtime(stack: Sandbox) -> None:
    result = stack.cli("sandbox", "up", "--runtime", "service")
    assert result.code == 2
    assert "runs its app as a container, not as a service" in result.stderr
    assert "sandbox down --env sandbox --purge" in result.stderr
    assert stack.status()["runtime"] == "container"


def test_a_database_rollback_keeps_the_containers_serving_and_starts_no_service(
    stack: Sandbox,
) -> None:
    # The database checklist places an order, which the bad release cannot.
    assert stack.cli("app", "sandbox", "--yes").code == 0
    db = DbSandbox(stack)
    backup = db.take_backup()
    db.add_user("after-the-backup@example.com")
    before = containers(stack)

    result = stack.cli("db", "sandbox", "--yes", "--backup", backup["id"], "--output", "json")

    assert result.code == 0, result.stderr
    assert "after-the-backup@example.com" not in db.emails()
    after = containers(stack)
    for host in APP_HOSTS:
        assert after[host]["running"] and after[host]["image"] == before[host]["image"]
        # The service runtime's supervisor must not start beside the container.
        assert not (stack.root / "app" / host / "run" / "supervisor.pid").exists()
    status, health = stack.request("GET", "/api/health")
    assert status == 200 and health["database"] == "ok", health
    assert stack.place_order() == 201


def test_down_stops_the_containers_and_up_runs_them_again(stack: Sandbox) -> None:
    assert stack.cli("sandbox", "down").code == 0
    stopped = containers(stack)
    assert not any(c["running"] for c in stopped.values())
    assert stack.status()["services"] == dict.fromkeys(("app1", "app2", "db1", "lb1"), False)

    result = stack.cli("sandbox", "up", "--output", "json")

    assert result.code == 0, result.stderr
    assert result.json()["runtime"] == "container"
    running = containers(stack)
    assert all(c["running"] and c["image"] == image_of(stack, BAD) for c in running.values())
    assert stack.served_release() == BAD
