"""Map pages of a district and of a street from 10 thousand to 1 million petitions: bytes, build, render.

City: the partition benchmark's (``data/build/bench_city/<size>/``: cells with households,
communities, streets, districts; built in a temporary directory when missing). The page's unit is
the district with the most grid cells and its street with the most cells. The issue asks for a
district page of at least 4,000 cells; the bench city's districts have about 2,000 each (16
districts, ~31,000 cells), so at full size the largest district's neighbours are added until the
page has 4,000 cells, drawn as one page with every level (the unit's code joins theirs with ``+``).

Petitions (seeded): ``N`` points inside the district's cells, a cell drawn in proportion to its
households with a few "hot" cells 25 times likelier, the point uniform inside the cell; a random
week of 12 and an overdue flag (6 %). The smaller ``N`` are prefixes of the largest.

* **ours**, what a request does with the store's data in memory: which cell covers each point
  (``grid.spatial_index.CellIndex.covering``), petitions and overdue counts per cell, rates per
  100 households, counts under ``K_MIN`` hidden (``maps.aggregate.suppress_small``, also in the
  weekly counts), the 50 m heat grid (``maps.aggregate.heat_grid``), weekly counts per cell for
  the slider and ``maps.pages.unit_page``. The boundaries of every level (district, streets,
  communities, cells) simplified with ``maps.aggregate.simplify_coverage`` (5 m, 5 decimals) and
  the ``CellIndex`` do not depend on the request and can be cached: they are timed apart
  ("boundaries", "index") and the build time is printed with and without them.
* **baselines**, same run: a plain ``folium.plugins.HeatMap`` of the raw points on an offline map
  (``offline_map`` + ``HeatMap([[lat, lon], ...])`` + ``render``), and a naive choropleth
  (``folium.Choropleth`` of the unsimplified cells, full-precision coordinates).
* **render**: Debian's Chromium (Playwright, headless) loads each page from a loopback HTTP server
  (the page and ``maps/static`` at ``/maps/static``); the time is ``performance.now()`` after the
  ``load`` event and two animation frames (the Leaflet map drawn), best of 2 (toy) or 3 (full).
* **topology**: the district's cells after simplification and quantisation, in EPSG:4548 metres:
  the sum of pairwise overlaps, the uncovered area more than 10 m inside the district (gaps
  between neighbours) and the neighbouring pairs that no longer touch, ours next to a per-polygon
  ``shapely.simplify`` at the same tolerance and rounding; also printed: the input's own overlaps
  (the partition's cells need not be an exact coverage) and ours after ``shapely.coverage_clean``.

Targets (the issue): a district page with all its cells at most 3 MB, 1 s to build and 1 s to
render in Chromium, whatever the number of petitions; neighbours still meet.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import json
import math
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely

from benchmarks._common import Row, check_size, print_table, timed
from grid.spatial_index import CellIndex
from maps.aggregate import heat_grid, quantise, simplify_coverage, suppress_small
from maps.offline import STATIC_DIR, offline_map, render
from maps.pages import UnitPage, unit_page

NAME: Final = "maps"
DESCRIPTION: Final = (
    "a district's and a street's map page (maps.pages.unit_page, all grid cells) from 10k-1M petitions: "
    "HTML bytes, build and Chromium render time vs a plain folium HeatMap of the raw points and a naive "
    "folium choropleth; topology of the simplified cells vs per-polygon shapely.simplify"
)
SIZES: Final[dict[str, dict[str, Any]]] = {
    "toy": {"ns": [1_000, 10_000], "repeat": 1, "render_repeat": 2},
    "full": {"ns": [10_000, 100_000, 1_000_000], "repeat": 2, "render_repeat": 3},
}
SEED: Final = 20240917
WEEKS: Final = 12
FIRST_WEEK: Final = np.datetime64("2025-03-03")  # a Monday
OVERDUE_SHARE: Final = 0.06
HOT_FACTOR: Final = 25.0
K_MIN: Final = 3
HEAT_CELL_M: Final = 50.0
TOLERANCE_M: Final = 5.0
DECIMALS: Final = 5
METRIC_EPSG: Final = 4548  # CGCS2000 / 3-degree Gauss-Kruger CM 117E
CITY_DIR: Final = Path(__file__).resolve().parents[1] / "data" / "build" / "bench_city"
CHROMIUM: Final = Path("/usr/bin/chromium")
MB: Final = 1e6
TARGET_BYTES: Final = 3 * MB
TARGET_BUILD_S: Final = 1.0
TARGET_RENDER_S: Final = 1.0
MIN_CELLS: Final = 4_000  # the district page has at least this many grid cells
DISTRICT_NAMES: Final = {
    "110101": "东城区",
    "110102": "西城区",
    "110105": "朝阳区",
    "110106": "丰台区",
    "110107": "石景山区",
    "110108": "海淀区",
    "110109": "门头沟区",
    "110111": "房山区",
    "110112": "通州区",
    "110113": "顺义区",
    "110114": "昌平区",
    "110115": "大兴区",
    "110116": "怀柔区",
    "110117": "平谷区",
    "110118": "密云区",
    "110119": "延庆区",
}

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Boundaries = list[tuple[str, list[tuple[str, str, dict[str, Any]]]]]  # (level, [(code, name, geometry)])


# --- the city ---------------------------------------------------------------------------------


def _read_layers(base: Path) -> dict[str, gpd.GeoDataFrame]:
    manifest = json.loads((base / "manifest.json").read_text())
    out = {}
    for name in ("districts", "streets", "communities", "cells"):
        gdf = gpd.read_file(base / manifest["files"][name]["path"])
        for col in ("code", "parent_code", "community_code"):
            if col in gdf.columns:
                gdf[col] = gdf[col].astype(str)
        out[name] = gdf.to_crs(4326)
    return out


def load_layers(size: str) -> tuple[dict[str, gpd.GeoDataFrame], str]:
    """The partition benchmark's kept city at ``size``; built in a temporary directory if missing."""
    base = CITY_DIR / size
    if (base / "manifest.json").is_file():
        return _read_layers(base), f"data/build/bench_city/{size}"
    from benchmarks import bench_partition as bp

    print(f"  ({base}/manifest.json is missing: generating and partitioning the {size} city; kept there)")
    city = bp.generate_city(size)
    results = bp.run_ours(city, bp.PartitionParams())
    bp.write_city(city, results, base, {})
    return _read_layers(base), f"data/build/bench_city/{size} (generated now)"


@dataclass
class Unit:
    """A page's unit and its levels, coarse to fine; cells sorted by code (CellIndex order)."""

    code: str
    name: str
    level: str
    levels: list[tuple[str, gpd.GeoDataFrame]]  # (level, frame with code, name, geometry)
    cells: gpd.GeoDataFrame  # code, name, households, geometry; sorted by code

    @property
    def cell_codes(self) -> list[str]:
        return [str(c) for c in self.cells["code"]]


def _named(frame: gpd.GeoDataFrame, names: list[str]) -> gpd.GeoDataFrame:
    out = frame[["code", "geometry"]].copy()
    out.insert(1, "name", names)
    return out.sort_values("code", kind="stable").reset_index(drop=True)


def _page_districts(
    layers: dict[str, gpd.GeoDataFrame], cells: gpd.GeoDataFrame, min_cells: int
) -> list[str]:
    """The district with the most cells and, while the page has fewer than ``min_cells``, its
    neighbouring districts with the most cells (one page drawn as one large district)."""
    per = cells["district"].value_counts().sort_index()
    chosen = [str(per.idxmax())]
    geoms = dict(zip(layers["districts"]["code"].astype(str), layers["districts"].geometry, strict=True))
    while int(per[chosen].sum()) < min_cells:
        union = shapely.union_all([geoms[c] for c in chosen])
        touching = [c for c in per.index if c not in chosen and shapely.intersects(geoms[c], union)]
        if not touching:
            break
        chosen.append(str(max(touching, key=lambda c: (int(per[c]), c))))
    return sorted(chosen)


def pick_units(layers: dict[str, gpd.GeoDataFrame], min_cells: int = 0) -> tuple[Unit, Unit]:
    """The district with the most grid cells (with its neighbours while fewer than ``min_cells``)
    and its street with the most cells."""
    cells = layers["cells"].copy()
    cells["district"] = cells["code"].str[:6]
    cells["street"] = cells["code"].str[:9]
    d_codes = _page_districts(layers, cells, min_cells)
    d_code = "+".join(d_codes)
    in_d = cells[cells["district"].isin(d_codes)]
    s_code = str(in_d["street"].value_counts().sort_index().idxmax())
    comm_names = dict(zip(layers["communities"]["code"], layers["communities"]["name"], strict=True))

    def cell_frame(sel: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        names = [
            f"{comm_names.get(c, c)} 网格{int(s)}"
            for c, s in zip(sel["community_code"], sel["sequence"], strict=True)
        ]
        out = _named(sel, names)
        hh = dict(zip(sel["code"], sel["households"], strict=True))
        out["households"] = [int(hh[c]) for c in out["code"]]
        return out

    def street_name(code: str) -> str:
        return f"合成街道{code[6:]}"

    districts, streets, comms = layers["districts"], layers["streets"], layers["communities"]
    d_sel = districts[districts["code"].isin(d_codes)]
    d_frame = _named(d_sel, [DISTRICT_NAMES.get(c, c) for c in d_sel["code"]])
    s_all = streets[streets["parent_code"].isin(d_codes)]
    s_frame = _named(s_all, [street_name(c) for c in s_all["code"]])
    c_all = comms[comms["code"].str[:6].isin(d_codes)]
    c_frame = _named(c_all, list(c_all["name"]))
    district = Unit(
        d_code,
        "+".join(DISTRICT_NAMES.get(c, c) for c in d_codes),
        "district",
        [("district", d_frame), ("street", s_frame), ("community", c_frame), ("grid", cell_frame(in_d))],
        cell_frame(in_d),
    )
    in_s = in_d[in_d["street"] == s_code]
    one = s_frame[s_frame["code"] == s_code].reset_index(drop=True)
    c_s = c_frame[c_frame["code"].str[:9] == s_code].reset_index(drop=True)
    street = Unit(
        s_code,
        street_name(s_code),
        "street",
        [("street", one), ("community", c_s), ("grid", cell_frame(in_s))],
        cell_frame(in_s),
    )
    return district, street


# --- the petitions ----------------------------------------------------------------------------


@dataclass
class Petitions:
    """The store's petitions in memory (one row each)."""

    lon: FloatArray
    lat: FloatArray
    week: IntArray
    overdue: npt.NDArray[np.bool_]

    def head(self, n: int) -> Petitions:
        return Petitions(self.lon[:n], self.lat[:n], self.week[:n], self.overdue[:n])

    def __len__(self) -> int:
        return len(self.lon)


def make_petitions(cells: gpd.GeoDataFrame, n: int, seed: int = SEED) -> Petitions:
    """``n`` points inside the cells: a cell by households (a few hot cells), uniform inside it."""
    rng = np.random.default_rng(seed)
    geoms = np.asarray(cells.geometry.values, dtype=object)
    w = np.asarray(cells["households"], dtype=np.float64)
    hot = rng.choice(len(w), size=max(3, len(w) // 200), replace=False)
    w[hot] *= HOT_FACTOR
    cell = rng.choice(len(w), size=n, p=w / w.sum())
    bounds = shapely.bounds(geoms)
    shapely.prepare(geoms)
    x = np.empty(n)
    y = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        c = cell[todo]
        xx = rng.uniform(bounds[c, 0], bounds[c, 2])
        yy = rng.uniform(bounds[c, 1], bounds[c, 3])
        ok = shapely.contains_xy(geoms[c], xx, yy)
        x[todo[ok]], y[todo[ok]] = xx[ok], yy[ok]
        todo = todo[~ok]
    shapely.destroy_prepared(geoms)
    week = rng.integers(0, WEEKS, n)
    overdue = rng.random(n) < OVERDUE_SHARE
    return Petitions(x, y, week, overdue)


# --- ours -------------------------------------------------------------------------------------


def boundaries(unit: Unit) -> Boundaries:
    """Every level of ``unit`` simplified as a coverage and quantised (request-independent)."""
    out: Boundaries = []
    for level, frame in unit.levels:
        simple = simplify_coverage(list(frame.geometry.values), TOLERANCE_M, DECIMALS)
        geo = [shapely.geometry.mapping(g) for g in simple]
        out.append((level, list(zip(frame["code"], frame["name"], geo, strict=True))))
    return out


def _fc(items: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": c, "name": n}, "geometry": g} for c, n, g in items
        ],
    }


def page_data(
    unit: Unit, bounds: Boundaries, index: CellIndex, cell_pos: IntArray, pet: Petitions
) -> UnitPage:
    """What a request computes: counts per cell, rates, suppression, heat grid, weekly counts.

    ``cell_pos[i]`` is the position in ``unit.cells`` of the index's cell ``i`` (-1: not the unit's).
    """
    n = len(unit.cells)
    first, _ = index.covering(pet.lon, pet.lat)
    pos = np.where(first >= 0, cell_pos[np.maximum(first, 0)], -1)
    inside = pos >= 0
    p = pos[inside]
    count = np.bincount(p, minlength=n)
    overdue = np.bincount(p, weights=pet.overdue[inside], minlength=n).astype(np.int64)
    weekly = np.bincount(pet.week[inside] * n + p, minlength=WEEKS * n).reshape(WEEKS, n)
    heat = heat_grid(pet.lon[inside], pet.lat[inside], cell_m=HEAT_CELL_M)
    codes = unit.cell_codes
    hh = unit.cells["households"].to_numpy()
    stats: dict[str, dict[str, Any]] = {}
    for i, code in enumerate(codes):
        c = int(count[i])
        shown = suppress_small(c, K_MIN)
        stats[code] = {
            "petitions_shown": shown,
            "overdue_shown": suppress_small(int(overdue[i]), K_MIN),
            "households": int(hh[i]),
            "per100": None if shown is None or not hh[i] else round(100.0 * c / float(hh[i]), 2),
            "officer": f"网格员{code[-6:]}",
        }
    labels = [str(FIRST_WEEK + np.timedelta64(7 * k, "D")) for k in range(WEEKS)]
    weeks: dict[str, dict[str, int]] = {}
    for k, label in enumerate(labels):
        row = weekly[k]
        keep = np.flatnonzero(row >= K_MIN)
        weeks[label] = {codes[i]: int(row[i]) for i in keep}
    return UnitPage(
        code=unit.code,
        name=unit.name,
        level=unit.level,
        layers=[(level, _fc(items)) for level, items in bounds],
        stats=stats,
        heat=heat,
        weeks=weeks,
        k_min=K_MIN,
        notes=[f"{int(inside.sum()):,} 件诉求 petitions"],
    )


def build_ours(unit: Unit, bounds: Boundaries, index: CellIndex, cell_pos: IntArray, pet: Petitions) -> str:
    return unit_page(page_data(unit, bounds, index, cell_pos, pet))


# --- baselines --------------------------------------------------------------------------------


def build_raw_heat(pet: Petitions) -> str:
    """A plain folium HeatMap of the raw points on an offline map."""
    from folium.plugins import HeatMap

    bbox = [[float(pet.lat.min()), float(pet.lon.min())], [float(pet.lat.max()), float(pet.lon.max())]]
    m = offline_map()
    HeatMap(np.column_stack([pet.lat, pet.lon]).tolist()).add_to(m)
    m.fit_bounds(bbox)
    return render(m)


def build_naive_choropleth(cells: gpd.GeoDataFrame, per100: list[float]) -> str:
    """``folium.Choropleth`` of the unsimplified cells (full-precision coordinates)."""
    import folium

    gdf = cells[["code", "geometry"]].copy()
    data = pd.DataFrame({"code": cells["code"], "per100": per100})
    m = offline_map()
    folium.Choropleth(
        geo_data=gdf,
        data=data,
        columns=["code", "per100"],
        key_on="feature.properties.code",
        fill_color="YlOrRd",
        fill_opacity=0.65,
        line_weight=0.6,
        legend_name="petitions per 100 households",
    ).add_to(m)
    x0, y0, x1, y1 = gdf.total_bounds
    m.fit_bounds([[y0, x0], [y1, x1]])
    return render(m)


# --- topology ---------------------------------------------------------------------------------


def _metric(geoms: Any) -> Any:
    tr = pyproj.Transformer.from_crs(4326, METRIC_EPSG, always_xy=True)

    def fn(c: FloatArray) -> FloatArray:
        x, y = tr.transform(c[:, 0], c[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), fn)


def topology(original: Any, simplified: Any, tolerance_m: float) -> dict[str, float]:
    """Overlaps, gaps between neighbours and neighbours that no longer touch, in metres."""
    orig = _metric(original)
    simp = _metric(simplified)
    tree = shapely.STRtree(simp)
    i, j = tree.query(simp, predicate="intersects")
    keep = i < j
    inter = shapely.intersection(simp[i[keep]], simp[j[keep]])
    overlap = float(shapely.area(inter).sum())
    # gaps: what no simplified cell covers, more than 2 x tolerance inside the original union
    inner = shapely.buffer(shapely.union_all(orig), -2.0 * tolerance_m)
    gap = float(shapely.area(shapely.difference(inner, shapely.union_all(simp))))
    # neighbours: original pairs sharing an edge; do the simplified ones still touch?
    oi, oj = shapely.STRtree(orig).query(orig, predicate="intersects")
    k = oi < oj
    oi, oj = oi[k], oj[k]
    shared = shapely.length(shapely.intersection(shapely.boundary(orig[oi]), shapely.boundary(orig[oj])))
    edge = shared > 0.5
    apart = shapely.distance(simp[oi[edge]], simp[oj[edge]]) > 1e-3
    return {
        "cells": float(len(orig)),
        "overlap_m2": overlap,
        "gap_m2": gap,
        "neighbour_pairs": float(edge.sum()),
        "pairs_apart": float(apart.sum()),
        "area_m2": float(shapely.area(orig).sum()),
    }


def naive_simplify(geoms: Any, tolerance_m: float = TOLERANCE_M, decimals: int = DECIMALS) -> Any:
    """Per-polygon ``shapely.simplify`` at the same tolerance, then the same rounding."""
    arr = np.asarray(list(geoms), dtype=object)
    lat0 = float(np.mean(shapely.get_y(shapely.centroid(arr))))
    tol = tolerance_m / (111_320.0 * math.cos(math.radians(lat0)))
    return quantise(shapely.simplify(arr, tol, preserve_topology=True), decimals)


# --- the browser ------------------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_dir(root: Path) -> Iterator[str]:
    """Serve ``root`` over HTTP on a free loopback port in a thread; yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, name="bench-maps-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


_DRAWN_JS = """() => new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(() => resolve({
  ms: performance.now(),
  maps: document.querySelectorAll('.leaflet-container').length,
  paths: document.querySelectorAll('.leaflet-overlay-pane path').length,
  canvases: document.querySelectorAll('.leaflet-pane canvas').length,
}))))"""


def _on_page_error(errors: list[str], exc: Any) -> None:
    errors.append(str(exc))


def _on_console(errors: list[str], msg: Any) -> None:
    if msg.type == "error":
        errors.append(f"{msg.text} @ {msg.location.get('url', '')}")


def _render_all(pages: dict[str, str], repeat: int) -> dict[str, dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="gridgov-bench-maps-") as tmp:
        root = Path(tmp)
        (root / "maps").mkdir()
        (root / "maps" / "static").symlink_to(STATIC_DIR, target_is_directory=True)
        (root / "favicon.ico").write_bytes(b"")  # no 404 console error for Chromium's favicon request
        for name, text in pages.items():
            (root / f"{name}.html").write_text(text, encoding="utf-8")
        with serve_dir(root) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                for name in pages:
                    runs: list[float] = []
                    errors: list[str] = []
                    drawn: dict[str, Any] = {}
                    for _ in range(max(1, repeat)):
                        page = context.new_page()
                        page.on("pageerror", functools.partial(_on_page_error, errors))
                        page.on("console", functools.partial(_on_console, errors))
                        page.goto(f"{base}/{name}.html", wait_until="load", timeout=180_000)
                        drawn = page.evaluate(_DRAWN_JS)
                        runs.append(float(drawn["ms"]) / 1000.0)
                        page.close()
                    out[name] = {
                        "best_s": min(runs),
                        "runs_s": runs,
                        "errors": sorted(set(errors)),
                        "maps": int(drawn["maps"]),
                        "svg_paths": int(drawn["paths"]),
                        "canvases": int(drawn["canvases"]),
                    }
                context.close()
            finally:
                browser.close()
    return out


def render_times(pages: dict[str, str], repeat: int) -> dict[str, dict[str, Any]]:
    """Chromium load-to-drawn time of each page (in a thread of its own: Playwright's sync API
    must not share a thread with another running instance, e.g. a test session's)."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/bootstrap)")
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_render_all, pages, repeat).result()


# --- the benchmark ----------------------------------------------------------------------------


def _cell_pos(index: CellIndex, unit: Unit) -> IntArray:
    where = {c: k for k, c in enumerate(unit.cell_codes)}
    return np.array([where.get(str(c), -1) for c in index.codes], dtype=np.int64)


def _measure(ns: list[int], repeat: int, district: Unit, street: Unit, pets: Petitions) -> dict[str, Any]:
    """Cached parts, then ours and the baselines for every N; the pages of the largest N."""
    d_bounds, d_bounds_s = timed(lambda: boundaries(district), repeat)
    s_bounds, s_bounds_s = timed(lambda: boundaries(street), repeat)
    index, index_s = timed(lambda: CellIndex(district.cell_codes, list(district.cells.geometry.values)), 1)
    d_pos, s_pos = _cell_pos(index, district), _cell_pos(index, street)
    index.covering(pets.lon, pets.lat)  # warm: GEOS prepares the cells it tests lazily
    # the first page of the process pays imports and template compilation (a server's first request)
    _, first_s = timed(lambda: build_ours(street, s_bounds, index, s_pos, pets.head(min(ns))), 1)
    by_n: dict[int, dict[str, float]] = {}
    pages: dict[str, str] = {}
    largest = max(ns)
    for n in ns:
        pet = pets.head(n)
        _, agg_s = timed(functools.partial(page_data, district, d_bounds, index, d_pos, pet), repeat)
        d_html, d_s = timed(functools.partial(build_ours, district, d_bounds, index, d_pos, pet), repeat)
        s_html, s_s = timed(functools.partial(build_ours, street, s_bounds, index, s_pos, pet), repeat)
        h_html, h_s = timed(functools.partial(build_raw_heat, pet), 1 if n >= 500_000 else repeat)
        by_n[n] = {
            "ours_bytes": float(len(d_html.encode())),
            "ours_build_s": d_s,
            "ours_build_cold_s": d_s + d_bounds_s,
            "ours_aggregate_s": agg_s,
            "street_bytes": float(len(s_html.encode())),
            "street_build_s": s_s,
            "heat_bytes": float(len(h_html.encode())),
            "heat_build_s": h_s,
        }
        if n == largest:
            pages = {"ours_district": d_html, "ours_street": s_html, "raw_heat": h_html}
        print(
            f"  N={n:>9,}: district page {by_n[n]['ours_bytes'] / MB:6.2f} MB {d_s:6.3f} s | street page "
            f"{by_n[n]['street_bytes'] / MB:5.2f} MB {s_s:6.3f} s | raw HeatMap {by_n[n]['heat_bytes'] / MB:6.2f} MB "
            f"{h_s:6.3f} s"
        )
    # the naive choropleth of the same cells, coloured by the rates of the largest N
    stats = page_data(district, d_bounds, index, d_pos, pets.head(largest)).stats
    per100 = [stats[c]["per100"] for c in district.cell_codes]
    naive_html, naive_s = timed(
        lambda: build_naive_choropleth(district.cells, [math.nan if v is None else v for v in per100]), repeat
    )
    pages["naive_choropleth"] = naive_html
    return {
        "by_n": by_n,
        "pages": pages,
        "naive": {"bytes": float(len(naive_html.encode())), "build_s": naive_s},
        "cached": {
            "boundaries_district_s": d_bounds_s,
            "boundaries_street_s": s_bounds_s,
            "index_s": index_s,
            "first_page_s": first_s,
        },
    }


def _topology_figures(cells: gpd.GeoDataFrame) -> dict[str, Any]:
    orig = list(cells.geometry.values)
    ours = simplify_coverage(orig, TOLERANCE_M, DECIMALS)
    arr = np.asarray(orig, dtype=object)
    cleaned = simplify_coverage(list(shapely.coverage_clean(arr)), TOLERANCE_M, DECIMALS)
    return {
        "tolerance_m": TOLERANCE_M,
        "decimals": DECIMALS,
        "input_is_coverage": bool(shapely.coverage_is_valid(arr)),
        "input": topology(orig, orig, TOLERANCE_M),
        "ours": topology(orig, ours, TOLERANCE_M),
        "ours_types": sorted({g.geom_type for g in ours}),
        "naive": topology(orig, naive_simplify(orig), TOLERANCE_M),
        "cleaned_first": topology(orig, cleaned, TOLERANCE_M),
        "unsimplified_coords": int(shapely.get_num_coordinates(arr).sum()),
        "ours_coords": int(shapely.get_num_coordinates(np.asarray(ours, dtype=object)).sum()),
    }


def run(size: str) -> dict[str, Any]:
    """Build the pages and the baselines for every N, render the largest, check topology; print."""
    params = dict(SIZES[check_size(size)])
    ns: list[int] = sorted(params["ns"])
    largest = ns[-1]
    t_load = time.perf_counter()
    layers, source = load_layers(size)
    district, street = pick_units(layers, MIN_CELLS if size == "full" else 0)
    load_s = time.perf_counter() - t_load
    n_cells, n_street = len(district.cells), len(street.cells)
    pets = make_petitions(district.cells, largest)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = _measure(ns, int(params["repeat"]), district, street, pets)
    warned = sorted({str(w.message).split(":")[0] for w in caught})
    by_n, pages = m["by_n"], m["pages"]
    rendered = render_times(pages, int(params["render_repeat"]))
    topo = _topology_figures(district.cells)

    big, cached = by_n[largest], m["cached"]
    r_ours, r_heat, r_naive = (
        rendered[k]["best_s"] for k in ("ours_district", "raw_heat", "naive_choropleth")
    )
    to, tn, tc = topo["ours"], topo["naive"], topo["cleaned_first"]
    at = f"N={largest:,}"
    rows = [
        Row(
            "district page size",
            "MB",
            big["ours_bytes"] / MB,
            "raw HeatMap",
            big["heat_bytes"] / MB,
            "lower",
            at,
        ),
        Row(
            "district page build",
            "s",
            big["ours_build_s"],
            "raw HeatMap",
            big["heat_build_s"],
            "lower",
            f"{at}, boundaries cached",
        ),
        Row(
            "district page build, cold",
            "s",
            big["ours_build_cold_s"],
            "raw HeatMap",
            big["heat_build_s"],
            "lower",
            "boundaries simplified in the request",
        ),
        Row("district page render", "s", r_ours, "raw HeatMap", r_heat, "lower", f"{at}, Chromium"),
        Row(
            "street page size",
            "MB",
            big["street_bytes"] / MB,
            "raw HeatMap (district)",
            big["heat_bytes"] / MB,
            "lower",
            f"{n_street:,} cells",
        ),
        Row(
            "street page build",
            "s",
            big["street_build_s"],
            "raw HeatMap (district)",
            big["heat_build_s"],
            "lower",
        ),
        Row(
            "district page size",
            "MB",
            big["ours_bytes"] / MB,
            "naive folium Choropleth",
            m["naive"]["bytes"] / MB,
            "lower",
            f"same {n_cells:,} cells",
        ),
        Row(
            "district page build",
            "s",
            big["ours_build_s"],
            "naive folium Choropleth",
            m["naive"]["build_s"],
            "lower",
        ),
        Row("district page render", "s", r_ours, "naive folium Choropleth", r_naive, "lower", "Chromium"),
        Row(
            "gap between neighbours",
            "m2",
            to["gap_m2"],
            "per-polygon shapely.simplify",
            tn["gap_m2"],
            "lower",
            f"{TOLERANCE_M:g} m, {DECIMALS} decimals",
        ),
        Row(
            "overlap of neighbours",
            "m2",
            to["overlap_m2"],
            "per-polygon shapely.simplify",
            tn["overlap_m2"],
            "lower",
        ),
    ]
    flat = [by_n[n]["ours_bytes"] for n in ns]
    few = "" if n_cells >= MIN_CELLS or size == "toy" else f" (fewer than the issue's {MIN_CELLS:,})"
    notes = [
        f"city: {source}; district {district.code} {district.name} (the most cells"
        f"{'; no district of the city has ' + format(MIN_CELLS, ',') + ': neighbouring districts drawn as one page' if '+' in district.code else ''}"
        f"): {n_cells:,} grid cells{few}; "
        f"street {street.code}: {n_street:,} cells; {largest:,} petitions drawn; layers read in {load_s:.1f} s",
        "per N, district page (boundaries cached; of which aggregation) | raw HeatMap: "
        + "; ".join(
            f"{n:,}: {by_n[n]['ours_bytes'] / MB:.2f} MB {by_n[n]['ours_build_s']:.2f} s "
            f"({by_n[n]['ours_aggregate_s']:.2f} s) | "
            f"{by_n[n]['heat_bytes'] / MB:.2f} MB {by_n[n]['heat_build_s']:.2f} s"
            for n in ns
        ),
        f"bytes, largest N over smallest: ours x{max(flat) / min(flat):.3f}, raw HeatMap "
        f"x{by_n[largest]['heat_bytes'] / by_n[ns[0]]['heat_bytes']:.1f}",
        f"cacheable: boundaries {cached['boundaries_district_s']:.3f} s (district, 4 levels), "
        f"{cached['boundaries_street_s']:.3f} s (street); CellIndex {cached['index_s']:.3f} s; the process's first "
        f"page {cached['first_page_s']:.2f} s (imports, templates)",
        f"render, best of {params['render_repeat']}: "
        + "; ".join(
            f"{k} {v['best_s']:.2f} s ({len(pages[k].encode()) / MB:.2f} MB, {v['svg_paths']} svg paths, "
            f"{v['canvases']} canvases{', page errors: ' + ' | '.join(v['errors'][:2]) if v['errors'] else ''})"
            for k, v in rendered.items()
        ),
        f"topology, {n_cells:,} cells (input a valid coverage: {topo['input_is_coverage']}; input overlaps "
        f"{topo['input']['overlap_m2']:.3g} m2): ours overlap {to['overlap_m2']:.4g} m2, gap {to['gap_m2']:.4g} m2, "
        f"{to['pairs_apart']:.0f}/{to['neighbour_pairs']:.0f} neighbours apart, types {', '.join(topo['ours_types'])}; "
        f"naive {tn['overlap_m2']:.4g} / {tn['gap_m2']:.4g} m2, {tn['pairs_apart']:.0f} apart; "
        f"shapely.coverage_clean first: {tc['overlap_m2']:.4g} / {tc['gap_m2']:.4g} m2, {tc['pairs_apart']:.0f} apart; "
        f"coordinates {topo['unsimplified_coords']:,} -> {topo['ours_coords']:,}",
        f"targets: district page <= {TARGET_BYTES / MB:g} MB, <= {TARGET_BUILD_S:g} s build, "
        f"<= {TARGET_RENDER_S:g} s render, flat in N; neighbours still meet (gap and overlap ~ 0)",
    ]
    if warned:
        notes.append(f"warnings while building: {' | '.join(warned)}")
    print_table(
        f"maps ({size}): a district's page (maps.pages.unit_page) vs plain folium, same run", rows, notes
    )
    return {
        "benchmark": NAME,
        "size": size,
        "params": {
            **params,
            "seed": SEED,
            "source": source,
            "district": district.code,
            "street": street.code,
            "k_min": K_MIN,
            "heat_cell_m": HEAT_CELL_M,
            "tolerance_m": TOLERANCE_M,
            "decimals": DECIMALS,
            "weeks": WEEKS,
        },
        "cells_district": n_cells,
        "cells_street": n_street,
        "by_n": by_n,
        "naive_choropleth": m["naive"],
        "cached": cached,
        "render": rendered,
        "topology": topo,
        "warnings": warned,
        "rows": [r.to_dict() for r in rows],
    }
