"""The insight detectors on planted effects next to a top-k-by-raw-count baseline; a city's weekly update.

1. **Validation** (the issue: recall >= 0.9 at precision >= 0.8 on the planted effects, clearly
   above a naive baseline). A year of the 双井 sample street (``data/sample_petitions.generate_year``,
   seed 20230, year 2025) at ``rate`` petitions per household per year: 2.4 is Beijing's real
   volume (12345 takes ~21 million petitions a year for ~9 million households), 0.5 the sample's
   default (a quiet district or a partial roll-out; also the toy size). The generator plants 3
   hotspots (a cell's petitions x2.0-2.5, all year or 10-13 weeks), 3 surges (one cell x category
   x week, 1.5-3x its background), 3 repeat places (7-9 petitions of one category at one building
   in 18-27 days) and a rising phrase (飞线充电, x1.9-2.3 over the last 8 weeks) and lists them in
   its manifest: the ground truth. The detectors read what the product stores: the petition's
   building and cell (the generator's true ones: perfect geocoding), its point (the GPS fix, GCJ-02
   converted to WGS84 by ``grid.datum``, else the building's point), category, time, text.
   Protocols (every baseline picks ``k`` = the number of planted effects it is scored on, an oracle
   budget that favours it):

   * **hotspots**: for each planted hotspot, :func:`grid.insights.hotspots.hotspots` (defaults:
     99,999 permutations, FDR 0.05, >= 50 households) on the 13 weeks ending at the end of its
     period (the whole-year one: at the end of the year); a cell is flagged when ``hot`` (Gi*) or
     ``excess`` (single-cell test), as the product's task list does. The sample has no cell
     polygons without the database: each community's polygon (``data/build/beijing_community
     .geojson``) is cut into the Voronoi regions of its buildings, unioned per stand-in cell of
     ``demo_buildings()``; households = the cell's buildings' households. Recall: planted cells
     flagged in their own window; precision: flagged cells that are planted hotspots active in the
     window, over all windows. Baseline: the top-k cells by raw count in the window (k = planted
     hotspots active in it).
   * **surges**: :func:`grid.insights.surges.surges` (defaults: seasonal baseline of the 52 weeks
     before, mid-p, Benjamini-Hochberg q <= 0.05 over the week's pairs, >= 3 petitions, >= 1.5x) on
     the weekly counts per cell x category, every full week of the year; a true positive is a
     flag on a planted (cell, category, week). Baseline: in each planted week, the top-k
     (cell, category) pairs by raw count (k = surges planted that week).
   * **repeat places**: :func:`grid.insights.repeats.repeat_places` (defaults: >= 5 in 30 days,
     building / 50 m cluster / address, background p <= 1e-5) over the year; an episode is a true
     positive when it is of the planted category and holds a petition of the planted building in
     the planted window. Baseline: the top-k (building, category) pairs by raw count over the year.
   * **rising phrase**: :func:`grid.insights.topics.emerging_topics` (strata ``category_code``:
     the baseline re-weighted to the recent category mix; defaults z >= 3, x1.5, >= 5 documents)
     of the last 8 weeks (56 days to the end of the year) against the weeks before, segmenter with
     the gazetteer's compound, road, landmark and crossing names as ``place_names``. Recall: the
     planted phrase is flagged; precision: flagged terms of the planted topic, i.e. terms more than
     half of whose recent documents contain the phrase (the phrase itself, 有人飞线充电, 私拉电线 ...) over the
     flagged terms. Baseline: the top-k terms by recent document count (k = 1 planted phrase).

2. **Weekly update** of a Beijing-size city against caches. Cells: ``synthetic_cells`` (~30,000,
   ~340 streets, households ~300 each) drawn as a Voronoi tessellation of a jittered grid in
   EPSG:4548 (~0.15 km2 a cell; sorted along a Hilbert curve so that a community's cells are
   neighbours). The year: ``generate_city`` (20 million petitions, seasons, weekdays; cached as
   Parquet in ``default_cache_dir()``, the file the petitions benchmark uses too). The week: the
   last full week (Monday-Sunday) of that year (~400,000 petitions). Added for the week and the 60
   days before it (which the generator does not make): a building per petition (a cell has one
   building per ~90 households, points within ~100 m of the cell's seed; 25% of the petitions with a
   GPS fix 0-20 m off, the rest at the geocoded building point), an address as a resident gives it
   (compound + building number, 15% without), and for the week's petitions a text from the sample
   generator's templates per category (hotline prefix and suffix, place mentions, flat numbers,
   temperatures), the places drawn from the sample gazetteer's compound and road names.

   Caches (one-off, from the year, timed): weekly counts per cell x category (``weekly_counts``
   per calendar month, ``combine_weekly``); document counts per street x week x category; the cell
   weights (``cell_weights``); term counts per street x week x category: segmenting 20 million
   texts takes ~1.5 h on this machine, so ``term_counts`` is timed on a sample of texts and
   extrapolated linearly (labelled). The update (timed part by part; total = the sum): the week's
   ``weekly_counts`` + ``combine_weekly`` into the cache; ``surges`` of the week; ``hotspots`` on
   the 13 weeks to the week and ``emerging_hotspots`` over the cached 52 weeks (13 windows of 4
   weeks), cached weights; ``repeat_places`` over the last 60 days; ``term_counts`` of the week's
   texts per street x category (placeless petitions, answered by the city, under the city's code
   110000); ``emerging_topics`` per street (strata ``category_code``, the last 8 weeks against the
   44 before) from the term cache, which keeps the last 7 weeks' counts apart and the 44 before
   as one aggregate (rolled: the week leaving the recent window added, the one leaving the year
   taken off). The cached term counts of earlier weeks are stand-ins (the week's own counts with
   Poisson-resampled documents): the timing depends on their size, not their content.

   Baselines, same run: where a cache saves work, the same part without it (weekly counts rebuilt
   from the year, the weights rebuilt from the cell polygons, the term counts of the 52 weeks
   re-segmented: extrapolated); where nothing is cached, a floor that does strictly less (a plain
   pandas ``groupby`` count of the same rows; ``jieba.lcut`` of the same texts, segmentation alone).
   The total is compared with rebuilding the caches from the year (what every weekly run would
   redo without them) and with the issue's target (5 minutes on this machine).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from benchmarks._common import Row, check_size, print_table, timed

if TYPE_CHECKING:
    import geopandas as gpd

NAME: Final = "insights"
DESCRIPTION: Final = (
    "precision/recall of the hotspot, surge, repeat-place and rising-phrase detectors on planted effects "
    "vs the top-k cells/pairs/terms by raw count; one Beijing-size weekly update against caches vs "
    "rebuilding them"
)
SIZES: Final[dict[str, dict[str, Any]]] = {
    "toy": {
        "rates": [0.5],
        "year": 2025,
        "seed": 20230,
        "cells": 2_000,
        "n_year": 1_040_000,
        "repeat_days": 60,
        "text_sample": 4_000,
    },
    "full": {
        "rates": [2.4, 0.5],
        "year": 2025,
        "seed": 20230,
        "cells": 30_000,
        "n_year": 20_000_000,
        "repeat_days": 60,
        "text_sample": 40_000,
    },
}
TZ: Final = "Asia/Shanghai"
TARGET_RECALL: Final = 0.9
TARGET_PRECISION: Final = 0.8
TARGET_UPDATE_S: Final = 300.0
HOT_WEEKS: Final = 13
TOPIC_WEEKS: Final = 8
HISTORY_WEEKS: Final = 52
METRIC_EPSG: Final = 4548  # CGCS2000 / 3-degree Gauss-Kruger CM 117E (Beijing)
DATA: Final = Path(__file__).resolve().parents[1] / "data"
COMMUNITIES: Final = DATA / "build" / "beijing_community.geojson"
GAZETTEER: Final = DATA / "build" / "buildings" / "gazetteer.geojson"
DETECTORS: Final = ("hotspots", "surges", "repeat_places", "rising_phrase")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# --- figures ----------------------------------------------------------------------------------------


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _score(found: int, planted: int, tp_flags: int, flags: int) -> dict[str, Any]:
    """Recall (planted effects found) and precision (flags that are planted effects)."""
    return {
        "planted": planted,
        "found": found,
        "flags": flags,
        "true_flags": tp_flags,
        "recall": _ratio(found, planted),
        "precision": _ratio(tp_flags, flags),
    }


def _verdict(s: Mapping[str, Any]) -> str:
    r, p = s["recall"], s["precision"]
    if r is None:
        return "nothing planted"
    ok = r >= TARGET_RECALL and p is not None and p >= TARGET_PRECISION
    ps = "n/a (no flags)" if p is None else f"{p:.2f}"
    return f"{'MEETS' if ok else 'MISSES'} the target (recall {r:.2f}, precision {ps})"


# --- the sample street ------------------------------------------------------------------------------


def _place_names() -> list[str]:
    """Compound, road, landmark and crossing names (and aliases) of the sample gazetteer."""
    if not GAZETTEER.exists():
        return []
    raw = json.loads(GAZETTEER.read_text(encoding="utf-8"))
    names: set[str] = set()
    for f in raw.get("features", []):
        p = f.get("properties") or {}
        if p.get("kind") in ("compound", "road", "landmark", "crossing"):
            names.add(str(p["name"]))
            names.update(a for a in str(p.get("aliases") or "").split("|") if a)
    return sorted(names)


def _sample(rate: float, seed: int, year: int) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """The sample year as the detectors read it, its manifest and the buildings."""
    from data.sample_petitions import demo_buildings, generate_year, load_categories
    from grid.datum import bd09_to_gcj02, gcj02_to_wgs84

    buildings = demo_buildings()
    df, manifest = generate_year(buildings, load_categories(), year=year, seed=seed, rate=rate)
    lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(np.float64).copy()
    lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(np.float64).copy()
    datum = df["datum"].fillna("").to_numpy(dtype=object)
    bd = datum == "bd09"
    if bd.any():
        lon[bd], lat[bd] = bd09_to_gcj02(lon[bd], lat[bd])
    gcj = bd | (datum == "gcj02")
    if gcj.any():
        lon[gcj], lat[gcj] = gcj02_to_wgs84(lon[gcj], lat[gcj])
    b = buildings.set_index("building_id").reindex(df["true_building_id"])
    no_fix = ~np.isfinite(lon)
    lon[no_fix] = b["lon"].to_numpy(np.float64)[no_fix]  # the geocoded building's point
    lat[no_fix] = b["lat"].to_numpy(np.float64)[no_fix]
    community = df["true_community_code"]
    pet = pd.DataFrame(
        {
            "id": np.arange(1, len(df) + 1, dtype=np.int64),
            "received_at": df["received_at"],
            "cell_code": df["true_cell_code"],
            "community_code": community,
            "street_code": community.str[:9],
            "category_code": df["category"],
            "building_id": df["true_building_id"],
            "address": df["address"],
            "lon": lon,
            "lat": lat,
            "text": df["text"],
        }
    )
    return pet, manifest, buildings


def _sample_cells(buildings: pd.DataFrame) -> gpd.GeoDataFrame:
    """Stand-in cell polygons: each community cut into its buildings' Voronoi regions, per cell."""
    import geopandas as gpd
    import shapely

    comms = gpd.read_file(COMMUNITIES)
    comms["code"] = comms["code"].astype(str)
    comms = comms[comms["code"].isin(set(buildings["community_code"]))].to_crs(METRIC_EPSG)
    poly = dict(zip(comms["code"], comms.geometry, strict=True))
    pts = gpd.GeoSeries(gpd.points_from_xy(buildings["lon"], buildings["lat"]), crs=4326).to_crs(METRIC_EPSG)
    xy = shapely.get_coordinates(pts.values)
    region = np.empty(len(buildings), dtype=object)
    for code, idx in buildings.groupby("community_code").indices.items():
        frame = poly.get(str(code))
        seeds = shapely.points(xy[idx])
        if frame is None or len(idx) == 1:
            region[idx] = [frame if frame is not None else s.buffer(50.0) for s in seeds]
            continue
        parts = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy[idx]), extend_to=frame))
        which = shapely.STRtree(parts).query(seeds, predicate="within")
        own = np.full(len(idx), -1)
        own[which[0]] = which[1]
        for k, i in enumerate(idx):
            cut = shapely.intersection(parts[own[k]], frame) if own[k] >= 0 else seeds[k].buffer(20.0)
            region[i] = cut if not cut.is_empty else seeds[k].buffer(20.0)
    frame_b = gpd.GeoDataFrame(
        {"code": buildings["cell_code"].astype(str), "households": buildings["households"]},
        geometry=list(region),
        crs=METRIC_EPSG,
    )
    cells = frame_b.dissolve(by="code", aggfunc={"households": "sum"}).reset_index()
    return cells[["code", "households", "geometry"]]


def _local(ts: pd.Series) -> pd.Series:
    t = pd.to_datetime(ts)
    return (t.dt.tz_convert(TZ) if t.dt.tz is not None else t).dt.tz_localize(None)


def _eval_hotspots(pet: pd.DataFrame, manifest: Mapping[str, Any], cells: gpd.GeoDataFrame) -> dict[str, Any]:
    from grid.insights.hotspots import cell_weights, hotspots

    w = cell_weights(cells)
    local = _local(pet["received_at"])
    planted = [
        (str(h["cell_code"]), pd.Timestamp(h["start"]), pd.Timestamp(h["end"]) + pd.Timedelta(days=1))
        for h in manifest["hotspots"]
    ]
    neighbours = {c: set(w.neighbors.get(c, [])) for c, _, _ in planted}
    found = tp = flags = base_found = base_tp = base_k = near = 0
    windows = []
    for cell, _start, end in planted:
        a = end - pd.Timedelta(weeks=HOT_WEEKS)
        inside = ((local >= a) & (local < end)).to_numpy()
        counts = pet.loc[inside, "cell_code"].dropna().value_counts()
        res = hotspots(cells, counts, w)
        flagged = set(res.loc[res["hot"] | res["excess"], "code"].astype(str))
        active = {c for c, s, e in planted if s < end and e > a}
        found += cell in flagged
        tp += len(flagged & active)
        flags += len(flagged)
        near += sum(1 for c in flagged - active if any(c in neighbours[p] for p in active))
        # baseline: the top-k cells by raw count (ties by code), k = planted hotspots active here
        k = len(active)
        raw = counts.reindex(cells["code"]).fillna(0).sort_index(kind="stable")
        top = set(raw.sort_values(ascending=False, kind="stable").index[:k].astype(str))
        base_found += cell in top
        base_tp += len(top & active)
        base_k += k
        windows.append(
            {
                "cell": cell,
                "window": [str(a.date()), str((end - pd.Timedelta(days=1)).date())],
                "flagged": sorted(flagged),
                "active": sorted(active),
                "top_k": sorted(top),
            }
        )
    out = _score(found, len(planted), tp, flags)
    out["baseline"] = _score(base_found, len(planted), base_tp, base_k)
    out["false_flags_next_to_planted"] = near
    out["windows"] = windows
    out["cells"] = len(cells)
    return out


def _full_weeks(weeks: pd.DatetimeIndex, year: int) -> list[pd.Timestamp]:
    first, last = pd.Timestamp(f"{year}-01-01"), pd.Timestamp(f"{year}-12-31")
    return [w for w in weeks if w >= first and w + pd.Timedelta(days=6) <= last]


def _eval_surges(
    pet: pd.DataFrame, manifest: Mapping[str, Any], year: int, *, unit: str = "cell_code", **kw: Any
) -> dict[str, Any]:
    from grid.insights.surges import surges, week_start, weekly_counts

    weekly = weekly_counts(pet, unit_col=unit)
    unit_of = "cell_code" if unit == "cell_code" else "community_code"
    planted = {(str(s[unit_of]), str(s["category"]), week_start(s["week"])) for s in manifest["surges"]}
    hot = [
        (str(h["cell_code"]), pd.Timestamp(h["start"]), pd.Timestamp(h["end"])) for h in manifest["hotspots"]
    ]
    flags: list[tuple[str, str, pd.Timestamp]] = []
    tested = 0
    detail = []
    weeks = _full_weeks(pd.DatetimeIndex(weekly.columns), year)
    for wk in weeks:
        res = surges(weekly, wk, return_all=True, **kw)
        tested += int(res["tested"].sum())
        f = res[res["flagged"]]
        flags += [(str(u), str(c), wk) for u, c in zip(f[unit], f["category_code"], strict=True)]
        for u, c, pw in sorted(planted):
            if pw == wk:
                r = res[(res[unit].astype(str) == u) & (res["category_code"].astype(str) == c)]
                cols = ["observed", "expected", "p_value", "q_value", "flagged"]
                detail += (
                    [{"unit": u, "category": c, "week": str(wk.date()), **r[cols].iloc[0].to_dict()}]
                    if len(r)
                    else []
                )
    hits = [f for f in flags if f in planted]

    def in_hotspot(u: str, wk: pd.Timestamp) -> bool:
        return any(
            (u == c if unit == "cell_code" else c.startswith(u)) and s - pd.Timedelta(days=6) <= wk <= e
            for c, s, e in hot
        )

    in_hot = sum(1 for f in flags if f not in planted and in_hotspot(f[0], f[2]))
    out = _score(len(set(hits)), len(planted), len(hits), len(flags))
    # baseline: in each planted week the top-k pairs by raw count, k = planted that week
    b_found = b_k = 0
    for wk in sorted({p[2] for p in planted}):
        k = sum(1 for p in planted if p[2] == wk)
        col = weekly[wk].sort_index(kind="stable").sort_values(ascending=False, kind="stable")
        top = {(str(u), str(c), wk) for u, c in col.index[:k]}
        b_found += len(top & planted)
        b_k += k
    out["baseline"] = _score(b_found, len(planted), b_found, b_k)
    # a baseline not told the week: the top-k (pair, week) by raw count over the scanned weeks
    scan = weekly[weeks].stack().sort_index(kind="stable")
    top_year = {
        (str(u), str(c), w)
        for u, c, w in scan.sort_values(ascending=False, kind="stable").index[: len(planted)]
    }
    out["baseline_year"] = _score(
        len(top_year & planted), len(planted), len(top_year & planted), len(planted)
    )
    out["planted_detail"] = [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in d.items()} for d in detail
    ]
    out["false_flags_in_hotspot_periods"] = in_hot
    out["pairs_tested"] = tested
    out["weeks"] = len(weeks)
    out["flagged"] = [[u, c, str(w.date())] for u, c, w in flags]
    return out


def _eval_repeats(pet: pd.DataFrame, manifest: Mapping[str, Any]) -> dict[str, Any]:
    from grid.insights.repeats import repeat_places

    res = repeat_places(pet)
    local = _local(pet["received_at"])
    planted = manifest["repeat_places"]
    truth: list[tuple[str, set[int]]] = []
    for rp in planted:
        a, e = pd.Timestamp(rp["start"]), pd.Timestamp(rp["end"]) + pd.Timedelta(days=1)
        sel = (
            (pet["building_id"] == rp["building_id"])
            & (pet["category_code"] == rp["category"])
            & (local >= a)
            & (local < e)
        )
        truth.append((str(rp["category"]), set(pet.loc[sel, "id"].tolist())))
    episode_hits = [
        any(cat == str(c) and ids & set(p) for cat, ids in truth)
        for c, p in zip(res["category_code"], res["petition_ids"], strict=True)
    ]
    found = sum(
        any(
            cat == str(c) and ids & set(p)
            for c, p in zip(res["category_code"], res["petition_ids"], strict=True)
        )
        for cat, ids in truth
    )
    out = _score(found, len(planted), sum(episode_hits), len(res))
    out["kinds"] = {str(k): int(v) for k, v in res["kind"].value_counts().items()} if len(res) else {}
    # baseline: the top-k (building, category) pairs by raw count over the year
    k = len(planted)
    counts = pet.dropna(subset=["building_id"]).groupby(["building_id", "category_code"]).size().sort_index()
    top = set(counts.sort_values(ascending=False, kind="stable").index[:k])
    want = {(str(rp["building_id"]), str(rp["category"])) for rp in planted}
    b = len({(str(x), str(y)) for x, y in top} & want)
    out["baseline"] = _score(b, len(planted), b, k)
    chronic = {(str(c["building_id"]), str(c["category"])) for c in manifest["background"]["chronic_places"]}
    out["baseline_chronic"] = len({(str(x), str(y)) for x, y in top} & chronic)
    return out


def _eval_topics(pet: pd.DataFrame, manifest: Mapping[str, Any], year: int) -> dict[str, Any]:
    from grid.insights.topics import Segmenter, emerging_topics, term_counts

    phrase = str(manifest["rising_phrase"]["phrase"])
    seg = Segmenter(place_names=_place_names())
    d = pet[pet["street_code"].notna() & pet["text"].notna()]
    cut = pd.Timestamp(f"{year + 1}-01-01") - pd.Timedelta(weeks=TOPIC_WEEKS)
    period = np.where(_local(d["received_at"]) >= cut, "recent", "baseline")
    has = d["text"].str.contains(phrase, regex=False).to_numpy()
    keys = pd.DataFrame(
        {
            "street_code": d["street_code"].to_numpy(),
            "period": period,
            "category_code": d["category_code"].to_numpy(),
            "phrase": has,
        }
    )
    c4 = term_counts(d["text"].tolist(), keys, segmenter=seg)
    counts = c4.groupby(["street_code", "period", "category_code", "term"], as_index=False)["docs"].sum()
    n_docs = keys.groupby(["street_code", "period", "category_code"]).size()
    res = emerging_topics(
        counts,
        n_docs,
        recent=["recent"],
        baseline=["baseline"],
        period="period",
        strata="category_code",
        top=None,
    )
    flagged = [str(t) for t in res["term"]]
    # a term of the planted topic: more than half of its recent documents contain the phrase
    rec = c4[c4["period"] == "recent"]
    with_p = rec[rec["phrase"]].groupby("term")["docs"].sum()
    every = rec.groupby("term")["docs"].sum()
    share = (with_p.reindex(every.index).fillna(0) / every).to_dict()

    def of_topic(term: str) -> bool:
        return float(share.get(term, 0.0)) > 0.5

    topic = [t for t in flagged if of_topic(t)]
    out = _score(int(phrase in flagged), 1, len(topic), len(flagged))
    out["flagged_terms"] = flagged[:30]
    out["other_terms"] = [t for t in flagged if not of_topic(t)][:30]
    raw = every.sort_index().sort_values(ascending=False, kind="stable")
    top = [str(t) for t in raw.index[:1]]
    b_tp = sum(of_topic(t) for t in top)
    out["baseline"] = _score(int(phrase in top), 1, b_tp, len(top))
    out["baseline_top"] = top
    at = np.flatnonzero(raw.index == phrase)
    out["phrase_raw_rank"] = int(at[0]) + 1 if len(at) else None
    out["phrase"] = phrase
    out["recent_docs"] = int(n_docs.xs("recent", level="period").sum())
    return out


def _validate(rate: float, seed: int, year: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    pet, manifest, buildings = _sample(rate, seed, year)
    gen_s = time.perf_counter() - t0
    cells = _sample_cells(buildings)
    out: dict[str, Any] = {"rate": rate, "petitions": len(pet), "generate_s": gen_s}
    for name, fn in (
        ("hotspots", lambda: _eval_hotspots(pet, manifest, cells)),
        ("surges", lambda: _eval_surges(pet, manifest, year)),
        ("repeat_places", lambda: _eval_repeats(pet, manifest)),
        ("rising_phrase", lambda: _eval_topics(pet, manifest, year)),
    ):
        t = time.perf_counter()
        out[name] = fn()
        out[name]["seconds"] = time.perf_counter() - t
    out["surge_variants"] = {
        "community": _eval_surges(pet, manifest, year, unit="community_code"),
        "alpha_1e-3": _eval_surges(pet, manifest, year, alpha=1e-3),
    }
    out["planted_surges"] = manifest["surges"]
    out["seconds"] = time.perf_counter() - t0
    return out


# --- the city's weekly update ---------------------------------------------------------------------


def _city_cells(n_cells: int) -> tuple[gpd.GeoDataFrame, FloatArray]:
    """``synthetic_cells`` as a Voronoi tessellation of a jittered grid (EPSG:4548, ~0.15 km2 a
    cell), cells in code order along a Hilbert curve; returns the cells and their seed points."""
    import geopandas as gpd
    import shapely

    from data.sample_petitions import synthetic_cells

    cells = synthetic_cells(n_cells, seed=1).sort_values("cell_code").reset_index(drop=True)
    n = len(cells)
    rng = np.random.default_rng(5)
    side = math.sqrt(n * 150_000.0)
    k = math.ceil(math.sqrt(n))
    gx, gy = np.meshgrid(np.arange(k), np.arange(k))
    pts = np.column_stack([gx.ravel(), gy.ravel()])[:n].astype(np.float64)
    x0, y0 = 500_000.0 - side / 2, 4_420_000.0 - side / 2
    pts = (pts + 0.5 + rng.uniform(-0.35, 0.35, pts.shape)) * (side / k) + [x0, y0]
    order = np.argsort(gpd.GeoSeries(shapely.points(pts)).hilbert_distance().to_numpy(), kind="stable")
    pts = pts[order]
    frame = shapely.box(x0, y0, x0 + side, y0 + side)
    parts = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame))
    which = shapely.STRtree(parts).query(shapely.points(pts), predicate="within")
    geoms = np.empty(n, dtype=object)
    geoms[which[0]] = shapely.intersection(parts[which[1]], frame)
    gdf = gpd.GeoDataFrame(
        {
            "code": cells["cell_code"].astype(str).to_numpy(),
            "community_code": cells["community_code"].astype(str).to_numpy(),
            "street_code": cells["street_code"].astype(str).to_numpy(),
            "households": cells["households"].to_numpy(),
        },
        geometry=geoms,
        crs=METRIC_EPSG,
    )
    return gdf, pts


def _city_year(n: int, n_cells: int) -> tuple[pd.DataFrame, float, bool]:
    """The city year of ``generate_city`` (cached as Parquet, shared with the petitions benchmark):
    id, received_at, category_code, cell_code, street_code; seconds to generate, cached or not."""
    import pyarrow.parquet as pq

    from data.sample_petitions import default_cache_dir, generate_city, synthetic_cells

    path = default_cache_dir() / f"petitions_city_{n}_{n_cells}.parquet"
    t0 = time.perf_counter()
    cached = path.exists()
    if not cached:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        generate_city(n, cells=synthetic_cells(n_cells, seed=1), out=tmp)
        tmp.replace(path)
    generated = time.perf_counter() - t0
    table = pq.read_table(path, columns=["id", "received_at", "category", "cell_code", "street_code"])
    df = table.to_pandas().rename(columns={"category": "category_code"})
    return df, generated, cached


_COMPOUND_ENDS: Final = ("里", "西里", "北里", "南里", "东里", "小区", "家园", "花园", "新村", "嘉园", "苑")


def _name_pools() -> tuple[list[str], list[str]]:
    """Compound and road names: the sample gazetteer's, and forms built from its roots."""
    compounds: list[str] = []
    roads: list[str] = []
    if GAZETTEER.exists():
        raw = json.loads(GAZETTEER.read_text(encoding="utf-8"))
        for f in raw.get("features", []):
            p = f.get("properties") or {}
            if p.get("kind") == "compound":
                compounds.append(str(p["name"]))
            elif p.get("kind") == "road":
                roads.append(str(p["name"]))
    compounds = sorted(set(compounds)) or ["和平里", "安华西里", "劲松小区", "团结湖北里"]
    roads = sorted(set(roads)) or ["光华路", "劲松路", "东三环中路"]
    roots = sorted({c[:2] for c in compounds})
    more = [r + e for r in roots for e in _COMPOUND_ENDS]
    return sorted(set(compounds) | set(more)), roads


_WHEN: Final = ("{m}月{d}日", "从{m}月{d}日开始", "最近{k}天", "这{k}天晚上", "{m}月份以来", "上周{k}号前后")
_MORE: Final = (
    "，已经持续{k}天了",
    "，找过物业{k}次",
    "，家里有老人孩子",
    "，楼里有{k}户都这样",
    "，打过{k}次电话",
)


def _texts(
    rng: np.random.Generator,
    category: Sequence[str],
    compound: Sequence[str | None],
    building_no: npt.NDArray[np.int64],
    road: Sequence[str],
) -> list[str]:
    """Petition texts from the sample generator's templates (see the module docstring)."""
    from data.sample_petitions import (
        GENERIC_PLACE,
        PREFIX_HOTLINE,
        PREFIX_HOTLINE_Q,
        SUFFIX,
        TEMPLATES,
        load_categories,
    )

    names = {str(c["code"]): str(c["name"]) for c in load_categories()}
    n = len(category)
    u = rng.random((n, 10))
    out: list[str] = []
    for i in range(n):
        code = str(category[i])
        tpl_set = TEMPLATES.get(code, {})
        consult = u[i, 0] < 0.35 or compound[i] is None
        if consult:
            pool = tpl_set.get("q") or (("N", f"咨询{names.get(code, '')}相关问题"),)
        else:
            pool = tpl_set.get("k") or (("C", f"{{p}}存在{names.get(code, '')}方面的问题"),)
        kind, tpl = pool[int(u[i, 1] * len(pool))]
        place = ""
        cp = compound[i]
        if kind != "N" and cp is not None:
            if u[i, 2] >= 0.75:
                place = GENERIC_PLACE[kind]
            elif kind in ("B", "I"):
                place = f"{cp}{building_no[i]}号楼"
                if kind == "I":
                    place += f"{1 + int(u[i, 3] * 4)}单元{1 + int(u[i, 4] * 18)}{1 + int(u[i, 5] * 4):02d}"
            elif kind == "C":
                place = cp
            else:
                place = f"{road[i]}{1 + int(u[i, 6] * 120)}号" if u[i, 6] < 0.6 else cp
        body = tpl.format(p=place, t=12 + int(u[i, 7] * 6)) if "{" in tpl else tpl
        # what makes real texts unique: when, who, how long (numbers drawn per petition)
        k = 2 + int(u[i, 5] * 28)
        if consult:
            who = (
                f"本人住在{cp}" if cp is not None and u[i, 4] < 0.5 else f"本人今年{18 + int(u[i, 6] * 70)}岁"
            )
            body = f"{body}，{who}"
            if u[i, 9] < 0.7:
                body += f"，{1 + int(u[i, 2] * 12)}月{1 + int(u[i, 5] * 28)}日前要办"
        else:
            if u[i, 4] < 0.6:
                m, d = 1 + int(u[i, 2] * 12), 1 + int(u[i, 9] * 28)
                body = f"{_WHEN[int(u[i, 6] * len(_WHEN))].format(m=m, d=d, k=k)}，{body}"
            if u[i, 7] < 0.4:
                body += _MORE[int(u[i, 1] * 97) % len(_MORE)].format(k=k)
        kind_of = "consultation" if consult else "complaint"
        if u[i, 8] < 0.7:
            pre = (PREFIX_HOTLINE_Q if consult else PREFIX_HOTLINE)[int(u[i, 9] * (2 if consult else 3))]
            sfx = SUFFIX["hotline"][kind_of]
            out.append(pre + body + sfx[int(u[i, 3] * len(sfx))])
        else:
            sfx = SUFFIX["app"][kind_of]
            out.append(body + sfx[int(u[i, 3] * len(sfx))])
    return out


class _Places:
    """Buildings of the city's cells (one per ~90 households, near the cell's seed point), their
    ids, addresses and points, and each cell's compound and road names."""

    def __init__(self, cells: gpd.GeoDataFrame, seeds: FloatArray, seed: int = 11) -> None:
        from pyproj import Transformer

        rng = np.random.default_rng(seed)
        compounds, roads = _name_pools()
        hh = cells["households"].to_numpy(np.float64)
        self.per_cell = np.maximum(1, np.round(hh / 90.0)).astype(np.int64)
        self.start = np.concatenate([[0], np.cumsum(self.per_cell)[:-1]])
        nb = int(self.per_cell.sum())
        cell_of = np.repeat(np.arange(len(cells)), self.per_cell)
        xy = seeds[cell_of] + rng.uniform(-100.0, 100.0, (nb, 2))
        lon, lat = Transformer.from_crs(METRIC_EPSG, 4326, always_xy=True).transform(xy[:, 0], xy[:, 1])
        self.lon, self.lat = np.asarray(lon), np.asarray(lat)
        comm_ix, _ = pd.factorize(cells["community_code"])
        street_ix, _ = pd.factorize(cells["street_code"])
        pick_c = rng.integers(0, len(compounds), int(comm_ix.max()) + 1)
        pick_r = rng.integers(0, len(roads), (int(street_ix.max()) + 1, 4))
        self.cell_compound = np.asarray(compounds, dtype=object)[pick_c[comm_ix]]
        self.cell_road = np.asarray(roads, dtype=object)[pick_r[street_ix, rng.integers(0, 4, len(cells))]]
        # building numbers run on within a community (its cells share the compound)
        local = np.arange(nb) - np.repeat(self.start, self.per_cell)
        offset = pd.Series(self.per_cell).groupby(comm_ix).cumsum().to_numpy() - self.per_cell
        self.number = (local + np.repeat(offset, self.per_cell) + 1).astype(np.int64)
        self.ids = np.array([f"B{i:06d}" for i in range(nb)], dtype=object)
        self.address = np.array(
            [f"{c}{k}号楼" for c, k in zip(self.cell_compound[cell_of], self.number, strict=True)],
            dtype=object,
        )
        self.cell_of = cell_of

    def attach(self, rows: pd.DataFrame, cell_ix: IntArray, rng: np.random.Generator) -> pd.DataFrame:
        """``rows`` with building_id, address, lon, lat (placeless rows: none)."""
        n = len(rows)
        has = cell_ix >= 0
        c = np.where(has, cell_ix, 0)
        b = self.start[c] + np.floor(rng.random(n) * self.per_cell[c]).astype(np.int64)
        gps = rng.random(n) < 0.25
        r = rng.uniform(0.0, 20.0, n)
        a = rng.uniform(0.0, 2 * math.pi, n)
        lon = self.lon[b] + gps * r * np.cos(a) / (111_320.0 * math.cos(math.radians(39.9)))
        lat = self.lat[b] + gps * r * np.sin(a) / 110_540.0
        no_addr = rng.random(n) < 0.15
        out = rows.copy()
        out["building_id"] = np.where(has, self.ids[b], None)
        out["address"] = np.where(has & ~no_addr, self.address[b], None)
        out["lon"] = np.where(has, lon, np.nan)
        out["lat"] = np.where(has, lat, np.nan)
        out["_b"] = np.where(has, b, -1)
        return out

    def texts(self, rng: np.random.Generator, category: Sequence[str], b: IntArray) -> list[str]:
        has = b >= 0
        bb = np.where(has, b, 0)
        cell = self.cell_of[bb]
        compound: list[str | None] = [
            str(x) if h else None for x, h in zip(self.cell_compound[cell], has, strict=True)
        ]
        return _texts(rng, category, compound, self.number[bb], [str(x) for x in self.cell_road[cell]])


def _week_keys(received: pd.Series) -> npt.NDArray[np.datetime64]:
    """The Monday (local) of each petition's week, as datetime64[D]."""
    days = _local(received).to_numpy(dtype="datetime64[D]").astype(np.int64)
    return (days - (days + 3) % 7).astype("datetime64[D]")


def _weekly_update(cfg: Mapping[str, Any]) -> dict[str, Any]:
    import jieba

    from grid.insights.hotspots import cell_weights, emerging_hotspots, hotspots
    from grid.insights.repeats import repeat_places
    from grid.insights.surges import combine_weekly, surges, weekly_counts
    from grid.insights.topics import Segmenter, emerging_topics, term_counts

    rng = np.random.default_rng(cfg["seed"])
    cells, seeds = _city_cells(cfg["cells"])
    year, generated_s, cached = _city_year(cfg["n_year"], cfg["cells"])
    code_ix = pd.Index(cells["code"])
    week_of = _week_keys(year["received_at"])
    last_day = _local(year["received_at"]).max().normalize()
    week = pd.Timestamp(last_day - pd.Timedelta(days=(last_day.weekday() + 1) % 7 + 6))  # last full week
    week_d = np.datetime64(week.date(), "D")
    in_week = week_of == week_d
    before = week_of < week_d
    week_rows = year[in_week].reset_index(drop=True)
    hist = year[before]
    street = year["street_code"].astype(object).where(year["street_code"].notna(), "110000")

    # --- caches, one-off, from the year -----------------------------------------------------------
    months = _local(hist["received_at"]).dt.month.to_numpy()

    def build_counts() -> pd.DataFrame:
        chunks = [weekly_counts(hist[months == m]) for m in np.unique(months)]
        w = combine_weekly(*chunks)
        return w[w.columns[-HISTORY_WEEKS:]]

    cache, counts_s = timed(build_counts)

    def build_docs() -> pd.Series:
        keys = pd.DataFrame(
            {
                "street_code": street[before].to_numpy(),
                "week": week_of[before],
                "category_code": hist["category_code"],
            }
        )
        return keys.groupby(["street_code", "week", "category_code"], observed=True).size()

    docs_cache, docs_s = timed(build_docs)
    w_cells, weights_s = timed(lambda: cell_weights(cells))
    compounds, roads = _name_pools()
    seg = Segmenter(place_names=[*compounds, *roads])
    places = _Places(cells, seeds)
    sample = hist.sample(n=min(cfg["text_sample"], len(hist)), random_state=3)
    s_cell = code_ix.get_indexer(sample["cell_code"].astype(object))
    s_rows = places.attach(sample, s_cell, rng)
    s_texts = places.texts(rng, sample["category_code"].astype(str).tolist(), s_rows["_b"].to_numpy())
    s_keys = pd.DataFrame(
        {
            "street_code": street.loc[sample.index].to_numpy(),
            "week": week_of[sample.index.to_numpy()],
            "category_code": sample["category_code"].astype(str).to_numpy(),
        }
    )
    _, sample_s = timed(lambda: term_counts(s_texts, s_keys, segmenter=seg))
    per_text = sample_s / len(s_texts)
    terms_cache_s = per_text * len(hist)
    cache_total = counts_s + docs_s + weights_s + terms_cache_s

    # --- the week's data (what the store holds; not timed) -----------------------------------------
    week_cell = code_ix.get_indexer(week_rows["cell_code"].astype(object))
    week_full = places.attach(week_rows, week_cell, rng)
    week_texts = places.texts(
        rng, week_rows["category_code"].astype(str).tolist(), week_full["_b"].to_numpy()
    )
    week_end = week + pd.Timedelta(days=7)
    lo = np.datetime64((week_end - pd.Timedelta(days=cfg["repeat_days"])).date(), "D")
    days = _local(year["received_at"]).to_numpy(dtype="datetime64[D]")
    recent_mask = (days >= lo) & (days < np.datetime64(week_end.date(), "D"))
    recent = year[recent_mask].reset_index(drop=True)
    recent_rows = places.attach(recent, code_ix.get_indexer(recent["cell_code"].astype(object)), rng)
    recent_rows = recent_rows.drop(columns=["_b"])
    week_street = street[in_week].to_numpy()
    households = cells.set_index("code")["households"]

    # --- the weekly update, part by part -----------------------------------------------------------
    parts: dict[str, dict[str, Any]] = {}

    def counts_part() -> pd.DataFrame:
        return combine_weekly(cache, weekly_counts(week_rows))

    weekly, s = timed(counts_part)
    parts["counts"] = {
        "s": s,
        "baseline": "weekly counts rebuilt from the year (the cache build)",
        "baseline_s": counts_s,
    }

    flags, s = timed(lambda: surges(weekly, week))
    _, b = timed(lambda: week_rows.groupby(["cell_code", "category_code"], observed=True).size())
    parts["surges"] = {
        "s": s,
        "flags": len(flags),
        "baseline": "plain groupby count of the week's rows (floor)",
        "baseline_s": b,
    }

    def hot_part(w: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
        per_cell = weekly.groupby(level=0).sum()
        counts = per_cell[per_cell.columns[-HOT_WEEKS:]].sum(axis=1)
        h = hotspots(cells, counts, w)
        e = emerging_hotspots(per_cell.T, households, w)
        return h, e

    (hot, emerging), s = timed(lambda: hot_part(w_cells))
    _, b = timed(lambda: hot_part(cell_weights(cells)))
    parts["hotspots"] = {
        "s": s,
        "hot": int((hot["hot"] | hot["excess"]).sum()),
        "emerging": int((emerging["trend"] != "none").sum()),
        "baseline": "the same with the weights rebuilt from the cell polygons (no cache)",
        "baseline_s": b,
    }

    rep, s = timed(lambda: repeat_places(recent_rows, as_of=week_end.tz_localize(TZ)))

    def naive_repeats() -> pd.Series:
        n = recent_rows.groupby(["building_id", "category_code"], observed=True).size()
        return n[n >= 5]

    naive, b = timed(naive_repeats)
    parts["repeat_places"] = {
        "s": s,
        "episodes": len(rep),
        "petitions": len(recent_rows),
        "baseline": f"naive count rule: groupby (building, category) >= 5 in the {cfg['repeat_days']} days (floor)",
        "baseline_s": b,
        "baseline_flags": len(naive),
    }

    keys = pd.DataFrame(
        {"street_code": week_street, "category_code": week_rows["category_code"].astype(str).to_numpy()}
    )
    terms_week, s = timed(lambda: term_counts(week_texts, keys, segmenter=seg))
    tk = jieba.Tokenizer()
    tk.initialize()
    _, b = timed(lambda: [tk.lcut(t, HMM=False) for t in week_texts])
    parts["term_counts"] = {
        "s": s,
        "texts": len(week_texts),
        "unique_texts": int(pd.Series(week_texts).nunique()),
        "rows": len(terms_week),
        "baseline": "jieba.lcut of the same texts (segmentation alone, floor)",
        "baseline_s": b,
    }

    # the term cache: per street x week x category for the last weeks, the older ones aggregated
    # (stand-ins: this week's counts with Poisson-resampled documents; see the module docstring)
    recent_weeks = [str(week_d - np.timedelta64(7 * j, "D")) for j in range(TOPIC_WEEKS - 1, 0, -1)]

    def resample(scale: float, label: str) -> pd.DataFrame:
        d = terms_week.assign(period=label, docs=rng.poisson(terms_week["docs"].to_numpy() * scale))
        return d[d["docs"] > 0]

    term_cache = pd.concat(
        [resample(HISTORY_WEEKS - TOPIC_WEEKS, "base"), *(resample(1.0, w) for w in recent_weeks)],
        ignore_index=True,
    )
    leaving, oldest = resample(1.0, "base"), resample(1.0, "base")
    oldest["docs"] = -oldest["docs"]
    n_docs = docs_cache.reset_index()
    labels = pd.to_datetime(n_docs["week"]).dt.strftime("%Y-%m-%d")
    n_docs["period"] = labels.where(labels.isin(recent_weeks), "base")
    week_docs = (
        keys.groupby(["street_code", "category_code"])
        .size()
        .rename("n")
        .reset_index()
        .assign(period=str(week_d))
    )
    n_docs = pd.concat([n_docs.rename(columns={0: "n"}), week_docs], ignore_index=True)
    n_docs = n_docs.groupby(["street_code", "period", "category_code"], observed=True)["n"].sum()

    def topics_part() -> pd.DataFrame:
        base = term_cache[term_cache["period"] == "base"]
        cols = ["street_code", "period", "category_code", "term"]
        base = pd.concat([base, leaving, oldest]).groupby(cols, as_index=False)["docs"].sum()
        base = base[base["docs"] > 0]
        counts = pd.concat(
            [base, term_cache[term_cache["period"] != "base"], terms_week.assign(period=str(week_d))],
            ignore_index=True,
        )
        return emerging_topics(
            counts,
            n_docs,
            recent=[*recent_weeks, str(week_d)],
            baseline=["base"],
            period="period",
            strata="category_code",
        )

    topics, s = timed(topics_part)
    parts["emerging_topics"] = {
        "s": s,
        "streets": int(pd.Series(week_street).nunique()),
        "rising_terms_on_stand_ins": len(topics),
        "cache_rows": len(term_cache),
        "baseline": f"no term cache: re-segment the {HISTORY_WEEKS} weeks' texts (extrapolated from {len(s_texts):,} texts)",
        "baseline_s": terms_cache_s,
        "baseline_extrapolated": True,
    }
    total = float(sum(p["s"] for p in parts.values()))
    return {
        "cells": len(cells),
        "streets": int(cells["street_code"].nunique()),
        "year_rows": len(year),
        "year_generated_s": generated_s,
        "year_cached": cached,
        "week": str(week.date()),
        "week_petitions": len(week_rows),
        "week_placed": int((week_cell >= 0).sum()),
        "parts": parts,
        "total_s": total,
        "cache_build": {
            "weekly_counts_s": counts_s,
            "doc_counts_s": docs_s,
            "cell_weights_s": weights_s,
            "term_counts_s": terms_cache_s,
            "term_counts_extrapolated_from": len(s_texts),
            "term_counts_sample_s": sample_s,
            "history_rows": len(hist),
            "pairs": len(cache),
            "total_s": cache_total,
        },
    }


# --- the tables -----------------------------------------------------------------------------------

BASELINES: Final = {
    "hotspots": "top-k cells by raw count in the window",
    "surges": "top-k pairs by raw count in the planted week",
    "repeat_places": "top-k (building, category) by raw count in the year",
    "rising_phrase": "top-1 term by recent document count",
}
LABELS: Final = {
    "hotspots": "hotspots (Gi* hot or excess)",
    "surges": "surges (cell x category, FDR 0.05)",
    "repeat_places": "repeat places",
    "rising_phrase": "rising phrase",
}


def _pr_rows(label: str, s: Mapping[str, Any], baseline: str) -> list[Row]:
    rows = [Row(f"{label}: recall", "", s["recall"], baseline, s["baseline"]["recall"], "higher")]
    if s["precision"] is not None:
        rows.append(
            Row(f"{label}: precision", "", s["precision"], baseline, s["baseline"]["precision"], "higher")
        )
    return rows


def _validation_table(v: Mapping[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name in DETECTORS:
        rows += _pr_rows(LABELS[name], v[name], BASELINES[name])
    variants = v["surge_variants"]
    rows += _pr_rows(
        "VARIANT surges per community (not the default)",
        variants["community"],
        "top-k communities x category",
    )
    rows += _pr_rows(
        "VARIANT surges, per-pair p <= 1e-3, no FDR", variants["alpha_1e-3"], BASELINES["surges"]
    )
    notes = [
        "k = the number of planted effects scored (3 hotspots / surges / places, 1 phrase): an oracle budget "
        "that favours the baseline; protocol in the module docstring",
    ]
    for name in DETECTORS:
        s = v[name]
        b = s["baseline"]
        notes.append(
            f"{LABELS[name]}: {s['found']}/{s['planted']} found, {s['true_flags']}/{s['flags']} flags true -> "
            f"{_verdict(s)}; baseline {b['found']}/{b['planted']}, {b['true_flags']}/{b['flags']}"
        )
    h, sg, rp, tp = v["hotspots"], v["surges"], v["repeat_places"], v["rising_phrase"]
    notes.append(
        f"hotspots: {h['cells']} stand-in cells (Voronoi of the buildings in each community polygon); "
        f"false flags next to a planted cell: {h['false_flags_next_to_planted']}"
    )
    per_week = sg["pairs_tested"] / max(sg["weeks"], 1)
    planted = "; ".join(
        f"{d['unit'][-6:]} {d['category']} {d['week']}: {d['observed']:.0f} vs {d['expected']:.1f} expected, "
        f"p {d['p_value']:.1e}, q {d['q_value']:.2f}"
        for d in sg["planted_detail"]
    )
    notes.append(
        f"surges: {sg['pairs_tested']:,} pair-weeks tested over the year, {sg['flags']} flags "
        f"({sg['false_flags_in_hotspot_periods']} in a hotspot's cell and period); planted: {planted}. "
        f"BH at q 0.05 over ~{per_week:.0f} pairs a week needs p <~ {0.05 / max(per_week, 1):.0e} "
        "for one discovery; the raw-count baseline also finds them without being told the week "
        f"({sg['baseline_year']['found']}/{sg['baseline_year']['planted']} as the year's top-k pair-weeks): the generator "
        "plants surges on the pair-weeks with the largest background (heating, early December)"
    )
    notes.append(
        f"repeat places: episodes by kind {rp['kinds']}; the baseline's top-k are big buildings' everyday categories "
        f"({rp['baseline_chronic']} of them a planted chronic place)"
    )
    notes.append(
        f"rising phrase {tp['phrase']}: flagged {tp['flags']} terms ({', '.join(tp['flagged_terms'][:8])}"
        f"{' ...' if tp['flags'] > 8 else ''}), not of the topic: {tp['other_terms'] or 'none'}; the phrase ranks "
        f"{tp['phrase_raw_rank']} by raw recent count (top: {', '.join(tp['baseline_top'])}); "
        f"{tp['recent_docs']:,} recent documents"
    )
    print_table(
        f"insights: detectors on the planted effects of the 双井 sample year at rate {v['rate']} "
        f"({v['petitions']:,} petitions; generated in {v['generate_s']:.0f} s, evaluated in {v['seconds']:.0f} s)",
        rows,
        notes,
    )
    return rows


PART_LABELS: Final = {
    "counts": "week's weekly_counts + combine_weekly",
    "surges": "surges of the week",
    "hotspots": "hotspots (13 weeks) + emerging (13 x 4 weeks)",
    "repeat_places": "repeat places",
    "term_counts": "term counts of the week's texts",
    "emerging_topics": "emerging topics per street",
}


def _update_table(u: Mapping[str, Any], cfg: Mapping[str, Any], size: str) -> list[Row]:
    parts = u["parts"]
    cb = u["cache_build"]
    rows = [
        Row(
            f"update: {PART_LABELS[k]}",
            "s",
            p["s"],
            p["baseline"] + (" [extrapolated]" if p.get("baseline_extrapolated") else ""),
            p["baseline_s"],
            "lower",
        )
        for k, p in parts.items()
    ]
    rows.append(
        Row(
            "weekly update, total",
            "s",
            u["total_s"],
            f"rebuild the caches from the year (term counts extrapolated from {cb['term_counts_extrapolated_from']:,} texts)",
            cb["total_s"],
            "lower",
        )
    )
    ok = u["total_s"] < TARGET_UPDATE_S
    rp, tc = parts["repeat_places"], parts["term_counts"]
    made = "cached" if u["year_cached"] else f"generated in {u['year_generated_s']:.0f} s"
    notes = [
        f"target (a Beijing-size week, i.e. the full size): one weekly update under {TARGET_UPDATE_S:.0f} s -> "
        + (
            f"{'MEETS' if ok else 'MISSES'} ({u['total_s']:.0f} s, sum of the parts)"
            if size == "full"
            else "not judged at toy size"
        ),
        "a floor does strictly less than the part (a bare count; bare segmentation): 'worse' there is the price "
        "of the detector over the minimum any implementation pays, not a regression",
        f"city: {u['cells']:,} cells in {u['streets']} streets; year of {u['year_rows']:,} petitions "
        f"({made}); week of {u['week']}: "
        f"{u['week_petitions']:,} petitions ({u['week_placed']:,} with a cell)",
        f"one-off cache build {cb['total_s']:.0f} s: weekly counts of {cb['history_rows']:,} rows {cb['weekly_counts_s']:.1f} s "
        f"({cb['pairs']:,} cell x category pairs), document counts {cb['doc_counts_s']:.1f} s, cell weights "
        f"{cb['cell_weights_s']:.1f} s, term counts {cb['term_counts_s']:.0f} s (extrapolated from "
        f"{cb['term_counts_extrapolated_from']:,} texts in {cb['term_counts_sample_s']:.1f} s)",
        f"repeat places over {rp['petitions']:,} petitions of the last {cfg['repeat_days']} days: {rp['episodes']} episodes "
        f"(background p <= 1e-5) where the naive count rule flags {rp['baseline_flags']:,}",
        f"term counts: {tc['texts']:,} texts ({tc['unique_texts']:,} distinct), {tc['rows']:,} street x category x term "
        "rows; emerging topics read a term cache of stand-in counts (the timing depends on its size)",
        f"hotspots: {parts['hotspots']['hot']} hot cells, {parts['hotspots']['emerging']} with a trend; surges: "
        f"{parts['surges']['flags']} flags (no surges are planted in the city year)",
    ]
    print_table(
        f"insights: one weekly update of a Beijing-size city against caches ({u['cells']:,} cells, "
        f"{u['week_petitions']:,} petitions in the week)",
        rows,
        notes,
    )
    return rows


def run(size: str) -> dict[str, Any]:
    cfg = SIZES[check_size(size)]
    validation = {str(rate): _validate(float(rate), cfg["seed"], cfg["year"]) for rate in cfg["rates"]}
    update = _weekly_update(cfg)
    rows: list[Row] = []
    for v in validation.values():
        rows += _validation_table(v)
    rows += _update_table(update, cfg, size)
    return {
        "benchmark": NAME,
        "size": size,
        "params": cfg,
        "validation": validation,
        "weekly_update": update,
        "rows": [r.to_dict() for r in rows],
    }
