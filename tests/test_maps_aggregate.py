"""Server-side aggregation of map pages, and the page builder on hand-made data."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box, mapping

from maps.aggregate import classify, heat_grid, simplify_coverage, suppress_small
from maps.offline import TilesConfig, external_urls
from maps.pages import UnitPage, decode_geometry, encode_geometry, read_page_data, unit_page


def test_heat_grid_bins_and_never_returns_an_input_point() -> None:
    rng = np.random.default_rng(0)
    lon = rng.uniform(116.40, 116.42, 5000)
    lat = rng.uniform(39.90, 39.92, 5000)
    h = heat_grid(lon, lat, cell_m=50)
    assert sum(w for _, _, w in h) == 5000
    # ~1.7 km x 2.2 km in 50 m bins: at most ~1,600 bins, whatever the number of points
    assert len(h) < 1700
    pts = {(round(a, 6), round(b, 6)) for a, b in zip(lat, lon, strict=True)}
    assert not any((a, b) in pts for a, b, _ in h)
    # one bin for two equal points, its centre within half a bin's diagonal (36 m) of them
    [(la, lo, w)] = heat_grid([116.4, 116.4], [39.9, 39.9])
    assert w == 2 and abs(la - 39.9) * 111_320 <= 25.01 and abs(lo - 116.4) * 111_320 * 0.767 <= 25.01
    assert heat_grid([], []) == []


def test_simplify_coverage_keeps_neighbours_meeting() -> None:
    # two cells sharing a wiggly edge
    edge = [(0.0005 * i, 0.0001 * np.sin(i)) for i in range(21)]
    top = Polygon([*edge, (0.01, 0.01), (0.0, 0.01)])
    bottom = Polygon([*edge, (0.01, -0.01), (0.0, -0.01)][::-1])
    a, b = simplify_coverage(
        [shapely.affinity.translate(top, 116.4, 39.9), shapely.affinity.translate(bottom, 116.4, 39.9)],
        tolerance_m=20,
    )
    assert a.is_valid and b.is_valid
    assert shapely.intersection(a, b).area < 1e-12  # no overlap
    whole = shapely.union(a, b)
    assert whole.geom_type == "Polygon" and len(whole.interiors) == 0  # no gap between them
    assert shapely.get_num_coordinates(a) < shapely.get_num_coordinates(top)
    # coordinates quantised to 5 decimals
    assert np.allclose(shapely.get_coordinates(a), np.round(shapely.get_coordinates(a), 5))


def test_classify_and_suppress() -> None:
    c = classify([0.0, 1.0, 2.0, 10.0, 11.0, None, 50.0], k=3)
    assert len(c.bins) == 3 and c.labels[5] == -1 and c.colour(-1) is None
    assert c.labels[0] == 0 and c.labels[-1] == 2
    assert classify([None, None]).bins == []
    assert classify([4.0, 4.0]).labels == [0, 0]
    assert suppress_small(2) is None and suppress_small(3) == 3 and suppress_small(None) is None


def _page(tiles: TilesConfig | None = None) -> str:
    cells = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": mapping(box(116.40 + i * 0.01, 39.90, 116.41 + i * 0.01, 39.91)),
                "properties": {"code": f"c{i}", "name": f"网格{i}"},
            }
            for i in range(3)
        ],
    }
    street = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": mapping(box(116.40, 39.90, 116.43, 39.91)),
                "properties": {"code": "s", "name": "某街道"},
            }
        ],
    }
    stats = {
        f"c{i}": {
            "petitions_shown": [0, None, 9][i],
            "per100": [0.0, None, 3.0][i],
            "overdue_shown": 0,
            "officer": "王网格",
            "households": 300,
        }
        for i in range(3)
    }
    return unit_page(
        UnitPage(
            code="s",
            name="某街道",
            level="street",
            layers=[("street", street), ("grid", cells)],
            stats=stats,
            heat=[[39.905, 116.405, 3.0]],
            tiles=tiles,
        )
    )


def test_page_is_offline_with_a_legend() -> None:
    html = _page()
    assert external_urls(html) == []
    assert "gg-legend" in html and "无数据 no data" in html and "officer" in html


def test_gcj02_tiles_shift_geometries_and_say_so() -> None:
    tiles = TilesConfig(
        url="http://127.0.0.1:9/tiles/{z}/{x}/{y}.png", attribution="local tiles", datum="gcj02"
    )
    shifted = _page(tiles)
    plain = _page()
    assert "tiles are GCJ-02" in shifted and "tiles are GCJ-02" not in plain
    lon, lat = decode_geometry(read_page_data(shifted)["levels"][-1]["geoms"][0])[0][0][0]
    plon, plat = decode_geometry(read_page_data(plain)["levels"][-1]["geoms"][0])[0][0][0]
    assert (plon, plat) == (116.41, 39.9)  # shapely's box starts at its lower-right corner
    # GCJ-02 is 300-600 m off WGS84 around Beijing: the drawn corner is no longer 116.40 / 39.90 ...
    assert abs(lon - 116.40) > 0.003 or abs(lat - 39.90) > 0.001


def test_geometry_encoding_round_trips() -> None:
    poly = mapping(box(116.40001, 39.90002, 116.41234, 39.91999).union(box(116.5, 39.9, 116.51, 39.91)))
    enc = encode_geometry(poly)
    assert len(enc) == 2 and all(isinstance(v, int) for v in enc[0][0])
    back = decode_geometry(enc)
    for got, want in zip(back, poly["coordinates"], strict=True):
        assert got[0] == [tuple(c) for c in want[0][:-1]]  # same vertices, the closing one dropped
    with pytest.raises(ValueError, match="polygonal"):
        encode_geometry({"type": "LineString", "coordinates": [[0, 0], [1, 1]]})
