"""Make the collection's module_utils importable as plain modules for unit tests, and the
fixtures several unit test modules share."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import grant

# module_utils are pure Python; import them directly rather than through ansible's loader.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "module_utils"))


@pytest.fixture
def pid() -> Iterator[int]:
    """A live process of this test's own, standing in for an ansible-playbook run; its grant
    is removed afterwards."""
    process = subprocess.Popen(["sleep", "60"])
    yield process.pid
    grant.remove(process.pid)
    process.kill()
    process.wait()
