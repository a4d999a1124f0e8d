"""Issue 20, the importers: no file reaches the database unchecked.

Each test is a regression of the red-team run: a Big5 or Shift-JIS file imported as mojibake, a
unit name with a NUL cut and committed as a new version, a petitions file cut mid-row importing
its partial last row, an over-long phone answered with a bare ``database_error``, and batch
geocoding without a bound on the work of one request.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from data.routing import load_catalogue
from grid.db.buildings import import_buildings
from grid.db.engine import session_scope
from grid.db.gazetteer_import import import_addresses
from grid.db.importer import import_units
from grid.db.models import GazetteerPlace, Petition, PetitionContact, Unit
from grid.db.petition_import import import_petitions
from grid.db.users import create_key
from grid.errors import GridGovError, ImportBlocked
from grid.io import read_csv, read_layer
from grid.tabular import read_csv_text
from tests.world import D0, D1, DISTRICT, import_district

pytestmark = pytest.mark.db

TAIPEI = ["臺北市中正區重慶南路一段122號", "臺北市信義區市府路1號", "新北市板橋區中山路一段161號"]
TOKYO = ["東京都千代田区丸の内一丁目9番1号", "東京都新宿区西新宿二丁目8番1号", "大阪府大阪市北区梅田三丁目"]
BEIJING = ["北京市朝阳区双井街道广渠路8号院", "北京市东城区正义路2号", "北京市海淀区中关村大街27号"]


def _csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def _geojson(path: Path, features: list[tuple[dict[str, Any], Any]]) -> Path:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": props, "geometry": mapping(geom)} for props, geom in features
        ],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")  # json.dumps writes NUL as the escape \u0000
    return path


# --- 1. encodings: Big5 and Shift-JIS are refused, GB18030 still reads ------------------------------


@pytest.mark.parametrize(
    ("lines", "encoding", "label"),
    [(TAIPEI, "big5", "Big5"), (TOKYO, "shift_jis", "Shift-JIS"), (TOKYO, "cp932", "Shift-JIS")],
)
def test_big5_and_shift_jis_csv_are_refused_not_read_as_mojibake(
    tmp_path: Path, lines: list[str], encoding: str, label: str
) -> None:
    p = _csv(tmp_path / "a.csv", ["address", "lon", "lat"], [[a, "121.5", "25.0"] for a in lines], encoding)
    for read in (lambda: read_csv_text(p), lambda: read_csv(p, required=["address"])):
        with pytest.raises(GridGovError) as exc:
            read()
        assert exc.value.code == "unsupported_encoding"
        assert label in exc.value.message and "convert it to UTF-8" in exc.value.message
        assert exc.value.details == {"encoding": "big5" if label == "Big5" else "shift_jis"}


@pytest.mark.parametrize("encoding", ["gb18030", "gbk"])
def test_simplified_chinese_in_gb18030_still_reads_exactly(tmp_path: Path, encoding: str) -> None:
    rows = [[a, "116.46", "39.89"] for a in BEIJING]
    p = _csv(tmp_path / "a.csv", ["地址", "lon", "lat"], rows, encoding)
    assert read_csv_text(p).rows == rows
    assert read_csv(p, required=["地址"]).to_numpy().tolist() == rows


def test_big5_petitions_file_is_refused_by_the_cli_and_writes_nothing(
    committed_db: str, tmp_path: Path
) -> None:
    with session_scope(committed_db) as s:
        load_catalogue(s, D0)
    p = _csv(tmp_path / "p.csv", ["text", "category", "address"], [["路燈不亮", "HL1006", TAIPEI[0]]], "big5")
    res = CliRunner().invoke(cli, ["import", "petitions", str(p)])
    assert res.exit_code != 0 and "unsupported_encoding" in res.output and "Big5" in res.output, res.output
    with session_scope(committed_db) as s:
        assert s.scalar(select(func.count()).select_from(Petition)) == 0


def test_big5_shapefile_without_cpg_is_refused_and_reads_with_its_encoding(tmp_path: Path) -> None:
    names = ["臺北市中正區", "臺北市信義區", "新北市板橋區"]
    g = gpd.GeoDataFrame({"name": names}, geometry=[box(121.5, 25.0, 121.6, 25.1)] * 3, crs=4326)
    g.to_file(tmp_path / "a.shp", encoding="big5", engine="pyogrio")
    for cpg in tmp_path.glob("a.cpg"):
        cpg.unlink()
    with pytest.raises(GridGovError) as exc:
        read_layer(tmp_path / "a.shp")
    assert exc.value.code == "unsupported_encoding" and "Big5" in exc.value.message
    assert "--encoding big5" in exc.value.message
    assert read_layer(tmp_path / "a.shp", encoding="big5")["name"].tolist() == names


# --- 2. NUL in a unit name: refused, naming the feature and field; no new version ---------------------


def _gpkg_with_nul(tmp_path: Path, name: str) -> Path:
    """A GeoPackage whose name holds a NUL (GDAL cannot write one: SQLite does, as a real file may)."""
    p = tmp_path / "district.gpkg"
    gpd.GeoDataFrame({"code": ["110105"], "name": ["x"]}, geometry=[DISTRICT], crs=4326).to_file(
        p, driver="GPKG", engine="pyogrio"
    )
    con = sqlite3.connect(p)
    for f in ("ST_IsEmpty", "ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):  # the R-tree triggers call them
        con.create_function(f, 1, lambda _g: 0)
    table = con.execute("SELECT table_name FROM gpkg_contents").fetchone()[0]
    con.execute(f'UPDATE "{table}" SET name = ?', (name,))
    con.commit()
    con.close()
    return p


@pytest.mark.parametrize("fmt", ["geojson", "gpkg"])
def test_unit_name_with_nul_is_refused_before_a_new_version(
    session: Session, tmp_path: Path, fmt: str
) -> None:
    import_district(session, tmp_path)
    bad = "朝阳\x00区"
    if fmt == "geojson":
        p = _geojson(tmp_path / "d.geojson", [({"code": "110105", "name": bad}, DISTRICT)])
    else:
        p = _gpkg_with_nul(tmp_path, bad)
    assert read_layer(p)["name"].tolist() == ["朝阳"]  # what GDAL gives: the name cut at the NUL
    with pytest.raises(GridGovError) as exc:
        import_units(
            session, p, level="district", code_field="code", name_field="name", datum="wgs84", valid_from=D1
        )
    assert exc.value.code == "invalid_characters"
    assert "feature 1, field 'name'" in exc.value.message and "U+0000" in exc.value.message
    assert exc.value.details["problems"][0]["feature"] == 1
    assert session.scalars(select(Unit.name).where(Unit.code == "110105")).all() == ["朝阳区"]


def test_control_character_in_a_field_not_imported_is_no_problem(session: Session, tmp_path: Path) -> None:
    p = _geojson(tmp_path / "d.geojson", [({"code": "110105", "name": "朝阳区", "note": "a\x00b"}, DISTRICT)])
    r = import_units(session, p, level="district", code_field="code", name_field="name", datum="wgs84")
    assert r.applied and r.new == ["110105"]


def test_unit_code_longer_than_its_column_names_the_row(session: Session, tmp_path: Path) -> None:
    p = _geojson(tmp_path / "d.geojson", [({"code": "1" * 40, "name": "朝阳区"}, DISTRICT)])
    with pytest.raises(GridGovError) as exc:
        import_units(session, p, level="district", code_field="code", name_field="name", datum="wgs84")
    assert exc.value.code == "field_too_long"
    assert "row 1, code is 40 characters long, more than the 32" in exc.value.message
    assert session.scalar(select(func.count()).select_from(Unit)) == 0


def test_buildings_and_addresses_with_nul_are_refused_per_row(session: Session, tmp_path: Path) -> None:
    pt = box(116.41, 39.91, 116.411, 39.911).centroid
    b = _geojson(
        tmp_path / "b.geojson",
        [
            ({"building_id": "B1", "address": "广渠路8号院1号楼", "households": 10}, pt),
            ({"building_id": "B2", "address": "广渠路8号院\x002号楼", "households": 12}, pt),
        ],
    )
    with pytest.raises(ImportBlocked) as exc:
        import_buildings(session, b, datum="wgs84")
    bad = [q for q in exc.value.details["problems"] if q["kind"] == "invalid_characters"]
    assert [(q["row"], q["field"]) for q in bad] == [(2, "address")]
    a = _geojson(
        tmp_path / "a.geojson",
        [({"place_id": "P1", "kind": "landmark", "name": "双井\u0007桥"}, pt)],
    )
    with pytest.raises(ImportBlocked) as exc:
        import_addresses(session, a, datum="wgs84")
    bad = [q for q in exc.value.details["problems"] if q["kind"] == "invalid_characters"]
    assert len(bad) == 1 and bad[0]["row"] == 1 and bad[0]["place_id"] == "P1"
    assert "name holds the control character U+0007" in bad[0]["message"]
    assert session.scalar(select(func.count()).select_from(GazetteerPlace)) == 0


# --- 3./4./5. petitions: a file cut mid-row, too-long fields, control characters ----------------------

HEAD = ["external_id", "received_at", "text", "category", "contact_name", "contact_phone"]


def _row(n: int, **kw: str) -> list[str]:
    r = {
        "external_id": f"E{n}",
        "received_at": "2023-06-05 09:00",
        "text": "垃圾没人清",
        "category": "HL1006",
    }
    r.update({"contact_name": "", "contact_phone": "13800000000"}, **kw)
    return [r[c] for c in HEAD]


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Petition)) or 0)


def test_a_petitions_file_cut_mid_row_imports_nothing_and_names_the_line(
    session: Session, tmp_path: Path
) -> None:
    load_catalogue(session, D0)
    p = _csv(tmp_path / "p.csv", HEAD, [_row(1), _row(2)])
    with p.open("a", encoding="utf-8") as fh:
        fh.write("E3,2023-06-05 11:00,井盖丢")  # the transfer stopped here: 3 of 6 fields, no line end
    with pytest.raises(ImportBlocked) as exc:
        import_petitions(session, p)
    assert exc.value.details["rows"] == 3 and "nothing was imported" in exc.value.message
    assert [(q["line"], q["code"]) for q in exc.value.details["problems"]] == [(4, "truncated_row")]
    assert "3 of the header's 6 fields" in exc.value.details["problems"][0]["message"]
    assert _count(session) == 0
    # the same file whole imports every row
    p.write_text(p.read_text(encoding="utf-8") + "了,HL1006,,13800000003\n", encoding="utf-8")
    assert import_petitions(session, p)["imported"] == 3


def test_a_ragged_row_in_the_middle_is_a_bad_line_with_its_physical_number(
    session: Session, tmp_path: Path
) -> None:
    load_catalogue(session, D0)
    p = tmp_path / "p.csv"
    good = _csv(tmp_path / "x.csv", HEAD, [_row(1, text="第一行\n第二行"), _row(3)]).read_text(
        encoding="utf-8"
    )
    p.write_text(good.replace("E3,", "E3,extra,", 1), encoding="utf-8")  # line 4: 7 fields
    with pytest.raises(ImportBlocked) as exc:
        import_petitions(session, p)
    assert [(q["line"], q["code"]) for q in exc.value.details["problems"]] == [(4, "wrong_field_count")]
    assert _count(session) == 0


def test_an_over_long_phone_is_a_bad_line_not_a_database_error(committed_db: str, tmp_path: Path) -> None:
    with session_scope(committed_db) as s:
        load_catalogue(s, D0)
    p = _csv(tmp_path / "p.csv", HEAD, [_row(1), _row(2, contact_phone="1" * 70)])
    res = CliRunner().invoke(cli, ["import", "petitions", str(p), "--format", "json"])
    assert res.exit_code != 0 and "database_error" not in res.output, res.output
    body = json.loads(res.stdout)
    assert body["problems"] == [
        {
            "line": 3,
            "code": "field_too_long",
            "message": "contact_phone is 70 characters long, more than the 64 it can hold",
        }
    ]
    with session_scope(committed_db) as s:
        assert s.scalar(select(func.count()).select_from(Petition)) == 0
        assert s.scalar(select(func.count()).select_from(PetitionContact)) == 0


def test_control_characters_in_petition_fields_are_refused_with_the_shared_code(
    session: Session, tmp_path: Path
) -> None:
    load_catalogue(session, D0)
    p = _csv(tmp_path / "p.csv", HEAD, [_row(1, contact_name="张\x01三"), _row(2)])
    with pytest.raises(ImportBlocked) as exc:
        import_petitions(session, p)
    (q,) = exc.value.details["problems"]
    assert (q["line"], q["code"]) == (2, "invalid_characters") and "contact_name" in q["message"]
    assert _count(session) == 0


def test_cli_geocode_marks_an_address_with_control_characters_and_keeps_the_row(
    committed_db: str, tmp_path: Path
) -> None:
    src = _csv(tmp_path / "q.csv", ["id", "addr"], [["1", "双井\x01桥"], ["2", "双井桥"]])
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(cli, ["geocode", str(src), "--col", "addr", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert [r["addr"] for r in rows] == ["双井\x01桥", "双井桥"]  # every row kept, byte for byte
    assert rows[0]["gg_status"] == "error" and rows[0]["gg_error"].startswith("invalid_characters:")
    assert rows[1]["gg_status"] != "error"


# --- 6. batch geocoding: the work of one request is bounded per role ---------------------------------


def test_batch_geocoding_is_bounded_per_role(committed_db: str) -> None:
    with session_scope(committed_db) as s:
        key, _ = create_key(s, "batch-client", ["planner"])
    c = TestClient(create_app(database_url=committed_db))
    many = {"queries": ["双井桥"] * 101}
    long = {"queries": ["北京市朝阳区双井街道广渠路" * 30] * 30}  # 390 characters x 30 = 11,700
    for body in (many, long):
        r = c.post("/v1/geocode/batch", json=body)
        assert r.status_code == 413 and r.json()["code"] == "batch_too_large", r.text
        assert "API key" in r.json()["error"]
        r = c.post("/v1/geocode/batch", json=body, headers={"X-API-Key": key})
        assert r.status_code == 200 and r.json()["count"] == len(body["queries"]), r.text
    r = c.post("/v1/geocode/batch", json={"queries": ["双井桥" * 40] * 900}, headers={"X-API-Key": key})
    assert r.status_code == 413 and r.json()["code"] == "batch_too_large"  # 108,000 characters
    r = c.post("/v1/geocode/batch", json={"queries": ["双井桥", "x" * 501]})
    assert r.status_code == 200
    assert [x.get("code") for x in r.json()["results"]] == [None, "address_too_long"]


def test_staff_with_a_control_character_is_refused_by_the_cli(committed_db: str, tmp_path: Path) -> None:
    from grid.db.models import Staff

    with session_scope(committed_db) as s:
        import_district(s, tmp_path)
    p = _csv(
        tmp_path / "staff.csv", ["unit_code", "name", "phone"], [["110105", "王\x1b建国", "13800000000"]]
    )
    res = CliRunner().invoke(cli, ["import", "staff", str(p)])
    assert res.exit_code != 0 and "invalid_characters" in res.output and "name" in res.output, res.output
    with session_scope(committed_db) as s:
        assert s.scalar(select(func.count()).select_from(Staff)) == 0
