"""Build and load the Beijing sample city through the same importers users run.

Layers are generated deterministically into ``data/build/`` (git-ignored) and loaded with
``import_units`` / ``import_buildings``, so the demo exercises the real import path.
Loading is idempotent: a second run finds everything unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd

SAMPLE_VALID_FROM = dt.date(2023, 6, 30)  # date of the NBS 2023 division codes
BUILD_DIR = Path(__file__).resolve().parent / "build"  # git-ignored cache of generated layers
SHUANGJING = "110105016"
Progress = Callable[[str], None]


def build_files(
    out_dir: Path | None = None, progress: Progress | None = None, *, force: bool = False
) -> dict[str, Path]:
    """Write district/street/community GeoJSON and the 双井 buildings; reuse them while the generators
    and their inputs are unchanged."""
    out_dir = out_dir or BUILD_DIR
    from data.sample_city import build_hierarchy, to_geojson
    from data.synthetic_buildings import generate_street, to_files

    say = progress or (lambda _m: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {lv: out_dir / f"beijing_{lv}.geojson" for lv in ("district", "street", "community")}
    bpath = out_dir / "buildings" / "buildings.csv"
    gpath = out_dir / "buildings" / "gazetteer.geojson"
    stamp = out_dir / ".sample-stamp"
    want = _generator_stamp()
    fresh = stamp.exists() and stamp.read_text() == want
    if not force and fresh and all(p.exists() for p in paths.values()) and bpath.exists() and gpath.exists():
        return {**paths, "buildings": bpath, "gazetteer": gpath}
    say("building the sample city layers (deterministic; cached in data/build/)")
    layers = build_hierarchy()
    paths = {}  # rebuilt below
    for lv in ("district", "street", "community"):
        paths[lv] = out_dir / f"beijing_{lv}.geojson"
        paths[lv].write_bytes(to_geojson(layers[lv], f"beijing_{lv}").encode("utf-8"))
    comms = layers["community"]
    street = layers["street"].set_index("code").loc[SHUANGJING]
    sj = generate_street(street.geometry, gpd.GeoDataFrame(comms[comms.parent_code == SHUANGJING]))
    files = to_files(sj, out_dir / "buildings")
    files["gazetteer"] = write_gazetteer(sj, layers, out_dir / "buildings" / "gazetteer.geojson")
    stamp.write_text(want)
    return {
        **paths,
        **{f"buildings_{k}": v for k, v in files.items()},
        "buildings": bpath,
        "gazetteer": gpath,
    }


UNIT_SUFFIXES = ("社区居委会", "社区居民委员会", "居委会", "村委会", "街道办事处", "地区办事处", "办事处")


def _short_names(name: str) -> list[str]:
    """Colloquial forms of a unit name: 九龙社区居委会 -> 九龙社区, 九龙; 双井街道 -> 双井."""
    out = []
    for suf in UNIT_SUFFIXES:
        if name.endswith(suf):
            base = name[: -len(suf)]
            out += [
                base + ("社区" if "社区" in suf or "居" in suf else "街道" if "街道" in suf else ""),
                base,
            ]
            break
    for suf in ("街道", "地区", "社区", "村", "镇", "乡"):
        if name.endswith(suf) and len(name) > len(suf) + 1:
            out.append(name[: -len(suf)])
    return [x for x in dict.fromkeys(out) if x and x != name]


def write_gazetteer(street: object, layers: dict[str, gpd.GeoDataFrame], path: Path) -> Path:
    """The sample street's gazetteer (``gridgov import addresses`` format) from the synthetic layers."""
    import pandas as pd

    sj = street  # SyntheticStreet
    rows: list[dict[str, object]] = []
    b = sj.buildings  # type: ignore[attr-defined]
    for _, r in b.iterrows():
        rows.append(
            {
                "place_id": r["building_id"],
                "kind": "building",
                "name": r["address"],
                "aliases": "",
                "building_id": r["building_id"],
                "compound": r["compound"],
                "road": r["road"],
                "door_number": r["door_number"],
                "building_no": r["building_no"],
                "community_code": r["community_code"],
                "households": int(r["households"]),
                "geometry": r.geometry,
            }
        )
    for _, r in sj.compounds.iterrows():  # type: ignore[attr-defined]
        gate = f"{r['road']}{r['door_number']}号院" if r["road"] and r["door_number"] else ""
        rows.append(
            {
                "place_id": r["compound_id"],
                "kind": "compound",
                "name": r["name"],
                "aliases": "|".join(a for a in (gate, r["address"]) if a),
                "road": r["road"],
                "door_number": r["door_number"],
                "community_code": r["community_code"],
                "households": int(r["households"]),
                "geometry": r.geometry,
            }
        )
    for _, r in sj.roads.iterrows():  # type: ignore[attr-defined]
        rows.append(
            {
                "place_id": r["segment_id"],
                "kind": "road",
                "name": r["name"],
                "aliases": "",
                "road": r["name"],
                "from_left": r["from_left"],
                "to_left": r["to_left"],
                "from_right": r["from_right"],
                "to_right": r["to_right"],
                "geometry": r.geometry,
            }
        )
    for i, (_, r) in enumerate(sj.landmarks.iterrows(), start=1):  # type: ignore[attr-defined]
        rows.append(
            {
                "place_id": f"SJ-L{i:03d}",
                "kind": "landmark",
                "name": r["name"],
                "aliases": "",
                "community_code": r["community_code"],
                "geometry": r.geometry,
            }
        )
    for i, (_, r) in enumerate(sj.crossings.iterrows(), start=1):  # type: ignore[attr-defined]
        a, c = r["road_a"], r["road_b"]
        rows.append(
            {
                "place_id": f"SJ-X{i:03d}",
                "kind": "crossing",
                "name": r["name"],
                "aliases": "|".join([f"{c}与{a}交叉口", f"{a}{c}路口", f"{c}{a}路口"]),
                "community_code": r["community_code"],
                "geometry": r.geometry,
            }
        )
    former = _former_names()
    for lv in ("district", "street", "community"):
        df = layers[lv]
        df = df[df["code"].str.startswith(SHUANGJING[: {"district": 6, "street": 9, "community": 9}[lv]])]
        if lv == "district":
            df = df[df["code"] == SHUANGJING[:6]]
        for _, r in df.iterrows():
            rows.append(
                {
                    "place_id": r["code"],
                    "kind": lv,
                    "name": r["name"],
                    "aliases": "|".join(
                        dict.fromkeys([*_short_names(r["name"]), *former.get(r["code"], [])])
                    ),
                    "community_code": r["code"] if lv == "community" else None,
                    "geometry": r.geometry.representative_point(),
                }
            )
    g = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=4326)
    path.unlink(missing_ok=True)
    g.to_file(path, driver="GeoJSON", engine="pyogrio")
    return path


def _former_names() -> dict[str, list[str]]:
    """Former (2016) official names of units, keyed by 2023 code, as aliases (名称变更 keeps old names findable)."""
    import csv

    out: dict[str, list[str]] = {}
    path = Path(__file__).resolve().parent / "beijing" / "adcode_2016_centres.csv"
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            code = row["code"][:9] if row["code"].endswith("000") else row["code"]
            out[code] = [row["name"], *_short_names(row["name"])]
    return out


def _generator_stamp() -> str:
    """Hash of the generators and their inputs: cached layers are rebuilt when any of them changes."""
    import hashlib

    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in [
        here / "sample.py",
        here / "sample_city.py",
        here / "synthetic_buildings.py",
        *sorted((here / "beijing").glob("*")),
    ]:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def load_sample(out_dir: Path | None = None, progress: Progress | None = None) -> dict[str, object]:
    """Import the sample city into the configured database (idempotent) and seed catalogues and staff."""
    from grid.db.buildings import import_buildings
    from grid.db.catalogue import load_catalogue
    from grid.db.engine import check_database, session_scope
    from grid.db.importer import import_units

    say = progress or (lambda _m: None)
    check_database()
    paths = build_files(out_dir, say)
    summary: dict[str, object] = {}
    for lv in ("district", "street", "community"):
        with session_scope() as s:
            r = import_units(
                s,
                paths[lv],
                level=lv,
                code_field="code",
                name_field="name",
                parent_field="parent_code",
                source_field="source",
                datum="wgs84",
                valid_from=SAMPLE_VALID_FROM,
                source=f"gridgov sample city ({lv})",
            )
            say(
                f"{lv}: {r.counts['new']} new, {r.counts['changed']} changed, {r.counts['unchanged']} unchanged, "
                f"{r.counts['warnings']} warning(s)"
            )
            summary[lv] = r.counts
    with session_scope() as s:
        b = import_buildings(
            s,
            paths["buildings"],
            datum="wgs84",
            valid_from=SAMPLE_VALID_FROM,
            source="gridgov synthetic buildings of 双井街道",
        )
        say(f"buildings: {b.counts}")
        summary["buildings"] = b.counts
    with session_scope() as s:
        from grid.db.gazetteer_import import import_addresses

        g = import_addresses(
            s,
            paths["gazetteer"],
            datum="wgs84",
            valid_from=SAMPLE_VALID_FROM,
            source="gridgov synthetic gazetteer of 双井街道",
        )
        say(
            f"gazetteer: {g['counts']['new']} new, {g['counts']['changed']} changed, "
            f"{g['counts']['unchanged']} unchanged places"
        )
        summary["gazetteer"] = g["counts"]
    with session_scope() as s:
        summary["catalogue"] = load_catalogue(s, SAMPLE_VALID_FROM)
        say(f"catalogue: {summary['catalogue']}")
    with session_scope() as s:
        summary["staff"] = seed_staff(s)
    with session_scope() as s:
        summary["partition"] = partition_sample(s, say)
    with session_scope() as s:
        summary["petitions"] = load_sample_petitions(s, say)
    return summary


PETITION_YEAR = 2025  # inside the sample boundaries' validity (from 2023-06-30) and the holiday tables
PETITION_SOURCE = "gridgov sample petitions"
PETITION_RATE = 0.5  # petitions per household and year (Beijing's real rate is about 2.4)


def sample_petitions(
    session: object, *, rate: float = PETITION_RATE
) -> tuple[pd.DataFrame, dict[str, object]]:
    """The sample year of petitions for 双井 (deterministic) and the manifest of planted effects,
    generated on the buildings and grid cells in the store."""
    from sqlalchemy.orm import Session

    from data.sample_petitions import generate_year
    from grid.db.catalogue import read_categories
    from grid.db.store import buildings_at

    assert isinstance(session, Session)
    b = buildings_at(session, dt.date(PETITION_YEAR, 1, 1))
    b = b[b["cell_code"].notna()].copy()
    b["lon"], b["lat"] = b.geometry.x, b.geometry.y
    cols = ["building_id", "address", "lon", "lat", "households", "community_code", "cell_code"]
    return generate_year(pd.DataFrame(b[cols]), read_categories(), year=PETITION_YEAR, rate=rate)


def load_sample_petitions(session: object, say: Progress) -> dict[str, object]:
    """Load the sample year of petitions once (located and routed by the normal rules, with their
    history) and write the planted effects to ``data/build/petitions/planted.json``."""
    import json

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from grid.db.petition_bulk import bulk_load

    assert isinstance(session, Session)
    have = session.execute(
        text("SELECT count(*) FROM petition WHERE source = :s"), {"s": PETITION_SOURCE}
    ).scalar()
    if have:
        say(f"petitions: {have:,} sample petitions kept from an earlier run")
        return {"petitions": int(have), "kept": True}
    df, manifest = sample_petitions(session)
    out = BUILD_DIR / "petitions"
    out.mkdir(parents=True, exist_ok=True)
    (out / "planted.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    r = bulk_load(session, df, source=PETITION_SOURCE, progress=say)
    say(f"petitions: {r['petitions']:,} sample petitions of {PETITION_YEAR} loaded {r['by_status']}")
    return r


def partition_sample(session: object, say: Progress) -> dict[str, object]:
    """Partition 双井 into ~300-household grid cells (idempotent) and give each cell an officer."""
    from sqlalchemy.orm import Session

    from grid.db.partition import partition, seed_officers
    from grid.db.store import units_at

    assert isinstance(session, Session)
    cells = units_at(session, SAMPLE_VALID_FROM, "grid", parent_codes=None)
    if len(cells) and cells["code"].astype(str).str.startswith(SHUANGJING).any():
        # partitioned by an earlier run: keep those cells (history is never rewritten on the same date)
        officers = seed_officers(session, SAMPLE_VALID_FROM, cells["code"])
        say(
            f"grid cells of 双井: {len(cells)} cells kept from an earlier run, {officers} officer(s) assigned"
        )
        return {"cells": len(cells), "officers": officers}
    r = partition(session, street=SHUANGJING, valid_from=SAMPLE_VALID_FROM)
    q = r["quality"]["overall"] if r["quality"] else {}
    cells = units_at(session, SAMPLE_VALID_FROM, "grid")
    officers = seed_officers(session, SAMPLE_VALID_FROM, cells["code"])
    say(
        f"grid cells of 双井: {len(cells)} cells, {q.get('within_20', 0):.0%} within ±20% of 300 households, "
        f"{officers} officer(s) assigned"
    )
    return {"cells": len(cells), "officers": officers}


def seed_staff(session: object) -> int:
    """A community secretary for each 双井 community (fictional names), once."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from grid.db.store import assign_staff, units_at

    assert isinstance(session, Session)
    comms = units_at(session, SAMPLE_VALID_FROM, "community", parent_codes=[SHUANGJING])
    family = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
    given = [
        "建国",
        "秀英",
        "志强",
        "丽娟",
        "海波",
        "静",
        "伟",
        "敏",
        "磊",
        "霞",
        "军",
        "芳",
        "勇",
        "娜",
        "杰",
        "燕",
        "涛",
        "红",
    ]
    n = 0
    for i, code in enumerate(sorted(comms["code"])):
        have = session.execute(text("SELECT 1 FROM staff WHERE unit_code = :c"), {"c": code}).first()
        if have:
            continue
        assign_staff(
            session,
            code,
            family[i % len(family)] + given[i % len(given)],
            role="secretary",
            phone=f"010-8777{i:04d}",
            valid_from=SAMPLE_VALID_FROM,
        )
        n += 1
    return n
