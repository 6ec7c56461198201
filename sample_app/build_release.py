"""Build a release artifact: `python3 build_release.py RELEASE_ID OUT.tar.gz` (or `--list`)."""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RELEASES_DIR = HERE / "releases"
# Everything app.py and migrate.py import; build_release.py itself stays out of the artifact.
MODULES = (
    "api.py",
    "app.py",
    "database.py",
    "metrics.py",
    "migrate.py",
    "passwords.py",
    "providers.py",
    "release_info.py",
    "seed.py",
    "settings.py",
    "tokens.py",
)
EXECUTABLES = frozenset({"app.py", "migrate.py"})
# A fixed timestamp (2026-01-01T00:00:00Z) keeps the bytes identical from build to build.
FIXED_MTIME = 1_767_225_600


class UnknownReleaseError(LookupError):
    """No descriptor in releases/ has this id."""


def list_releases() -> list[dict[str, Any]]:
    """Every release descriptor with its id filled in, oldest first."""
    releases = [_descriptor(path.stem) for path in RELEASES_DIR.glob("*.json")]
    return sorted(releases, key=lambda release: _version_key(release["id"]))


def build_release(release_id: str, out_path: str | Path) -> Path:
    """Write the release's tarball to out_path atomically and return that path."""
    descriptor = _descriptor(release_id)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = _tarball(descriptor)
    # Write beside the target and rename, so a reader never sees half an artifact.
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _descriptor(release_id: str) -> dict[str, Any]:
    # Ids come from the command line; refuse anything that could walk out of releases/.
    path = RELEASES_DIR / f"{release_id}.json"
    if "/" in release_id or release_id.startswith(".") or not path.is_file():
        known = ", ".join(p.stem for p in sorted(RELEASES_DIR.glob("*.json")))
        raise UnknownReleaseError(f"unknown release {release_id!r} (known: {known})")
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    return {**descriptor, "id": release_id}


def _tarball(descriptor: dict[str, Any]) -> bytes:
    schema_version = int(descriptor["schema_version"])
    migrations = sorted(
        path
        for path in (HERE / "migrations").glob("*.sql")
        # A release ships only the migrations it knows; newer ones belong to newer releases.
        if int(path.name[:4]) <= schema_version
    )
    release_json = {
        "id": descriptor["id"],
        "schema_version": schema_version,
        "faults": sorted(descriptor.get("faults", [])),
    }
    entries: list[tuple[str, bytes | None]] = [
        *((name, (HERE / name).read_bytes()) for name in MODULES),
        ("migrations", None),
        *((f"migrations/{path.name}", path.read_bytes()) for path in migrations),
        ("release.json", (json.dumps(release_json, indent=2, sort_keys=True) + "\n").encode()),
    ]
    raw = io.BytesIO()
    # An empty filename and a fixed mtime keep the gzip header stable too.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for name, content in sorted(entries, key=lambda entry: entry[0]):
            tar.addfile(*_member(name, content))
    return raw.getvalue()


def _member(name: str, content: bytes | None) -> tuple[tarfile.TarInfo, io.BytesIO | None]:
    info = tarfile.TarInfo(name)
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if content is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        return info, None
    info.size = len(content)
    info.mode = 0o755 if name in EXECUTABLES else 0o644
    return info, io.BytesIO(content)


def _version_key(release_id: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in release_id.split("."))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("release_id", nargs="?", help="a release id from releases/, e.g. 2026.11.1")
    parser.add_argument("out", nargs="?", help="where to write the .tar.gz")
    parser.add_argument("--list", action="store_true", help="print the known releases as JSON")
    args = parser.parse_args(argv)
    if args.list:
        print(json.dumps(list_releases(), indent=2))
        return 0
    if not (args.release_id and args.out):
        parser.error("RELEASE_ID and OUT are required unless --list is given")
    try:
        print(build_release(args.release_id, args.out))
    except UnknownReleaseError as exc:
        print(f"build_release: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
