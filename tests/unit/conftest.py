"""Make the collection's module_utils importable as plain modules for unit tests."""

from __future__ import annotations

import sys
from pathlib import Path

# module_utils are pure Python; import them directly rather than through ansible's loader.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "module_utils"))
