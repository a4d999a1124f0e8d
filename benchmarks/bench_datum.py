"""GCJ-02 -> WGS84 and BD-09 -> WGS84: accuracy and speed of ``grid.datum``'s inverses.

Points: N random WGS84 points in Beijing's bounding box (seeded), shifted forward to GCJ-02
and BD-09 with ``grid.datum.wgs84_to_gcj02`` / ``wgs84_to_bd09``; those are the inputs.

Methods compared on the same inputs, in the same run:

* **ours**: ``grid.datum.gcj02_to_wgs84`` / ``bd09_to_wgs84`` (vectorised fixed-point
  iteration on the forward formula, to 1e-11 degrees);
* **one-step**: the published approximate inverse, implemented below: subtract the forward
  shift evaluated at the shifted point itself, ``wgs = 2 * gcj - forward(gcj)``; for BD-09
  the published one-step BD-09 -> GCJ-02 formula first. Vectorised with numpy, all N points;
* **prcoords**: ``prcoords.gcj_wgs_bored`` / ``bd_wgs_bored`` (scalar Python, ``(lat, lon)``
  order), on the first ``n_scalar`` points only; speeds are points per second, so the ratio
  stays fair.

Accuracy is the round-trip error in metres: ``|forward(inverse(p)) - p|`` with our forward
formulas, converted to metres with the WGS84 radii of curvature at the point (exact enough
for distances of metres and below). Speed is points per second (best of ``repeat`` runs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import prcoords

from benchmarks._common import Row, check_size, print_table, timed
from grid import datum

NAME: Final = "datum"
DESCRIPTION: Final = (
    "GCJ-02/BD-09 -> WGS84 on random Beijing points: round-trip error (m) and points/s of "
    "grid.datum's iterative inverse vs the one-step inverse and prcoords' scalar *_bored"
)

FloatArray = npt.NDArray[np.float64]
XY = tuple[FloatArray, FloatArray]

SEED: Final = 20240601
#: Beijing's administrative area lies within this box (lon_min, lat_min, lon_max, lat_max).
BEIJING_BBOX: Final = (115.42, 39.44, 117.51, 41.06)
SIZES: Final[dict[str, dict[str, int]]] = {
    "toy": {"n": 2_000, "n_scalar": 2_000, "repeat": 3},
    "full": {"n": 1_000_000, "n_scalar": 20_000, "repeat": 3},
}

# WGS84 ellipsoid, for metres per degree at the point
_WGS_A: Final = 6378137.0
_WGS_E2: Final = 6.69437999014e-3


def points(n: int, seed: int = SEED) -> XY:
    """``n`` uniformly random WGS84 (lon, lat) points in ``BEIJING_BBOX``."""
    rng = np.random.default_rng(seed)
    lon_min, lat_min, lon_max, lat_max = BEIJING_BBOX
    return rng.uniform(lon_min, lon_max, n), rng.uniform(lat_min, lat_max, n)


def distance_m(lon1: FloatArray, lat1: FloatArray, lon2: FloatArray, lat2: FloatArray) -> FloatArray:
    """Distance in metres between nearby points (local radii of curvature of WGS84)."""
    phi = np.radians((lat1 + lat2) / 2.0)
    w = 1.0 - _WGS_E2 * np.sin(phi) ** 2
    meridian = _WGS_A * (1.0 - _WGS_E2) / w**1.5  # metres per radian of latitude
    normal = _WGS_A / np.sqrt(w)  # times cos(phi): metres per radian of longitude
    dy = np.radians(lat2 - lat1) * meridian
    dx = np.radians(lon2 - lon1) * normal * np.cos(phi)
    return np.asarray(np.hypot(dx, dy), dtype=np.float64)


# --- the baselines --------------------------------------------------------------------------


def one_step_gcj(lon: FloatArray, lat: FloatArray) -> XY:
    """Published one-step GCJ-02 -> WGS84: subtract the shift evaluated at the GCJ-02 point."""
    fx, fy = datum.wgs84_to_gcj02(lon, lat)
    return 2.0 * lon - fx, 2.0 * lat - fy


_X_PI: Final = math.pi * 3000.0 / 180.0


def one_step_bd(lon: FloatArray, lat: FloatArray) -> XY:
    """Published one-step BD-09 -> GCJ-02, then the one-step GCJ-02 -> WGS84."""
    x = lon - 0.0065
    y = lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return one_step_gcj(z * np.cos(theta), z * np.sin(theta))


def _scalar(fn: Callable[..., Any]) -> Callable[[FloatArray, FloatArray], XY]:
    """Wrap a prcoords ``(lat, lon) -> Coords(lat, lon)`` function as a loop over arrays."""

    def convert(lon: FloatArray, lat: FloatArray) -> XY:
        out_lon = np.empty(len(lon))
        out_lat = np.empty(len(lat))
        for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
            c = fn((y, x))
            out_lat[i] = c.lat
            out_lon[i] = c.lon
        return out_lon, out_lat

    return convert


prcoords_gcj = _scalar(prcoords.gcj_wgs_bored)
prcoords_bd = _scalar(prcoords.bd_wgs_bored)


# --- measuring --------------------------------------------------------------------------------


def measure(
    inverse: Callable[[FloatArray, FloatArray], XY],
    forward: Callable[[FloatArray, FloatArray], XY],
    lon: FloatArray,
    lat: FloatArray,
    repeat: int,
) -> dict[str, float]:
    """Round-trip error (max, p99, median; metres) and points/s of ``inverse`` on the points."""
    (wx, wy), seconds = timed(lambda: inverse(lon, lat), repeat)
    bx, by = forward(np.asarray(wx), np.asarray(wy))
    err = distance_m(lon, lat, np.asarray(bx), np.asarray(by))
    return {
        "n": len(lon),
        "max_m": float(np.max(err)),
        "p99_m": float(np.quantile(err, 0.99)),
        "median_m": float(np.median(err)),
        "seconds": seconds,
        "points_per_s": len(lon) / seconds if seconds > 0 else math.inf,
    }


CASES: Final = {
    # label: (forward to make inputs and check round trips, ours, one-step, prcoords)
    "gcj02": ("GCJ-02", datum.wgs84_to_gcj02, datum.gcj02_to_wgs84, one_step_gcj, prcoords_gcj),
    "bd09": ("BD-09", datum.wgs84_to_bd09, datum.bd09_to_wgs84, one_step_bd, prcoords_bd),
}


def run(size: str) -> dict[str, Any]:
    """Measure all methods for both datums at ``size``; print the table; return the figures."""
    params = dict(SIZES[check_size(size)])
    n, n_scalar, repeat = params["n"], min(params["n_scalar"], params["n"]), params["repeat"]
    wlon, wlat = points(n)
    result: dict[str, Any] = {"benchmark": NAME, "size": size, "params": {**params, "seed": SEED}}
    rows: list[Row] = []
    for key, (label, forward, ours_fn, one_step_fn, prc_fn) in CASES.items():
        lon, lat = (np.asarray(a, dtype=np.float64) for a in forward(wlon, wlat))
        figures = {
            "ours": measure(ours_fn, forward, lon, lat, repeat),
            "one_step": measure(one_step_fn, forward, lon, lat, repeat),
            "prcoords": measure(prc_fn, forward, lon[:n_scalar], lat[:n_scalar], repeat),
        }
        result[key] = figures
        ours = figures["ours"]
        for base_key, base_name in (("one_step", "one-step inverse"), ("prcoords", "prcoords *_bored")):
            base = figures[base_key]
            pts = f"{base['n']:,} pts" if base["n"] != ours["n"] else ""
            rows += [
                Row(
                    f"{label} max round-trip error",
                    "m",
                    ours["max_m"],
                    base_name,
                    base["max_m"],
                    "lower",
                    pts,
                ),
                Row(
                    f"{label} p99 round-trip error",
                    "m",
                    ours["p99_m"],
                    base_name,
                    base["p99_m"],
                    "lower",
                    pts,
                ),
                Row(
                    f"{label} speed",
                    "pts/s",
                    ours["points_per_s"],
                    base_name,
                    base["points_per_s"],
                    "higher",
                    pts,
                ),
            ]
    result["rows"] = [r.to_dict() for r in rows]
    print_table(
        f"datum ({size}): GCJ-02/BD-09 -> WGS84, ours = grid.datum (iterative, vectorised)",
        rows,
        [
            f"ours and one-step on {n:,} random points in Beijing (seed {SEED}); prcoords (scalar "
            f"Python) on the first {n_scalar:,} of them; speeds are per point, best of {repeat}",
            "round-trip error = |forward(inverse(p)) - p| in metres, forward = grid.datum.wgs84_to_gcj02 "
            "(BD-09: wgs84_to_bd09)",
            "one-step = 2*p - forward(p) (BD-09: the published one-step BD-09 -> GCJ-02 first), numpy",
        ],
    )
    return result
