"""Tests for grid.datum: datum parsing, GCJ-02/BD-09 conversions, range checks, metric CRS."""

from __future__ import annotations

import dataclasses
import doctest
import re
import warnings

import geopandas as gpd
import numpy as np
import prcoords
import pyproj
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

import grid.datum as datum_mod
from grid.datum import (
    BD09,
    CGCS2000,
    GCJ02,
    WGS84,
    Datum,
    bd09_to_gcj02,
    bd09_to_wgs84,
    check_lonlat_range,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    in_china,
    metric_crs_for,
    parse_datum,
    to_metric,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from grid.errors import CoordinateRangeError, DatumError, GeometryError

GEOD = pyproj.Geod(ellps="WGS84")

# --- published reference points ----------------------------------------------------------

# googollee/eviltransform, python/test.py and go/transform_test.go (also javascript/test.js):
# (wgsLat, wgsLng, gcjLat, gcjLng). Those tests check wgs2gcj to 5-6 decimals and the exact
# inverse to 0.5 m; the published formula reproduces them to the last digit.
EVILTRANSFORM_WGS_GCJ = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # beijing
]
# The same repository's TESTS_bd (bd2wgs of (29.199786, 120.019809) etc.) are NOT used: they
# differ from the published BD-09 formulas by 10-40 m (probably values from Baidu's own API).

# wandergis/coordtransform, test/app.js, all four functions applied to (116.404, 39.915):
COORDTRANSFORM_INPUT = (116.404, 39.915)
COORDTRANSFORM_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
COORDTRANSFORM_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
COORDTRANSFORM_BD09_TO_GCJ02_ONE_STEP = (116.39762729119315, 39.90865673957631)
COORDTRANSFORM_GCJ02_TO_WGS84_ONE_STEP = (116.39775550083061, 39.91359571849836)


def metres_between(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance in metres (pyproj.Geod, WGS84)."""
    _, _, dist = GEOD.inv(np.asarray(lon1), np.asarray(lat1), np.asarray(lon2), np.asarray(lat2))
    return np.asarray(dist)


def random_china(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random points well inside the GCJ-02 rectangle (mainland-ish latitudes)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(73.7, 134.9, n), rng.uniform(18.2, 53.4, n)


def prc(fn, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a scalar prcoords function ((lat, lon) order!) to arrays."""
    out = [fn((la, lo)) for lo, la in zip(lon.tolist(), lat.tolist(), strict=True)]
    return np.array([c.lon for c in out]), np.array([c.lat for c in out])


# --- parse_datum ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wgs84", Datum("wgs84", 4326)),
        ("WGS-84", Datum("wgs84", 4326)),
        ("  WGS84 ", Datum("wgs84", 4326)),
        ("EPSG:4326", Datum("wgs84", 4326)),
        ("epsg:4326", Datum("wgs84", 4326)),
        ("cgcs2000", Datum("cgcs2000", 4490)),
        ("CGCS2000", Datum("cgcs2000", 4490)),
        ("EPSG:4490", Datum("cgcs2000", 4490)),
        ("gcj02", Datum("gcj02", None)),
        ("GCJ-02", Datum("gcj02", None)),
        ("bd09", Datum("bd09", None)),
        ("BD-09", Datum("bd09", None)),
        ("EPSG:4547", Datum("epsg", 4547)),
        ("epsg:32650", Datum("epsg", 32650)),
        ("EPSG:4214", Datum("epsg", 4214)),  # Beijing 1954, geographic
    ],
)
def test_parse_datum_accepts(text: str, expected: Datum) -> None:
    assert parse_datum(text) == expected


@pytest.mark.parametrize(
    "text", ["", "wgs", "gcj", "bd-9", "EPSG:", "EPSG:abc", "4326", "utm50n", "EPSG:4326x"]
)
def test_parse_datum_rejects_with_accepted_list(text: str) -> None:
    with pytest.raises(DatumError) as exc_info:
        parse_datum(text)
    message = exc_info.value.message
    for accepted in ("wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:n"):
        assert accepted in message
    assert exc_info.value.code == "unknown_datum"


def test_parse_datum_rejects_unknown_and_non_horizontal_epsg() -> None:
    with pytest.raises(DatumError, match="EPSG:999999"):
        parse_datum("EPSG:999999")
    with pytest.raises(DatumError, match="Geocentric"):
        parse_datum("EPSG:4978")  # WGS 84 geocentric (x, y, z)
    with pytest.raises(DatumError, match="Vertical"):
        parse_datum("EPSG:5773")  # EGM96 height


def test_datum_is_frozen_and_validated() -> None:
    d = parse_datum("gcj02")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "wgs84"  # type: ignore[misc]
    assert d.is_shifted and BD09.is_shifted
    assert not WGS84.is_shifted and not CGCS2000.is_shifted
    assert str(parse_datum("EPSG:4547")) == "EPSG:4547"
    with pytest.raises(DatumError):
        Datum("epsg", None)
    with pytest.raises(DatumError):
        Datum("nad27")  # type: ignore[arg-type]


# --- published reference points -------------------------------------------------------------


@pytest.mark.parametrize(("wgs_lat", "wgs_lon", "gcj_lat", "gcj_lon"), EVILTRANSFORM_WGS_GCJ)
def test_eviltransform_reference_points(
    wgs_lat: float, wgs_lon: float, gcj_lat: float, gcj_lon: float
) -> None:
    lon, lat = wgs84_to_gcj02(wgs_lon, wgs_lat)
    assert float(lon) == pytest.approx(gcj_lon, abs=1e-11)
    assert float(lat) == pytest.approx(gcj_lat, abs=1e-11)
    # The exact inverse recovers the published WGS84 point (eviltransform only asks for 0.5 m).
    back_lon, back_lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert metres_between(back_lon, back_lat, wgs_lon, wgs_lat) < 1e-5


def test_coordtransform_reference_points() -> None:
    lon0, lat0 = COORDTRANSFORM_INPUT
    assert np.allclose(wgs84_to_gcj02(lon0, lat0), COORDTRANSFORM_WGS84_TO_GCJ02, rtol=0, atol=1e-11)
    assert np.allclose(gcj02_to_bd09(lon0, lat0), COORDTRANSFORM_GCJ02_TO_BD09, rtol=0, atol=1e-11)

    # The published inverses are one-step approximations; ours must be close to them...
    bd_inv = bd09_to_gcj02(lon0, lat0)
    assert metres_between(*bd_inv, *COORDTRANSFORM_BD09_TO_GCJ02_ONE_STEP) < 0.5
    gcj_inv = gcj02_to_wgs84(lon0, lat0)
    assert 0.01 < metres_between(*gcj_inv, *COORDTRANSFORM_GCJ02_TO_WGS84_ONE_STEP) < 5.0
    # ... but exact: going forward again lands on the input.
    assert np.allclose(gcj02_to_bd09(*bd_inv), COORDTRANSFORM_INPUT, rtol=0, atol=1e-11)
    assert np.allclose(wgs84_to_gcj02(*gcj_inv), COORDTRANSFORM_INPUT, rtol=0, atol=1e-11)

    # And the published forward outputs invert back to the input.
    assert np.allclose(
        gcj02_to_wgs84(*COORDTRANSFORM_WGS84_TO_GCJ02), COORDTRANSFORM_INPUT, rtol=0, atol=1e-10
    )
    assert np.allclose(bd09_to_gcj02(*COORDTRANSFORM_GCJ02_TO_BD09), COORDTRANSFORM_INPUT, rtol=0, atol=1e-10)


def test_shift_size_matches_domain_knowledge() -> None:
    # Beijing: GCJ-02 is 500-600 m off WGS84; BD-09 is roughly another 0.8 km.
    lon, lat = 116.397, 39.909
    g = wgs84_to_gcj02(lon, lat)
    b = gcj02_to_bd09(*g)
    assert 450 < metres_between(lon, lat, *g) < 700
    assert 600 < metres_between(*g, *b) < 1100


# --- against prcoords (scalar reference) -----------------------------------------------------


def test_matches_prcoords_on_random_points() -> None:
    lon, lat = random_china(300, seed=20240501)

    got = wgs84_to_gcj02(lon, lat)
    ref = prc(prcoords.wgs_gcj, lon, lat)
    assert np.allclose(got, ref, rtol=0, atol=1e-12)

    got = gcj02_to_bd09(lon, lat)
    ref = prc(prcoords.gcj_bd, lon, lat)
    assert np.allclose(got, ref, rtol=0, atol=1e-12)

    # prcoords' *_bored inverses stop at a 1e-5 degree step, leaving up to ~4e-8 (gcj) and
    # ~1.4e-7 (bd -> wgs) degrees; its one-step bd_gcj is up to ~1.5e-6 degrees off.
    got = gcj02_to_wgs84(lon, lat)
    ref = prc(prcoords.gcj_wgs_bored, lon, lat)
    assert np.allclose(got, ref, rtol=0, atol=1e-7)

    got = bd09_to_gcj02(lon, lat)
    assert np.allclose(got, prc(prcoords.bd_gcj, lon, lat), rtol=0, atol=5e-6)
    assert np.allclose(got, prc(prcoords.bd_gcj_bored, lon, lat), rtol=0, atol=5e-8)

    got = bd09_to_wgs84(lon, lat)
    ref = prc(prcoords.bd_wgs_bored, lon, lat)
    assert np.allclose(got, ref, rtol=0, atol=5e-7)


def test_inverses_are_exact_not_one_step() -> None:
    lon, lat = random_china(300, seed=7)
    for inverse, forward in ((gcj02_to_wgs84, wgs84_to_gcj02), (bd09_to_gcj02, gcj02_to_bd09)):
        x, y = inverse(lon, lat)
        fx, fy = forward(x, y)
        residual = np.maximum(np.abs(fx - lon), np.abs(fy - lat))
        assert residual.max() < 1e-10
    # The one-step inverse is metres off; ours is not.
    rough = prc(prcoords.gcj_wgs, lon, lat)
    exact = gcj02_to_wgs84(lon, lat)
    assert metres_between(*rough, *exact).max() > 0.5


# --- round trips --------------------------------------------------------------------------


def test_round_trip_under_one_centimetre() -> None:
    lon, lat = random_china(2000, seed=42)
    # plus points near the corners of the GCJ-02 rectangle and the sqrt(|lon - 105|) cusp.
    # (Within ~1 km inside the east/north edges the shifted point leaves the rectangle and
    # comes back unshifted, as in every reference library: see test_rectangle_edge_band.)
    lon = np.concatenate([lon, [72.01, 137.8, 72.01, 137.8, 105.0, 105.0 + 1e-12]])
    lat = np.concatenate([lat, [0.83, 0.83, 55.8, 55.8, 35.0, 35.0]])

    wlon, wlat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    gcj_err_deg = np.maximum(np.abs(wlon - lon), np.abs(wlat - lat)).max()
    gcj_err_m = metres_between(wlon, wlat, lon, lat).max()

    blon, blat = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    bd_err_deg = np.maximum(np.abs(blon - lon), np.abs(blat - lat)).max()
    bd_err_m = metres_between(blon, blat, lon, lat).max()

    glon, glat = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    gb_err_m = metres_between(glon, glat, lon, lat).max()

    # Contract: < 1e-8 degrees and < 1 cm; measured ~1e-13 degrees (~1e-8 m).
    assert gcj_err_deg < 1e-8 and bd_err_deg < 1e-8
    assert max(gcj_err_m, bd_err_m, gb_err_m) < 0.01
    assert max(gcj_err_m, bd_err_m, gb_err_m) < 1e-5  # in fact far better


def test_rectangle_edge_band() -> None:
    # WGS84 point inside the rectangle whose GCJ-02 image is outside it: the inverse treats
    # the image as out of China and returns it unchanged (reference-library behaviour; the
    # band is ~1 km wide at the rectangle's edges, far from Chinese territory).
    lon, lat = 137.83, 55.82
    g = wgs84_to_gcj02(lon, lat)
    assert in_china(lon, lat) and not in_china(*g)
    assert np.array_equal(gcj02_to_wgs84(*g), g)
    with pytest.warns(UserWarning, match="Non-Chinese"):
        ref = prc(prcoords.gcj_wgs, np.array([float(g[0])]), np.array([float(g[1])]))
    assert np.allclose(np.ravel(g), np.ravel(ref), rtol=0, atol=0)  # prcoords' one-step: same


def test_inverse_reports_non_convergence(monkeypatch: pytest.MonkeyPatch) -> None:
    lon, lat = random_china(200, seed=3)
    monkeypatch.setattr(datum_mod, "INVERSE_MAX_ITER", 1)
    with pytest.raises(DatumError) as exc_info:
        gcj02_to_wgs84(lon, lat)
    assert exc_info.value.code == "datum_inverse_not_converged"


# --- shapes, scalars, out of China ------------------------------------------------------------


def test_scalars_arrays_and_broadcasting() -> None:
    lon, lat = wgs84_to_gcj02(116.4, 39.9)
    assert lon.shape == () and lat.shape == ()
    assert isinstance(float(lon), float)

    grid_lon = np.array([[116.4, 121.5], [113.9, 104.1]])
    grid_lat = np.array([[39.9, 31.2], [22.5, 30.6]])
    for fn in (wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84):
        x, y = fn(grid_lon, grid_lat)
        assert x.shape == (2, 2) and y.shape == (2, 2)
        sx, sy = fn(grid_lon[1, 0], grid_lat[1, 0])
        assert float(sx) == x[1, 0] and float(sy) == y[1, 0]

    x, y = wgs84_to_gcj02([116.0, 117.0, 118.0], 39.9)  # lat broadcast
    assert x.shape == (3,) and np.all(y != 39.9)

    before = grid_lon.copy()
    gcj02_to_wgs84(grid_lon, grid_lat)
    assert np.array_equal(grid_lon, before)  # input not modified


def test_in_china_and_out_of_china_behaviour() -> None:
    assert in_china(116.4, 39.9)
    assert in_china(72.004, 0.8293) and in_china(137.8347, 55.8271)  # inclusive bounds
    assert not in_china(72.003, 30.0) and not in_china(100.0, 55.83)
    assert in_china([2.35, 139.9, np.nan], [48.85, 35.7, 30.0]).tolist() == [False, False, False]

    paris = (np.array([2.35]), np.array([48.85]))
    tokyo_east = (np.array([139.9]), np.array([35.7]))
    for pt in (paris, tokyo_east):
        assert np.array_equal(wgs84_to_gcj02(*pt), pt)
        assert np.array_equal(gcj02_to_wgs84(*pt), pt)
    # The BD-09 step applies everywhere (as in prcoords / coordtransform).
    assert np.allclose(gcj02_to_bd09(*paris), prc(prcoords.gcj_bd, *paris), rtol=0, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # prcoords warns about non-Chinese coordinates
        assert np.allclose(wgs84_to_bd09(*paris), prc(prcoords.wgs_bd, *paris), rtol=0, atol=1e-12)
    assert np.allclose(bd09_to_wgs84(*wgs84_to_bd09(*paris)), paris, rtol=0, atol=1e-11)


def test_nan_passes_through() -> None:
    x, y = gcj02_to_wgs84([116.4, np.nan], [39.9, 39.9])
    assert np.isnan(x[1]) and np.isfinite(x[0])
    x, y = bd09_to_wgs84([np.nan, 116.4], [39.9, np.inf])
    assert np.isnan(x[0]) and not np.isfinite(y[1])


# --- check_lonlat_range -----------------------------------------------------------------------


def test_check_lonlat_range_accepts_valid() -> None:
    check_lonlat_range([116.4, -73.9, 180.0], [39.9, 40.7, -90.0], datum_name="wgs84")
    check_lonlat_range([116.4, 87.6], [39.9, 43.8], datum_name="gcj02")
    check_lonlat_range([], [], datum_name="bd09")


def test_check_lonlat_range_projected_metres() -> None:
    x = [116.4, 440123.5, 441000.0]
    y = [39.9, 4412345.1, 4412000.0]
    with pytest.raises(CoordinateRangeError) as exc_info:
        check_lonlat_range(x, y, datum_name="wgs84")
    err = exc_info.value
    assert err.code == "coordinates_out_of_range"
    assert err.message.startswith("2 of 3 points")
    assert "#1" in err.message and "440123.5" in err.message
    assert "projected metres" in err.message and "--datum EPSG:n" in err.message
    assert err.details["bad_points"] == 2
    assert err.details["first_point"] == [440123.5, 4412345.1]


def test_check_lonlat_range_swapped_axes() -> None:
    with pytest.raises(CoordinateRangeError, match="swapped"):
        check_lonlat_range([39.9, 31.2], [116.4, 121.5], datum_name="wgs84")
    # for gcj02 a swapped point inside the valid range is still caught (it is outside China)
    with pytest.raises(CoordinateRangeError, match="swapped"):
        check_lonlat_range([39.9], [80.0], datum_name="gcj02")


def test_check_lonlat_range_shifted_datums_only_in_china() -> None:
    tokyo = ([139.7], [35.7])
    check_lonlat_range(*tokyo, datum_name="wgs84")  # fine in WGS84
    for name in ("gcj02", "bd09"):
        with pytest.raises(CoordinateRangeError, match=f"{name} exists only in China"):
            check_lonlat_range(*tokyo, datum_name=name)
    # just outside the rectangle is tolerated (margin), far outside is not
    check_lonlat_range([137.9], [35.0], datum_name="gcj02")
    with pytest.raises(CoordinateRangeError):
        check_lonlat_range([2.35], [48.85], datum_name="gcj02")


def test_check_lonlat_range_other_causes() -> None:
    with pytest.raises(CoordinateRangeError, match="NaN"):
        check_lonlat_range([116.4, np.nan], [39.9, 39.9], datum_name="wgs84")
    with pytest.raises(CoordinateRangeError, match="0-360"):
        check_lonlat_range([250.0], [10.0], datum_name="wgs84")
    with pytest.raises(CoordinateRangeError, match=r"within \[-180, 180\]"):
        check_lonlat_range([500.0], [10.0], datum_name="wgs84")
    with pytest.raises(CoordinateRangeError, match=r"feature #4") as exc_info:
        check_lonlat_range([1.0, 2.0, 500000.0], [1.0, 2.0, 4e6], datum_name="wgs84", feature_index=[0, 0, 4])
    assert exc_info.value.details["first_feature"] == 4


# --- to_wgs84 / from_wgs84 ---------------------------------------------------------------------


def beijing_shapes() -> list:
    square = Polygon([(116.30, 39.90), (116.40, 39.90), (116.40, 40.00), (116.30, 40.00)])
    holed = Polygon(
        [(116.0, 39.0), (116.2, 39.0), (116.2, 39.2), (116.0, 39.2)],
        [[(116.05, 39.05), (116.1, 39.05), (116.1, 39.1), (116.05, 39.1)]],
    )
    return [
        square,
        None,
        Point(116.39, 39.91, 44.0),
        LineString([(116.0, 39.5), (117.0, 40.0)]),
        MultiPolygon([holed]),
    ]


@pytest.mark.parametrize(("datum", "inverse"), [(GCJ02, gcj02_to_wgs84), (BD09, bd09_to_wgs84)])
def test_to_wgs84_shifted_datums_convert_every_vertex(datum: Datum, inverse) -> None:
    geoms = beijing_shapes()
    out = to_wgs84(geoms, datum)
    assert isinstance(out, np.ndarray) and len(out) == len(geoms)
    assert out[1] is None
    assert out[2].has_z and out[2].z == 44.0
    src = shapely.get_coordinates(np.array(geoms, dtype=object))
    got = shapely.get_coordinates(out)
    expected = np.column_stack(inverse(src[:, 0], src[:, 1]))
    assert np.allclose(got, expected, rtol=0, atol=1e-12)
    assert metres_between(got[:, 0], got[:, 1], src[:, 0], src[:, 1]).min() > 300  # really shifted
    assert shapely.get_type_id(out[4]) == shapely.get_type_id(geoms[4])
    assert len(out[4].geoms[0].interiors) == 1


def test_from_wgs84_round_trips_with_to_wgs84() -> None:
    geoms = np.array(beijing_shapes(), dtype=object)
    for name in ("gcj02", "bd09"):
        shown = from_wgs84(geoms, name)
        back = to_wgs84(shown, parse_datum(name))
        a = shapely.get_coordinates(back)
        b = shapely.get_coordinates(geoms)
        assert metres_between(a[:, 0], a[:, 1], b[:, 0], b[:, 1]).max() < 1e-5
        assert metres_between(*shapely.get_coordinates(shown).T, *b.T).min() > 300
    assert from_wgs84(geoms, WGS84)[0].equals(geoms[0])
    in_4548 = from_wgs84(geoms, "EPSG:4548")
    assert 400_000 < in_4548[0].exterior.coords[0][0] < 500_000  # easting, metres


def test_to_wgs84_wgs84_and_cgcs2000_unchanged() -> None:
    geoms = beijing_shapes()
    for d in (WGS84, CGCS2000):
        out = to_wgs84(geoms, d)
        assert out[1] is None
        assert all(a.equals_exact(b, 0.0) for a, b in zip(out, geoms, strict=True) if a is not None)
        out = to_wgs84(geoms, d, source_crs="EPSG:4490")  # geographic CGCS2000 .prj: unchanged
        assert shapely.equals_exact(out[0], geoms[0], tolerance=0.0)


def test_to_wgs84_from_projected_prj() -> None:
    geoms = beijing_shapes()
    metric = to_metric(geoms, 4548)
    t = pyproj.Transformer.from_crs(4326, 4548, always_xy=True)
    e, n = t.transform(116.30, 39.90)
    assert metric[0].exterior.coords[0] == pytest.approx((e, n), abs=1e-6)

    # .prj says EPSG:4548 (given or taken from a GeoSeries' crs)
    for d in (WGS84, CGCS2000):
        back = to_wgs84(metric, d, source_crs="EPSG:4548")
        assert shapely.hausdorff_distance(back[0], geoms[0]) < 1e-9
    back = to_wgs84(gpd.GeoSeries(list(metric), crs=4548), CGCS2000)
    assert shapely.hausdorff_distance(back[3], geoms[3]) < 1e-9

    # declared EPSG:n, with or without a matching .prj (ESRI WKT without authority counts)
    esri_wkt = pyproj.CRS(4548).to_wkt(version="WKT1_ESRI")
    for src in (None, 4548, esri_wkt):
        back = to_wgs84(metric, parse_datum("EPSG:4548"), source_crs=src)
        assert shapely.hausdorff_distance(back[0], geoms[0]) < 1e-9


def test_to_wgs84_rejects_contradictions() -> None:
    geoms = beijing_shapes()
    metric = to_metric(geoms, 4548)
    with pytest.raises(DatumError) as exc_info:
        to_wgs84(metric, parse_datum("EPSG:4547"), source_crs="EPSG:4548")
    assert "EPSG:4547" in exc_info.value.message and "EPSG:4548" in exc_info.value.message

    with pytest.raises(DatumError, match="longitude/latitude"):
        to_wgs84(metric, GCJ02, source_crs="EPSG:4548")
    with pytest.raises(DatumError, match=r"Beijing 1954 \(EPSG:4214\)"):
        to_wgs84(geoms, WGS84, source_crs="EPSG:4214")
    with pytest.raises(DatumError, match="look like longitude/latitude degrees"):
        to_wgs84(geoms, parse_datum("EPSG:4548"))
    with pytest.raises(CoordinateRangeError, match="projected metres"):
        to_wgs84(metric, WGS84)  # metres declared as wgs84 with no .prj
    with pytest.raises(CoordinateRangeError, match="bd09 exists only in China"):
        to_wgs84([Point(139.7, 35.7)], BD09)
    with pytest.raises(CoordinateRangeError, match="swapped"):
        to_wgs84([Point(39.9, 116.4)], GCJ02)
    with pytest.raises(GeometryError):
        to_wgs84(["POINT (1 1)"], WGS84)


def test_to_wgs84_other_epsg_and_edge_inputs() -> None:
    # Beijing 1954 (geographic, Krasovsky) -> WGS84 moves points, but by less than 1 km
    out = to_wgs84([Point(116.4, 39.9)], parse_datum("EPSG:4214"))
    assert 0 <= metres_between(out[0].x, out[0].y, 116.4, 39.9) < 1000
    assert len(to_wgs84([], GCJ02)) == 0
    assert len(to_wgs84(gpd.GeoSeries([], crs=4326), WGS84)) == 0
    assert to_wgs84([None], GCJ02)[0] is None


# --- metric CRS -----------------------------------------------------------------------------------


def test_gk_epsg_codes_are_what_pyproj_says() -> None:
    for k, code in enumerate(range(4534, 4555)):
        assert pyproj.CRS.from_epsg(code).name == f"CGCS2000 / 3-degree Gauss-Kruger CM {75 + 3 * k}E"


def central_meridian(code: int) -> float:
    op = pyproj.CRS.from_epsg(code).coordinate_operation
    return next(p.value for p in op.params if p.name == "Longitude of natural origin")


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (116.4, 39.9, 4548),  # Beijing, CM 117E
        (116.4, None, 4548),
        (121.47, 31.23, 4549),  # Shanghai, CM 120E
        (113.5, 23.0, 4547),  # CM 114E
        (73.5, 39.0, 4534),  # western edge, CM 75E
        (136.5, 47.0, 4554),  # eastern edge, CM 135E
        (76.5, 39.0, 4535),  # halfway between 75 and 78 goes east
        (73.4, 39.0, 32643),  # outside 73.5-136.5: UTM 43N
        (137.0, 40.0, 32653),
        (2.35, 48.85, 32631),  # Paris
        (-58.4, -34.6, 32721),  # Buenos Aires, south
        (151.2, -33.9, 32756),  # Sydney
        (116.4, -10.0, 32750),  # China's longitudes but southern hemisphere: UTM
        (180.0, 10.0, 32660),
        (-180.0, 10.0, 32601),
    ],
)
def test_metric_crs_for(lon: float, lat: float | None, expected: int) -> None:
    code = metric_crs_for(lon, lat)
    assert code == expected
    crs = pyproj.CRS.from_epsg(code)
    assert crs.is_projected and crs.axis_info[0].unit_name == "metre"


def test_metric_crs_for_picks_nearest_central_meridian() -> None:
    for lon in np.linspace(73.5, 136.5, 127):
        code = metric_crs_for(float(lon), 35.0)
        assert 4534 <= code <= 4554
        assert abs(float(lon) - central_meridian(code)) <= 1.5 + 1e-9
    for lon in (-170.0, -75.3, 0.1, 12.0, 140.0):
        code = metric_crs_for(lon, 45.0)
        assert re.fullmatch(r"WGS 84 / UTM zone \d+N", pyproj.CRS.from_epsg(code).name)
        assert abs(lon - central_meridian(code)) <= 3.0 + 1e-9


def test_metric_crs_for_rejects_bad_input() -> None:
    for lon, lat in ((200.0, 10.0), (float("nan"), 10.0), (116.4, 95.0)):
        with pytest.raises(CoordinateRangeError):
            metric_crs_for(lon, lat)


def test_to_metric_area_and_cache() -> None:
    # 0.01 x 0.01 degree square in Beijing: geodesic area vs Gauss-Kruger CM 117E (scale 1 at CM)
    square = Polygon([(116.90, 39.90), (116.91, 39.90), (116.91, 39.91), (116.90, 39.91)])
    geodesic_area = abs(GEOD.geometry_area_perimeter(square)[0])
    datum_mod._TRANSFORMERS.__dict__.clear()
    projected = to_metric([square], metric_crs_for(116.9, 39.9))
    assert projected[0].area == pytest.approx(geodesic_area, rel=1e-4)
    first = datum_mod._TRANSFORMERS.by_pair.copy()
    to_metric(gpd.GeoSeries([square], crs=4326), 4548)
    assert datum_mod._TRANSFORMERS.by_pair == first and len(first) == 1  # reused, not rebuilt
    # another thread gets its own transformer (pyproj transformers are per-thread)
    import threading

    seen: list[object] = []
    th = threading.Thread(
        target=lambda: (to_metric([square], 4548), seen.append(datum_mod._TRANSFORMERS.by_pair))
    )
    th.start()
    th.join()
    assert seen and next(iter(seen[0].values())) is not next(iter(first.values()))
    with pytest.raises(DatumError, match="not a projected"):
        to_metric([square], 4490)
    with pytest.raises(CoordinateRangeError, match="projected metres"):
        to_metric(projected, 4548)  # already metres


# --- doctests ---------------------------------------------------------------------------------------


def test_doctests() -> None:
    result = doctest.testmod(datum_mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10
    assert result.failed == 0
