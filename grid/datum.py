"""Datums used in China and conversions between them (pure, numpy-vectorised).

Every imported coordinate must say its datum (``parse_datum``); gridgov stores WGS84
(EPSG:4326) and measures in a metric CRS (``metric_crs_for`` / ``to_metric``).

* **WGS84** (EPSG:4326) and **CGCS2000** (EPSG:4490) are treated as the same datum:
  they agree to better than a metre (CGCS2000 is ITRF97 frozen at epoch 2000.0; WGS84
  follows the ITRF at the current epoch, so the two drift apart with the plate motion of
  a few cm per year), far below the accuracy of administrative boundaries. Both are
  stored unchanged.
* **GCJ-02** (AMap/Gaode, Tencent) adds a deliberate, non-linear shift of a few hundred
  metres (500-600 m in Beijing) to WGS84; **BD-09** (Baidu) adds a further shift of about
  0.8 km to GCJ-02. pyproj cannot convert them. The forward formulas are the published
  ones (Krasovsky ``a = 6378245.0``, ``ee = 0.00669342162296594323``; BD-09 with
  ``x_pi = pi * 3000 / 180``), identical to prcoords / eviltransform / coordtransform. The
  inverses are computed by fixed-point iteration on the forward formula (the method of
  prcoords' ``*_bored`` functions), stopping at a residual of ``INVERSE_TOL_DEG``
  (1e-11 degrees, about a micrometre) instead of the one-step inverse's ~3 m.
* Outside the GCJ-02 rectangle (``in_china``) the GCJ-02 shift is not applied, exactly as
  the reference libraries do (``out_of_china``). The BD-09 step applies everywhere, as
  in those libraries. ``check_lonlat_range`` rejects GCJ-02/BD-09 data far outside China.
* Any other CRS is given as ``EPSG:n`` and converted with pyproj.

>>> parse_datum("GCJ-02")
Datum(name='gcj02', epsg=None)
>>> lon, lat = wgs84_to_gcj02(116.404, 39.915)
>>> print(f"{float(lon):.8f} {float(lat):.8f}")
116.41024450 39.91640428
>>> back = gcj02_to_wgs84(lon, lat)
>>> print(f"{float(back[0]):.8f} {float(back[1]):.8f}")
116.40400000 39.91500000
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias, cast

import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from pyproj.exceptions import CRSError

from grid.errors import CoordinateRangeError, DatumError, GeometryError, InputError

__all__ = [
    "BD09",
    "CGCS2000",
    "CHINA_BBOX",
    "GCJ02",
    "WGS84",
    "Datum",
    "DatumName",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_lonlat_range",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china",
    "metric_crs_for",
    "parse_datum",
    "to_metric",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

DatumName: TypeAlias = Literal["wgs84", "cgcs2000", "gcj02", "bd09", "epsg"]
FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
GeometryArray: TypeAlias = npt.NDArray[np.object_]
XYFunction: TypeAlias = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]

# --- constants of the published formulas -------------------------------------------------

GCJ_A: Final = 6378245.0  # Krasovsky 1940 semi-major axis (m)
GCJ_EE: Final = 0.00669342162296594323  # Krasovsky 1940 first eccentricity squared
BD_X_PI: Final = math.pi * 3000.0 / 180.0
BD_DLON: Final = 0.0065
BD_DLAT: Final = 0.006

#: The rectangle inside which the GCJ-02 shift applies: (lon_min, lat_min, lon_max, lat_max).
#: Same as prcoords' ``sanity_in_china_p`` and eviltransform's ``outOfChina``. It is a
#: rectangle, so it also covers Mongolia, Korea, parts of Japan and South-East Asia.
CHINA_BBOX: Final = (72.004, 0.8293, 137.8347, 55.8271)

#: ``check_lonlat_range`` tolerates GCJ-02/BD-09 points this far (degrees) outside CHINA_BBOX.
CHINA_MARGIN_DEG: Final = 0.5

INVERSE_TOL_DEG: Final = 1e-11  # stop iterating when |forward(x) - target| <= this
INVERSE_ACCEPT_DEG: Final = 1e-8  # worse than this after INVERSE_MAX_ITER -> DatumError
INVERSE_MAX_ITER: int = 25  # cap; the iteration usually converges in 3-5 steps

#: Values beyond this (in absolute value) cannot be degrees: they look like metres.
METRES_THRESHOLD: Final = 1000.0

# CGCS2000 / 3-degree Gauss-Kruger CM 75E .. CM 135E are EPSG:4534 .. EPSG:4554
# (checked against pyproj.CRS(n).name in tests/test_datum.py).
_GK_CM_FIRST_EPSG: Final = 4534
_GK_CM_FIRST: Final = 75
_GK_CM_LAST: Final = 135
_GK_LON_RANGE: Final = (73.5, 136.5)
_GK_LAT_RANGE: Final = (0.0, 56.0)


# --- datums ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Datum:
    """A declared datum: one of the four named ones, or any pyproj-known ``EPSG:n``.

    ``epsg`` is 4326 for wgs84, 4490 for cgcs2000, ``None`` for gcj02/bd09 (they have no
    EPSG code) and the code for ``name == "epsg"``.
    """

    name: DatumName
    epsg: int | None = None

    def __post_init__(self) -> None:
        if self.name not in ("wgs84", "cgcs2000", "gcj02", "bd09", "epsg"):
            raise DatumError(f"unknown datum name {self.name!r}")
        if self.name == "epsg" and self.epsg is None:
            raise DatumError("an 'epsg' datum needs an EPSG code")

    @property
    def is_shifted(self) -> bool:
        """True for the Chinese obfuscated datums GCJ-02 and BD-09."""
        return self.name in ("gcj02", "bd09")

    def __str__(self) -> str:
        return f"EPSG:{self.epsg}" if self.name == "epsg" else self.name


WGS84: Final = Datum("wgs84", 4326)
CGCS2000: Final = Datum("cgcs2000", 4490)
GCJ02: Final = Datum("gcj02")
BD09: Final = Datum("bd09")

_ALIASES: Final[dict[str, Datum]] = {"wgs84": WGS84, "cgcs2000": CGCS2000, "gcj02": GCJ02, "bd09": BD09}
_ACCEPTED: Final = (
    "wgs84 (WGS-84, EPSG:4326), cgcs2000 (EPSG:4490), gcj02 (GCJ-02), bd09 (BD-09), "
    "or EPSG:n for any CRS known to pyproj (e.g. EPSG:4548)"
)
_EPSG_RE: Final = re.compile(r"epsg\s*:\s*(\d{1,6})")


def parse_datum(text: str) -> Datum:
    """Parse a datum name as given on the command line or in an import manifest.

    Parameters
    ----------
    text : str
        Case-insensitive. ``wgs84``/``WGS-84``/``EPSG:4326``, ``cgcs2000``/``EPSG:4490``,
        ``gcj02``/``GCJ-02``, ``bd09``/``BD-09`` (hyphens, underscores and spaces inside the
        name are ignored), or ``EPSG:n`` for any geographic or projected CRS pyproj knows.

    Returns
    -------
    Datum

    Raises
    ------
    DatumError
        For anything else; the message lists what is accepted.

    Examples
    --------
    >>> parse_datum("EPSG:4326")
    Datum(name='wgs84', epsg=4326)
    >>> parse_datum("epsg:4548")
    Datum(name='epsg', epsg=4548)
    """
    if not isinstance(text, str):
        raise DatumError(f"datum must be text, got {type(text).__name__}; accepted: {_ACCEPTED}")
    low = text.strip().lower()
    m = _EPSG_RE.fullmatch(low)
    if m is not None:
        code = int(m.group(1))
        if code == 4326:
            return WGS84
        if code == 4490:
            return CGCS2000
        _crs_for_epsg(code)  # raises DatumError when unknown or not horizontal
        return Datum("epsg", code)
    key = re.sub(r"[\s_\-]", "", low)
    if key in _ALIASES:
        return _ALIASES[key]
    raise DatumError(
        f"unknown datum {text!r}; accepted: {_ACCEPTED}",
        details={"given": text, "accepted": ["wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:n"]},
    )


@functools.lru_cache(maxsize=256)
def _crs_for_epsg(code: int) -> pyproj.CRS:
    try:
        crs = pyproj.CRS.from_epsg(code)
    except CRSError as exc:
        raise DatumError(f"EPSG:{code} is not a CRS known to pyproj; accepted: {_ACCEPTED}") from exc
    if not (crs.is_geographic or crs.is_projected):
        raise DatumError(f"EPSG:{code} ({crs.name}) is a {crs.type_name}, not a geographic or projected CRS")
    return crs


def _as_crs(value: Any) -> pyproj.CRS:
    if isinstance(value, pyproj.CRS):
        return value
    try:
        return pyproj.CRS.from_user_input(value)
    except CRSError as exc:
        raise DatumError(f"cannot read the source CRS {value!r}: {exc}") from exc


def _crs_label(crs: pyproj.CRS) -> str:
    code = crs.to_epsg(min_confidence=70)
    return f"{crs.name} (EPSG:{code})" if code is not None else repr(crs.name)


def _is_wgs84_like(crs: pyproj.CRS) -> bool:
    """True when ``crs``'s geodetic datum equals WGS84 at metre level (WGS84, CGCS2000, GRS80).

    Also requires a Greenwich prime meridian and, for geographic CRS, degrees.
    """
    geodetic = crs.geodetic_crs
    if geodetic is None or geodetic.ellipsoid is None:
        return False
    ell = geodetic.ellipsoid
    if abs(ell.semi_major_metre - 6378137.0) > 0.5 or abs(ell.inverse_flattening - 298.2572) > 1e-3:
        return False
    if geodetic.prime_meridian is None or abs(geodetic.prime_meridian.longitude) > 1e-9:
        return False
    if crs.is_geographic:
        return all(abs(ax.unit_conversion_factor - math.pi / 180.0) < 1e-12 for ax in crs.axis_info[:2])
    return True


def _same_crs(src: pyproj.CRS, code: int) -> bool:
    declared = _crs_for_epsg(code)
    return src.to_epsg(min_confidence=70) == code or src.equals(declared, ignore_axis_order=True)


# --- GCJ-02 / BD-09 formulas --------------------------------------------------------------


def _as_xy(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Broadcast ``lon``/``lat`` to two float64 arrays of one shape (fresh copies)."""
    try:
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        bx, by = np.broadcast_arrays(x, y)
    except (TypeError, ValueError) as exc:
        raise InputError(f"coordinates must be numbers or numeric arrays of one shape: {exc}") from exc
    return np.array(bx, dtype=np.float64), np.array(by, dtype=np.float64)


def in_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray:
    """Whether points lie in the GCJ-02 rectangle, where the GCJ-02 shift applies.

    The rectangle is ``CHINA_BBOX`` (the reference libraries' ``out_of_china`` test, bounds
    inclusive). NaN gives False.

    Parameters
    ----------
    lon, lat : array_like
        Longitudes and latitudes in degrees (scalars or broadcastable arrays).

    Returns
    -------
    numpy.ndarray of bool
        Same shape as the broadcast inputs (0-d for scalars).

    Examples
    --------
    >>> in_china([116.4, 139.7], [39.9, 35.7]).tolist()
    [True, False]
    """
    x, y = _as_xy(lon, lat)
    lon_min, lat_min, lon_max, lat_max = CHINA_BBOX
    return cast(BoolArray, (x >= lon_min) & (x <= lon_max) & (y >= lat_min) & (y <= lat_max))


def _near_china(x: FloatArray, y: FloatArray, margin: float = CHINA_MARGIN_DEG) -> BoolArray:
    lon_min, lat_min, lon_max, lat_max = CHINA_BBOX
    return cast(
        BoolArray,
        (x >= lon_min - margin) & (x <= lon_max + margin) & (y >= lat_min - margin) & (y <= lat_max + margin),
    )


def _gcj_offset(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 minus WGS84 in degrees at WGS84 (x=lon, y=lat), without the China test."""
    with np.errstate(all="ignore"):
        dx = x - 105.0
        dy = y - 35.0
        sqrt_abs_dx = np.sqrt(np.abs(dx))
        common = (20.0 * np.sin(6.0 * dx * np.pi) + 20.0 * np.sin(2.0 * dx * np.pi)) * 2.0 / 3.0
        dlat_m = (
            -100.0
            + 2.0 * dx
            + 3.0 * dy
            + 0.2 * dy * dy
            + 0.1 * dx * dy
            + 0.2 * sqrt_abs_dx
            + common
            + (20.0 * np.sin(dy * np.pi) + 40.0 * np.sin(dy / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(dy / 12.0 * np.pi) + 320.0 * np.sin(dy * np.pi / 30.0)) * 2.0 / 3.0
        )
        dlon_m = (
            300.0
            + dx
            + 2.0 * dy
            + 0.1 * dx * dx
            + 0.1 * dx * dy
            + 0.1 * sqrt_abs_dx
            + common
            + (20.0 * np.sin(dx * np.pi) + 40.0 * np.sin(dx / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(dx / 12.0 * np.pi) + 300.0 * np.sin(dx / 30.0 * np.pi)) * 2.0 / 3.0
        )
        rad_lat = y / 180.0 * np.pi
        magic = 1.0 - GCJ_EE * np.sin(rad_lat) ** 2
        sqrt_magic = np.sqrt(magic)
        dlat = (dlat_m * 180.0) / ((GCJ_A * (1.0 - GCJ_EE)) / (magic * sqrt_magic) * np.pi)
        dlon = (dlon_m * 180.0) / (GCJ_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def _wgs_to_gcj_unchecked(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj_offset(x, y)
    return x + dlon, y + dlat


def _gcj_to_bd(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    with np.errstate(all="ignore"):
        z = np.hypot(x, y) + 0.00002 * np.sin(y * BD_X_PI)
        theta = np.arctan2(y, x) + 0.000003 * np.cos(x * BD_X_PI)
        return z * np.cos(theta) + BD_DLON, z * np.sin(theta) + BD_DLAT


def _bd_to_gcj_one_step(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The published approximate BD-09 -> GCJ-02 (about 1e-7 degrees off)."""
    with np.errstate(all="ignore"):
        xx = x - BD_DLON
        yy = y - BD_DLAT
        z = np.hypot(xx, yy) - 0.00002 * np.sin(yy * BD_X_PI)
        theta = np.arctan2(yy, xx) - 0.000003 * np.cos(xx * BD_X_PI)
        return z * np.cos(theta), z * np.sin(theta)


def _invert(forward: XYFunction, tx: FloatArray, ty: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Solve ``forward(x, y) == (tx, ty)`` by fixed-point iteration (1-d float arrays).

    Starts from the one-step inverse ``t - (forward(t) - t)`` and repeats
    ``x -= forward(x) - t`` for the points not yet converged. The forward shifts change
    slowly (their derivative is ~1e-3), so every step gains 2-3 digits.
    """
    fx, fy = forward(tx, ty)
    x = 2.0 * tx - fx
    y = 2.0 * ty - fy
    todo = np.flatnonzero(np.isfinite(tx) & np.isfinite(ty))
    for _ in range(INVERSE_MAX_ITER):
        if todo.size == 0:
            break
        fx, fy = forward(x[todo], y[todo])
        ex = fx - tx[todo]
        ey = fy - ty[todo]
        x[todo] -= ex
        y[todo] -= ey
        todo = todo[np.maximum(np.abs(ex), np.abs(ey)) > INVERSE_TOL_DEG]
    if todo.size:
        fx, fy = forward(x[todo], y[todo])
        err = np.maximum(np.abs(fx - tx[todo]), np.abs(fy - ty[todo]))
        worst = int(np.argmax(err))
        if not err[worst] <= INVERSE_ACCEPT_DEG:
            i = int(todo[worst])
            raise DatumError(
                f"inverse datum shift did not converge for {int(np.sum(~(err <= INVERSE_ACCEPT_DEG)))} "
                f"point(s) after {INVERSE_MAX_ITER} iterations; first: lon={_fmt(float(tx[i]))}, "
                f"lat={_fmt(float(ty[i]))} (residual {float(err[worst]):.3g} degrees)",
                code="datum_inverse_not_converged",
            )
    return x, y


def _shape_like(shape: tuple[int, ...], x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    return x.reshape(shape), y.reshape(shape)


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS84 -> GCJ-02 (the published forward formula; unshifted outside ``in_china``).

    Parameters
    ----------
    lon, lat : array_like
        WGS84 degrees; scalars or broadcastable arrays.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
        float64 arrays of the broadcast shape (0-d arrays for scalar input).

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02([116.377817, 139.7], [39.911954, 35.7])
    >>> [round(v, 8) for v in lon.tolist()], [round(v, 8) for v in lat.tolist()]
    ([116.38404722, 139.7], [39.91334546, 35.7])
    """
    x, y = _as_xy(lon, lat)
    shape = x.shape
    x, y = x.ravel(), y.ravel()
    inside = in_china(x, y)
    gx, gy = _wgs_to_gcj_unchecked(x, y)
    return _shape_like(shape, np.where(inside, gx, x), np.where(inside, gy, y))


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 -> WGS84 by iterating the forward formula to ``INVERSE_TOL_DEG``.

    Points whose GCJ-02 coordinates are outside ``in_china`` are returned unchanged (as
    the reference libraries do). Non-finite values pass through unchanged.

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 degrees; scalars or broadcastable arrays.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray

    Raises
    ------
    DatumError
        ``code="datum_inverse_not_converged"`` if the iteration ever failed to reach
        ``INVERSE_ACCEPT_DEG`` (never observed for finite input).
    """
    x, y = _as_xy(lon, lat)
    shape = x.shape
    x, y = x.ravel(), y.ravel()
    inside = np.flatnonzero(in_china(x, y))
    if inside.size:
        wx, wy = _invert(_wgs_to_gcj_unchecked, x[inside], y[inside])
        x[inside] = wx
        y[inside] = wy
    return _shape_like(shape, x, y)


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 -> BD-09 (the published formula, applied everywhere).

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 degrees.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
    """
    x, y = _as_xy(lon, lat)
    return _gcj_to_bd(x, y)


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """BD-09 -> GCJ-02 by iterating ``gcj02_to_bd09`` to ``INVERSE_TOL_DEG``.

    The published one-step inverse is used as the starting point only (it is ~1e-7
    degrees, about 1 cm, off).

    Parameters
    ----------
    lon, lat : array_like
        BD-09 degrees.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
    """
    x, y = _as_xy(lon, lat)
    shape = x.shape
    x, y = x.ravel(), y.ravel()
    gx, gy = _invert(_gcj_to_bd, x, y)
    return _shape_like(shape, gx, gy)


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS84 -> BD-09: ``gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))``.

    Parameters
    ----------
    lon, lat : array_like
        WGS84 degrees.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """BD-09 -> WGS84: ``gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))``, both iterative.

    Parameters
    ----------
    lon, lat : array_like
        BD-09 degrees.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84: Final[dict[str, XYFunction]] = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84: Final[dict[str, XYFunction]] = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


# --- range checks --------------------------------------------------------------------------


def _fmt(v: float) -> str:
    return f"{v:.10g}"


def _likely_causes(x: FloatArray, y: FloatArray, *, shifted: bool, datum_name: str) -> list[str]:
    """Reasons for the bad points ``x``/``y`` (already known to be bad), most specific first."""
    causes: list[str] = []
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.all():
        causes.append("missing (NaN) or infinite coordinates: a failed geocode or reprojection?")
    fx, fy = x[finite], y[finite]
    metres = np.maximum(np.abs(fx), np.abs(fy)) > METRES_THRESHOLD
    if metres.any():
        causes.append(
            "looks like projected metres, not degrees: give --datum EPSG:n "
            "(e.g. EPSG:4548 = CGCS2000 / 3-degree Gauss-Kruger CM 117E) or the file's .prj"
        )
    deg = ~metres
    swapped_ok = (np.abs(fy) <= 180.0) & (np.abs(fx) <= 90.0)
    if shifted:
        swapped_ok &= _near_china(fy, fx)
    else:
        swapped_ok &= np.abs(fy) > 90.0
    if (deg & swapped_ok).any():
        causes.append("latitude/longitude swapped? x must be the longitude, y the latitude")
    lon360 = (fx > 180.0) & (fx <= 360.0) & (np.abs(fy) <= 90.0)
    if (deg & lon360 & ~swapped_ok).any():
        causes.append("longitudes in the 0-360 convention? subtract 360 from those above 180")
    if shifted:
        valid = (np.abs(fx) <= 180.0) & (np.abs(fy) <= 90.0) & ~swapped_ok
        if valid.any():
            lon_min, lat_min, lon_max, lat_max = CHINA_BBOX
            causes.append(
                f"{datum_name} exists only in China (lon {lon_min}..{lon_max}, lat {lat_min}..{lat_max}): "
                "points elsewhere are not in this datum - wrong --datum (wgs84?)"
            )
    if not causes:
        causes.append("longitude must be within [-180, 180] and latitude within [-90, 90] degrees")
    return causes


def check_lonlat_range(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    datum_name: str,
    context: str | None = None,
    feature_index: npt.ArrayLike | None = None,
) -> None:
    """Raise ``CoordinateRangeError`` unless all points are plausible degrees for the datum.

    A point is bad when it is not finite, ``|lon| > 180`` or ``|lat| > 90``; for ``gcj02``
    and ``bd09`` also when it is more than ``CHINA_MARGIN_DEG`` outside ``CHINA_BBOX``
    (those datums exist only in China).

    Parameters
    ----------
    lon, lat : array_like
        Coordinates in degrees (broadcastable).
    datum_name : str
        Datum the coordinates are in (``"wgs84"``, ``"gcj02"``, ``"EPSG:4214"``...), used
        for the China test and in the message.
    context : str, optional
        Appended to the message, e.g. ``"after converting from EPSG:4548"``.
    feature_index : array_like of int, optional
        For each point, the index of the feature it belongs to (as returned by
        ``shapely.get_coordinates(..., return_index=True)``); reported for the first bad one.

    Raises
    ------
    CoordinateRangeError
        The message says how many points are bad, the first one and the likely cause
        (projected metres, swapped axes, 0-360 longitudes, outside China, NaN);
        ``details`` carries the same as data.

    Examples
    --------
    >>> check_lonlat_range([116.4], [39.9], datum_name="gcj02")
    >>> check_lonlat_range([39.9], [116.4], datum_name="wgs84")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    grid.errors.CoordinateRangeError: 1 of 1 points out of range for wgs84; ... swapped? ...
    """
    x, y = _as_xy(lon, lat)
    x, y = x.ravel(), y.ravel()
    shifted = datum_name.strip().lower() in ("gcj02", "bd09")
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(x) & np.isfinite(y)) | (np.abs(x) > 180.0) | (np.abs(y) > 90.0)
        if shifted:
            bad |= ~_near_china(x, y)
    n_bad = int(np.count_nonzero(bad))
    if n_bad == 0:
        return
    first = int(np.argmax(bad))
    causes = _likely_causes(x[bad], y[bad], shifted=shifted, datum_name=datum_name)
    feature: int | None = None
    where = f"#{first}"
    if feature_index is not None:
        feature = int(np.asarray(feature_index).ravel()[first])
        where = f"#{first} (feature #{feature})"
    ctx = f" ({context})" if context else ""
    message = (
        f"{n_bad} of {x.size} points out of range for {datum_name}{ctx}; first bad point {where}: "
        f"lon={_fmt(float(x[first]))}, lat={_fmt(float(y[first]))}; likely cause: {'; '.join(causes)}"
    )
    raise CoordinateRangeError(
        message,
        details={
            "datum": datum_name,
            "bad_points": n_bad,
            "total_points": int(x.size),
            "first_index": first,
            "first_feature": feature,
            "first_point": [float(x[first]), float(y[first])],
            "causes": causes,
        },
    )


# --- geometries ----------------------------------------------------------------------------


def _as_geometry_array(geoms: Any) -> GeometryArray:
    values = getattr(geoms, "values", geoms)  # GeoSeries -> GeometryArray
    arr = np.array(values, dtype=object)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    ok = shapely.is_geometry(arr) | shapely.is_missing(arr)
    if not ok.all():
        i = int(np.argmin(ok))
        raise GeometryError(f"element #{i} is not a geometry: {type(arr.flat[i]).__name__}")
    return cast(GeometryArray, arr)


def _transform_xy(arr: GeometryArray, fn: XYFunction) -> GeometryArray:
    """Apply ``fn(x, y)`` to every vertex of every geometry in one call; keeps Z."""
    include_z = bool(np.any(shapely.has_z(arr)))

    def apply(coords: FloatArray) -> FloatArray:
        out = np.array(coords, dtype=np.float64)
        if len(out):
            nx, ny = fn(out[:, 0], out[:, 1])
            out[:, 0] = nx
            out[:, 1] = ny
        return out

    return cast(GeometryArray, shapely.transform(arr, apply, include_z=include_z))


_TRANSFORMERS = threading.local()


def _transformer(src: str, dst: str) -> pyproj.Transformer:
    """Cached ``always_xy`` transformer between two CRS given as user input (WKT or EPSG:n).

    Cached per thread: a Transformer used from a thread other than its maker's re-creates its PROJ
    context on every call (measured: ~47 ms a call in the API's thread pool).
    """
    cache = _TRANSFORMERS.__dict__.setdefault("by_pair", {})
    t = cache.get((src, dst))
    if t is None:
        t = cache[(src, dst)] = pyproj.Transformer.from_crs(
            pyproj.CRS.from_user_input(src), pyproj.CRS.from_user_input(dst), always_xy=True
        )
    return t


def _crs_key(crs: pyproj.CRS) -> str:
    code = crs.to_epsg(min_confidence=100)
    return f"EPSG:{code}" if code is not None else crs.to_wkt()


def _reproject(arr: GeometryArray, src: pyproj.CRS, dst: pyproj.CRS) -> GeometryArray:
    transformer = _transformer(_crs_key(src), _crs_key(dst))

    def fn(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        tx, ty = transformer.transform(x, y)
        return np.asarray(tx, dtype=np.float64), np.asarray(ty, dtype=np.float64)

    return _transform_xy(arr, fn)


def _check_input_units(arr: GeometryArray, src: pyproj.CRS, label: str) -> None:
    """Before reprojecting from ``src``: degrees for geographic CRS, not degrees for projected."""
    coords, index = shapely.get_coordinates(arr, return_index=True)
    if not len(coords):
        return
    x, y = coords[:, 0], coords[:, 1]
    if src.is_geographic:
        check_lonlat_range(x, y, datum_name=label, feature_index=index)
        return
    with np.errstate(invalid="ignore"):
        looks_like_degrees = bool(np.all((np.abs(x) <= 180.0) & (np.abs(y) <= 90.0)))
    if looks_like_degrees:
        raise DatumError(
            f"the coordinates look like longitude/latitude degrees (first: lon={_fmt(float(x[0]))}, "
            f"lat={_fmt(float(y[0]))}) but the CRS {label} is projected (metres): "
            "is the datum or the .prj wrong? give --datum wgs84 (or gcj02/bd09)",
            details={"crs": label, "first_point": [float(x[0]), float(y[0])]},
        )


def _check_result(arr: GeometryArray, *, datum_name: str, context: str | None) -> None:
    coords, index = shapely.get_coordinates(arr, return_index=True)
    if len(coords):
        check_lonlat_range(
            coords[:, 0], coords[:, 1], datum_name=datum_name, context=context, feature_index=index
        )


def to_wgs84(geoms: Any, datum: Datum, source_crs: Any = None) -> GeometryArray:
    """Convert geometries in the declared ``datum`` to WGS84 lon/lat.

    Parameters
    ----------
    geoms : GeoSeries or array_like of shapely geometries
        ``None``/missing entries are kept.
    datum : Datum
        The declared datum (``parse_datum``).
    source_crs : pyproj.CRS, str or int, optional
        The CRS the file itself says (e.g. read from its ``.prj``). Defaults to
        ``geoms.crs`` when ``geoms`` is a GeoSeries.

    Returns
    -------
    numpy.ndarray of shapely geometries
        WGS84 longitude/latitude (Z kept when present).

    Raises
    ------
    DatumError
        The file's CRS contradicts the declared datum (an ``EPSG:n`` other than the file's,
        a projected CRS for gcj02/bd09, a geographic CRS on another ellipsoid for
        wgs84/cgcs2000), or degrees are given in a projected CRS.
    CoordinateRangeError
        Input (lon/lat datums) or result out of range; see ``check_lonlat_range``.

    Notes
    -----
    * ``wgs84``/``cgcs2000``: unchanged when ``source_crs`` is ``None`` or a geographic
      CRS on the WGS84/GRS80/CGCS2000 ellipsoid (CGCS2000 equals WGS84 at centimetre to
      metre level); reprojected with pyproj when ``source_crs`` is projected (e.g. a
      ``.prj`` saying EPSG:4548).
    * ``epsg``: reprojected with pyproj from that EPSG.
    * ``gcj02``/``bd09``: must be lon/lat; every vertex goes through the iterative
      inverse (``gcj02_to_wgs84`` / ``bd09_to_wgs84``) in one vectorised call.
    """
    arr = _as_geometry_array(geoms)
    if source_crs is None:
        source_crs = getattr(geoms, "crs", None)
    src = _as_crs(source_crs) if source_crs is not None else None
    context: str | None = f"after converting from {datum}"
    result_datum = "wgs84"

    if datum.is_shifted:
        if src is not None and not src.is_geographic:
            raise DatumError(
                f"{datum} coordinates are longitude/latitude degrees, but the file's CRS is "
                f"{_crs_label(src)}, which is {src.type_name}: declare --datum EPSG:n instead",
                details={"datum": str(datum), "source_crs": _crs_label(src)},
            )
        coords, index = shapely.get_coordinates(arr, return_index=True)
        if len(coords):
            check_lonlat_range(coords[:, 0], coords[:, 1], datum_name=datum.name, feature_index=index)
        out = _transform_xy(arr, _TO_WGS84[datum.name])
    elif datum.name == "epsg":
        assert datum.epsg is not None  # guaranteed by Datum.__post_init__
        declared = _crs_for_epsg(datum.epsg)
        if src is not None and not _same_crs(src, datum.epsg):
            raise DatumError(
                f"declared datum EPSG:{datum.epsg} ({declared.name}) disagrees with the file's CRS "
                f"{_crs_label(src)}; fix the --datum or the .prj",
                details={"declared": f"EPSG:{datum.epsg}", "source_crs": _crs_label(src)},
            )
        _check_input_units(arr, declared, str(datum))
        out = _reproject(arr, declared, _crs_for_epsg(4326))
    elif src is None or (src.is_geographic and _is_wgs84_like(src)):
        out = arr.copy()
        context, result_datum = None, datum.name
    elif src.is_projected and _is_wgs84_like(src):
        _check_input_units(arr, src, _crs_label(src))
        out = _reproject(arr, src, _crs_for_epsg(4326))
    else:
        raise DatumError(
            f"declared datum {datum} disagrees with the file's CRS {_crs_label(src)}, which is not "
            "on the WGS84/CGCS2000 ellipsoid: give --datum EPSG:n for that CRS",
            details={"declared": str(datum), "source_crs": _crs_label(src)},
        )
    _check_result(out, datum_name=result_datum, context=context)
    return out


def from_wgs84(geoms: Any, datum_name: str | Datum) -> GeometryArray:
    """Convert WGS84 geometries to ``datum_name`` for display (e.g. on AMap tiles: gcj02).

    Parameters
    ----------
    geoms : GeoSeries or array_like of shapely geometries
        WGS84 longitude/latitude.
    datum_name : str or Datum
        Anything ``parse_datum`` accepts. wgs84/cgcs2000 return copies; gcj02/bd09 apply
        the forward formulas; ``EPSG:n`` reprojects with pyproj.

    Returns
    -------
    numpy.ndarray of shapely geometries
    """
    datum = datum_name if isinstance(datum_name, Datum) else parse_datum(datum_name)
    arr = _as_geometry_array(geoms)
    coords, index = shapely.get_coordinates(arr, return_index=True)
    if len(coords):
        check_lonlat_range(coords[:, 0], coords[:, 1], datum_name="wgs84", feature_index=index)
    if datum.is_shifted:
        return _transform_xy(arr, _FROM_WGS84[datum.name])
    if datum.name == "epsg":
        assert datum.epsg is not None
        return _reproject(arr, _crs_for_epsg(4326), _crs_for_epsg(datum.epsg))
    return arr.copy()


# --- metric CRS ----------------------------------------------------------------------------


def metric_crs_for(lon: float, lat: float | None = None) -> int:
    """EPSG code of a metric CRS suited to measuring near ``lon`` (and ``lat``).

    Inside 73.5-136.5 degrees E (and, when ``lat`` is given, 0-56 degrees N): the
    "CGCS2000 / 3-degree Gauss-Kruger CM nnE" zone whose central meridian is nearest,
    EPSG:4534 (CM 75E) ... EPSG:4554 (CM 135E); a longitude exactly between two central
    meridians goes to the eastern one. Elsewhere: WGS 84 / UTM, EPSG:326zz (north,
    also when ``lat`` is None) or EPSG:327zz (south).

    Parameters
    ----------
    lon : float
        Longitude in degrees (WGS84/CGCS2000).
    lat : float, optional
        Latitude in degrees.

    Returns
    -------
    int

    Raises
    ------
    CoordinateRangeError
        ``lon``/``lat`` not finite or out of range.

    Examples
    --------
    >>> metric_crs_for(116.4, 39.9)  # Beijing: CGCS2000 / 3-degree Gauss-Kruger CM 117E
    4548
    >>> metric_crs_for(2.35, 48.85)  # Paris: WGS 84 / UTM zone 31N
    32631
    """
    lon = float(lon)
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise CoordinateRangeError(f"longitude {lon!r} is not within [-180, 180]")
    if lat is not None:
        lat = float(lat)
        if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
            raise CoordinateRangeError(f"latitude {lat!r} is not within [-90, 90]")
    in_gk_lat = lat is None or _GK_LAT_RANGE[0] <= lat <= _GK_LAT_RANGE[1]
    if _GK_LON_RANGE[0] <= lon <= _GK_LON_RANGE[1] and in_gk_lat:
        cm = 3 * math.floor((lon + 1.5) / 3.0)
        cm = min(max(cm, _GK_CM_FIRST), _GK_CM_LAST)
        return _GK_CM_FIRST_EPSG + (cm - _GK_CM_FIRST) // 3
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return (32700 if lat is not None and lat < 0 else 32600) + zone


def to_metric(geoms_wgs84: Any, epsg: int) -> GeometryArray:
    """Project WGS84 lon/lat geometries to the projected CRS ``EPSG:epsg``.

    Uses a cached ``pyproj.Transformer`` (``always_xy=True``); one call for all vertices.

    Parameters
    ----------
    geoms_wgs84 : GeoSeries or array_like of shapely geometries
        WGS84 longitude/latitude.
    epsg : int
        A projected CRS, e.g. from ``metric_crs_for``.

    Returns
    -------
    numpy.ndarray of shapely geometries
        In the CRS's units (metres for the CRS ``metric_crs_for`` returns).

    Raises
    ------
    DatumError
        ``epsg`` unknown or not projected.
    CoordinateRangeError
        Input out of range, or points pyproj could not project.
    """
    crs = _crs_for_epsg(int(epsg))
    if not crs.is_projected:
        raise DatumError(f"EPSG:{epsg} ({crs.name}) is not a projected (metric) CRS")
    arr = _as_geometry_array(geoms_wgs84)
    coords, index = shapely.get_coordinates(arr, return_index=True)
    if len(coords):
        check_lonlat_range(coords[:, 0], coords[:, 1], datum_name="wgs84", feature_index=index)
    out = _reproject(arr, _crs_for_epsg(4326), crs)
    projected = shapely.get_coordinates(out)
    finite = np.isfinite(projected).all(axis=1)
    if not finite.all():
        first = int(np.argmin(finite))
        raise CoordinateRangeError(
            f"{int(np.count_nonzero(~finite))} of {len(finite)} points cannot be projected to "
            f"EPSG:{epsg} ({crs.name}); first: lon={_fmt(float(coords[first, 0]))}, "
            f"lat={_fmt(float(coords[first, 1]))}: outside the projection's domain?",
            details={"epsg": int(epsg), "first_index": first},
        )
    return out


# --- which datum do points look like? (bulk assignment's check; pure) -------------------------

DATUM_READINGS: Final = ("wgs84", "gcj02", "bd09")
SHIFT_FACTOR: Final = 3.0  # another reading must bring the points this many times closer to buildings
SHIFT_MIN_GAIN_M: Final = 50.0  # ... and at least this many metres closer (GCJ-02 moves 300-700 m)
SHIFT_MIN_SHARE_GAIN: Final = 0.05  # without buildings: this much larger share inside the layer
SHIFT_MIN_POINTS: Final = 20


def looks_projected(x: npt.ArrayLike, y: npt.ArrayLike) -> bool:
    """True when most finite points are no longitude/latitude (``|x| > 180`` or ``|y| > 90``)."""
    fx, fy = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(fx) & np.isfinite(fy)
    if not ok.any():
        return False
    out = (np.abs(fx[ok]) > 180.0) | (np.abs(fy[ok]) > 90.0)
    return bool(out.mean() > 0.5)


def projected_hint(x: npt.ArrayLike, y: npt.ArrayLike) -> str:
    """One message for coordinates that look like projected metres declared as degrees."""
    fx, fy = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(fx) & np.isfinite(fy) & ((np.abs(fx) > 180.0) | (np.abs(fy) > 90.0))
    mx, my = (float(np.median(fx[ok])), float(np.median(fy[ok]))) if ok.any() else (math.nan, math.nan)
    # CGCS2000 3-degree Gauss-Kruger: northing 2e6..6e6 m, easting ~500 km (or with a zone prefix 25..45)
    china_gk = 2.0e6 <= my <= 6.0e6 and (1e5 <= mx <= 9e5 or 25.5e6 <= mx <= 45.9e6)
    if china_gk:
        what = (
            "--datum EPSG:4548 (CGCS2000 / 3-degree Gauss-Kruger CM 117E, e.g. Beijing) or EPSG:4547 "
            "(CM 114E): the zone of the data's central meridian"
        )
    else:
        what = "--datum EPSG:n with the file's projected CRS (its .prj, metadata or publisher says which)"
    return (
        f"most coordinates are not longitude/latitude (median x={mx:.0f}, y={my:.0f}): they look like "
        f"projected metres (or feet) declared as degrees; give {what}"
    )


def datum_readings(
    lon: npt.ArrayLike, lat: npt.ArrayLike, declared: str
) -> dict[str, tuple[FloatArray, FloatArray]]:
    """WGS84 positions of the same numbers read as ``declared`` and as each of wgs84/gcj02/bd09.

    ``declared`` must be one of :data:`DATUM_READINGS` or ``cgcs2000`` (read as wgs84). Points
    outside China stay NaN in the shifted readings.
    """
    x, y = _as_xy(lon, lat)
    dec = "wgs84" if declared == "cgcs2000" else declared
    if dec not in DATUM_READINGS:
        raise DatumError(f"no alternative readings for datum {declared!r}")
    china = in_china(x, y) & np.isfinite(x) & np.isfinite(y)
    out: dict[str, tuple[FloatArray, FloatArray]] = {}
    for name in DATUM_READINGS:
        if name == "wgs84":
            out[name] = (x.copy(), y.copy())
            continue
        rx, ry = np.full_like(x, np.nan), np.full_like(y, np.nan)
        if china.any():
            fn = gcj02_to_wgs84 if name == "gcj02" else bd09_to_wgs84
            rx[china], ry[china] = fn(x[china], y[china])
        out[name] = (rx, ry)
    return out


def _median_nearest_m(x: FloatArray, y: FloatArray, ref_x: FloatArray, ref_y: FloatArray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any() or len(ref_x) == 0:
        return math.nan
    tree = shapely.STRtree(shapely.points(ref_x, ref_y))
    pts = shapely.points(x[ok], y[ok])
    _, j = tree.query_nearest(pts, return_distance=False, all_matches=False)
    # local equirectangular metres (enough to compare readings a few hundred metres apart)
    lat0 = np.radians(y[ok])
    dx = (ref_x[j] - x[ok]) * 111_320.0 * np.cos(lat0)
    dy = (ref_y[j] - y[ok]) * 110_574.0
    return float(np.median(np.hypot(dx, dy)))


@dataclass(frozen=True)
class DatumSuggestion:
    """Another reading of the points fits the store clearly better than the declared one."""

    declared: str
    likely: str
    signal: str  # "buildings" | "inside_layer"
    scores: dict[str, float]  # per reading: median metres to the nearest building, or share inside
    points: int
    message: str


def suggest_datum(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    declared: str,
    *,
    reference: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    inside: Callable[[FloatArray, FloatArray], npt.NDArray[np.bool_]] | None = None,
    factor: float = SHIFT_FACTOR,
    min_gain_m: float = SHIFT_MIN_GAIN_M,
    min_share_gain: float = SHIFT_MIN_SHARE_GAIN,
    sample: int = 2000,
    seed: int = 0,
) -> DatumSuggestion | None:
    """Does another datum explain the points clearly better than ``declared``? Never converts.

    The points (in China only: elsewhere the shifted datums do not exist) are read as declared,
    as GCJ-02 and as BD-09. With ``reference`` points (WGS84 buildings or gazetteer places), the
    signal is the median distance from a sample of points to the nearest reference point: another
    reading wins when its median is ``factor`` times smaller and ``min_gain_m`` metres smaller.
    Without reference points, ``inside(x, y)`` (the layer's coverage) is the signal: another
    reading wins when its share of points inside is ``min_share_gain`` larger. ``None`` when the
    declared reading is (about) the best, or when fewer than ``SHIFT_MIN_POINTS`` points are in China.
    """
    x, y = _as_xy(lon, lat)
    dec = "wgs84" if declared == "cgcs2000" else declared
    if dec not in DATUM_READINGS:
        return None
    ok = np.isfinite(x) & np.isfinite(y)
    ok[ok] = in_china(x[ok], y[ok])
    idx = np.flatnonzero(ok)
    if len(idx) < SHIFT_MIN_POINTS:
        return None
    if len(idx) > sample:
        idx = np.sort(np.random.default_rng(seed).choice(idx, sample, replace=False))
    readings = datum_readings(x[idx], y[idx], dec)
    scores: dict[str, float] = {}
    if reference is not None and len(np.asarray(reference[0])) > 0:
        rx, ry = np.asarray(reference[0], dtype=float), np.asarray(reference[1], dtype=float)
        for name, (px, py) in readings.items():
            scores[name] = round(_median_nearest_m(px, py, rx, ry), 1)
        best = min(scores, key=lambda k: (scores[k], k != dec))
        mine = scores[dec]
        if best == dec or not (mine >= factor * scores[best] and mine - scores[best] >= min_gain_m):
            return None
        msg = (
            f"the points look shifted: read as {dec} their median distance to the nearest building is "
            f"{mine:.0f} m, read as {best} it is {scores[best]:.0f} m (sample of {len(idx)} points in China)"
        )
        return DatumSuggestion(dec, best, "buildings", scores, len(idx), msg)
    if inside is None:
        return None
    for name, (px, py) in readings.items():
        fin = np.isfinite(px) & np.isfinite(py)
        hit = np.zeros(len(px), dtype=bool)
        if fin.any():
            hit[fin] = np.asarray(inside(px[fin], py[fin]), dtype=bool)
        scores[name] = round(float(hit.mean()), 4)
    best = max(scores, key=lambda k: (scores[k], k == dec))
    if best == dec or scores[best] - scores[dec] < min_share_gain:
        return None
    msg = (
        f"the points look shifted: read as {dec} {scores[dec]:.1%} fall inside the layer, read as {best} "
        f"{scores[best]:.1%} (sample of {len(idx)} points in China; no buildings in the store to compare with)"
    )
    return DatumSuggestion(dec, best, "inside_layer", scores, len(idx), msg)
