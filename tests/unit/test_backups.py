"""Backup rules on the db host: manifests, metadata, choice, retention, restore resumption."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import dbbackup  # plugins/module_utils, put on sys.path by conftest
import pytest


def make_backup(root: Path, backup_id: str, *, verified: bool | None = None, **meta) -> Path:
    path = root / backup_id
    (path / "dump").mkdir(parents=True)
    (path / "dump" / "toc.dat").write_bytes(b"toc")
    (path / "dump" / "3001.dat.gz").write_bytes(b"rows" * 100)
    dbbackup.write_manifest(str(path))
    metadata = {
        "id": backup_id,
        "created_at": "2026-11-28T03:00:00+00:00",
        "database": "market",
        "server_version_num": 150018,
        "pg_dump_version_num": 150018,
        "schema_version": 1,
        "row_counts": {"users": 2},
        "format": "directory",
        **meta,
    }
    if verified is not None:
        metadata["verification"] = {"ok": verified}
    (path / "metadata.json").write_text(json.dumps(metadata))
    return path


def test_intact_backup_passes_its_manifest(tmp_path: Path) -> None:
    path = make_backup(tmp_path, "20261128T030000Z-aaaa")

    assert dbbackup.check_manifest(str(path)) == []


def test_one_flipped_byte_fails_the_manifest(tmp_path: Path) -> None:
    path = make_backup(tmp_path, "20261128T030000Z-aaaa")
    data = bytearray((path / "dump/3001.dat.gz").read_bytes())
    data[7] ^= 0x01
    (path / "dump/3001.dat.gz").write_bytes(bytes(data))

    assert dbbackup.check_manifest(str(path)) == ["dump/3001.dat.gz does not match its SHA-256"]


def test_missing_and_extra_dump_files_fail_the_manifest(tmp_path: Path) -> None:
    path = make_backup(tmp_path, "20261128T030000Z-aaaa")
    (path / "dump/3001.dat.gz").unlink()
    (path / "dump/9999.dat.gz").write_bytes(b"x")

    assert dbbackup.check_manifest(str(path)) == [
        "dump/3001.dat.gz is missing",
        "dump/9999.dat.gz is not in the manifest",
    ]


def test_missing_manifest_is_a_problem(tmp_path: Path) -> None:
    path = make_backup(tmp_path, "20261128T030000Z-aaaa")
    (path / "manifest.sha256").unlink()

    assert dbbackup.check_manifest(str(path)) == ["manifest manifest.sha256 is missing"]


def test_metadata_of_another_database_is_refused() -> None:
    meta = {key: 1 for key in dbbackup.REQUIRED_METADATA}
    meta.update(id="b1", database="shop", format="directory")

    assert dbbackup.metadata_problems(meta, "b1", "market") == [
        "backup is of database shop, not market"
    ]


def test_incomplete_metadata_names_what_is_missing() -> None:
    problems = dbbackup.metadata_problems({"id": "b1"}, "b1", "market")

    assert "metadata lacks schema_version" in problems


def test_list_is_newest_first_and_skips_partial_backups(tmp_path: Path) -> None:
    make_backup(tmp_path, "20261128T030000Z-aaaa")
    make_backup(tmp_path, "20261129T030000Z-bbbb", verified=True)
    make_backup(tmp_path, ".partial-20261130T030000Z-cccc")

    listed = dbbackup.list_backups(str(tmp_path))

    assert [b["id"] for b in listed] == ["20261129T030000Z-bbbb", "20261128T030000Z-aaaa"]
    assert [b["verified"] for b in listed] == [True, False]


def test_latest_verified_skips_newer_unverified_backups() -> None:
    backups = [
        {"id": "3", "verified": False},
        {"id": "2", "verified": True},
        {"id": "1", "verified": True},
    ]

    assert dbbackup.choose_backup(backups, latest_verified=True)["id"] == "2"


def test_no_verified_backup_is_refused_with_the_fix() -> None:
    with pytest.raises(dbbackup.BackupError, match="no verified backup of prod; run 'rollbackctl"):
        dbbackup.choose_backup([{"id": "1", "verified": False}], None, True, "prod")


def test_unknown_backup_id_is_refused_naming_the_newest() -> None:
    with pytest.raises(dbbackup.BackupError, match=r"unknown backup x in prod \(newest: 2, 1\)"):
        dbbackup.choose_backup([{"id": "2"}, {"id": "1"}], "x", environment="prod")


def test_no_backup_at_all_is_refused() -> None:
    with pytest.raises(dbbackup.BackupError, match="no backup of prod exists"):
        dbbackup.choose_backup([], environment="prod")


def test_retention_keeps_the_newest_n() -> None:
    backups = [{"id": str(n), "verified": False} for n in range(5)]

    assert dbbackup.retention_victims(backups, 3) == ["1", "0"]


def test_retention_never_deletes_the_newest_verified_backup() -> None:
    backups = [{"id": str(n), "verified": n == 0} for n in range(5)]

    assert dbbackup.retention_victims(backups, 2) == ["2", "1"]


def test_retention_refuses_to_keep_nothing() -> None:
    with pytest.raises(dbbackup.BackupError):
        dbbackup.retention_victims([], 0)


def test_backup_from_a_newer_server_cannot_be_restored() -> None:
    meta = {"server_version_num": 160002, "pg_dump_version_num": 160002}

    problem = dbbackup.version_problem(meta, 150018, 160002)

    assert problem is not None and "PostgreSQL 16 but the server runs 15" in problem


def test_dump_from_a_newer_pg_dump_needs_a_newer_pg_restore() -> None:
    meta = {"server_version_num": 150018, "pg_dump_version_num": 160002}

    problem = dbbackup.version_problem(meta, 160002, 150018)

    assert problem is not None and "pg_restore is 15" in problem


def test_same_major_versions_restore() -> None:
    meta = {"server_version_num": 150010, "pg_dump_version_num": 150010}

    assert dbbackup.version_problem(meta, 150018, 150018) is None


def test_version_is_read_from_the_tool_banner() -> None:
    assert dbbackup.parse_version_num("pg_restore (PostgreSQL) 15.18 (Debian 15.18-0)") == 150018


JOURNAL = {
    "backup_id": "b1",
    "staging": "market_restore_1",
    "previous": "market_pre_1",
    "phase": "staged",
}


def test_no_journal_starts_fresh() -> None:
    assert dbbackup.resume_plan(None, "b1", {"market"}) == ("fresh", [])


def test_staged_copy_of_the_same_backup_is_reused() -> None:
    dbs = {"market", "market_restore_1"}

    assert dbbackup.resume_plan(JOURNAL, "b1", dbs) == ("staged", [])


def test_unfinished_staging_copy_is_dropped_and_restored_again() -> None:
    journal = dict(JOURNAL, phase="staging")

    plan = dbbackup.resume_plan(journal, "b1", {"market", "market_restore_1"})

    assert plan == ("fresh", ["market_restore_1"])


def test_swap_interrupted_before_commit_is_retried() -> None:
    journal = dict(JOURNAL, phase="swapping")

    plan = dbbackup.resume_plan(journal, "b1", {"market", "market_restore_1"})

    assert plan == ("staged", [])


def test_completed_swap_is_not_repeated() -> None:
    journal = dict(JOURNAL, phase="swapping")

    assert dbbackup.resume_plan(journal, "b1", {"market", "market_pre_1"}) == ("swapped", [])


def test_another_backup_discards_an_unswapped_staging_copy() -> None:
    plan = dbbackup.resume_plan(JOURNAL, "b2", {"market", "market_restore_1"})

    assert plan == ("fresh", ["market_restore_1"])


def test_another_backup_after_a_completed_swap_starts_fresh() -> None:
    assert dbbackup.resume_plan(JOURNAL, "b2", {"market", "market_pre_1"}) == ("fresh", [])


def test_malformed_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "restore-market.journal.json"
    path.write_text('{"phase": "halfway"}')

    with pytest.raises(dbbackup.BackupError, match="malformed"):
        dbbackup.load_journal(str(path))


def test_backup_ids_sort_by_time() -> None:
    early = datetime.datetime(2026, 11, 28, 3, 0, tzinfo=datetime.UTC)
    late = early + datetime.timedelta(seconds=1)

    assert dbbackup.new_backup_id(early, "ffff") < dbbackup.new_backup_id(late, "0000")


def test_staging_and_previous_names_are_clear() -> None:
    assert dbbackup.staging_names("market", "20261128_030000") == (
        "market_restore_20261128_030000",
        "market_pre_20261128_030000",
    )
