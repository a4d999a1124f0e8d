"""Offline folium maps: vendored assets, localisation, tiles/datum helpers, and a real browser."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import time
from pathlib import Path
from typing import Any

import branca.colormap
import folium
import folium.folium
import pytest
import shapely
from branca.element import Figure
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from folium import plugins

from api.routes.maps_static import IMMUTABLE, mount_static
from grid.datum import wgs84_to_gcj02
from grid.errors import ConfigError, CoordinateRangeError
from maps import offline
from maps.offline import (
    OFFLINE_PREFIX,
    VENDOR_DIR,
    ExternalURLError,
    TilesConfig,
    UnvendoredAssetError,
    asset_map,
    external_urls,
    localise,
    manifest,
    offline_map,
    render,
    tiles_config,
    to_display,
)
from tests import browser as _browser

ROOT = Path(__file__).resolve().parent.parent
BRANCA_D3 = "https://cdnjs.cloudflare.com/ajax/libs/d3/3.5.5/d3.min.js"
# the folium elements whose assets are vendored (scripts/vendor_assets)
SUPPORTED = [
    folium.Map,
    plugins.HeatMap,
    plugins.HeatMapWithTime,
    plugins.Fullscreen,
    plugins.Search,
    plugins.MarkerCluster,
    plugins.FastMarkerCluster,
    plugins.TimeSliderChoropleth,
    plugins.TimestampedGeoJson,
]
SHUANGJING: dict[str, Any] = {
    "type": "Feature",
    "properties": {"name": "双井街道", "code": "110105010"},
    "geometry": {
        "type": "Polygon",
        "coordinates": [
            [[116.452, 39.885], [116.472, 39.885], [116.472, 39.901], [116.452, 39.901], [116.452, 39.885]]
        ],
    },
}


def _files() -> dict[str, dict[str, Any]]:
    return {f["path"]: f for p in manifest()["packages"] for f in p["files"]}


def _figure(m: folium.Map) -> Figure:
    fig = m.get_root()
    assert isinstance(fig, Figure)
    return fig


def _sample_map(**kwargs: Any) -> folium.Map:
    m = offline_map(location=[39.893, 116.462], zoom_start=14, **kwargs)
    fc = {"type": "FeatureCollection", "features": [SHUANGJING]}
    gj = folium.GeoJson(
        fc,
        name="街道",
        style_function=lambda _f: {"color": "#c0392b", "weight": 2, "fillOpacity": 0.2},
        tooltip=folium.GeoJsonTooltip(fields=["name"], aliases=["街道"]),
    ).add_to(m)
    plugins.HeatMap([[39.893, 116.462, 1.0], [39.890, 116.458, 0.5]], name="诉求热力").add_to(m)
    plugins.Fullscreen().add_to(m)
    plugins.Search(layer=gj, search_label="name", placeholder="搜索街道").add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


# ------------------------------------------------------------------------------ (a) the vendored files
def test_manifest_files_exist_with_their_sha256() -> None:
    files = _files()
    assert files, "MANIFEST.json lists no files"
    for rel, f in files.items():
        path = VENDOR_DIR / rel
        assert path.is_file(), f"{rel} is in MANIFEST.json but missing: run scripts/vendor_assets"
        data = path.read_bytes()
        assert len(data) == f["bytes"], rel
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f"{rel} differs from MANIFEST.json"
    on_disk = {str(p.relative_to(VENDOR_DIR)) for p in VENDOR_DIR.rglob("*") if p.is_file()}
    assert on_disk - {"MANIFEST.json"} == set(files), "files in maps/static/vendor that MANIFEST.json lacks"
    for pkg in manifest()["packages"]:
        assert pkg["version"] and pkg["license"] and pkg["license"] != "UNKNOWN", pkg["package"]
    assert set(asset_map().values()) <= set(files)


def test_vendor_is_lean() -> None:
    rels = set(_files())
    assert not [r for r in rels if r.endswith((".ttf", ".eot", ".woff", ".map"))], (
        "fonts: woff2 only; no maps"
    )
    assert not list(ROOT.glob("node_modules")) and not list((ROOT / "maps").rglob("node_modules"))
    assert manifest()["total_bytes"] < 4_000_000


def test_vendored_css_references_stay_inside_the_vendor_dir() -> None:
    files = set(_files())
    for css in sorted(f for f in files if f.endswith(".css")):
        text = (VENDOR_DIR / css).read_text("utf-8")
        for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)", text):
            ref = ref.strip()
            if ref.startswith(("data:", "#", "%23")):
                continue
            assert not re.match(r"^([a-z]+:)?//", ref, re.I), f"{css} loads {ref}"
            target = posixpath.normpath(posixpath.join(posixpath.dirname(css), re.split(r"[?#]", ref)[0]))
            stem, ext = posixpath.splitext(target)
            ok = target in files or (ext in (".ttf", ".woff", ".eot", ".svg") and f"{stem}.woff2" in files)
            assert ok, f"{css}: {ref} is not vendored"


@pytest.mark.parametrize("cls", SUPPORTED, ids=lambda c: c.__name__)
def test_every_asset_of_the_supported_elements_is_vendored(cls: type) -> None:
    urls = [u for _n, u in [*getattr(cls, "default_js", []), *getattr(cls, "default_css", [])]]
    assert urls
    missing = [u for u in urls if u not in asset_map()]
    assert not missing, f"{cls.__name__}: not vendored {missing}"


def test_branca_colormap_d3_is_vendored() -> None:
    import inspect

    assert BRANCA_D3 in inspect.getsource(branca.colormap.ColorMap.render)
    assert BRANCA_D3 in asset_map()


def test_static_files_are_served() -> None:
    app = FastAPI()
    mount_static(app)
    mount_static(app)  # idempotent
    with TestClient(app) as client:
        r = client.get(f"{OFFLINE_PREFIX}/leaflet/1.9.3/dist/leaflet.js")
        assert r.status_code == 200
        assert r.headers["cache-control"] == IMMUTABLE
        assert "javascript" in r.headers["content-type"]
        woff2 = next(p for p in _files() if p.endswith("fa-solid-900.woff2"))
        assert client.get(f"{OFFLINE_PREFIX}/{woff2}").headers["content-type"] == "font/woff2"
        assert client.get(f"{OFFLINE_PREFIX}/nope.js").status_code == 404
        assert client.get(f"{OFFLINE_PREFIX}/../offline.py").status_code == 404


# ------------------------------------------------------------------------------ (b) localised HTML
def test_localised_map_has_no_external_urls() -> None:
    class_js = list(folium.folium._default_js)
    html = render(_sample_map())
    assert external_urls(html) == []
    assets = re.findall(r'<(?:script src|link rel="stylesheet" href)="([^"]+)"', html)
    assert len(assets) >= 13
    for url in assets:
        assert url.startswith(OFFLINE_PREFIX + "/"), url
        assert (VENDOR_DIR / url[len(OFFLINE_PREFIX) + 1 :]).is_file(), url
    for name in ("leaflet.js", "leaflet_heat.min.js", "Control.FullScreen.js", "leaflet-search.min.js"):
        assert any(u.endswith(name) for u in assets), name
    # the class-level lists that every folium map shares are left alone
    assert folium.folium._default_js == class_js
    assert folium.Map.default_js[0][1].startswith("https://")


def test_links_added_while_rendering_are_localised_and_rebased() -> None:
    m = _sample_map()
    branca.colormap.LinearColormap(["#ffffff", "#c0392b"], vmin=0, vmax=10, caption="诉求数").add_to(m)
    html = render(m, "static/vendor")  # an exported page next to a static/ directory
    assert external_urls(html) == []
    assert 'src="static/vendor/d3/3.5.5/d3.min.js"' in html
    assert OFFLINE_PREFIX not in html
    again = render(m)  # idempotent, and re-based
    assert f'src="{OFFLINE_PREFIX}/d3/3.5.5/d3.min.js"' in again and "static/vendor/" not in again.replace(
        OFFLINE_PREFIX, ""
    )


def test_time_plugins_render_offline() -> None:
    m = offline_map(location=[39.9, 116.4], zoom_start=11)
    features = [dict(SHUANGJING, properties={**SHUANGJING["properties"], "times": ["2024-01-01"]})]
    plugins.TimestampedGeoJson({"type": "FeatureCollection", "features": features}).add_to(m)
    plugins.HeatMapWithTime([[[39.9, 116.4, 1.0]], [[39.91, 116.41, 1.0]]]).add_to(m)
    style = {"0": {"1704067200": {"color": "#ff0000", "opacity": 0.5}}}
    fc = {"type": "FeatureCollection", "features": [dict(SHUANGJING, id="0")]}
    plugins.TimeSliderChoropleth(fc, styledict=style).add_to(m)
    html = render(m)
    assert external_urls(html) == []
    for name in (
        "leaflet.timedimension.min.js",
        "moment.min.js",
        "d3/4.13.0/build/d3.min.js",
        "heatmap.min.js",
    ):
        assert name in html


# ------------------------------------------------------------------------------ (c) loud failures
def test_unknown_plugin_asset_raises() -> None:
    m = offline_map()
    plugins.Draw().add_to(m)
    with pytest.raises(UnvendoredAssetError, match=r"leaflet\.draw"):
        localise(m)


def test_plugin_added_after_localise_raises_on_render() -> None:
    m = offline_map()
    plugins.MeasureControl().add_to(m)
    with pytest.raises(UnvendoredAssetError, match="leaflet-measure"):
        render(m)


def test_external_url_in_the_page_raises() -> None:
    m = offline_map()
    _figure(m).header.add_child(folium.Element('<script src="//evil.example/x.js"></script>'))
    with pytest.raises(ExternalURLError, match=r"evil\.example"):
        render(m)


def test_external_urls_allow_list() -> None:
    html = (
        '<svg xmlns="http://www.w3.org/2000/svg"></svg><script src="/maps/static/vendor/a.js"></script>'
        '<link href="//cdn.example/x.css"><img src="https://tiles.example/1/2/3.png">'
        "<script>// a comment, not a URL\nvar u = 'http://other.example/api';</script>"
    )
    assert external_urls(html) == [
        "//cdn.example/x.css",
        "http://other.example/api",
        "https://tiles.example/1/2/3.png",
    ]
    assert external_urls(html, allowed=["https://tiles.example/", "//cdn.example/", "http://other"]) == []


# ------------------------------------------------------------------------------ tiles and datum
def test_no_tiles_by_default() -> None:
    assert tiles_config(environ={}) is None
    html = render(offline_map(location=[39.9, 116.4]))
    assert "tileLayer" not in html


def test_tiles_config_sources_and_validation() -> None:
    env = {
        "GRIDGOV_MAP_TILES_URL": "https://tiles.example/{z}/{x}/{y}.png",
        "GRIDGOV_MAP_TILES_ATTRIBUTION": '&copy; <a href="https://tiles.example/about">示例</a>',
        "GRIDGOV_MAP_TILES_DATUM": "GCJ-02",
    }
    cfg = tiles_config(environ=env)
    assert cfg == TilesConfig(
        url=env["GRIDGOV_MAP_TILES_URL"], attribution=env["GRIDGOV_MAP_TILES_ATTRIBUTION"], datum="gcj02"
    )

    class S:
        map_tiles_url = "http://127.0.0.1:8080/{z}/{x}/{y}.png"
        map_tiles_attribution = "本地"
        map_tiles_datum = "cgcs2000"

    assert tiles_config(settings=S(), environ=env) == TilesConfig(S.map_tiles_url, "本地", "wgs84")
    assert tiles_config(url="", environ=env) is None  # an explicit empty URL turns tiles off
    with pytest.raises(ConfigError, match="attribution"):
        tiles_config(url="https://t.example/{z}/{x}/{y}.png", environ={})
    with pytest.raises(ConfigError, match=r"\{x\}"):
        tiles_config(url="https://t.example/{z}/{y}.png", attribution="x", environ={})
    with pytest.raises(ConfigError, match="not supported"):
        tiles_config(url="https://t.example/{z}/{x}/{y}.png", attribution="x", datum="bd09", environ={})
    with pytest.raises(ConfigError, match="datum"):
        tiles_config(url="https://t.example/{z}/{x}/{y}.png", attribution="x", datum="mars", environ={})

    # the page may name its own tile server (and attribution links), nothing else
    assert cfg is not None
    m = offline_map(tiles=cfg, location=[39.9, 116.4])
    html = render(m)
    assert "https://tiles.example/{z}/{x}/{y}.png" in html
    _figure(m).header.add_child(folium.Element('<link rel="stylesheet" href="https://cdn.example/x.css"/>'))
    with pytest.raises(ExternalURLError, match=r"cdn\.example"):
        render(m)


def test_to_display_shifts_to_gcj02_only_for_gcj02_tiles() -> None:
    assert to_display(SHUANGJING, None) is SHUANGJING
    assert to_display(SHUANGJING, "wgs84") is SHUANGJING
    out = to_display(SHUANGJING, "gcj02")
    assert out["properties"] == SHUANGJING["properties"] and out is not SHUANGJING
    ring = SHUANGJING["geometry"]["coordinates"][0]
    lon, lat = wgs84_to_gcj02([p[0] for p in ring], [p[1] for p in ring])
    got = out["geometry"]["coordinates"][0]
    assert [p[0] for p in got] == pytest.approx(lon.tolist(), abs=1e-12)
    assert [p[1] for p in got] == pytest.approx(lat.tolist(), abs=1e-12)
    assert 0.004 < got[0][0] - ring[0][0] < 0.008  # ~500-600 m east in Beijing

    cfg = TilesConfig("https://t.example/{z}/{x}/{y}.png", "x", "gcj02")
    heat = to_display([[39.893, 116.462, 0.7], [39.890, 116.458, 0.2]], cfg, order="latlon")
    glon, glat = wgs84_to_gcj02([116.462, 116.458], [39.893, 39.890])
    assert heat[0] == pytest.approx([glat[0], glon[0], 0.7]) and heat[1][2] == 0.2
    assert to_display((116.462, 39.893), "gcj02") == pytest.approx([glon[0], glat[0]])
    assert to_display([139.7, 35.7], "gcj02") == [139.7, 35.7]  # Tokyo: outside China, unshifted
    poly = shapely.geometry.shape(SHUANGJING["geometry"])
    assert to_display(poly, "gcj02").equals_exact(shapely.geometry.shape(out["geometry"]), 1e-12)
    with pytest.raises(CoordinateRangeError):
        to_display([[39.9, 216.4]], "gcj02", order="latlon")


def test_to_display_geodataframe() -> None:
    import geopandas as gpd

    gdf = gpd.GeoDataFrame.from_features([SHUANGJING], crs="EPSG:4326")
    shifted = to_display(gdf, "gcj02")
    assert shifted.crs == gdf.crs and list(shifted["name"]) == ["双井街道"]
    assert shifted.geometry.iloc[0].centroid.x > gdf.geometry.iloc[0].centroid.x + 0.004
    assert gdf.geometry.iloc[0].equals(shapely.geometry.shape(SHUANGJING["geometry"]))  # input untouched


# ------------------------------------------------------------------------------ (d) a real browser
def _browser_map() -> folium.Map:
    m = _sample_map()
    folium.Marker(
        [39.893, 116.462],
        icon=folium.DivIcon(
            html='<span id="gg-label" style="display:inline-block;font-size:16px;white-space:nowrap">双井街道</span>'
        ),
    ).add_to(m)
    folium.Marker([39.897, 116.455], icon=folium.Icon(icon="info-sign"), tooltip="派出所").add_to(m)
    folium.Marker([39.888, 116.468], icon=folium.Icon(icon="house", prefix="fa", color="red")).add_to(m)
    branca.colormap.LinearColormap(["#ffffff", "#c0392b"], vmin=0, vmax=10, caption="诉求数").add_to(m)
    return m


def test_offline_map_in_chromium(browser_page: _browser.BrowserPage) -> None:
    from api.app import create_app

    t0 = time.perf_counter()
    app = create_app()
    mount_static(app)
    html = render(_browser_map())

    @app.get("/_test/map", response_class=HTMLResponse)
    def _map() -> str:
        return html

    page = browser_page.page
    with _browser.serve_app(app) as base:
        t1 = time.perf_counter()
        page.goto(f"{base}/_test/map", wait_until="networkidle")
        page.wait_for_selector(".leaflet-container")
        page.wait_for_function("document.fonts.status === 'loaded'")
        assert page.locator(".leaflet-container").count() == 1
        assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
        assert page.locator(".leaflet-control-search").count() == 1
        assert page.locator(".leaflet-control-zoom-fullscreen").count() == 1
        assert page.locator(".awesome-marker .glyphicon-info-sign").count() == 1
        assert page.locator("svg .legend, .legend").count() >= 1  # branca's d3 legend

        # the layer control hides and shows the GeoJson layer
        paths = page.locator(".leaflet-overlay-pane path")
        assert paths.count() == 1
        box = page.locator(".leaflet-control-layers-overlays label", has_text="街道").locator("input")
        box.click()
        assert paths.count() == 0
        box.click()
        assert paths.count() == 1

        # the Chinese label renders with real CJK glyphs (not notdef boxes)
        label = page.locator("#gg-label")
        bbox = label.bounding_box()
        assert bbox is not None and bbox["width"] > 40 and bbox["height"] > 10
        distinct = page.evaluate(
            """() => {
                const c = document.createElement('canvas'); c.width = 40; c.height = 40;
                const g = c.getContext('2d');
                const draw = (ch) => { g.clearRect(0, 0, 40, 40); g.font = '32px sans-serif';
                    g.fillText(ch, 2, 32); return Array.from(g.getImageData(0, 0, 40, 40).data).join(); };
                return new Set(['双', '井', '街', '道'].map(draw)).size;
            }"""
        )
        assert distinct == 4, "CJK glyphs render as identical boxes: install fonts-noto-cjk"

        # search finds the street by its Chinese name
        page.locator(".leaflet-control-search .search-button").click()
        search = page.locator(".leaflet-control-search input.search-input")
        search.fill("双井")
        search.dispatch_event("keyup")  # leaflet-search listens to keyup (an IME sends it too)
        page.wait_for_selector(".search-tip", state="visible")
        assert "双井街道" in page.locator(".search-tip").first.inner_text()

        shot = browser_page.screenshot("maps_offline")
        t2 = time.perf_counter()

    browser_page.assert_local_only()
    browser_page.assert_clean()
    fonts = [u for u in browser_page.requests if u.endswith(".woff2")]
    assert any("glyphicons-halflings-regular.woff2" in u for u in fonts), fonts
    assert any("fa-solid-900.woff2" in u for u in fonts), fonts
    assert shot.is_file() and shot.stat().st_size > 10_000
    print(
        f"\nbrowser test: build+render {t1 - t0:.2f}s, page {t2 - t1:.2f}s, {len(browser_page.requests)} requests"
    )


def test_offline_module_exports() -> None:
    for name in offline.__all__:
        assert hasattr(offline, name), name
    assert json.loads((VENDOR_DIR / "MANIFEST.json").read_text("utf-8"))["urls"] == asset_map()


def test_missing_chromium_fails_rather_than_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_browser, "CHROMIUM", Path("/nonexistent/chromium"))
    with pytest.raises(pytest.fail.Exception, match="make test"):
        _browser._require_chromium()
