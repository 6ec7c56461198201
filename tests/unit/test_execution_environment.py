"""The AWX execution environment: ansible-builder makes a build context with the collection.

No image is built here (no registry is reachable); `ansible-builder create` writes the
Containerfile and the build context an image build would use, and that is what is checked.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EE_FILES = ("execution-environment.yml", "ee/requirements.yml", "requirements.txt", "bindep.txt")


def pins(path: Path) -> dict[str, str]:
    entries = yaml.safe_load(path.read_text())["collections"]
    return {e["name"]: str(e["version"]) for e in entries if "version" in e}


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build context made from a copy of the EE files and a freshly built collection."""
    work = tmp_path_factory.mktemp("ee")
    for name in EE_FILES:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, work / name)
    build = [BIN / "ansible-galaxy", "collection", "build", "--output-path", work / "ee", REPO_ROOT]
    subprocess.run(build, check=True, capture_output=True, text=True)
    create = [BIN / "ansible-builder", "create", "-f", work / "execution-environment.yml"]
    subprocess.run([*create, "-c", work / "context"], check=True, capture_output=True, text=True)
    return work / "context"


def test_the_context_installs_the_collection_from_its_tarball(context: Path) -> None:
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    tarball = requirements["collections"][0]
    assert tarball["type"] == "file"
    assert (context / "_build" / tarball["name"]).is_file()
    containerfile = next(p for p in context.iterdir() if p.name in ("Containerfile", "Dockerfile"))
    assert "ansible-galaxy collection install" in containerfile.read_text()
    assert "ansible-core==" in containerfile.read_text()


def test_the_collection_carries_the_safety_core_and_policies_not_the_cli(context: Path) -> None:
    tarball = next((context / "_build" / "collections").glob("rollbackctl-runbooks-*.tar.gz"))
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {
        "meta/rollbacks.yml",
        "plugins/plugin_utils/guard.py",
        "plugins/plugin_utils/policy.py",
        "plugins/callback/rollback_record.py",
        "playbooks/app.yml",
        "inventories/production/policy.yml",
    } <= names
    assert not [
        n for n in names if n.startswith(("rollbackctl/", "tests/", ".venv/", "collections/"))
    ]


def test_python_and_system_requirements_reach_the_build(context: Path) -> None:
    python = (context / "_build" / "requirements.txt").read_text()
    assert "mitogen==" in python and "psycopg" in python
    assert "openssh-client" in (context / "_build" / "bindep.txt").read_text()


def test_collection_declares_its_requirements_the_way_collections_do() -> None:
    meta = yaml.safe_load((REPO_ROOT / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    project = (REPO_ROOT / "pyproject.toml").read_text()
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            assert f'"{line}"' in project, f"{line} differs from the CLI's pin in pyproject.toml"


def test_the_environment_pins_the_collections_setup_installs() -> None:
    environment = pins(REPO_ROOT / "ee" / "requirements.yml")
    project = pins(REPO_ROOT / "collections" / "requirements.yml")
    assert environment == {name: project[name] for name in environment}
    galaxy = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
    assert set(galaxy["dependencies"]) <= set(environment)
