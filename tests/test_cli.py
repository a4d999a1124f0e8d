"""The ``gridgov`` command line against the real test database (commits; emptied around each test)."""

from __future__ import annotations

import json
from pathlib import Path

import shapely
from shapely.geometry import box
from typer.testing import CliRunner

from api.cli import app
from tests.world import DISTRICT, STREETS, street_rows, write_layer

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.output


def _import(path: Path, level: str, *extra: str) -> tuple[int, str]:
    return _run(
        "import",
        "units",
        str(path),
        "--level",
        level,
        "--code-field",
        "code",
        "--name-field",
        "name",
        "--datum",
        "wgs84",
        "--valid-from",
        "2023-01-01",
        *extra,
    )


def test_help_explains_every_command() -> None:
    code, out = _run("--help")
    assert code == 0
    for cmd in ("import", "validate", "demo", "serve", "staff", "db"):
        assert cmd in out
    code, out = _run("import", "units", "--help")
    assert code == 0 and "--dry-run" in out and "--repair" in out and "gcj02" in out


def test_import_validate_and_blocked_import_via_cli(committed_db: str, tmp_path: Path) -> None:
    code, out = _run("db", "upgrade")
    assert code == 0, out
    d = write_layer(tmp_path / "d.geojson", [{"code": "110105", "name": "朝阳区", "geometry": DISTRICT}])
    code, out = _import(d, "district")
    assert code == 0 and "1 new" in out, out
    code, out = _import(
        write_layer(tmp_path / "s.geojson", street_rows()),
        "street",
        "--parent-field",
        "parent",
        "--format",
        "json",
    )
    assert code == 0, out
    assert json.loads(out)["counts"]["new"] == 4
    code, out = _run("validate", "--format", "json")
    assert code == 0, out
    rep = json.loads(out)
    assert rep["errors"] == 0 and rep["units"] == 5

    # an invalid ring, a gap, an overlap, a duplicate code and an orphan child: each named, nothing written
    bad = {
        "110105001": shapely.Polygon([(116.40, 39.90), (116.45, 39.95), (116.45, 39.90), (116.40, 39.95)]),
        "110105002": box(116.45, 39.899, 116.50, 39.95),
        "110105003": box(116.40, 39.85, 116.449, 39.90),
        "110105004": STREETS["110105004"],
    }
    rows = [
        *street_rows(bad),
        {
            "code": "110105004",
            "name": "重复",
            "parent": "110105",
            "geometry": box(116.46, 39.86, 116.47, 39.87),
        },
        {
            "code": "110106001",
            "name": "孤儿",
            "parent": "110106",
            "geometry": box(116.6, 39.8, 116.61, 39.81),
        },
    ]
    code, out = _import(
        write_layer(tmp_path / "bad.geojson", rows),
        "street",
        "--parent-field",
        "parent",
        "--valid-from",
        "2024-01-01",
    )
    assert code == 2
    for kind in ("invalid_geometry", "gap", "overlap", "duplicate_code", "orphan_child", "import_blocked"):
        assert kind in out, kind
    assert "Traceback" not in out
    code, out = _run("validate", "--format", "json", "--date", "2024-06-01")
    assert json.loads(out)["units"] == 5  # the store is as it was


def test_errors_are_one_line_with_a_code(committed_db: str, tmp_path: Path) -> None:
    _run("db", "upgrade")
    code, out = _import(tmp_path / "missing.geojson", "district")
    assert code == 2 and "file_not_found" in out and "Traceback" not in out
    d = write_layer(tmp_path / "d.geojson", [{"code": "110105", "name": "朝阳区", "geometry": DISTRICT}])
    code, out = _run(
        "import",
        "units",
        str(d),
        "--level",
        "district",
        "--code-field",
        "code",
        "--name-field",
        "name",
        "--datum",
        "mars",
    )
    assert code == 2 and "unknown_datum" in out
    code, out = _run("staff", "set", "999999", "某人")
    assert code == 2 and "unit_not_found" in out


def test_staff_change_via_cli(committed_db: str, tmp_path: Path) -> None:
    _run("db", "upgrade")
    d = write_layer(tmp_path / "d.geojson", [{"code": "110105", "name": "朝阳区", "geometry": DISTRICT}])
    _import(d, "district")
    assert _run("staff", "set", "110105", "王建国", "--valid-from", "2023-02-01")[0] == 0
    assert _run("staff", "set", "110105", "李秀英", "--valid-from", "2024-02-01")[0] == 0
    _code, out = _run("staff", "show", "110105", "--date", "2023-06-01")
    assert "王建国" in out and "李秀英" not in out
    _code, out = _run("staff", "show", "110105", "--date", "2024-06-01")
    assert "李秀英" in out and "王建国" not in out
    _code, out = _run("validate", "--format", "json")
    assert json.loads(out)["units"] == 1  # still one boundary version
