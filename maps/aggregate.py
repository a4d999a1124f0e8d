"""Server-side aggregation for map pages: pages stay small whatever the number of petitions.

Pure (numpy, shapely, mapclassify): no database, no HTML.

* :func:`heat_grid` bins points on a metric grid (default 50 m) and returns one weighted point per
  non-empty bin, at the bin's centre: the page size grows with the area, not with the petitions,
  and no reporter's location is ever drawn exactly.
* :func:`classify` puts rates into classes with mapclassify (Fisher-Jenks by default).
* :func:`simplify_coverage` (topology-preserving simplification of a coverage), :func:`quantise` and
  :func:`suppress_small` (k-suppression) live in :mod:`grid.coverage` (``grid/db/mapdata.py`` uses
  them too) and are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from grid.coverage import M_PER_DEG_LAT, quantise, simplify_coverage, suppress_small
from grid.errors import InputError

__all__ = [
    "Classes",
    "cap_heat",
    "classify",
    "heat_grid",
    "quantise",
    "simplify_coverage",
    "suppress_small",
]


def heat_grid(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    cell_m: float = 50.0,
    weights: npt.ArrayLike | None = None,
    min_weight: float = 0.0,
) -> list[list[float]]:
    """``[[lat, lon, weight], ...]``: points binned on a ``cell_m`` grid (local equirectangular,
    exact enough at city scale), one per non-empty bin at its centre, weights summed."""
    out: list[list[float]] = _heat_bins(
        lon, lat, cell_m=cell_m, weights=weights, min_weight=min_weight
    ).tolist()
    return out


def _heat_bins(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    cell_m: float = 50.0,
    weights: npt.ArrayLike | None = None,
    min_weight: float = 0.0,
) -> npt.NDArray[np.float64]:
    """The bins as an array of rows ``(lat, lon, weight)``; see :func:`heat_grid`."""
    x = np.asarray(lon, dtype="float64")
    y = np.asarray(lat, dtype="float64")
    if x.shape != y.shape:
        raise InputError("lon and lat differ in length", code="invalid_input")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype="float64")[ok]
    if x.size == 0:
        return np.zeros((0, 3))
    lat0 = float(np.median(y))
    dy = cell_m / M_PER_DEG_LAT
    dx = cell_m / (M_PER_DEG_LAT * max(math.cos(math.radians(lat0)), 0.01))
    ix = np.floor(x / dx).astype("int64")
    iy = np.floor(y / dy).astype("int64")
    key = ix * 4_000_003 + iy  # unique at city scale (|ix| < 2e6 for any longitude at >= 1 m)
    uniq, inv = np.unique(key, return_inverse=True)
    sums = np.bincount(inv, weights=w)
    first = np.zeros(len(uniq), dtype="int64")
    first[inv[::-1]] = np.arange(len(inv))[::-1]
    cx = (ix[first] + 0.5) * dx
    cy = (iy[first] + 0.5) * dy
    keep = sums > min_weight
    return np.column_stack([cy[keep].round(6), cx[keep].round(6), sums[keep]])


def cap_heat(
    points: Sequence[Sequence[float]], max_points: int, cell_m: float = 50.0
) -> tuple[list[list[float]], float]:
    """Heat points ``[[lat, lon, weight], ...]`` binned on ``cell_m`` re-binned on a grid twice as
    coarse, and again, until at most ``max_points`` remain (weights summed); the points and the
    bin size used. A district's page stays the same size with any number of petitions."""
    if max_points < 1:
        raise InputError("max_points must be at least 1", code="invalid_input")
    size = float(cell_m)
    if len(points) <= max_points:
        return [[float(v) for v in p] for p in points], size
    a = np.asarray(points, dtype="float64").reshape(len(points), -1)
    b = a[:, :3]
    while len(b) > max_points:
        size *= 2.0
        b = _heat_bins(a[:, 1], a[:, 0], cell_m=size, weights=a[:, 2])
    out: list[list[float]] = b.tolist()
    return out, size


@dataclass(frozen=True)
class Classes:
    """Class breaks (upper bounds), the class of each value (-1: no value) and the colours."""

    bins: list[float]
    labels: list[int]
    colours: list[str]
    method: str

    def colour(self, i: int) -> str | None:
        return None if i < 0 else self.colours[i]


# ColorBrewer YlOrRd, 3 to 7 classes
_YLORRD = ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"]


def _palette(k: int) -> list[str]:
    idx = np.linspace(0, len(_YLORRD) - 1, k).round().astype(int)
    return [_YLORRD[i] for i in idx]


def classify(
    values: Sequence[float | None], k: int = 5, method: str = "FisherJenks", max_exact: int = 1000
) -> Classes:
    """Classes of the finite values by mapclassify (``FisherJenks``, ``Quantiles`` or
    ``EqualInterval``); fewer distinct values than ``k`` give fewer classes. A value is in the
    first class whose upper bound it does not exceed (mapclassify's rule)."""
    import mapclassify

    v = np.array([np.nan if x is None else float(x) for x in values], dtype="float64")
    finite = v[np.isfinite(v)]
    labels = np.full(len(v), -1, dtype="int64")
    if finite.size == 0:
        return Classes([], labels.tolist(), [], method)
    kk = max(1, min(k, len(np.unique(finite))))
    if kk == 1:
        labels[np.isfinite(v)] = 0
        return Classes([float(finite.max())], labels.tolist(), _palette(1), method)
    cls = getattr(mapclassify, method)
    sample = finite
    if finite.size > max_exact:
        # Fisher-Jenks is quadratic in the values: beyond max_exact, breaks from evenly spaced
        # quantiles of the values (deterministic, unlike mapclassify's FisherJenksSampled)
        sample = np.quantile(finite, np.linspace(0.0, 1.0, max_exact), method="inverted_cdf")
    c = cls(sample, k=kk)
    bins = [float(b) for b in c.bins]
    bins[-1] = float(finite.max())
    labels[np.isfinite(v)] = np.minimum(np.searchsorted(bins, finite, side="left"), len(bins) - 1)
    return Classes(bins, labels.tolist(), _palette(len(bins)), method)
