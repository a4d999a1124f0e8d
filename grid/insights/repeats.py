"""Repeat places: the same place raising the same problem again and again (举一反三).

Pure pandas/numpy/scipy (no database), vectorised: no Python loop over petitions or places
(the address normalisation runs once per distinct address text).

Method (:func:`repeat_places`)
------------------------------
Within each category, petitions are grouped by place in three ways:

``building``
    the same ``building_id`` (what the geocoder matched; the strongest key);
``address``
    the same *normalised* address text (:func:`normalise_address`: full-width folded, Chinese
    numerals before markers read as digits, 栋/幢/座 → 号楼, the city / district / street prefix
    and the unit / floor / room suffix dropped), for petitions the geocoder could not match to
    a building;
``cluster``
    points within ``radius_m`` of each other, **single linkage**: two petitions are linked
    when their distance is <= ``radius_m`` (inclusive, up to a micrometre of float round-off)
    and a cluster is a connected component of those links. Pairs come from
    ``scipy.spatial.cKDTree.query_pairs`` on metric coordinates (:func:`to_metres`: the UTM
    zone of the data, e.g. EPSG:32650 for Beijing, through pyproj; scale error < 0.04%, i.e.
    < 2 cm at 50 m), so the radius is in metres wherever the city is. Links are only made
    between petitions less than ``window_days`` apart in time, so a busy block does not chain
    a year of unrelated petitions into one "place".

A group is a **repeat place** when at least ``min_count`` of its petitions fall in one window of
``window_days`` days: a half-open interval ``[t, t + window_days)`` (petitions exactly
``window_days`` apart are *not* in one window, as in pandas' rolling ``"30D"``). Overlapping
qualifying windows of one group are merged into one *episode*, reported with all the petitions
of its windows, so a place that keeps calling for three months is one row, and a place with a
spring and an autumn episode two rows. With ``as_of``, only petitions received at or before it
count (the windows end at or before ``as_of``) and ``active`` says whether the episode's last
window reaches ``as_of``.

A count alone flags every large tower each heating season, so a candidate is also judged
against the **place's own seasonal background** (``max_p``, default 1e-5): the same conditional
test as the surge detector, on the densest window ``W`` of the episode: with ``x`` petitions of
the place in ``W``, ``X`` of the place (same category) in the rest of the input, and ``O_W``,
``O_rest`` the category's petitions at all other places in and outside ``W``,
``p = P(Binomial(x + X, O_W / (O_W + O_rest)) >= x)`` and ``expected = X · O_W / O_rest``. A
cluster's place is every same-category petition within ``radius_m`` of one of its members.
So pass the history (e.g. the last 12 months, with ``as_of``) and not only the last window: with
no history ``p`` is 1 (use ``max_p=None`` for the bare count rule). The threshold is small
because the window is the densest of a scan (a year holds ~12 windows per place and category);
on the 双井 sample the planted repeat places have p < 2e-6 and no background place reaches 1e-5.

One problem is judged and reported once, by the most precise key: a cluster episode whose
petitions are mostly (>= half) in a building episode is left to the building (reported as a
building when significant, not at all otherwise), and an address episode mostly in a building or
cluster episode likewise (address texts are fragments of a place: the same building is written
in several ways, so an address group undercounts the place's history).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from pyproj import Transformer
from scipy import stats
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from grid.address import normalise
from grid.errors import InputError

__all__ = [
    "COLUMNS",
    "KINDS",
    "from_metres",
    "normalise_address",
    "repeat_places",
    "to_metres",
    "utm_epsg",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

KINDS: Final = ("building", "cluster", "address")  # also the order of precedence
COLUMNS: Final = (
    "category_code",
    "kind",
    "key",
    "count",
    "max_in_window",
    "expected",
    "p_value",
    "first",
    "last",
    "active",
    "petition_ids",
    "lon",
    "lat",
    "cell_code",
)
LINK_TOLERANCE_M: Final = 1e-6  # float round-off of a lon/lat round trip (nanometres)
DUPLICATE_SHARE: Final = 0.5  # a group mostly inside an already reported one is the same problem

# --- metric coordinates ---------------------------------------------------------------------------


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone of a point (Beijing: 32650)."""
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@lru_cache(maxsize=16)
def _transformer(epsg: int, inverse: bool) -> Transformer:
    a, b = ("EPSG:4326", f"EPSG:{epsg}")
    return (
        Transformer.from_crs(b, a, always_xy=True) if inverse else Transformer.from_crs(a, b, always_xy=True)
    )


def to_metres(
    lon: FloatArray, lat: FloatArray, epsg: int | None = None
) -> tuple[FloatArray, FloatArray, int]:
    """Project WGS84 lon/lat to metres: ``(x, y, epsg)``; ``epsg`` defaults to the UTM zone of
    the median point."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if epsg is None:
        epsg = utm_epsg(float(np.median(lon)), float(np.median(lat))) if len(lon) else 32650
    x, y = _transformer(epsg, False).transform(lon, lat)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), epsg


def from_metres(x: FloatArray, y: FloatArray, epsg: int) -> tuple[FloatArray, FloatArray]:
    """The inverse of :func:`to_metres`: WGS84 ``(lon, lat)``."""
    lon, lat = _transformer(epsg, True).transform(np.asarray(x, np.float64), np.asarray(y, np.float64))
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


# --- addresses -----------------------------------------------------------------------------------

_PUNCT: Final = re.compile(r"[\s\W_]+")
_CITY: Final = re.compile(r"^[\u4e00-\u9fff]{2,3}市")
_DISTRICT: Final = re.compile(r"^[\u4e00-\u9fff]{2,3}[区县]")
_STREET: Final = re.compile(r"^[\u4e00-\u9fff]{2,6}?(?:街道|地区办事处|地区|镇|乡)(?=.{3,})")
_SUFFIX: Final = re.compile(r"(?:\d+单元|\d+门(?!口)|\d+层|\d+室|(?<=号楼)\d{3,4}$).*$")


def normalise_address(text: object) -> str | None:
    """A comparable form of an address as a resident gave it (``None`` when empty).

    >>> normalise_address("北京市朝阳区双井街道九龙西里 五号楼 3单元502")
    '九龙西里5号楼'
    >>> normalise_address("九龙西里5栋"), normalise_address("  "), normalise_address(None)
    ('九龙西里5号楼', None, None)
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    s = _PUNCT.sub("", normalise(str(text)))
    if _CITY.match(s):
        s = _CITY.sub("", s, count=1)
        s = _DISTRICT.sub("", s, count=1)
    s = _STREET.sub("", s, count=1)
    s = _SUFFIX.sub("", s)
    return s or None


# --- episodes ------------------------------------------------------------------------------------


def _episodes(
    label: IntArray, t: IntArray, *, min_count: int, window_s: int
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
    """Episodes of dense windows per label (label -1: none), vectorised.

    Returns ``order`` (petitions sorted by label then time), and per episode the ``start`` and
    ``end`` positions in ``order`` (half-open), the largest count in one window and the start
    time of that (first densest) window.
    """
    ok = np.flatnonzero(label >= 0)
    empty = np.zeros(0, dtype=np.int64)
    if len(ok) < min_count:
        return empty, empty, empty, empty, empty
    order = ok[np.lexsort((t[ok], label[ok]))]
    lab = label[order]
    tt = t[order] - t[order].min()
    span = int(tt.max()) + window_s + 1
    key = lab.astype(np.int64) * span + tt  # label blocks never overlap
    pos = np.arange(len(order), dtype=np.int64)
    end = np.searchsorted(key, key + window_s, side="left").astype(np.int64)  # t_j < t_i + window
    count = end - pos
    q = np.flatnonzero(count >= min_count)
    if len(q) == 0:
        return order, empty, empty, empty, empty
    q_end = end[q]
    prev_max = np.concatenate([[-1], np.maximum.accumulate(q_end)[:-1]])
    new = q >= prev_max  # does not overlap any earlier qualifying window (labels never overlap)
    ep = np.cumsum(new) - 1
    n_ep = int(ep[-1]) + 1
    start = q[new]
    stop = np.zeros(n_ep, dtype=np.int64)
    np.maximum.at(stop, ep, q_end)
    densest = np.lexsort((q, -count[q], ep))  # per episode: the largest count, then the earliest
    first = densest[np.r_[True, ep[densest][1:] != ep[densest][:-1]]]
    best = count[q][first]
    best_t = t[order][q[first]]
    return order, start.astype(np.int64), stop, best.astype(np.int64), best_t.astype(np.int64)


@dataclass(frozen=True)
class _Points:
    """The petitions with a point, in metres, in one k-d tree for all categories (each category
    far from the others along a third axis, so a radius query never crosses categories)."""

    rows: IntArray  # petition rows with a point
    tree: cKDTree
    pts: FloatArray


def _points(cat: IntArray, lon: FloatArray, lat: FloatArray, radius_m: float) -> _Points | None:
    has = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    if len(has) == 0:
        return None
    x, y, _epsg = to_metres(lon[has], lat[has])
    pts = np.column_stack([x, y, cat[has].astype(np.float64) * (100.0 * radius_m + 1e6)])
    return _Points(rows=has.astype(np.int64), tree=cKDTree(pts), pts=pts)


def _cluster_labels(points: _Points | None, n: int, t: IntArray, radius_m: float, window_s: int) -> IntArray:
    """Single-linkage clusters (<= radius_m, < window_s apart) within each category; -1: no point."""
    label = np.full(n, -1, dtype=np.int64)
    if points is None:
        return label
    has = points.rows
    pairs = points.tree.query_pairs(r=radius_m + LINK_TOLERANCE_M, output_type="ndarray")
    if len(pairs):
        pairs = pairs[np.abs(t[has][pairs[:, 0]] - t[has][pairs[:, 1]]) < window_s]
    m = len(has)
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
    _n, comp = connected_components(graph, directed=False)
    label[has] = comp
    return label


def _neighbourhood_counts(
    points: _Points,
    member: IntArray,
    member_ep: IntArray,
    n_ep: int,
    t: IntArray,
    a: IntArray,
    window_s: int,
    radius_m: float,
    n: int,
) -> tuple[IntArray, IntArray]:
    """Per cluster episode: same-category petitions within ``radius_m`` of any of its members,
    over the whole input and inside the window ``[a, a + window)``."""
    pos = np.full(n, -1, dtype=np.int64)
    pos[points.rows] = np.arange(len(points.rows))
    mp = pos[member]
    ok = mp >= 0
    hits = points.tree.query_ball_point(points.pts[mp[ok]], r=radius_m + LINK_TOLERANCE_M)
    lens = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
    nb = (
        points.rows[np.concatenate([np.asarray(h, dtype=np.int64) for h in hits])]
        if lens.sum()
        else np.zeros(0, np.int64)
    )
    ep = np.repeat(member_ep[ok], lens)
    key = np.unique(ep * n + nb)
    ep, nb = key // n, key % n
    total = np.bincount(ep, minlength=n_ep)
    inside = (t[nb] >= a[ep]) & (t[nb] < a[ep] + window_s)
    return total.astype(np.int64), np.bincount(ep, weights=inside, minlength=n_ep).astype(np.int64)


def _place_labels(
    cat: IntArray, values: npt.NDArray[np.object_], key: Callable[[str], str | None]
) -> tuple[IntArray, npt.NDArray[np.object_]]:
    """Group label per petition for (category, ``key(value)``) (-1 when no key) and the key of
    each label; ``key`` runs once per distinct value."""
    codes, uniq = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    keyed = np.array([key(str(u)) for u in uniq] + [None], dtype=object)  # [-1] → None
    kcodes, kuniq = pd.factorize(pd.Series(keyed[codes], dtype=object), use_na_sentinel=True)
    has = kcodes >= 0
    if not has.any():
        return np.full(len(cat), -1, dtype=np.int64), np.empty(0, dtype=object)
    pair = np.where(has, cat * (len(kuniq) + 1) + kcodes, -1)
    lab, pairs = pd.factorize(pair)
    lab = np.where(has, lab, -1).astype(np.int64)
    names = np.asarray(kuniq, dtype=object)[np.asarray(pairs) % (len(kuniq) + 1) % len(kuniq)]
    return lab, names


def _epoch_s(ts: pd.Timestamp) -> int:
    """Seconds since the epoch (UTC; a naive timestamp is taken as UTC)."""
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.value // 1_000_000_000)


def _mode(values: pd.Series) -> object:
    v = values.dropna()
    return None if v.empty else v.value_counts().index[0]


# --- the detector -----------------------------------------------------------------------------------


def repeat_places(
    petitions: pd.DataFrame,
    *,
    min_count: int = 5,
    window_days: float = 30.0,
    radius_m: float = 50.0,
    as_of: object = None,
    kinds: Sequence[str] = KINDS,
    max_p: float | None = 1e-5,
) -> pd.DataFrame:
    """Places with at least ``min_count`` petitions of one category in a ``window_days`` window
    (see the module docstring).

    ``petitions``: ``id``, ``received_at``, ``category_code``, and the place columns
    ``building_id``, ``address``, ``lon``/``lat`` (WGS84) as far as present, ``cell_code``
    optional. ``kinds``: which groupings to run (``building``, ``cluster``, ``address``).
    ``max_p``: the background test's threshold (None: count rule only).

    Returns one row per episode (columns :data:`COLUMNS`): ``kind``, ``key`` (building id,
    normalised address, or ``C<smallest petition id>`` for a cluster), ``count`` (petitions of
    the episode), ``max_in_window``, ``expected`` and ``p_value`` (of the densest window, see
    the module docstring), ``first``/``last`` (received_at), ``active``,
    ``petition_ids`` (list, in time order), ``lon``/``lat`` (mean of the petitions' points, NaN
    when none has one), ``cell_code`` (the most common). Sorted by category, kind, first.
    """
    if min_count < 1 or not window_days > 0 or not radius_m >= 0:
        raise InputError("min_count >= 1, window_days > 0 and radius_m >= 0 are required", code="bad_params")
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise InputError(f"unknown kind(s) {bad}; use {list(KINDS)}", code="bad_params")
    for name in ("id", "received_at", "category_code"):
        if name not in petitions.columns:
            raise InputError(f"petitions have no {name!r} column", code="missing_field")
    df = petitions[petitions["category_code"].notna() & petitions["received_at"].notna()]
    received = pd.to_datetime(df["received_at"])
    if as_of is not None:
        cut = pd.Timestamp(as_of)
        if cut.tzinfo is None and received.dt.tz is not None:
            cut = cut.tz_localize(received.dt.tz)
        keep = (received <= cut).to_numpy()
        df, received = df[keep], received[keep]
    df = df.reset_index(drop=True)
    received = received.reset_index(drop=True)
    n = len(df)
    if n == 0:
        return pd.DataFrame(columns=list(COLUMNS))
    t = (
        (received.dt.tz_convert("UTC") if received.dt.tz is not None else received)
        .to_numpy(dtype="datetime64[s]")
        .astype(np.int64)
    )
    now = int(t.max()) if as_of is None else _epoch_s(cut)
    window_s = round(window_days * 86_400)
    cat, cats = pd.factorize(df["category_code"].astype(str))
    cat = cat.astype(np.int64)
    ids = df["id"].to_numpy()

    def col(name: str) -> pd.Series:
        return df[name] if name in df.columns else pd.Series([None] * n, dtype=object)

    keys: dict[str, tuple[IntArray, npt.NDArray[np.object_]]] = {}
    if "building" in kinds:
        keys["building"] = _place_labels(cat, col("building_id").to_numpy(dtype=object), str)
    if "address" in kinds:
        keys["address"] = _place_labels(cat, col("address").to_numpy(dtype=object), normalise_address)
    lon_all = pd.to_numeric(col("lon"), errors="coerce").to_numpy(np.float64)
    lat_all = pd.to_numeric(col("lat"), errors="coerce").to_numpy(np.float64)
    points = _points(cat, lon_all, lat_all, radius_m) if "cluster" in kinds else None
    if "cluster" in kinds:
        keys["cluster"] = (_cluster_labels(points, n, t, radius_m, window_s), np.empty(0, dtype=object))

    # the category's count over the input and in any window: one sorted key for all categories
    span = int(t.max() - t.min()) + window_s + 1
    ckey = np.sort(cat * span + (t - t.min()))
    cat_total = np.bincount(cat, minlength=len(cats))

    cells = col("cell_code")
    rows: list[pd.DataFrame] = []
    claimed = np.zeros(n, dtype=bool)  # petitions of a candidate episode of a more precise kind
    for kind in KINDS:
        if kind not in keys:
            continue
        lab, names = keys[kind]
        order, start, stop, best, best_t = _episodes(lab, t, min_count=min_count, window_s=window_s)
        if len(start) == 0:
            continue
        n_ep = len(start)
        sizes = stop - start
        member_ep = np.repeat(np.arange(n_ep), sizes)
        offset = np.repeat(start - (np.cumsum(sizes) - sizes), sizes)
        member = order[np.arange(int(sizes.sum())) + offset]
        # the place's own seasonal expectation in its densest window (see the module docstring)
        k = cat[order[start]]
        lo = k * span + (best_t - t.min())
        in_window = np.searchsorted(ckey, lo + window_s, side="left") - np.searchsorted(ckey, lo, side="left")
        if kind == "cluster":
            assert points is not None
            place_total, place_window = _neighbourhood_counts(
                points, member, member_ep, n_ep, t, best_t, window_s, radius_m, n
            )
            place_window = np.maximum(place_window, best)
            place_total = np.maximum(place_total, place_window)
        else:
            place_total = np.bincount(lab[lab >= 0], minlength=int(lab.max()) + 1)[lab[order[start]]]
            place_window = best
        own_out = place_total - place_window
        others_w = in_window - place_window
        others_out = (cat_total[k] - in_window) - own_out
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = np.where(others_out > 0, own_out * others_w / others_out, np.nan)
            p0 = np.where(others_w + others_out > 0, others_w / (others_w + others_out), 1.0)
        p_value = np.asarray(
            stats.binom.sf(place_window - 1, place_total, np.clip(p0, 0.0, 1.0)), dtype=np.float64
        )
        significant = np.ones(n_ep, dtype=bool) if max_p is None else p_value <= max_p
        dup = np.bincount(member_ep, weights=claimed[member], minlength=n_ep) >= DUPLICATE_SHARE * sizes
        keep_ep = significant & ~dup
        claimed[member[~dup[member_ep]]] = True  # judged here, whatever the verdict
        if not keep_ep.any():
            continue
        keep_m = keep_ep[member_ep]
        member, member_ep = member[keep_m], member_ep[keep_m]
        m = pd.DataFrame(
            {
                "ep": member_ep,
                "id": ids[member],
                "t": received.iloc[member].to_numpy(dtype="datetime64[ns]"),
                "lon": lon_all[member],
                "lat": lat_all[member],
                "cell_code": cells.to_numpy()[member],
            }
        )
        g = m.groupby("ep", sort=True)
        out = g.agg(
            first=("t", "min"),
            last=("t", "max"),
            lon=("lon", "mean"),
            lat=("lat", "mean"),
            first_id=("id", "min"),
        )
        tz = received.dt.tz
        if tz is not None:  # the times went through numpy as UTC
            out["first"] = out["first"].dt.tz_localize("UTC").dt.tz_convert(tz)
            out["last"] = out["last"].dt.tz_localize("UTC").dt.tz_convert(tz)
        out["petition_ids"] = g["id"].agg(list)
        out["cell_code"] = g["cell_code"].agg(_mode)
        e = out.index.to_numpy()
        out["count"] = sizes[e]
        out["max_in_window"] = best[e]
        out["expected"] = expected[e]
        out["p_value"] = p_value[e]
        out["active"] = t[order[stop[e] - 1]] + window_s > now
        out["kind"] = kind
        out["category_code"] = np.asarray(cats)[k[e]]
        if kind == "cluster":
            out["key"] = ["C" + str(i) for i in out["first_id"]]
        else:
            out["key"] = names[lab[order[start[e]]]]
        rows.append(out)
    if not rows:
        return pd.DataFrame(columns=list(COLUMNS))
    res = pd.concat(rows, ignore_index=True)
    res["kind"] = pd.Categorical(res["kind"], categories=list(KINDS))
    res = res.sort_values(["category_code", "kind", "first", "key"]).reset_index(drop=True)
    res["kind"] = res["kind"].astype(str)
    return res[list(COLUMNS)]
