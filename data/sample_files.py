"""The files of the Beijing sample city: its layers generated deterministically into ``data/build/``.

:func:`build_files` writes the district, street and community layers, the synthetic buildings of
双井 and their gazetteer, and reuses them while the generators and their inputs are unchanged.
:mod:`data.sample` loads them through the importers; :mod:`data.sample_petitions` reads the
buildings. Nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd

__all__ = ["BUILD_DIR", "SHUANGJING", "Progress", "build_files", "write_gazetteer"]

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
        here / "sample_files.py",
        here / "sample_city.py",
        here / "synthetic_buildings.py",
        *sorted((here / "beijing").glob("*")),
    ]:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()
