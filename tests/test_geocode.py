"""Gazetteer + geocoder (pure, no database): every fallback level, the rules, ambiguity, conflicts,
reverse geocoding, and a run on a generated gazetteer of ~200k places."""

from __future__ import annotations

import math
import random
import time

import pytest
from shapely.geometry import LineString, Point

from data.synthetic_buildings import demo_street, generate_street
from grid.errors import InputError
from grid.gazetteer import Gazetteer, Place, crossing_key
from grid.geocode import CONFIDENCE, geocode, geocode_many, reverse

# --- the demo street -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def street():
    geom, comms = demo_street()
    s = generate_street(geom, comms)
    # cells are bound by another module; give every building one so the result can carry it
    s.buildings["cell_code"] = [f"{c}{n % 7 + 1:03d}" for n, c in enumerate(s.buildings["community_code"])]
    return s, comms


@pytest.fixture(scope="module")
def gaz(street) -> Gazetteer:
    s, comms = street
    return Gazetteer.from_street(s, comms)


def _building(street, compound: str, no: str):
    b = street[0].buildings
    return b[(b["compound"] == compound) & (b["building_no"] == no)].iloc[0]


def test_building_exact_from_full_address(gaz, street) -> None:
    row = street[0].buildings.iloc[0]
    r = geocode(gaz, row["address"])
    assert (r.status, r.level, r.rule) == ("matched", "building", "exact")
    assert r.building_id == row["building_id"]
    assert r.cell_code == row["cell_code"] and r.community_code == row["community_code"]
    assert r.confidence == pytest.approx(CONFIDENCE["building"])
    assert (r.lon, r.lat) == pytest.approx((row.geometry.x, row.geometry.y))


@pytest.mark.parametrize(
    "text",
    [
        "富力城12号楼",
        "富力城十二号楼",
        "富力城１２号楼",
        "富力城12栋",
        "富力城12幢",
        "富力城12座",
        "富力城12#",
    ],
)
def test_building_normalised_forms(gaz, street, text: str) -> None:
    want = _building(street, "富力城", "12")
    r = geocode(gaz, text)
    assert (r.status, r.level, r.building_id) == ("matched", "building", want["building_id"])
    assert r.rule == ("exact" if text == "富力城12号楼" else "normalised")
    assert r.cell_code == want["cell_code"]


def test_building_by_road_door_and_number(gaz, street) -> None:
    want = _building(street, "富力城", "3")
    r = geocode(gaz, f"{want['road']}{want['door_number']}号院3号楼")
    assert (r.level, r.building_id, r.status) == ("building", want["building_id"], "matched")


def test_compound_level_and_yard(gaz, street) -> None:
    r = geocode(gaz, "富力城")
    assert (r.status, r.level, r.rule) == ("matched", "compound", "exact")
    assert r.confidence == pytest.approx(CONFIDENCE["compound"])
    want = _building(street, "富力城", "1")
    r2 = geocode(gaz, f"{want['road']}{want['door_number']}号院")  # '86号院' = the compound at that door
    assert (r2.level, r2.place_id) == ("compound", r.place_id)
    # a building number that does not exist falls back to the compound, and says so
    r3 = geocode(gaz, "富力城99号楼")
    assert (r3.level, r3.rule) == ("compound", "fallback")
    assert any("99" in n for n in r3.notes)


def test_fuzzy_one_wrong_character(gaz, street) -> None:
    want = _building(street, "富力城", "12")
    r = geocode(gaz, "富丽城12号楼")  # a homophone
    assert (r.level, r.rule, r.building_id) == ("building", "fuzzy", want["building_id"])
    assert r.confidence < CONFIDENCE["building"]
    # a compound name the parser does not read as one ('理' for '里')
    row = street[0].buildings[street[0].buildings["compound"] == "东柏北里"].iloc[0]
    r2 = geocode(gaz, f"东柏北理{row['building_no']}号楼")
    assert (r2.rule, r2.building_id) == ("fuzzy", row["building_id"])


def test_fuzzy_never_picks_between_equals(gaz) -> None:
    r = geocode(gaz, "九龙东里")  # 九龙北里 / 九龙南里 are equally close
    assert r.status == "needs_review" and r.lon is None
    assert len(r.candidates) >= 2


def test_road_number_interpolated(gaz, street) -> None:
    roads = street[0].roads
    for _, seg in roads.iterrows():
        lo, hi = int(seg["from_left"]), int(seg["to_left"])
        free = [n for n in range(lo, hi + 1, 2) if (seg["name"], str(n)) not in gaz.doors]
        if hi > lo and free:
            break
    else:
        pytest.fail("no free door number on the demo roads")
    r = geocode(gaz, f"{seg['name']}{free[0]}号")
    assert (r.level, r.rule, r.status) == ("road_number", "interpolated", "matched")
    assert r.confidence == pytest.approx(CONFIDENCE["road_number"] * 0.9)
    assert seg.geometry.distance(Point(r.lon, r.lat)) < 1e-6


def test_crossing_either_order(gaz) -> None:
    a = geocode(gaz, "广渠路与东三环中路交叉口")
    b = geocode(gaz, "东三环中路和广渠路路口")
    assert (a.level, a.rule, b.rule) == ("crossing", "exact", "normalised")
    assert a.place_id == b.place_id and a.confidence == pytest.approx(CONFIDENCE["crossing"])
    assert crossing_key("A路/B街") == crossing_key("B街与A路交叉口")


def test_landmark_and_direction(gaz) -> None:
    bridge = geocode(gaz, "双井桥")
    se = geocode(gaz, "双井桥东南角")
    assert (bridge.level, se.level) == ("landmark", "landmark")
    assert bridge.lon is not None and bridge.lat is not None and se.lon is not None and se.lat is not None
    assert se.lon > bridge.lon and se.lat < bridge.lat
    assert geocode(gaz, "双井地铁站A口").place_id == geocode(gaz, "双井站A口").place_id


def test_community_street_district_levels(gaz) -> None:
    for text, level in (("九龙社区", "community"), ("双井街道", "street"), ("朝阳区", "district")):
        r = geocode(gaz, text)
        assert (r.level, r.status) == (level, "needs_review")  # below 0.6: a person decides
        assert r.confidence == pytest.approx(CONFIDENCE[level]) and r.candidates
        assert geocode(gaz, text, review_below=0.1).status == "matched"
    r = geocode(gaz, "广渠路")
    assert r.level == "road" and r.status == "needs_review"


def test_conflict_with_written_community(gaz, street) -> None:
    want = _building(street, "富力城", "12")
    r = geocode(gaz, "九龙社区富力城12号楼")  # 富力城 lies elsewhere
    assert r.building_id == want["building_id"] and r.conflicts
    assert "九龙社区" in r.conflicts[0]
    assert r.confidence < CONFIDENCE["building"]
    # the same contradiction on a fuzzy match is not kept
    r2 = geocode(gaz, "九龙社区富丽城12号楼")
    assert r2.status == "needs_review" and r2.conflicts


def test_garbage_and_empty(gaz) -> None:
    assert geocode(gaz, "hello world").status == "no_match"
    assert geocode(gaz, "不存在的地方名称").status == "no_match"
    with pytest.raises(InputError):
        geocode(gaz, "   ")
    out = geocode_many(gaz, ["", "富力城12号楼"])
    assert [r.status for r in out] == ["no_match", "matched"]


def test_reverse_nearest_building(gaz, street) -> None:
    row = _building(street, "富力城", "5")
    r = reverse(gaz, row.geometry.x + 0.00005, row.geometry.y)
    assert r["status"] == "matched" and r["building_id"] == row["building_id"]
    assert r["cell_code"] == row["cell_code"] and 0 < r["distance_m"] < 10
    assert r["address"].endswith("富力城5号楼")
    far = reverse(gaz, row.geometry.x + 0.1, row.geometry.y)
    assert far["status"] == "no_match"
    with pytest.raises(InputError):
        reverse(gaz, math.nan, 40.0)


# --- a hand-made gazetteer: doors, ambiguity, aliases ----------------------------------------------

C1, C2, C3 = "110105001001", "110105001002", "110105002001"


def _small() -> Gazetteer:
    road = LineString([(116.40, 39.90), (116.41, 39.90)])
    places = [
        Place("D", "district", "朝阳区", (), 116.405, 39.9, district_code="110105"),
        Place("S1", "street", "甲街道", ("甲乡",), 116.405, 39.9, street_code="110105001"),
        Place("S2", "street", "乙街道", (), 116.405, 39.8, street_code="110105002"),
        Place(C1, "community", "东社区", (), 116.401, 39.9, community_code=C1),
        Place(C2, "community", "西社区", (), 116.409, 39.9, community_code=C2),
        Place(C3, "community", "南社区", (), 116.405, 39.8, community_code=C3),
        Place("R1", "road", "幸福路", (), 116.405, 39.9, road="幸福路", geometry=road,
              door_ranges={"left": (1, 99), "right": (2, 100)}, community_code=C1),
        Place("DOOR7", "door", "幸福路7号", (), 116.4031, 39.9001, road="幸福路", door_number="7", community_code=C1),
        Place("A1", "compound", "阳光小区", (), 116.401, 39.9, community_code=C1),
        Place("A2", "compound", "阳光小区", (), 116.409, 39.9, community_code=C2),
        Place("B1", "building", "阳光小区1号楼", (), 116.4011, 39.9, building_id="B1", compound="阳光小区",
              building_no="1", community_code=C1, cell_code=C1 + "001"),
        Place("B2", "building", "阳光小区1号楼", (), 116.4091, 39.9, building_id="B2", compound="阳光小区",
              building_no="1", community_code=C2, cell_code=C2 + "001"),
        Place("N1", "compound", "新华花园", ("红星花园",), 116.405, 39.8, community_code=C3),
        Place("NB1", "building", "新华花园3号楼", (), 116.4051, 39.8, building_id="NB1", compound="新华花园",
              building_no="3", community_code=C3),
    ]  # fmt: skip
    return Gazetteer(places, aliases={"朝阳新村": "新华花园"})


def test_road_number_via_door_place() -> None:
    g = _small()
    r = geocode(g, "幸福路7号")
    assert (r.level, r.place_id, r.rule, r.status) == ("road_number", "DOOR7", "exact", "matched")
    assert r.confidence == pytest.approx(CONFIDENCE["road_number"])
    r2 = geocode(g, "幸福路51号")  # no door place: interpolated halfway along the left side
    assert (r2.rule, r2.lon) == ("interpolated", pytest.approx(116.405))


def test_ambiguous_compound_needs_review() -> None:
    g = _small()
    r = geocode(g, "阳光小区1号楼")
    assert r.status == "needs_review" and r.lon is None and r.building_id is None
    assert {c["building_id"] for c in r.candidates} == {"B1", "B2"}
    assert all(c["cell_code"] for c in r.candidates)
    # the community written tells them apart: no conflict, no review
    r2 = geocode(g, "西社区阳光小区1号楼")
    assert (r2.status, r2.building_id, r2.conflicts) == ("matched", "B2", [])
    # both contradict the community written: reported, and a person decides
    r3 = geocode(g, "南社区阳光小区1号楼")
    assert r3.status == "needs_review" and r3.conflicts


def test_aliases_former_names() -> None:
    g = _small()
    assert geocode(g, "红星花园3号楼").building_id == "NB1"  # Place.aliases
    assert geocode(g, "朝阳新村3号楼").building_id == "NB1"  # gazetteer-level alias
    r = geocode(g, "甲乡", review_below=0.1)  # a renamed township
    assert (r.level, r.place_id) == ("street", "S1")


def test_place_validation() -> None:
    with pytest.raises(InputError):
        Place("x", "shop", "A", (), 0.0, 0.0)
    p = Place("x", "building", "A", (), 0.0, 0.0, community_code=C1)
    assert (p.street_code, p.district_code) == ("110105001", "110105")
    with pytest.raises(InputError):
        Gazetteer([p, p])


# --- a generated gazetteer -----------------------------------------------------------------------

_SYL = "安宝北长朝春大德东丰福富光广和红华惠吉佳嘉建金锦京静景康乐丽利林龙茂美明南鹏平齐庆荣瑞盛顺泰天通万文西祥兴秀阳怡永玉远悦云泽正志中"
_SUF = [
    "小区",
    "家园",
    "花园",
    "北里",
    "南里",
    "西里",
    "东里",
    "新村",
    "雅园",
    "公寓",
    "国际",
    "华府",
    "嘉园",
    "苑",
]
_ROAD = ["路", "街", "大街", "胡同", "东路", "西路", "北路", "南路"]


def synthetic_gazetteer(n_places: int, seed: int = 1) -> tuple[Gazetteer, list[tuple[str, str]]]:
    """About ``n_places`` places (20 buildings per compound) and addresses written in varied ways
    (full, compound only, 栋/十二号楼/full-width, road + door, typos), each with the id of the
    place it means."""
    rng = random.Random(seed)
    names = [f"{a}{b}{s}" for s in _SUF for a in _SYL for b in _SYL if a != b]
    rng.shuffle(names)
    roads = [f"{a}{b}{r}" for r in _ROAD for a in _SYL for b in _SYL if a != b]
    rng.shuffle(roads)
    places: list[Place] = []
    texts: list[tuple[str, str]] = []
    n_comp = max(1, n_places // 21 + 1)
    per_road = 10
    for k in range(n_comp):
        name = ("" if k < len(names) else _SYL[k // len(names) - 1]) + names[k % len(names)]
        road = roads[k // per_road]
        seg = f"R{k - k % per_road}"
        door = str(2 * (k % per_road) + 2)
        comm = f"110105{k // 400 + 1:03d}{k // 40 % 10 + 1:03d}"
        x, y = 116.2 + (k % 300) * 0.002, 39.8 + (k // 300) * 0.002
        if k % per_road == 0:
            line = LineString([(x, y - 0.001), (x + 0.02, y - 0.001)])
            places.append(
                Place(f"R{k}", "road", road, (), x + 0.01, y - 0.001, road=road, geometry=line,
                      door_ranges={"left": (1, 2 * per_road - 1), "right": (2, 2 * per_road)}, community_code=comm)
            )  # fmt: skip
        cid = f"C{k}"
        places.append(
            Place(cid, "compound", name, (), x, y, road=road, door_number=door, community_code=comm)
        )
        for b in range(1, 21):
            bid = f"B{k}-{b}"
            places.append(
                Place(bid, "building", f"{name}{b}号楼", (), x + b * 1e-5, y, building_id=bid, compound=name,
                      road=road, door_number=door, building_no=str(b), community_code=comm, cell_code=comm + "001")
            )  # fmt: skip
        for form in range(2):
            b = rng.randint(1, 20)
            bid = f"B{k}-{b}"
            choice = rng.randrange(7)
            if choice == 0:
                texts.append((f"{road}{door}号院{name}{b}号楼", bid))
            elif choice == 1:
                texts.append((f"{name}{b}栋{rng.randint(1, 6)}单元{rng.randint(101, 2402)}室", bid))
            elif choice == 2:
                texts.append((f"{name}{'十二' if b == 12 else b}号楼", bid))
            elif choice == 3:
                texts.append((f"{road}{door}号院", cid))
            elif choice == 4:
                texts.append((f"{road}{2 * per_road - 1 - 2 * form}号", seg))
            elif choice == 5:
                typo = name[:-3] + _SYL[(k + form) % len(_SYL)] + name[-2:] if len(name) > 3 else name
                texts.append((f"{road}{typo}{b}号楼", bid))
            else:
                texts.append(
                    (f"{name}{b}号楼".translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}), bid)
                )
    return Gazetteer(places), texts


def test_generated_gazetteer_runs() -> None:
    t0 = time.perf_counter()
    g, texts = synthetic_gazetteer(200_000)
    built = time.perf_counter() - t0
    assert len(g) >= 200_000
    sample = texts[:3000]
    t0 = time.perf_counter()
    out = geocode_many(g, [t for t, _ in sample])
    per_s = len(out) / (time.perf_counter() - t0)
    statuses = {s: sum(r.status == s for r in out) for s in ("matched", "needs_review", "no_match")}
    wrong = [
        (t, r.place_id)
        for (t, want), r in zip(sample, out, strict=True)
        if r.status == "matched" and r.place_id != want
    ]
    print(f"built {len(g)} places in {built:.1f}s; {per_s:.0f} addresses/s; {statuses}; wrong {wrong[:5]}")
    assert statuses["matched"] > len(out) * 0.8
    assert len(wrong) <= len(out) * 0.01  # a match is right, or it goes to review


def test_every_demo_address_finds_its_building(gaz, street) -> None:
    b = street[0].buildings
    for short in (False, True):  # the full address, and road + door + compound + number without the head
        texts = [a.split("双井街道", 1)[1] if short else a for a in b["address"]]
        out = geocode_many(gaz, texts)
        assert [r.building_id for r in out] == list(b["building_id"])
        assert all(r.status == "matched" and r.level == "building" for r in out)
    # compound + number only ('九龙山家园3号楼'); stand-alone buildings by road + door
    inside = b[b["compound"].notna()]
    out = geocode_many(
        gaz, [f"{c}{n}号楼" for c, n in zip(inside["compound"], inside["building_no"], strict=True)]
    )
    assert [r.building_id for r in out] == list(inside["building_id"])
    alone = b[b["compound"].isna()]
    out = geocode_many(gaz, [f"{r}{d}号" for r, d in zip(alone["road"], alone["door_number"], strict=True)])
    assert [r.building_id for r in out] == list(alone["building_id"])


def test_from_frames_cells_by_point_in_polygon(street) -> None:
    import geopandas as gpd

    s, comms = street
    # one grid cell (15-digit code, no level column) over the whole street: places without a cell get it
    cell = gpd.GeoDataFrame(
        {"code": ["110105016066001"], "name": ["网格1"]}, geometry=[comms.geometry.union_all()], crs=4326
    )
    units = gpd.GeoDataFrame(
        {"code": list(comms["code"]) + list(cell["code"]), "name": [*comms["name"], "网格1"]},
        geometry=list(comms.geometry) + list(cell.geometry),
        crs=4326,
    )
    g = Gazetteer.from_frames(s.buildings, s.compounds, s.roads, s.landmarks, s.crossings, units)
    r = geocode(g, "双井桥")
    assert r.cell_code == "110105016066001" and r.community_code == s.landmarks["community_code"].iloc[0]
    assert geocode(g, "富力城12号楼").cell_code == _building(street, "富力城", "12")["cell_code"]  # kept
    assert geocode(g, "九龙社区", review_below=0).place_id == "110105016064"
