"""Send requests through nginx until a stop file appears, then write what users would have seen."""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

MAX_ERRORS_KEPT = 20


def probe(url: str, timeout: float) -> tuple[bool, str, str]:
    """(ok, release, detail) of one request; anything but a 200 with a release is a failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            body = json.load(answer)
            release = str(body.get("release", ""))
            return answer.status == 200 and bool(release), release, f"HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        return False, "", f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, "", type(exc).__name__ + ": " + str(exc)


def write_json(path: Path, document: dict) -> None:
    # Rename into place so the verifier never reads half a summary.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(tmp, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--dir", required=True, type=Path, help="holds ready, stop, summary.json")
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()

    stop, ready = args.dir / "stop", args.dir / "ready"
    summary = {"url": args.url, "requests": 0, "failed": 0, "errors": [], "releases": {}}
    started = time.monotonic()
    while not stop.exists() and time.monotonic() - started < args.max_seconds:
        ok, release, detail = probe(args.url, args.timeout)
        elapsed = round(time.monotonic() - started, 3)
        summary["requests"] += 1
        if not ok:
            summary["failed"] += 1
            if len(summary["errors"]) < MAX_ERRORS_KEPT:
                summary["errors"].append({"at_s": elapsed, "detail": detail})
        # When each release was first and last served shows the switch happened while the
        # client was sending, not before it started or after it stopped.
        if release:
            seen = summary["releases"].setdefault(release, {"count": 0, "first_s": elapsed})
            seen["count"] += 1
            seen["last_s"] = elapsed
        if ok and not ready.exists():
            ready.write_text(f"{elapsed}\n")
        time.sleep(args.interval)
    summary["stopped_by"] = "stop file" if stop.exists() else "time limit"
    summary["seconds"] = round(time.monotonic() - started, 3)
    write_json(args.dir / "summary.json", summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
