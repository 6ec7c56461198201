"""The run's HTML report: its incident record as one self-contained page (report.html).

What the page shows comes from the result and the timeline the bundle already holds. It loads
nothing, no script, stylesheet, font or image from anywhere, and its Content Security Policy
says so, so that operator text on it (a note, an error) stays text whoever opens the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from rollbackctl.run import timeline

TEMPLATE = "report.html.j2"
NAME = "report.html"
# The bundle's other files, linked from the page by their names (they sit beside it).
BUNDLE_FILES = ("result.json", "report.txt", "junit.xml", "timeline.json", "postmortem.md")
# How a step went on its hosts, worst first: the row takes the first that any host had.
WORST_FIRST = ("failed", "unreachable", "changed", "ok")

# What the page reads of a result that a record may not carry, and what it shows then.
OPTIONAL: dict[str, Any] = {
    "check": False,
    "error": None,
    "from": None,
    "to": None,
    "hosts": {},
    "checklist": [],
    "operator": None,
    "started_at": None,
    "finished_at": None,
    "duration_s": None,
}

_templates = Environment(
    loader=PackageLoader("rollbackctl", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def rows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The timeline's entries as table rows: the time of day, how long, how it went, where."""
    out = []
    for entry in document["entries"]:
        hosts = entry.get("hosts") or {}
        outcome = next((s for s in WORST_FIRST if s in hosts.values()), "")
        out.append(
            {
                "at": timeline.clock(entry.get("start")).strip(),
                "kind": entry["kind"],
                "what": entry["what"],
                "hosts": ", ".join(f"{h} {s}" for h, s in sorted(hosts.items())),
                "took": timeline.took(entry).strip() if entry["kind"] == "step" else "",
                "outcome": outcome,
                "notes": [(k, entry[k]) for k in ("reason", "note", "detail") if entry.get(k)],
            }
        )
    return out


def render(result: Mapping[str, Any], document: Mapping[str, Any], details: str) -> str:
    """The page of a run: result, timeline document and the text report (details)."""
    window = document["impact_window"]
    return _templates.get_template(TEMPLATE).render(
        # A record may lack what its run never reached (no checklist, no error, no hosts).
        result={**OPTIONAL, **result},
        requested=result.get("requested") or {},
        verdict=str(result.get("status") or "unknown"),
        rows=rows(document),
        window={k: timeline.clock(window[k]).strip() if window[k] else None for k in window},
        details=details,
        files=BUNDLE_FILES,
    )


def write(
    result: Mapping[str, Any], document: Mapping[str, Any], details: str, run_dir: Path
) -> Path:
    """Write the page into the run's bundle; its path."""
    path = run_dir / NAME
    path.write_text(render(result, document, details), encoding="utf-8")
    return path
