"""Infrastructure snapshots on real files: taken whole, verified, restored only when intact."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.module_utils import infrasnap

from rollbackctl.run.infra import merge


@pytest.fixture
def managed(tmp_path: Path) -> dict[str, Path]:
    conf = tmp_path / "etc" / "nginx.conf"
    conf.parent.mkdir()
    conf.write_text("worker_processes 1;\n")
    conf.chmod(0o644)
    script = tmp_path / "bin" / "appctl"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    return {"conf": conf, "script": script, "absent": tmp_path / "etc" / "limits.conf"}


def files(managed: dict[str, Path]) -> list[dict[str, str]]:
    return [
        {"path": str(managed["conf"]), "service": "nginx"},
        {"path": str(managed["script"]), "service": "app"},
        {"path": str(managed["absent"]), "service": "app"},
    ]


def take(root: Path, managed: dict[str, Path], snapshot_id: str = "S1") -> dict:
    return infrasnap.take(str(root), snapshot_id, files(managed), {"nginx": True}, "test")


def test_a_restore_puts_back_content_and_mode_and_only_what_changed(
    tmp_path: Path, managed: dict[str, Path]
) -> None:
    root = tmp_path / "snapshots"
    take(root, managed)
    managed["conf"].write_text("broken;\n")
    managed["script"].chmod(0o700)

    planned = infrasnap.restore(str(root), "S1", check=True)
    assert managed["conf"].read_text() == "broken;\n"  # check mode wrote nothing
    restored = infrasnap.restore(str(root), "S1")

    assert [e["path"] for e in planned] == [e["path"] for e in restored]
    assert {e["service"] for e in restored} == {"nginx", "app"}
    assert managed["conf"].read_text() == "worker_processes 1;\n"
    assert managed["script"].stat().st_mode & 0o777 == 0o755
    assert infrasnap.restore(str(root), "S1") == []


def test_a_file_absent_in_the_snapshot_is_removed(tmp_path: Path, managed: dict[str, Path]) -> None:
    root = tmp_path / "snapshots"
    take(root, managed)
    managed["absent"].write_text("nofile 10\n")

    restored = infrasnap.restore(str(root), "S1")

    assert [e["path"] for e in restored] == [str(managed["absent"])]
    assert not managed["absent"].exists()


def test_a_damaged_snapshot_changes_nothing(tmp_path: Path, managed: dict[str, Path]) -> None:
    root = tmp_path / "snapshots"
    manifest = take(root, managed)
    (root / "S1" / "files" / "0").write_text("tampered;\n")
    managed["conf"].write_text("current;\n")

    with pytest.raises(infrasnap.SnapshotError) as caught:
        infrasnap.restore(str(root), "S1")

    assert "damaged" in str(caught.value) and "nothing was changed" in str(caught.value)
    assert managed["conf"].read_text() == "current;\n"
    listed = infrasnap.list_snapshots(str(root))
    assert [(s["id"], s["verified"]) for s in listed] == [("S1", False)]
    assert manifest["running"] == {"nginx": True}


def test_an_unknown_snapshot_is_named(tmp_path: Path) -> None:
    with pytest.raises(infrasnap.SnapshotError) as caught:
        infrasnap.restore(str(tmp_path), "NOPE")
    assert "unknown snapshot NOPE" in str(caught.value)


@pytest.mark.parametrize("bad", ["../x", "", ".hidden", "a/b"])
def test_an_id_that_is_not_a_snapshot_id_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(infrasnap.SnapshotError):
        infrasnap.restore(str(tmp_path), bad)


def test_nothing_is_taken_when_no_managed_file_exists(tmp_path: Path) -> None:
    gone = [{"path": str(tmp_path / "nothing"), "service": "nginx"}]
    assert infrasnap.take(str(tmp_path / "snapshots"), "S1", gone, {}, "test") is None
    assert infrasnap.list_snapshots(str(tmp_path / "snapshots")) == []


def test_a_half_written_snapshot_is_never_listed(tmp_path: Path, managed: dict[str, Path]) -> None:
    root = tmp_path / "snapshots"
    take(root, managed)
    (root / ".S2-partial").mkdir()
    os.makedirs(root / "S3" / "files")  # no manifest: a copy that never finished
    assert [s["id"] for s in infrasnap.list_snapshots(str(root))] == ["S1"]


def test_snapshots_of_all_hosts_merge_into_one_list_newest_first() -> None:
    def snap(snapshot_id: str, at: str, verified: bool = True) -> dict:
        return {"id": snapshot_id, "taken_at": at, "reason": "r", "files": [], "running": {},
                "verified": verified}  # fmt: skip

    merged = merge(
        {
            "lb1": [snap("S2", "2026-11-29T10:00:05Z"), snap("S1", "2026-11-28T10:00:00Z")],
            "db1": [snap("S2", "2026-11-29T10:00:01Z", verified=False)],
        }
    )

    assert [s["id"] for s in merged] == ["S2", "S1"]
    assert merged[0]["taken_at"] == "2026-11-29T10:00:01Z"
    assert merged[0]["verified"] is False and sorted(merged[0]["hosts"]) == ["db1", "lb1"]
    assert merged[1]["verified"] is True


def test_an_existing_snapshot_id_is_never_reused(tmp_path: Path, managed: dict[str, Path]) -> None:
    root = tmp_path / "snapshots"
    take(root, managed)
    managed["conf"].write_text("changed;\n")

    with pytest.raises(infrasnap.SnapshotError) as caught:
        take(root, managed)

    assert "exists already" in str(caught.value)
    assert (root / "S1" / "files" / "0").read_text() == "worker_processes 1;\n"


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(id="S2"),
        lambda m: m["files"][0].update(path="relative/nginx.conf"),
        lambda m: m["files"][0].update(index=5),
        lambda m: m["files"][0].update(mode="rwx"),
        lambda m: m["files"][0].update(sha256="x" * 64),
        lambda m: m.update(files={}),
    ],
)
def test_a_manifest_that_take_did_not_write_is_refused(
    tmp_path: Path, managed: dict[str, Path], edit
) -> None:
    root = tmp_path / "snapshots"
    manifest = take(root, managed)
    edit(manifest)
    (root / "S1" / "manifest.json").write_text(json.dumps(manifest))
    managed["conf"].write_text("current;\n")

    with pytest.raises(infrasnap.SnapshotError) as caught:
        infrasnap.restore(str(root), "S1")

    assert "damaged manifest" in str(caught.value)
    assert managed["conf"].read_text() == "current;\n"


def test_an_id_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(infrasnap.SnapshotError) as caught:
        infrasnap.restore(str(tmp_path), "S1\n")
    assert "is not a snapshot id" in str(caught.value)
