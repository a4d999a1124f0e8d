"""Bulk assignment: every row kept, bad rows reported by line, same answers as single lookups."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.orm import Session

from grid.db.assign import assign_arrays, assign_file
from grid.db.importer import import_units
from grid.db.jurisdiction import decide_point, get_index
from grid.db.store import save_levels
from grid.errors import InputError
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
    '6,116.44,39.91,"broken"quote\n'
    "7,116.44,39.91,after the broken one\n"
    "8,200,39.9,out of range\n"
    "9,117.5,40.5,outside\n"
    "10,116.41,39.94,one,field,too many\n"
)


def test_csv_reader_keeps_every_record_with_its_line(tmp_path: Path) -> None:
    p = tmp_path / "p.csv"
    p.write_text(CSV, encoding="utf-8")
    t = read_points_csv(p, "lon", "lat")
    assert len(t.rows) == 10
    assert list(t.line) == [2, 3, 4, 6, 7, 8, 9, 10, 11, 12]
    errs = dict(zip(t.line.tolist(), t.error, strict=True))
    assert errs[2] is None and errs[3] is None and errs[4] is None  # a multi-line quoted field is fine
    assert "not a number" in errs[6] and errs[7] == "missing coordinates"
    assert errs[8] is not None and "unreadable record" in errs[8]  # a one-line quoting error: that row
    assert errs[9] is None  # the next record is read normally
    assert errs[12] is not None and "6 fields where the header has 4" in errs[12] and "too many" in errs[12]
    assert t.rows[-1] == ["10", "116.41", "39.94", "one", "field", "too many"]  # kept, not shifted


def test_unclosed_quote_that_swallows_the_rest_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "p.csv"
    p.write_text('id,lon,lat,note\n1,116.41,39.94,ok\n2,116.41,39.94,"never closed\n3,1,2,x\n4,1,2,y\n')
    with pytest.raises(InputError, match="line 3") as e:
        read_points_csv(p, "lon", "lat")
    assert e.value.code == "malformed_csv" and e.value.details["line"] == 3
    # on one line only (the last record): that row is kept and marked
    p.write_text('id,lon,lat,note\n1,116.41,39.94,ok\n2,116.41,39.94,"never closed\n')
    t = read_points_csv(p, "lon", "lat")
    assert len(t.rows) == 2 and t.error[0] is None and "unreadable" in (t.error[1] or "")


def test_long_multiline_fields_keep_every_record(tmp_path: Path) -> None:
    """The 311 defect: quoted descriptions of 25+ lines lost records past MAX_RECORD_LINES."""
    rng = np.random.default_rng(7)
    rows, want = [], []
    for i in range(300):
        k = int(rng.choice([0, 1, 3, 25, 40, 120])) if i % 7 == 0 else 0
        desc = "\n".join(f'line {j} of case {i}, with "quotes", commas' for j in range(k)) or f"case {i}"
        want.append([str(i), desc])
        rows.append([str(i), "116.41", "39.94", desc])
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["case_id", "lon", "lat", "description"])
    w.writerows(rows)
    p = tmp_path / "311.csv"
    p.write_text(buf.getvalue(), encoding="utf-8")
    t = read_points_csv(p, "lon", "lat")
    assert len(t.rows) == 300 and all(e is None for e in t.error)
    assert [[r[0], r[3]] for r in t.rows] == want
    assert max(d.count("\n") for _, d in want) >= 100


def test_assign_file_csv(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    p = tmp_path / "p.csv"
    p.write_text(CSV, encoding="utf-8")
    r = assign_file(session, p, tmp_path / "out.csv", at=D0, datum="wgs84")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert len(out) == r["rows"] == r["records_in"] == r["rows_out"] == 10  # nothing dropped
    assert list(out.columns[:4]) == ["id", "lon", "lat", "note"]
    assert all(c.startswith("gg_") for c in out.columns[4:])
    assert out["id"].tolist() == [str(i) for i in range(1, 11)]  # order kept
    by = out.set_index("id")
    assert by.loc["1", "gg_owner_code"] == COMM + "001" and by.loc["1", "gg_status"] == "interior"
    assert by.loc["1", "gg_placed_by"] == "coordinates" and by.loc["1", "gg_line"] == "2"
    assert by.loc["2", "gg_status"] == "on_boundary" and by.loc["2", "gg_owner_code"] == COMM + "001"
    assert by.loc["2", "gg_candidates"] == f"{COMM}001;{COMM}002" and by.loc["2", "gg_rule"] == "lowest_code"
    assert by.loc["2", "gg_near_boundary"] == "true"
    assert by.loc["3", "note"] == "multi\nline" and by.loc["3", "gg_owner_code"] == COMM + "003"
    assert by.loc["1", "gg_district_code"] == "110105" and by.loc["1", "gg_community_code"] == COMM
    for i in ("4", "8", "10"):
        assert by.loc[i, "gg_status"] == "error" and by.loc[i, "gg_error"], i
        assert by.loc[i, "gg_placed_by"] == "none" and by.loc[i, "gg_owner_code"] == ""
    assert by.loc["5", "gg_status"] == "unplaced" and by.loc["5", "gg_error"] == "missing coordinates"
    assert by.loc["9", "gg_status"] == "outside"
    assert set(out["gg_status"]) <= {"interior", "on_boundary", "gap", "outside", "error", "unplaced"}
    assert {q["line"] for q in r["problems"]} >= {6, 7, 8, 10, 11, 12}


def test_assign_requires_a_datum_for_csv(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    p = tmp_path / "p.csv"
    p.write_text(CSV, encoding="utf-8")
    with pytest.raises(InputError, match="--datum") as e:
        assign_file(session, p, tmp_path / "out.csv", at=D0)
    assert e.value.code == "datum_required"
    assert not (tmp_path / "out.csv").exists()


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
    r = assign_file(
        session, p, tmp_path / "o.csv", lon_col="x", lat_col="y", at=dt.date(2024, 1, 1), datum="wgs84"
    )
    out = pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False).set_index("ref")
    assert out.loc["a", "gg_owner_code"] == "W000" and out.loc["b", "gg_owner_code"] == "W002"
    assert out.loc["c", "gg_status"] == "on_boundary" and out.loc["c", "gg_owner_code"] == "W000"
    assert r["by_status"]["interior"] == 2
    _ = (CELLS, Y1)
