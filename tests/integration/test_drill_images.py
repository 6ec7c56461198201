"""The local drill images built by scripts/build-images.sh run what the molecule drills need.

These check the images, not a rollback: they are their own `images` tests, run before the drills
so a broken image is named as such rather than as a failed drill.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.images

SUITE = "bookworm"
HOST_IMAGES = [f"local/rollbackctl-{name}:{SUITE}" for name in ("host", "app", "db", "lb")]
BUILD_HINT = "build them with scripts/build-images.sh"


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30)
    return probe.returncode == 0


@pytest.fixture(scope="module", autouse=True)
def docker_engine() -> None:
    """No engine is a failure, never a skip: `make drills` must not pass without drills."""
    if not _docker_answers():
        pytest.fail(
            "no Docker engine answers `docker info`; start one with scripts/docker-engine.sh",
            pytrace=False,
        )


def run_in(image: str, *command: str) -> subprocess.CompletedProcess[str]:
    """Run one command in a throw-away container of image; fail clearly if the image is absent."""
    present = subprocess.run(
        ["docker", "image", "inspect", image], capture_output=True, check=False
    )
    if present.returncode != 0:
        pytest.fail(f"image {image} is missing; {BUILD_HINT}")
    return subprocess.run(
        ["docker", "run", "--rm", image, *command],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("image", HOST_IMAGES)
def test_python3_runs_for_ansible(image: str) -> None:
    result = run_in(image, "python3", "-c", "import json, sys; print(sys.version_info[0])")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"


@pytest.mark.parametrize("image", HOST_IMAGES)
def test_apt_module_bindings_import(image: str) -> None:
    result = run_in(image, "python3", "-c", "import apt_pkg")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("image", HOST_IMAGES)
def test_default_command_keeps_container_alive(image: str) -> None:
    inspected = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Cmd}}", image],
        capture_output=True,
        text=True,
        check=False,
    )
    assert inspected.returncode == 0, f"image {image} is missing; {BUILD_HINT}"
    assert inspected.stdout.strip() == '["sleep","infinity"]'


@pytest.mark.parametrize("image", HOST_IMAGES)
def test_no_sudo_like_the_build_machines(image: str) -> None:
    # The container runs (it finds sh), and sh finds no sudo on its PATH.
    result = run_in(image, "sh", "-c", "command -v sh && ! command -v sudo")
    assert result.returncode == 0, f"sudo found at {result.stdout.strip()}: {result.stderr}"
    assert result.stdout.strip().endswith("/sh")


def test_app_imports_psycopg3() -> None:
    result = run_in(
        f"local/rollbackctl-app:{SUITE}",
        "python3",
        "-c",
        "import psycopg; print(psycopg.__version__)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("3.")


def test_db_has_postgresql_15_server() -> None:
    result = run_in(
        f"local/rollbackctl-db:{SUITE}", "/usr/lib/postgresql/15/bin/postgres", "--version"
    )
    assert result.returncode == 0, result.stderr
    assert "PostgreSQL) 15." in result.stdout


def test_db_has_psql_client() -> None:
    result = run_in(f"local/rollbackctl-db:{SUITE}", "psql", "--version")
    assert result.returncode == 0, result.stderr
    assert "15." in result.stdout


def test_db_has_postgres_user() -> None:
    result = run_in(f"local/rollbackctl-db:{SUITE}", "id", "-un", "postgres")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "postgres"


def test_db_cluster_is_installed_but_not_running() -> None:
    result = run_in(f"local/rollbackctl-db:{SUITE}", "pg_lsclusters", "--no-header")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:4] == ["15", "main", "5432", "down"]


def test_db_server_starts_as_postgres() -> None:
    # What a drill's converge does first: start the packaged cluster and query it.
    result = run_in(
        f"local/rollbackctl-db:{SUITE}",
        "sh",
        "-c",
        "pg_ctlcluster 15 main start && runuser -u postgres -- psql -Atc 'select 1'",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "1"


def test_db_can_run_community_postgresql_modules() -> None:
    result = run_in(f"local/rollbackctl-db:{SUITE}", "python3", "-c", "import psycopg")
    assert result.returncode == 0, result.stderr


def test_lb_has_nginx() -> None:
    result = run_in(f"local/rollbackctl-lb:{SUITE}", "nginx", "-v")
    assert result.returncode == 0, result.stderr
    assert "nginx version: nginx/" in result.stderr


def test_lb_nginx_config_is_valid() -> None:
    result = run_in(f"local/rollbackctl-lb:{SUITE}", "nginx", "-t")
    assert result.returncode == 0, result.stderr
