"""Open a page in a real headless Chromium (Debian's): the DOM it built, and a screenshot
kept with the test artifacts (.cache/test-artifacts, beside the checkout's other caches)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tests.support.sandbox import REPO_ROOT

ARTIFACTS = REPO_ROOT / ".cache" / "test-artifacts"
# Headless, as root, on a machine with no way out: nothing of Chromium's own may reach for the
# network (its background connections would be refused, many at a time).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def _chromium(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="rollbackctl-chromium-") as profile:
        return subprocess.run(
            ["chromium", *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


def rendered_dom(page: Path) -> str:
    """The document Chromium built from page once it loaded."""
    return _chromium(page, "--dump-dom").stdout


def screenshot(page: Path, name: str, size: str = "1280,2400") -> Path:
    """A PNG of page as Chromium paints it, kept as test artifact name.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    _chromium(page, f"--screenshot={shot}", f"--window-size={size}")
    return shot
