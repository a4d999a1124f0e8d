"""A new city in one command: ``gridgov city init`` (issue 14 item 2).

The inference (:mod:`grid.cityinit`) is tested on hand-made layers whose answer is known by
construction, and the command on the real layers of ``../shared/data/real_cities``: a one-level
city (Boston wards) from file to first answer, precincts added below the wards by containment
(their codes are not nested: ``0101`` is not ``1`` + ...), police districts beside them as an
independent layer, and Los Angeles' neighborhood councils whose ids collide with the council
districts'.
"""

from __future__ import annotations

import csv
import doctest
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box
from sqlalchemy import Engine, text
from typer.testing import CliRunner

import grid.cityinit
from api.cli import app
from grid.cityinit import StoredLayer, code_format, infer_city
from grid.levels import Level, Levels
from tests.world import write_layer

runner = CliRunner()
REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real_cities"
WARDS = REAL / "boston" / "boston_wards_2012-2022_crs84.geojson"
PRECINCTS = REAL / "boston" / "boston_precincts_2012-2022_wgs84.geojson"
POLICE = REAL / "boston" / "boston_police_districts_crs84.geojson"
LA_CD = REAL / "los_angeles" / "la_council_districts_2012.geojson"
LA_NC = REAL / "los_angeles" / "la_neighborhood_councils_2019.geojson"
BOSTON_311 = REAL / "boston" / "boston_311_2015_sample.csv"


def test_doctests() -> None:
    res = doctest.testmod(grid.cityinit)
    assert res.attempted >= 4 and res.failed == 0


# --- code formats -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "pattern", "fixed"),
    [
        (["110105", "110106", "110108"], r"\d{6}", 6),
        (["P-075", "P-101"], r"P-\d{3}", 5),
        (["1", "7", "22"], r"\d{1,2}", None),
        (["0101", "0502A", "2210"], r"\d{4}A?", None),
        (["A1", "B3", "C11", "E18"], r"[A-Z]\d{1,2}", None),
        (["Ward 3", "Ward 21"], r"Ward \d{1,2}", None),
    ],
)
def test_code_format_is_inferred(codes: list[str], pattern: str, fixed: int | None) -> None:
    f = code_format(codes)
    assert f["pattern"] == pattern
    assert f.get("code_length") == fixed
    lv = Level("x", 0, pattern=f["pattern"], code_length=f.get("code_length"),
               min_length=f.get("min_length"), max_length=f.get("max_length"))  # fmt: skip
    assert all(lv.code_problem(c) is None for c in codes)


def test_code_format_refuses_what_does_not_look_alike() -> None:
    f = code_format(["P-075", "P-101"])
    assert not re.fullmatch(f["pattern"], "Q-075") and not re.fullmatch(f["pattern"], "P-75")
    f = code_format(["110105", "110106"])
    assert not re.fullmatch(f["pattern"], "11010A")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789ABCZab-_. /", min_size=1, max_size=12), min_size=1, max_size=30))
def test_every_code_fits_its_inferred_format(codes: list[str]) -> None:
    f = code_format(codes)
    lv = Level("x", 0, pattern=f["pattern"], code_length=f.get("code_length"),
               min_length=f.get("min_length"), max_length=f.get("max_length"))  # fmt: skip
    assert [c for c in codes if lv.code_problem(c) is not None] == []


# --- levels from codes and geometry --------------------------------------------------------------


def _squares(n: int, size: float = 1.0) -> list[Any]:
    side = int(np.ceil(np.sqrt(n)))
    return [
        box(size * (i % side), size * (i // side), size * (i % side + 1), size * (i // side + 1))
        for i in range(n)
    ]


def _nested() -> tuple[list[str], np.ndarray]:
    """Two districts, each cut into four streets whose codes start with the district's."""
    codes, geoms = [], []
    for d, x0 in (("110105", 0.0), ("110106", 2.0)):
        codes.append(d)
        geoms.append(box(x0, 0, x0 + 2, 2))
        for k, (dx, dy) in enumerate(((0, 0), (1, 0), (0, 1), (1, 1)), start=1):
            codes.append(f"{d}{k:03d}")
            geoms.append(box(x0 + dx, dy, x0 + dx + 1, dy + 1))
    return codes, np.asarray(geoms, dtype=object)


def test_codes_nested_by_prefix_and_polygon_give_a_chain_of_levels() -> None:
    codes, geoms = _nested()
    plan = infer_city(codes, geoms, source="f.geojson", code_field="code", name_field="name",
                      names=["district", "street"])  # fmt: skip
    assert [p.level.name for p in plan.levels] == ["district", "street"]
    d, s = (p.level for p in plan.levels)
    assert (d.code_length, s.code_length, s.parent, s.nesting) == (6, 9, "district", "prefix")
    assert [p.features for p in plan.levels] == [2, 8] and plan.problems == []
    assert all("--select-by-code" in c for c in plan.import_commands("wgs84"))


def test_prefix_codes_whose_polygons_do_not_nest_stay_one_level() -> None:
    """Ids 1..120: "12" starts with "1", but ward 12 does not lie in ward 1."""
    codes = [str(i) for i in range(1, 121)]
    plan = infer_city(
        codes, np.asarray(_squares(120), dtype=object), source="f", code_field="id", name_field="id"
    )
    assert len(plan.levels) == 1
    lv = plan.levels[0].level
    assert (lv.min_length, lv.max_length, lv.pattern) == (1, 3, r"\d{1,3}")
    # the same codes, but each longer code drawn inside its prefix's square: now they nest
    codes2, geoms2 = _nested()
    shuffled = np.asarray(list(geoms2[::-1]), dtype=object)
    assert len(infer_city(codes2, shuffled, source="f", code_field="c", name_field="c").levels) == 1


def test_problems_are_found_before_anything_is_written() -> None:
    codes: list[str | None] = ["1", "2", "2", None, "3"]
    plan = infer_city(codes, np.asarray(_squares(5), dtype=object), source="f", code_field="nc_id",
                      name_field="name", code_fields=["objectid", "nc_id"])  # fmt: skip
    kinds = {p["kind"]: p["message"] for p in plan.problems}
    assert set(kinds) == {"missing_code", "duplicate_code"}
    assert "rows 4" in kinds["missing_code"] and "objectid" in kinds["duplicate_code"]
    assert plan.blocking


def test_added_layer_finds_its_parent_by_containment_or_stands_alone() -> None:
    wards = StoredLayer(Level("ward", 0, pattern=r"\d{1,2}", max_length=2), ["1", "2"],
                        np.asarray([box(0, 0, 2, 2), box(2, 0, 4, 2)], dtype=object))  # fmt: skip
    stored = Levels([wards.level])
    inside = np.asarray([box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 1, 3, 2)], dtype=object)
    plan = infer_city(["0101", "0102", "0201"], inside, source="p", code_field="WP", name_field="WP",
                      stored=[wards], stored_levels=stored, geoms_wgs84=inside)  # fmt: skip
    lv = plan.levels[0].level
    assert (lv.parent, lv.nesting, lv.rank) == ("ward", "containment", 1) and plan.problems == []
    across = np.asarray([box(1, 0, 3, 2), box(0, 1, 4, 2)], dtype=object)  # each straddles both wards
    plan = infer_city(["A1", "B2"], across, source="p", code_field="D", name_field="D",
                      stored=[wards], stored_levels=stored, geoms_wgs84=across)  # fmt: skip
    assert plan.levels[0].level.parent is None and "independent" in plan.levels[0].evidence
    clash = infer_city(["1", "2"], inside[:2], source="p", code_field="nc_id", name_field="n",
                       stored=[wards], stored_levels=stored, geoms_wgs84=inside[:2], independent=True)  # fmt: skip
    msg = next(p["message"] for p in clash.problems if p["kind"] == "code_in_other_level")
    assert "--code-prefix" in msg and "ward" in msg
    fixed = infer_city(["1", "2"], inside[:2], source="p", code_field="nc_id", name_field="n", code_prefix="NC",
                       stored=[wards], stored_levels=stored, geoms_wgs84=inside[:2], independent=True)  # fmt: skip
    assert fixed.problems == [] and fixed.levels[0].level.pattern == r"NC\d"


# --- through the CLI, on real layers -------------------------------------------------------------


def _run(argv: list[str], code: int = 0) -> str:
    r = runner.invoke(app, [str(a) for a in argv])
    shown = f"gridgov {' '.join(map(str, argv))}\n{r.output}"
    assert "Traceback" not in r.output, shown
    assert r.exception is None or isinstance(r.exception, SystemExit), (shown, r.exception)
    assert r.exit_code == code, shown
    return r.output


def _json(out: str) -> dict[str, Any]:
    return json.loads(out[out.index("{") :])


def _levels(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as c:
        return [
            tuple(r)
            for r in c.execute(text("SELECT name, rank, parent, nesting FROM unit_level ORDER BY rank"))
        ]


def _units(engine: Engine, level: str) -> dict[str, str | None]:
    with engine.connect() as c:
        rows = c.execute(text("SELECT code, parent_code FROM unit WHERE level = :l"), {"l": level})
        return {r[0]: r[1] for r in rows}


def test_a_one_level_city_from_file_to_first_answer(new_city: str, engine: Engine, tmp_path: Path) -> None:
    """The README's worked example: Boston wards (codes 1..22), then 311 records assigned."""
    plan = _json(_run(["city", "init", "--from", WARDS, "--code-field", "WARD", "--format", "json"]))
    assert plan["applied"] is False and plan["problems"] == []
    assert plan["levels_json"] == [
        {"name": "ward", "rank": 0, "min_length": 1, "max_length": 2, "label": "ward",
         "pattern": r"\d{1,2}", "parent": None, "nesting": "prefix"}
    ]  # fmt: skip
    assert _levels(engine)[0][0] == "district"  # nothing written without --yes

    blocked = runner.invoke(app, ["city", "init", "--from", str(WARDS), "--code-field", "WARD",
                                  "--datum", "wgs84", "--yes"])  # fmt: skip
    assert blocked.exit_code == 2 and "--accept-dirty" in blocked.output and "Traceback" not in blocked.output
    assert _levels(engine)[0][0] == "district"  # the blocked import took the levels back with it

    out = _run(["city", "init", "--from", WARDS, "--code-field", "WARD", "--datum", "wgs84", "--yes",
                "--repair", "--accept-dirty"])  # fmt: skip
    assert "levels loaded: ward" in out
    assert _levels(engine) == [("ward", 0, None, "prefix")]
    assert set(_units(engine, "ward")) == {str(i) for i in range(1, 23)}

    rows = tmp_path / "requests.csv"
    with (
        BOSTON_311.open(newline="", encoding="utf-8") as src,
        rows.open("w", newline="", encoding="utf-8") as dst,
    ):
        w = csv.writer(dst)
        for i, rec in enumerate(csv.reader(src)):
            w.writerow(rec)
            if i == 300:
                break
    res = tmp_path / "assigned.csv"
    summary = _json(_run(["assign", rows, "--lon-col", "LONGITUDE", "--lat-col", "LATITUDE", "--datum", "wgs84",
                          "--out", res, "--format", "json"]))  # fmt: skip
    assert summary["rows"] == 300
    with res.open(newline="", encoding="utf-8") as fh:
        got = list(csv.DictReader(fh))
    hall = ("-71.0587", "42.3594")  # Boston's fallback point: its rows carry any ward's label
    judged = [
        r for r in got if r["gg_ward_code"] and r["ward"].strip() and (r["LONGITUDE"], r["LATITUDE"]) != hall
    ]
    agree = sum(r["gg_ward_code"] == str(int(re.sub(r"\D", "", r["ward"]))) for r in judged)
    assert len(judged) > 200 and agree / len(judged) > 0.95


def test_layers_added_below_and_beside(new_city: str, engine: Engine) -> None:
    """Precincts (codes not nested in the wards') go below the wards by containment; police
    districts (A1..E18) beside them as an independent layer."""
    _run(["city", "init", "--from", WARDS, "--code-field", "WARD", "--datum", "wgs84", "--yes",
          "--repair", "--accept-dirty"])  # fmt: skip
    refused = runner.invoke(app, ["city", "init", "--from", str(PRECINCTS), "--code-field", "WARD_PRECINCT",
                                  "--yes"])  # fmt: skip
    assert refused.exit_code == 2 and "--add-layer" in refused.output
    assert [lv[0] for lv in _levels(engine)] == ["ward"]

    plan = _json(_run(["city", "init", "--from", PRECINCTS, "--code-field", "WARD_PRECINCT", "--add-layer",
                       "--level-name", "precinct", "--datum", "wgs84", "--format", "json"]))  # fmt: skip
    (lv,) = plan["levels_json"]
    assert (lv["parent"], lv["nesting"], lv["rank"]) == ("ward", "containment", 1)
    assert lv["pattern"] == r"\d{4}A?"
    _run(["city", "init", "--from", PRECINCTS, "--code-field", "WARD_PRECINCT", "--add-layer",
          "--level-name", "precinct", "--datum", "wgs84", "--yes", "--repair", "--accept-dirty",
          "--accept", "outside_parent", "--accept", "orphan_child"])  # fmt: skip
    precincts = _units(engine, "precinct")
    assert len(precincts) == 255
    # a precinct's own code says its ward (0113 is ward 1, precinct 13): containment agrees
    assert sum(p is None for p in precincts.values()) <= 2  # 0115, an island no ward polygon reaches
    agree = sum(p == str(int(c[:2])) for c, p in precincts.items())
    assert agree / len(precincts) > 0.97, agree

    _run(["city", "init", "--from", POLICE, "--code-field", "DISTRICT", "--add-layer", "--level-name", "police",
          "--datum", "wgs84", "--yes", "--repair", "--accept-dirty"])  # fmt: skip
    assert _levels(engine)[-1] == ("police", 2, None, "prefix")
    assert len(_units(engine, "police")) == 12


def test_colliding_ids_are_caught_and_a_prefix_fixes_them(new_city: str, engine: Engine) -> None:
    """LA: neighborhood councils' nc_id repeats (two 0s), objectid 1..99 collides with council districts 1..15."""
    _run(["city", "init", "--from", LA_CD, "--code-field", "name", "--level-name", "council", "--datum", "wgs84",
          "--yes", "--accept-dirty"])  # fmt: skip
    dup = _json(_run(["city", "init", "--from", LA_NC, "--code-field", "nc_id", "--add-layer", "--independent",
                      "--format", "json"], code=1))  # fmt: skip
    msg = next(p["message"] for p in dup["problems"] if p["kind"] == "duplicate_code")
    assert "objectid" in msg
    clash = _json(_run(["city", "init", "--from", LA_NC, "--code-field", "objectid", "--add-layer",
                        "--independent", "--format", "json"], code=1))  # fmt: skip
    assert [p["kind"] for p in clash["problems"]] == ["code_in_other_level"]
    _run(["city", "init", "--from", LA_NC, "--code-field", "objectid", "--add-layer", "--independent",
          "--code-prefix", "NC", "--level-name", "nc", "--datum", "wgs84", "--yes", "--repair", "--accept-dirty"])  # fmt: skip
    nc = _units(engine, "nc")
    assert len(nc) == 99 and all(c.startswith("NC") for c in nc)


def test_a_file_of_two_nested_levels_imports_both(new_city: str, engine: Engine, tmp_path: Path) -> None:
    codes, geoms = _nested()
    # 0.01-degree squares near 双井 so that the validator's metric CRS applies
    rows = [{"code": c, "name": f"单元{c}", "geometry": box(116.4 + g.bounds[0] / 100, 39.9 + g.bounds[1] / 100,
                                                            116.4 + g.bounds[2] / 100, 39.9 + g.bounds[3] / 100)}
            for c, g in zip(codes, geoms, strict=True)]  # fmt: skip
    f = write_layer(tmp_path / "two.geojson", rows)
    out = _run(["city", "init", "--from", f, "--code-field", "code", "--level-name", "district",
                "--level-name", "street", "--datum", "wgs84", "--yes"])  # fmt: skip
    assert "levels loaded: district, street" in out
    assert _units(engine, "district") == {"110105": None, "110106": None}
    streets = _units(engine, "street")
    assert len(streets) == 8 and all(p == c[:6] for c, p in streets.items())


def test_help_explains_and_bad_options_are_one_line(new_city: str) -> None:
    h = _run(["city", "init", "--help"])
    assert "--code-field" in h and "--add-layer" in h
    r = runner.invoke(app, ["city", "init", "--from", str(WARDS), "--code-field", "NOPE"])
    assert r.exit_code == 2 and "missing_field" in r.output and "WARD" in r.output
    r = runner.invoke(app, ["city", "init", "--from", str(WARDS), "--code-field", "WARD", "--independent"])
    assert r.exit_code == 2 and "invalid_option" in r.output
