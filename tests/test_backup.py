"""gridgov backup / restore round-trip a database (pg_dump / pg_restore against the real PostGIS)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from api.cli import app as cli


def _count(url: str, table: str) -> int:
    eng = create_engine(url)
    try:
        with eng.connect() as c:
            return int(c.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)
    finally:
        eng.dispose()


def test_backup_and_restore_round_trip(committed_db: str, tmp_path: Path) -> None:
    from grid.db.engine import session_scope
    from tests.world import import_world

    with session_scope(committed_db) as s:
        import_world(s, tmp_path)
    units = _count(committed_db, "unit")
    assert units > 0
    dump = tmp_path / "gridgov.dump"
    r = CliRunner().invoke(cli, ["backup", str(dump)])
    assert r.exit_code == 0, r.output
    assert dump.stat().st_size > 0 and not list(tmp_path.glob(".*.partial"))
    # lose data, then restore it
    eng = create_engine(committed_db)
    with eng.begin() as c:
        c.execute(text("TRUNCATE unit CASCADE"))
    eng.dispose()
    assert _count(committed_db, "unit") == 0
    r = CliRunner().invoke(cli, ["restore", str(dump), "--yes"])
    assert r.exit_code == 0, r.output
    assert _count(committed_db, "unit") == units
    assert _count(committed_db, "alembic_version") == 1


def test_restore_refuses_what_is_not_a_backup(committed_db: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.dump"
    junk.write_text("not a dump", encoding="utf-8")
    r = CliRunner().invoke(cli, ["restore", str(junk), "--yes"])
    assert r.exit_code != 0 and "invalid_backup" in r.output
    r = CliRunner().invoke(cli, ["restore", str(tmp_path / "missing.dump"), "--yes"])
    assert r.exit_code != 0 and "file_not_found" in r.output
    r = CliRunner().invoke(cli, ["backup", str(tmp_path)])
    assert r.exit_code != 0 and "invalid_path" in r.output
