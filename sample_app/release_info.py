"""Read release.json, the metadata that says which release this directory is and how it behaves."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# Each fault breaks exactly one user-visible feature, so drills can prove verification catches it.
KNOWN_FAULTS = frozenset(
    {"order_placement", "payment_processing", "notifications", "authentication", "admin", "health"}
)


@dataclass(frozen=True)
class Release:
    id: str
    schema_version: int
    faults: frozenset[str]


def load(directory: Path) -> Release:
    """The release.json sitting next to the code; a missing or malformed file is an error."""
    data = json.loads((directory / "release.json").read_text(encoding="utf-8"))
    try:
        release = Release(str(data["id"]), int(data["schema_version"]), frozenset(data["faults"]))
    except (KeyError, TypeError) as exc:
        raise ValueError("release.json needs id, schema_version and faults") from exc
    unknown = release.faults - KNOWN_FAULTS
    if unknown:
        raise ValueError(f"release.json names unknown faults: {', '.join(sorted(unknown))}")
    return release
