"""The hand-written 双井 geocoding queries (data/geocode_queries/): well formed, and every label still
points at something that exists, with the same fields, in the deterministic sample gazetteer.

No database. Uses ``data.sample.build_files()`` (cached in data/build/; ~10 s when cold), so a change to
the generator that moves or renames a building, compound, landmark or crossing fails here and the labels
must be re-checked.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from data.sample import SHUANGJING, build_files

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ROOT / "data" / "geocode_queries" / "shuangjing_handwritten.csv"
VILLAGES = ROOT / "data" / "beijing" / "beijing_villages.csv"
COLUMNS = [
    "id",
    "query",
    "kind",
    "expected_level",
    "building_id",
    "compound",
    "road",
    "door_number",
    "landmark",
    "community_code",
    "note",
]
KINDS = {
    "full",
    "missing_levels",
    "colloquial",
    "typo",
    "homophone",
    "chinese_numerals",
    "fullwidth",
    "buried",
    "building_markers",
    "street_style",
    "compound_style",
    "road_number",
    "crossing",
    "ambiguous",
    "nonsense",
}
LEVELS = {
    "building",
    "compound",
    "road_number",
    "crossing",
    "landmark",
    "community",
    "street",
    "review",
    "none",
}
MIN_PER_LEVEL = {"building": 120, "compound": 25, "road_number": 20, "crossing": 10}
LABELS = ["building_id", "compound", "road", "door_number", "landmark", "community_code"]


def _read_rows() -> list[dict[str, str]]:
    with QUERIES.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COLUMNS
        return list(reader)


ROWS = _read_rows()


def _rows(level: str) -> list[dict[str, str]]:
    return [r for r in ROWS if r["expected_level"] == level]


def _ids(rows: list[dict[str, str]]) -> list[str]:
    return [r["id"] for r in rows]


@pytest.fixture(scope="module")
def gazetteer() -> dict[str, object]:
    paths = build_files()
    d = paths["buildings"].parent
    buildings = pd.read_csv(paths["buildings"], dtype=str, keep_default_na=False).set_index("building_id")
    compounds = gpd.read_file(d / "compounds.geojson").set_index("name")
    roads = gpd.read_file(d / "roads.geojson")
    landmarks = gpd.read_file(d / "landmarks.geojson")
    crossings = gpd.read_file(d / "crossings.geojson")
    return {
        "buildings": buildings,
        "compounds": compounds,
        "roads": roads,
        "landmarks": dict(zip(landmarks["name"], landmarks["community_code"], strict=True)),
        "crossings": dict(zip(crossings["name"], crossings["community_code"], strict=True)),
    }


def test_shape_ids_and_vocabularies() -> None:
    assert len(ROWS) >= 220
    ids = _ids(ROWS)
    assert len(set(ids)) == len(ids), [i for i, n in Counter(ids).items() if n > 1]
    assert all(r["query"].strip() for r in ROWS)
    queries = Counter(r["query"] for r in ROWS)
    assert not [q for q, n in queries.items() if n > 1]
    assert {r["kind"] for r in ROWS} == KINDS
    assert {r["expected_level"] for r in ROWS} <= LEVELS


def test_level_counts() -> None:
    levels = Counter(r["expected_level"] for r in ROWS)
    for level, least in MIN_PER_LEVEL.items():
        assert levels[level] >= least, (level, levels[level])
    assert levels["landmark"] + levels["crossing"] >= 25
    assert levels["review"] + levels["none"] >= 10


def test_each_level_has_its_label() -> None:
    need = {
        "building": ["building_id", "road", "door_number", "community_code"],
        "compound": ["compound"],
        "road_number": ["road", "door_number"],
        "crossing": ["landmark", "community_code"],
        "landmark": ["landmark", "community_code"],
        "community": ["community_code"],
    }
    for r in ROWS:
        for col in need.get(r["expected_level"], []):
            assert r[col], (r["id"], col)
        if r["expected_level"] in ("street", "review", "none"):
            assert not any(r[c] for c in LABELS), r["id"]
        if r["expected_level"] != "building":
            assert not r["building_id"], r["id"]


def test_community_codes_are_shuangjing() -> None:
    with VILLAGES.open(newline="", encoding="utf-8") as f:
        shuangjing = {r["code"] for r in csv.DictReader(f) if r["streetCode"] == SHUANGJING}
    assert len(shuangjing) == 18
    bad = [
        (r["id"], r["community_code"])
        for r in ROWS
        if r["community_code"] and r["community_code"] not in shuangjing
    ]
    assert not bad


def test_building_labels_match_the_gazetteer(gazetteer: dict[str, object]) -> None:
    buildings = gazetteer["buildings"]
    assert isinstance(buildings, pd.DataFrame)
    missing = [r["id"] for r in _rows("building") if r["building_id"] not in buildings.index]
    assert not missing
    for r in _rows("building"):
        b = buildings.loc[r["building_id"]]
        got = (r["compound"], r["road"], r["door_number"], r["community_code"])
        assert got == (b["compound"], b["road"], b["door_number"], b["community_code"]), (r["id"], r["query"])


def test_compound_labels_match_the_gazetteer(gazetteer: dict[str, object]) -> None:
    compounds = gazetteer["compounds"]
    assert isinstance(compounds, gpd.GeoDataFrame)
    assert compounds.index.is_unique
    for r in _rows("compound"):
        assert r["compound"] in compounds.index, r["id"]
        c = compounds.loc[r["compound"]]
        if r["road"] or r["door_number"]:
            assert (r["road"], r["door_number"]) == (c["road"], str(c["door_number"])), r["id"]
        if r["community_code"]:
            assert not c["straddles"], (r["id"], "compound straddles: leave community_code empty")
            assert r["community_code"] == c["community_code"], r["id"]
        else:
            assert c["straddles"], (r["id"], "compound lies in one community: fill community_code")


def test_road_numbers_are_on_the_road_and_unclaimed(gazetteer: dict[str, object]) -> None:
    roads, buildings, compounds = gazetteer["roads"], gazetteer["buildings"], gazetteer["compounds"]
    assert isinstance(roads, gpd.GeoDataFrame)
    assert isinstance(buildings, pd.DataFrame) and isinstance(compounds, gpd.GeoDataFrame)
    claimed = {(b.road, b.door_number) for b in buildings.itertuples()}
    claimed |= {(c.road, str(c.door_number)) for c in compounds.itertuples()}
    for r in _rows("road_number"):
        segs = roads[roads["name"] == r["road"]]
        assert len(segs), (r["id"], r["road"])
        lo = int(segs[["from_left", "from_right"]].min().min())
        hi = int(segs[["to_left", "to_right"]].max().max())
        assert lo <= int(r["door_number"]) <= hi, (r["id"], r["road"], r["door_number"], lo, hi)
        # a number that names a building or compound should be labelled at that level instead
        assert (r["road"], r["door_number"]) not in claimed, r["id"]


def test_landmark_and_crossing_labels_exist(gazetteer: dict[str, object]) -> None:
    for level, layer in (("landmark", gazetteer["landmarks"]), ("crossing", gazetteer["crossings"])):
        assert isinstance(layer, dict)
        for r in _rows(level):
            assert r["landmark"] in layer, (r["id"], r["landmark"])
            assert r["community_code"] == layer[r["landmark"]], r["id"]
    assert not [
        r["id"] for r in ROWS if r["landmark"] and r["expected_level"] not in ("landmark", "crossing")
    ]


def test_street_and_compound_styles_come_in_pairs() -> None:
    def targets(kind: str) -> Counter[str]:
        return Counter(r["building_id"] or r["compound"] for r in ROWS if r["kind"] == kind)

    assert targets("street_style") == targets("compound_style")
