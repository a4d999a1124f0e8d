"""Bulk assignment: every row kept, bad rows reported by line, same answers as single lookups."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from grid.db.assign import assign_arrays, assign_file
from grid.db.importer import import_units
from grid.db.jurisdiction import decide_point, get_index
from grid.db.store import save_levels
from grid.levels import Levels
from grid.tabular import read_points_csv
from tests.test_jurisdiction import CELLS, COMM, X0, X1, X2, Y0, Y1, Y2, _world
from tests.world import D0, write_layer

CSV = (
    "id,lon,lat,note\n"
    "1,116.41,39.94,ok\n"
    '2,116.425,39.94,"edge, with comma"\n'
    '3,116.41,39.91,"multi\nline"\n'
    "4,abc,39.9,bad number\n"
    "5,,,missing\n"
    '6,116.44,39.91,"broken quote\n'
    "7,116.44,39.91,after the broken one\n"
    "8,200,39.9,out of range\n"
    "9,117.5,40.5,outside\n"
)


def test_csv_reader_keeps_every_record_with_its_line(tmp_path: Path) -> None:
    p = tmp_path / "p.csv"
    p.write_text(CSV, encoding="utf-8")
    t = read_points_csv(p, "lon", "lat")
    assert len(t.rows) == 9
    assert list(t.line) == [2, 3, 4, 6, 7, 8, 9, 10, 11]
    errs = dict(zip(t.line.tolist(), t.error, strict=True))
    assert errs[2] is None and errs[3] is None and errs[4] is None  # a multi-line quoted field is fine
    assert "not a number" in errs[6] and errs[7] == "missing coordinates"
    assert errs[8] is not None and "quote" in errs[8]
    assert errs[9] is None  # resynchronised after the broken quote


def test_assign_file_csv(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    p = tmp_path / "p.csv"
    p.write_text(CSV, encoding="utf-8")
    r = assign_file(session, p, tmp_path / "out.csv", at=D0)
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert len(out) == r["rows"] == 9  # nothing dropped
    by = out.set_index("id")
    assert by.loc["1", "owner_code"] == COMM + "001" and by.loc["1", "status"] == "interior"
    assert by.loc["2", "status"] == "on_boundary" and by.loc["2", "owner_code"] == COMM + "001", by.loc[
        "2"
    ].to_dict()
    assert by.loc["2", "candidates"] == f"{COMM}001;{COMM}002" and by.loc["2", "rule"] == "lowest_code"
    assert by.loc["3", "note"] == "multi\nline" and by.loc["3", "owner_code"] == COMM + "003"
    assert by.loc["1", "district_code"] == "110105" and by.loc["1", "community_code"] == COMM
    for i in ("4", "5", "8"):
        assert by.loc[i, "status"] == "error" and by.loc[i, "error"]
    assert by.loc["9", "status"] == "outside"
    assert {q["line"] for q in r["problems"]} >= {6, 7, 8, 10, 11}


def test_bulk_and_single_answers_agree(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    rng = np.random.default_rng(3)
    lon = np.concatenate(
        [rng.uniform(X0, X2, 300), rng.choice([X0, X1, X2], 100), rng.uniform(116.38, 116.52, 100)]
    )
    lat = np.concatenate([rng.uniform(Y0, Y2, 300), rng.uniform(Y0, Y2, 100), rng.uniform(39.84, 39.96, 100)])
    idx = get_index(session, D0)
    bulk = assign_arrays(idx, lon, lat)
    for i in range(len(lon)):
        try:
            d, lv = decide_point(idx, float(lon[i]), float(lat[i]))
        except Exception:
            assert bulk["status"].iloc[i] in ("outside", "error")
            continue
        assert bulk["owner_code"].iloc[i] == d.owner, i
        assert bulk["owner_level"].iloc[i] == lv
    assert (bulk["owner_level"] == "grid").sum() > 300


def test_any_hierarchy_another_city_single_level(session: Session, tmp_path: Path) -> None:
    """A city with one level of its own ('ward', codes like W012) assigns its complaints."""
    from shapely.geometry import box

    save_levels(
        session, Levels.from_dicts([{"name": "ward", "rank": 0, "code_length": 4, "pattern": r"W\d{3}"}])
    )
    wards = [
        {
            "code": f"W{i:03d}",
            "name": f"Ward {i}",
            "geometry": box(-0.2 + 0.1 * i, 51.4, -0.1 + 0.1 * i, 51.6),
        }
        for i in range(3)
    ]
    import_units(
        session,
        write_layer(tmp_path / "w.geojson", wards),
        level="ward",
        code_field="code",
        name_field="name",
        datum="wgs84",
        valid_from=D0,
    )
    p = tmp_path / "c.csv"
    p.write_text("ref,x,y\na,-0.15,51.5\nb,0.05,51.5\nc,-0.1,51.5\n", encoding="utf-8")
    r = assign_file(session, p, tmp_path / "o.csv", lon_col="x", lat_col="y", at=dt.date(2024, 1, 1))
    out = pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False).set_index("ref")
    assert out.loc["a", "owner_code"] == "W000" and out.loc["b", "owner_code"] == "W002"
    assert out.loc["c", "status"] == "on_boundary" and out.loc["c", "owner_code"] == "W000"
    assert r["by_status"]["interior"] == 2
    _ = (CELLS, Y1)
