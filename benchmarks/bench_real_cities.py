"""Real 311 files of Boston, Los Angeles and Baltimore: our owner vs the city's own label.

For every (city, layer) of :data:`LAYERS` the boundary layer is loaded into an empty store as a
new city (one level), the city's 311 records are assigned through the product
(``grid.db.importer.import_units`` + ``grid.db.assign.assign_file``, the functions behind
``gridgov import units`` / ``gridgov assign``; tests/test_real_cities.py drives the same layers
through the CLI), and the owner is compared with the label the city wrote on each record
(normalised by :mod:`grid.labels`). The baseline is plain ``geopandas.sjoin(points, polygons,
predicate="covered_by")`` on the same rows (first match per point when several cover it), in
the same run, with the same denominator: rows with coordinates and a label, minus the rows on a
known placeholder point (a geocoder's fallback, e.g. Boston's City Hall), which are counted
separately. Every disagreement is classified: ``on_boundary`` (within :data:`NEAR_M` metres of
the labelled polygon), ``in_gap`` (inside the layer's hull but covered by no unit),
``outside``, ``label_missing`` (the label names no unit of the layer: another vintage) and
``other``. The issue's bar: ours >= sjoin - 0.1 point.

Data: ``../shared/data/real_cities`` relative to the repository (override with
``GRIDGOV_REAL_CITIES``); see each city's SOURCE.txt. Database: every layer is loaded into the
*test* database (``GRIDGOV_TEST_DATABASE_URL``) inside one transaction that is rolled back, so
nothing is left behind; the store must hold no units.

Toy size: one layer per city on the first :data:`TOY_ROWS` records; full: every layer, every row.

The level is defined by the new-city path, ``gridgov city init`` (:func:`grid.db.cityinit.plan_city`
and :func:`~grid.db.cityinit.apply_plan`), from the codes as the city wrote them ("1".."22",
"A1".."E18": a length range and a pattern). Only codes that cannot be codes at all are made up
in the prepared copy of the layer (:func:`prepare_layer`): none, blank or repeated, as a user
would pick another field; each is listed.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from benchmarks._common import Row, check_size, print_table
from grid.labels import LabelKind, code_key, label_key, name_key

NAME = "real_cities"
DESCRIPTION = (
    "real 311 files (Boston, LA, Baltimore): our owner vs the city's own label, "
    'next to geopandas.sjoin(predicate="covered_by") on the same rows'
)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("GRIDGOV_REAL_CITIES", REPO.parent / "shared" / "data" / "real_cities"))
TOY_ROWS = 1500
NEAR_M = 25.0  # a miss within this distance of the labelled polygon is a boundary tie
BAR_POINTS = 0.1  # the bar: ours >= sjoin - 0.1 point
VALID_FROM = dt.date(2000, 1, 1)  # each layer is the only version we have: in force for every record
KINDS = ("on_boundary", "in_gap", "outside", "label_missing", "other")


@dataclass(frozen=True)
class City:
    name: str
    records: str  # CSV under DATA
    lon_col: str
    lat_col: str
    date_col: str | None  # each record is judged by its own date's boundary version
    datum: str
    placeholders: tuple[tuple[float, float], ...]  # known fallback points (lon, lat)
    at: dt.date  # toy size: every record judged at this date (one boundary version either way)


@dataclass(frozen=True)
class Layer:
    city: str
    level: str  # the level name of the new city
    boundary: str  # layer file under DATA
    code_field: str | None  # None: the layer has no codes (numbered 001.. in name order)
    name_field: str | None  # None: the code is the name
    label_col: str  # the city's own label on each record
    join: LabelKind  # the label is a code (compared with the unit code) or a name (unit name)
    repair: bool = False  # --repair
    accept: tuple[str, ...] = ()  # --accept KIND (the layer does not tile)
    toy: bool = False  # part of the toy run

    @property
    def key(self) -> str:
        return f"{self.city}/{self.level}"


# --- the per-city configuration (one table; switch the product calls below as commands land) ---
CITIES: dict[str, City] = {
    "boston": City(
        "boston",
        "boston/boston_311_2015_sample.csv",
        "LONGITUDE",
        "LATITUDE",
        "OPEN_DT",
        "wgs84",
        ((-71.0587, 42.3594),),  # City Hall
        dt.date(2015, 7, 1),
    ),
    "los_angeles": City(
        "los_angeles",
        "los_angeles/la_myla311_2018-01-01_to_2018-01-04.csv",
        "Longitude",
        "Latitude",
        "CreatedDate",
        "wgs84",
        (),
        dt.date(2018, 1, 2),
    ),
    "baltimore": City(
        "baltimore",
        "baltimore/baltimore_311_sample_2014-2019.csv",
        "Longitude",
        "Latitude",
        "CreatedDate",
        "wgs84",
        ((-77.0, 39.0),),  # Montgomery County, 60 km away
        dt.date(2016, 7, 1),
    ),
}
DIRTY = ("gap", "overlap")  # no real layer tiles at the default 25 m2 tolerance (see SOURCE.txt)
LAYERS: list[Layer] = [
    Layer("boston", "ward", "boston/boston_wards_2012-2022_crs84.geojson", "WARD", None, "ward", "code",
          repair=True, accept=DIRTY, toy=True),
    Layer("boston", "precinct", "boston/boston_precincts_2012-2022_wgs84.geojson", "WARD_PRECINCT", None,
          "precinct", "code", repair=True, accept=DIRTY),
    Layer("boston", "police", "boston/boston_police_districts_crs84.geojson", "DISTRICT", None,
          "police_district", "code"),
    Layer("los_angeles", "council", "los_angeles/la_council_districts_2012.geojson", "name", None, "CD",
          "code", accept=DIRTY, toy=True),
    Layer("los_angeles", "nc", "los_angeles/la_neighborhood_councils_2019.geojson", "nc_id", "name", "NC",
          "code", accept=DIRTY),
    Layer("baltimore", "council", "baltimore/baltimore_council_districts_2012-2024_wgs84.geojson", "id",
          "name", "CouncilDistrict", "code", accept=DIRTY, toy=True),
    Layer("baltimore", "police", "baltimore/baltimore_police_districts_1959-2022_wgs84.geojson", "number",
          "name", "PoliceDistrict", "name", accept=DIRTY),
    Layer("baltimore", "neighborhood", "baltimore/baltimore_neighborhoods_2010_wgs84.geojson", None,
          "name", "Neighborhood", "name", accept=DIRTY),
]  # fmt: skip


def layers_for(size: str) -> list[Layer]:
    return [lv for lv in LAYERS if lv.toy] if check_size(size) == "toy" else list(LAYERS)


# --- inputs -------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """A layer ready for import: the file, its fields, the level definition, code -> key maps."""

    path: Path
    code_field: str
    name_field: str
    frame: gpd.GeoDataFrame  # the layer as read, with ``_code`` (as stored) and ``_name``
    key_of_code: dict[str, str]  # stored code -> the key a label of this layer must have
    renamed: list[str]  # codes the harness had to make up (none, blank, zero, repeated)


def prepare_layer(layer: Layer, workdir: Path) -> Prepared:
    """The layer with its codes as the store will hold them (as written by the city).

    A layer without codes (``code_field=None``: Baltimore's neighbourhoods have names only) is
    numbered 001.. in name order; a unit whose code is blank, zero or repeated (LA's two NCs of
    2019 carry ``nc_id`` 0) gets ``U1``, ``U2``.. so that no label can match it by accident.
    Every such change is listed in ``Prepared.renamed``.
    """
    src = DATA / layer.boundary
    gdf = gpd.read_file(src, engine="pyogrio").reset_index(drop=True)
    names = gdf[layer.name_field].astype(str) if layer.name_field else None
    renamed: list[str] = []
    if layer.code_field is None:
        if names is None:
            raise ValueError(f"{layer.key}: a layer without codes needs a name field")
        listed = [str(v) for v in names]
        order = sorted(range(len(gdf)), key=lambda i: (listed[i], i))
        width = len(str(len(gdf)))
        raw = pd.Series([""] * len(gdf), dtype=object)
        for k, i in enumerate(order, start=1):
            raw.iloc[i] = f"{k:0{width}d}"
        renamed.append(f"no code field: {len(gdf)} units numbered 1..{len(gdf)} in name order")
    else:
        raw = gdf[layer.code_field].map(lambda v: "" if v is None or pd.isna(v) else str(v).strip())
        dup = raw.duplicated(keep=False)
        k = 0
        for i in range(len(raw)):
            if code_key(raw.iloc[i]) is None or dup.iloc[i]:
                k += 1
                renamed.append(
                    f"{layer.code_field}={raw.iloc[i]!r} ({'' if names is None else names.iloc[i]}) -> U{k}"
                )
                raw.iloc[i] = f"U{k}"
    codes = raw
    if names is None:
        names = codes
    out = gpd.GeoDataFrame({"code": codes, "name": names}, geometry=gdf.geometry.values, crs=gdf.crs)
    path = workdir / f"{layer.city}_{layer.level}.geojson"
    out.to_file(path, driver="GeoJSON", engine="pyogrio")
    frame = gdf.assign(_code=codes.to_numpy(), _name=names.to_numpy())
    keys = {c: _unit_key(layer, c, n) for c, n in zip(codes, names, strict=True)}
    key_of_code = {c: k for c, k in keys.items() if k}
    return Prepared(path, "code", "name", frame, key_of_code, renamed)


def _unit_key(layer: Layer, code: str, name: str) -> str | None:
    if layer.join == "name":
        return name_key(name)
    return None if code.lstrip("0").startswith("U") else code_key(code, zero_is_missing=False)


def records_file(city: City, size: str, workdir: Path) -> tuple[Path, int]:
    """The records to assign (the first TOY_ROWS at toy size, byte for byte) and their count."""
    src = DATA / city.records
    if size == "full":
        with src.open(newline="", encoding="utf-8") as fh:
            return src, sum(1 for _ in csv.reader(fh)) - 1
    dst = workdir / f"{city.name}_records.csv"
    with src.open(newline="", encoding="utf-8") as fh, dst.open("w", newline="", encoding="utf-8") as out:
        reader, writer = csv.reader(fh), csv.writer(out)
        writer.writerow(next(reader))
        n = 0
        for row in reader:
            if n == TOY_ROWS:
                break
            writer.writerow(row)
            n += 1
    return dst, n


def read_str_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)


def out_col(df: pd.DataFrame, name: str) -> pd.Series:
    """An output column of ``gridgov assign``: ``gg_<name>`` (the agreed prefix) or the bare name."""
    for col in (f"gg_{name}", name):
        if col in df.columns:
            return df[col]
    return pd.Series([""] * len(df), index=df.index, dtype=object)


# --- through the product -------------------------------------------------------------------------


@contextmanager
def scratch_session(url: str | None = None) -> Iterator[Any]:
    """A session on the test database whose work is rolled back at the end (commits = savepoints)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from grid.config import get_settings

    eng = create_engine(url or get_settings().test_database_url)
    conn = eng.connect()
    trans = conn.begin()
    s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        try:
            units = s.execute(text("SELECT count(*) FROM unit")).scalar()
        except Exception as exc:
            raise RuntimeError(
                f"the test database {eng.url.render_as_string(hide_password=True)} is unreachable or not "
                f"migrated ({type(exc).__name__}); run scripts/bootstrap or `make test` first"
            ) from exc
        if units:
            raise RuntimeError(
                f"the benchmark needs an empty store but the test database holds {units} units "
                "(it loads each city in a rolled-back transaction)"
            )
        yield s
    finally:
        s.close()
        trans.rollback()
        conn.close()
        eng.dispose()


def define_level(session: Any, layer: Layer, prep: Prepared) -> Any:
    """The one-level city's levels, as ``gridgov city init --yes`` defines them; returns the plan."""
    from grid.db.cityinit import apply_plan, plan_city

    plan = plan_city(
        session, prep.path, code_field=prep.code_field, name_field=prep.name_field, level_names=[layer.level]
    )
    apply_plan(session, plan)
    return plan


def run_python(
    session: Any, layer: Layer, city: City, prep: Prepared, records: Path, out: Path, *, by_date: bool = True
) -> dict[str, Any]:
    """Define the level, import the layer, assign the records (the functions behind the CLI).

    ``by_date``: judge each record by its own date (``--date-col``); else all at ``city.at``
    (``--at``). Same answer here (each layer has one version), but ``assign_file`` builds one
    pass per distinct date, which takes minutes on the Baltimore file: the toy run uses ``at``.
    """
    from grid.db.assign import assign_file
    from grid.db.importer import import_units

    define_level(session, layer, prep)
    report = import_units(
        session,
        prep.path,
        level=layer.level,
        code_field=prep.code_field,
        name_field=prep.name_field,
        datum="wgs84",
        valid_from=VALID_FROM,
        repair=layer.repair,
        accept=layer.accept,
    )
    summary = assign_file(
        session,
        records,
        out,
        lon_col=city.lon_col,
        lat_col=city.lat_col,
        datum=city.datum,
        date_col=city.date_col if by_date else None,
        at=None if by_date else city.at,
        level=layer.level,
    )
    return {"import": {"created": len(getattr(report, "created", []) or [])}, "assign": summary}


def cli_steps(layer: Layer, prep: Prepared, records: Path, out: Path, *, by_date: bool) -> list[list[str]]:
    """The same steps as :func:`run_python`, as ``gridgov`` command lines (tests run them)."""
    city = CITIES[layer.city]
    init = [
        "city",
        "init",
        "--from",
        str(prep.path),
        "--code-field",
        prep.code_field,
        "--name-field",
        prep.name_field,
        "--level-name",
        layer.level,
        "--yes",
    ]
    imp = [
        "import",
        "units",
        str(prep.path),
        "--level",
        layer.level,
        "--code-field",
        prep.code_field,
        "--name-field",
        prep.name_field,
        "--datum",
        "wgs84",
        "--valid-from",
        VALID_FROM.isoformat(),
    ]
    imp += ["--repair"] if layer.repair else []
    for kind in layer.accept:
        imp += ["--accept", kind]
    when = ["--date-col", city.date_col] if by_date and city.date_col else ["--at", city.at.isoformat()]
    assign = [
        "assign",
        str(records),
        "--out",
        str(out),
        "--lon-col",
        city.lon_col,
        "--lat-col",
        city.lat_col,
        "--datum",
        city.datum,
        "--level",
        layer.level,
        *when,
        "--format",
        "json",
    ]
    return [init, imp, assign]


# --- evaluation ---------------------------------------------------------------------------------


def _metric_crs(points: gpd.GeoSeries) -> Any:
    return points[~points.is_empty].estimate_utm_crs() if (~points.is_empty).any() else "EPSG:3857"


def evaluate(layer: Layer, city: City, prep: Prepared, records: Path, out: Path) -> dict[str, Any]:
    """Agreement of our owner and of plain sjoin with the city's label; disagreements by kind."""
    src = read_str_csv(records)
    res = read_str_csv(out)
    if len(res) != len(src):
        raise AssertionError(f"{layer.key}: {len(src)} input rows but {len(res)} output rows")
    lon = pd.to_numeric(src[city.lon_col], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(src[city.lat_col], errors="coerce").to_numpy(float)
    has_xy = np.isfinite(lon) & np.isfinite(lat)
    label = [label_key(v, layer.join) for v in src[layer.label_col]]
    has_label = np.array([k is not None for k in label])
    placeholder = np.zeros(len(src), dtype=bool)
    for px, py in city.placeholders:
        placeholder |= has_xy & (np.abs(lon - px) < 1e-6) & (np.abs(lat - py) < 1e-6)
    flag = out_col(res, "flag").to_numpy(object)
    flagged = np.array([f == "placeholder_point" for f in flag])
    judged = has_xy & has_label & ~placeholder
    n = int(judged.sum())

    # ours
    owner = out_col(res, "owner_code").to_numpy(object)
    status = out_col(res, "status").to_numpy(object)
    ours_key = np.array([prep.key_of_code.get(str(c)) if c else None for c in owner], dtype=object)

    # baseline: plain sjoin on the same rows, the layer as published
    polys = prep.frame[["_code", "geometry"]].reset_index(drop=True)
    xy = np.where(has_xy, lon, 0.0), np.where(has_xy, lat, 0.0)
    pts = gpd.GeoDataFrame({"row": np.arange(len(src))}, geometry=gpd.points_from_xy(*xy), crs=polys.crs)[
        has_xy
    ]
    joined = gpd.sjoin(pts, polys, how="inner", predicate="covered_by")
    first = joined.reset_index(drop=True).sort_values(["row", "index_right"]).drop_duplicates("row")
    base_code = np.full(len(src), None, dtype=object)
    base_code[first["row"].to_numpy()] = first["_code"].to_numpy()
    base_key = np.array([prep.key_of_code.get(c) if c else None for c in base_code], dtype=object)

    label_arr = np.array(label, dtype=object)
    ours_ok = judged & (ours_key == label_arr)
    base_ok = judged & (base_key == label_arr)

    # the distance of every miss to its labelled polygon, in metres
    metric = _metric_crs(pts.geometry)
    poly_m = polys.to_crs(metric)
    key_to_geom: dict[str, Any] = {}
    for c, g in zip(poly_m["_code"], poly_m.geometry, strict=True):
        k = prep.key_of_code.get(c)
        if k:
            key_to_geom[k] = g if k not in key_to_geom else key_to_geom[k].union(g)
    hull = shapely.convex_hull(shapely.union_all(np.asarray(poly_m.geometry.values)))
    pts_m = gpd.GeoSeries(gpd.points_from_xy(*xy), crs=polys.crs).to_crs(metric).values

    def classify(i: int, got: Any, st: str | None) -> tuple[str, float | None]:
        g = key_to_geom.get(label_arr[i])
        if g is None:
            return "label_missing", None
        d = float(shapely.distance(g, pts_m[i]))
        if d <= NEAR_M:
            return "on_boundary", d
        if got is None:
            if st is None:  # sjoin: no status, only where the point lies
                return ("in_gap" if shapely.contains(hull, pts_m[i]) else "outside"), d
            if st == "gap":
                return "in_gap", d
            if st == "outside":
                return "outside", d
        return "other", d  # a different unit, or left unplaced by us (e.g. a flagged placeholder)

    def misses(ok: np.ndarray, got: np.ndarray, sts: np.ndarray | None) -> dict[str, Any]:
        kinds: Counter[str] = Counter()
        dists: list[float] = []
        for i in np.flatnonzero(judged & ~ok):
            st = None if sts is None else str(sts[i])
            kind, d = classify(int(i), got[i], st)
            kinds[kind] += 1
            if d is not None:
                dists.append(d)
        return {
            "agree": int(ok.sum()),
            "pct": 100.0 * int(ok.sum()) / n if n else float("nan"),
            "misses": int((judged & ~ok).sum()),
            "by_kind": {k: kinds.get(k, 0) for k in KINDS},
            "median_miss_m": float(np.median(dists)) if dists else None,
        }

    ours = misses(ours_ok, ours_key, status)
    base = misses(base_ok, base_key, None)
    return {
        "layer": layer.key,
        "rows_in": len(src),
        "rows_out": len(res),
        "with_coordinates": int(has_xy.sum()),
        "no_coordinates": int((~has_xy).sum()),
        "no_coordinates_status": dict(Counter(str(s) for s in status[~has_xy])),
        "with_label": int(has_label.sum()),
        "with_coordinates_and_label": int((has_xy & has_label).sum()),
        "placeholder_rows": int(placeholder.sum()),
        "placeholder_flagged_by_us": int(flagged.sum()),
        "placeholder_status": dict(Counter(str(s) for s in status[placeholder])),
        "judged": n,
        "ours": ours,
        "sjoin": base,
        "status": dict(Counter(str(s) for s in status)),
        "meets_bar": bool(n and ours["pct"] >= base["pct"] - BAR_POINTS),
    }


# --- the benchmark ------------------------------------------------------------------------------


def run_layer(layer: Layer, size: str, workdir: Path, url: str | None = None) -> dict[str, Any]:
    city = CITIES[layer.city]
    prep = prepare_layer(layer, workdir)
    records, n_records = records_file(city, size, workdir)
    out = workdir / f"{layer.city}_{layer.level}_assigned.csv"
    with scratch_session(url) as s:
        product = run_python(s, layer, city, prep, records, out, by_date=size == "full")
    fig = evaluate(layer, city, prep, records, out)
    fig["records_in_file"] = n_records
    fig["units"] = len(prep.frame)
    fig["assign_rows"] = product["assign"]["rows"]
    return fig


def _kinds(m: dict[str, Any]) -> str:
    parts = [f"{k} {v}" for k, v in m["by_kind"].items() if v]
    med = m["median_miss_m"]
    return (", ".join(parts) or "none") + (f" (median {med:.1f} m)" if med is not None else "")


def run(size: str) -> dict[str, Any]:
    """Every layer of the size: import, assign, compare with the label and with sjoin; print."""
    check_size(size)
    layers = layers_for(size)
    figures: dict[str, Any] = {}
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gg_real_cities_") as tmp:
        for layer in layers:
            f = run_layer(layer, size, Path(tmp))
            figures[layer.key] = f
            rows.append(
                Row(
                    f"agreement {layer.key}",
                    "%",
                    f["ours"]["pct"],
                    'geopandas.sjoin "covered_by"',
                    f["sjoin"]["pct"],
                    "higher",
                    f"n={f['judged']:,}",
                )
            )
            notes.append(
                f"{layer.key}: {f['rows_in']:,} rows ({f['rows_out']:,} out), {f['with_coordinates_and_label']:,} "
                f"with coordinates and label, {f['placeholder_rows']:,} on a placeholder point excluded "
                f"({f['placeholder_flagged_by_us']:,} flagged by us), {f['no_coordinates']:,} without "
                f"coordinates; judged {f['judged']:,}: ours {f['ours']['agree']:,} = {f['ours']['pct']:.2f}%, "
                f"sjoin {f['sjoin']['agree']:,} = {f['sjoin']['pct']:.2f}%"
                + ("" if f["meets_bar"] else f"  BELOW THE BAR (sjoin - {BAR_POINTS})")
            )
            notes.append(f"    misses ours: {_kinds(f['ours'])}; sjoin: {_kinds(f['sjoin'])}")
    notes.append(
        f"on_boundary = within {NEAR_M:g} m of the labelled polygon; label_missing = the label names no unit "
        "of this layer (another vintage); placeholder rows are not in either denominator"
    )
    print_table(f"real cities ({size}): agreement with the city's own label", rows, notes)
    return {
        "benchmark": NAME,
        "size": size,
        "params": {"toy_rows": TOY_ROWS, "near_m": NEAR_M, "bar_points": BAR_POINTS, "data": str(DATA)},
        "layers": figures,
        "rows": [r.to_dict() for r in rows],
    }


__all__ = ["CITIES", "LAYERS", "City", "Layer", "evaluate", "prepare_layer", "run", "run_layer"]
