"""Offline folium maps: every JS/CSS asset from our own server, basemap tiles optional.

Folium and its plugins link their JavaScript and CSS from public CDNs (``default_js`` /
``default_css`` class attributes, and a few links added while rendering, e.g. branca's d3 for
colour-map legends). ``scripts/vendor_assets`` copies exact npm versions of those files into
``maps/static/vendor`` and writes ``MANIFEST.json``, which maps each CDN URL to its vendored
file. Here:

* :func:`localise` rewrites every asset URL of a folium element tree to the vendored file
  under ``base_url`` (``OFFLINE_PREFIX`` when served by the API, a relative ``static/vendor``
  for exported pages) and raises :class:`UnvendoredAssetError` for any URL the manifest does
  not know, so that a new plugin can never silently load from a CDN;
* :func:`render` returns the page's HTML (no file written) after checking it with
  :func:`external_urls`;
* :func:`tiles_config` / :class:`TilesConfig`: the basemap is a URL template with its
  attribution and datum; none by default (``folium.Map(tiles=None)``);
* :func:`to_display` shifts WGS84 geometries to GCJ-02 when the tiles are GCJ-02 (AMap,
  Tencent), because gridgov stores WGS84.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import folium
import numpy as np
from branca.element import Element, Figure, Link

from grid.datum import check_lonlat_range, from_wgs84, parse_datum, wgs84_to_gcj02
from grid.errors import ConfigError, DatumError, GridGovError

__all__ = [
    "MANIFEST_PATH",
    "OFFLINE_PREFIX",
    "STATIC_DIR",
    "VENDOR_DIR",
    "ExternalURLError",
    "TilesConfig",
    "TilesDatum",
    "UnvendoredAssetError",
    "asset_map",
    "external_urls",
    "localise",
    "manifest",
    "offline_map",
    "render",
    "tiles_config",
    "to_display",
    "vendored_url",
]

STATIC_DIR: Path = Path(__file__).resolve().parent / "static"
VENDOR_DIR: Path = STATIC_DIR / "vendor"
MANIFEST_PATH: Path = VENDOR_DIR / "MANIFEST.json"
# where api/routes/maps_static.py serves VENDOR_DIR
OFFLINE_PREFIX = "/maps/static/vendor"

TilesDatum: TypeAlias = Literal["wgs84", "gcj02"]
# URLs in a page that are names, not requests (XML namespaces of SVG, XHTML, XLink, MathML)
XML_NAMESPACE_PREFIXES: tuple[str, ...] = (
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/1998/Math/MathML",
    "http://www.w3.org/XML/1998/namespace",
    "http://www.w3.org/2000/xmlns/",
)

# absolute http(s) URLs anywhere; protocol-relative ones only where they would be fetched
_ABS_URL_RE = re.compile(r"https?://[^\s\"'<>()\\`]+", re.IGNORECASE)
_REL_URL_RE = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?)(//[^\s"'<>()\\`]+)""", re.IGNORECASE
)


class UnvendoredAssetError(GridGovError):
    """A folium/branca asset URL that scripts/vendor_assets has not vendored."""

    code = "unvendored_asset"
    status = 500


class ExternalURLError(UnvendoredAssetError):
    """A rendered page would make a request to a server other than ours."""

    code = "external_url"


# ------------------------------------------------------------------------------ the manifest
@functools.cache
def manifest() -> dict[str, Any]:
    """MANIFEST.json of the vendored files (read once)."""
    try:
        data: dict[str, Any] = json.loads(MANIFEST_PATH.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{MANIFEST_PATH} is missing: run scripts/vendor_assets to vendor the map assets"
        ) from None
    return data


def asset_map() -> dict[str, str]:
    """CDN URL -> vendored path relative to ``VENDOR_DIR``."""
    urls: dict[str, str] = manifest()["urls"]
    return urls


@functools.cache
def _vendored_paths() -> frozenset[str]:
    return frozenset(f["path"] for p in manifest()["packages"] for f in p["files"])


def _norm_base(base_url: str) -> str:
    base = base_url.rstrip("/")
    if not base:
        raise ValueError("base_url must not be empty (use '.' for the page's own directory)")
    return base


def _vendored_rel(url: str, base: str) -> str:
    rel = asset_map().get(url)
    if rel is not None:
        return rel
    if url.startswith(base + "/") and url[len(base) + 1 :] in _vendored_paths():
        return url[len(base) + 1 :]
    raise UnvendoredAssetError(
        f"map asset {url} is not vendored: add its npm package to scripts/vendor_assets, run it "
        "and commit maps/static/vendor (pages must not load from a CDN)",
        details={"url": url},
    )


def vendored_url(url: str, base_url: str = OFFLINE_PREFIX) -> str:
    """The vendored replacement of the CDN ``url`` under ``base_url``.

    A URL already pointing at a vendored file under ``base_url`` is returned unchanged;
    anything else raises :class:`UnvendoredAssetError`.
    """
    base = _norm_base(base_url)
    return f"{base}/{_vendored_rel(url, base)}"


# ------------------------------------------------------------------------------ the tree
def _root(m: Element) -> Figure:
    root = m.get_root()
    if not isinstance(root, Figure):
        raise TypeError(f"{type(m).__name__} is not inside a branca Figure; cannot localise it")
    return root


def _walk(el: Element) -> Iterator[Element]:
    yield el
    if isinstance(el, Figure):
        for part in (el.header, el.html, el.script):
            yield from _walk(part)
    for child in list(el._children.values()):
        yield from _walk(child)


class _LocalHeader(Element):
    """A Figure header whose links are localised as they are added (also during rendering,
    where e.g. branca's ColorMap adds d3 and JSCSSMixin adds each element's default_js/css)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def add_child(self, child: Element, name: str | None = None, index: int | None = None) -> Element:
        if isinstance(child, Link):
            _localise_link(child, self.base_url, self.base_url)
        return super().add_child(child, name=name, index=index)


def _localise_link(link: Link, base_url: str, previous_base: str) -> None:
    """Point ``link`` at its vendored file under ``base_url``; its URL is a CDN one or
    (added while rendering from already localised ``default_js``) one under ``previous_base``."""
    rel = link.__dict__.get("_gridgov_rel")
    if rel is None:
        rel = link.__dict__["_gridgov_rel"] = _vendored_rel(link.url, previous_base)
    link.url = f"{base_url}/{rel}"


def _install_header(fig: Figure, base_url: str) -> None:
    old = fig.header
    if isinstance(old, _LocalHeader):
        previous = old.base_url
        old.base_url = base_url
        header: Element = old
    else:
        previous = base_url
        header = _LocalHeader(base_url)
        header._children = old._children
        header._parent = fig
        fig.header = header
    for child in header._children.values():
        child._parent = header
        if isinstance(child, Link):
            _localise_link(child, base_url, previous)


def localise(m: Element, base_url: str = OFFLINE_PREFIX) -> None:
    """Point every JS/CSS asset of ``m``'s page at the vendored copies under ``base_url``.

    Walks the whole element tree of ``m.get_root()`` (a folium Map, any element in a
    Figure, or the Figure itself): each element's ``default_js`` / ``default_css`` is
    replaced, on the instance, by the vendored URLs (the class lists, shared by every map,
    are left alone), links already in the page header are rewritten, and the header is made
    to rewrite links added later, while rendering. Idempotent; calling it again with another
    ``base_url`` re-bases the page.

    Raises
    ------
    UnvendoredAssetError
        For the first asset URL the manifest does not know; also later, from ``render``,
        for an element added after this call whose assets are not vendored.
    """
    base = _norm_base(base_url)
    fig = _root(m)
    _install_header(fig, base)
    for el in _walk(fig):
        for attr in ("default_js", "default_css"):
            current = getattr(el, attr, None)
            if not current:
                continue
            key = f"_gridgov_orig_{attr}"
            orig = el.__dict__.setdefault(key, [tuple(pair) for pair in current])
            setattr(el, attr, [(name, vendored_url(url, base)) for name, url in orig])


# ------------------------------------------------------------------------------ HTML
def external_urls(html: str, allowed: Iterable[str] = ()) -> list[str]:
    """URLs in ``html`` that point to another server (sorted, unique).

    Absolute ``http(s)://`` URLs anywhere (script text included) and protocol-relative
    ``//host/...`` ones in ``src=``, ``href=`` and ``url(...)``; XML namespace names
    (``http://www.w3.org/2000/svg``...) and URLs starting with one of ``allowed`` are not reported.
    """
    allow = tuple(a for a in allowed if a)
    found = set(_ABS_URL_RE.findall(html)) | set(_REL_URL_RE.findall(html))
    return sorted(u for u in found if not u.startswith(XML_NAMESPACE_PREFIXES) and not u.startswith(allow))


def _tile_urls(fig: Figure) -> set[str]:
    """URLs a page may name because its own tile layers do (template, attribution links)."""
    out: set[str] = set()
    for el in _walk(fig):
        if isinstance(el, folium.TileLayer | folium.WmsTileLayer):
            texts = [str(getattr(el, "tiles", "") or getattr(el, "url", ""))]
            texts.append(str(getattr(el, "options", {}).get("attribution", "")))
            for text in texts:
                out.update(_ABS_URL_RE.findall(text))
                out.update(_REL_URL_RE.findall(text))
                if text.startswith(("http://", "https://", "//")):
                    out.add(text)
    return out


def render(m: Element, base_url: str = OFFLINE_PREFIX, *, allow: Iterable[str] = ()) -> str:
    """Localise ``m`` (see :func:`localise`) and return its page's HTML; no file is written.

    Raises
    ------
    UnvendoredAssetError
        An asset is not vendored.
    ExternalURLError
        The HTML still names another server (other than the page's own tile layers, an
        absolute ``base_url`` and ``allow``).
    """
    base = _norm_base(base_url)
    localise(m, base)
    fig = _root(m)
    html = fig.render()
    allowed = [*allow, *_tile_urls(fig)]
    if re.match(r"^(https?:)?//", base):
        allowed.append(base + "/")
    bad = external_urls(html, allowed)
    if bad:
        raise ExternalURLError(
            f"the map page would load from other servers: {', '.join(bad[:5])}", details={"urls": bad}
        )
    return html


# ------------------------------------------------------------------------------ tiles
@dataclass(frozen=True)
class TilesConfig:
    """A basemap: XYZ URL template (``{z}``, ``{x}``, ``{y}``, optional ``{s}``), its
    attribution (required by every tile provider's terms) and the datum of its pixels."""

    url: str
    attribution: str
    datum: TilesDatum = "wgs84"
    name: str = "底图"
    max_zoom: int = 18
    subdomains: str | None = None

    def tile_layer(self) -> folium.TileLayer:
        kwargs: dict[str, Any] = {}
        if self.subdomains:
            kwargs["subdomains"] = self.subdomains
        return folium.TileLayer(
            tiles=self.url, attr=self.attribution, name=self.name, max_zoom=self.max_zoom, **kwargs
        )


def _tiles_datum(value: str | None) -> TilesDatum:
    try:
        datum = parse_datum(value or "wgs84")
    except DatumError as exc:
        raise ConfigError(f"map tiles datum: {exc.message}") from None
    if datum.name in ("wgs84", "cgcs2000"):
        return "wgs84"
    if datum.name == "gcj02":
        return "gcj02"
    raise ConfigError(
        f"map tiles datum {value!r} is not supported: tiles must be WGS84 (or CGCS2000) or GCJ-02 "
        "Web Mercator XYZ tiles"
    )


def tiles_config(
    url: str | None = None,
    attribution: str | None = None,
    datum: str | None = None,
    *,
    settings: object | None = None,
    environ: Mapping[str, str] | None = None,
) -> TilesConfig | None:
    """The basemap to use, or ``None`` (the default): no tiles, the map draws only our layers.

    Each value comes from the argument, else the ``settings`` object's ``map_tiles_url`` /
    ``map_tiles_attribution`` / ``map_tiles_datum`` attribute, else the environment's
    ``GRIDGOV_MAP_TILES_URL`` / ``GRIDGOV_MAP_TILES_ATTRIBUTION`` / ``GRIDGOV_MAP_TILES_DATUM``.
    ``datum`` is ``wgs84`` (default; ``cgcs2000`` is taken as the same) or ``gcj02``.

    Raises
    ------
    ConfigError
        A URL without ``{z}``/``{x}``/``{y}`` or without an attribution, or another datum.
    """
    env = os.environ if environ is None else environ

    def pick(arg: str | None, key: str) -> str | None:
        if arg is not None:
            return arg
        value = getattr(settings, f"map_tiles_{key}", None) if settings is not None else None
        if value is None:
            value = env.get(f"GRIDGOV_MAP_TILES_{key.upper()}")
        return None if value is None else str(value)

    tiles_url = (pick(url, "url") or "").strip()
    if not tiles_url:
        return None
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in tiles_url]
    if missing:
        raise ConfigError(f"map tiles URL {tiles_url!r} lacks {', '.join(missing)}")
    attr = (pick(attribution, "attribution") or "").strip()
    if not attr:
        raise ConfigError("map tiles need an attribution (GRIDGOV_MAP_TILES_ATTRIBUTION)")
    return TilesConfig(url=tiles_url, attribution=attr, datum=_tiles_datum(pick(datum, "datum")))


def offline_map(
    tiles: TilesConfig | None = None, base_url: str = OFFLINE_PREFIX, *, lean: bool = False, **kwargs: Any
) -> folium.Map:
    """A ``folium.Map`` with no default tiles, ``tiles`` (if any) added, localised to ``base_url``.

    ``kwargs`` go to ``folium.Map`` (``location``, ``zoom_start``...; not ``tiles``).
    Layers added later are localised by :func:`render`. ``lean``: the page loads Leaflet alone,
    not the jQuery, Bootstrap, Font Awesome and awesome-markers that Folium's map loads for its
    markers and icons (a page that draws none of them opens faster).
    """
    if "tiles" in kwargs:
        raise TypeError("offline_map: pass tiles=TilesConfig(...) (or None), not folium's tiles")
    m = folium.Map(tiles=None, **kwargs)
    if lean:
        m.default_js = [(n, u) for n, u in folium.Map.default_js if n == "leaflet"]
        m.default_css = [(n, u) for n, u in folium.Map.default_css if n == "leaflet_css"]
    if tiles is not None:
        tiles.tile_layer().add_to(m)
    localise(m, base_url)
    return m


# ------------------------------------------------------------------------------ display datum
def _display_datum(tiles_datum: str | TilesConfig | None) -> TilesDatum:
    if tiles_datum is None:
        return "wgs84"
    if isinstance(tiles_datum, TilesConfig):
        return tiles_datum.datum
    return _tiles_datum(tiles_datum)


def _shift_positions(pos: np.ndarray) -> np.ndarray:
    """(N, >=2) lon/lat[/...] WGS84 -> GCJ-02 (extra columns kept)."""
    out = np.array(pos, dtype=float, copy=True)
    if out.size:
        check_lonlat_range(out[:, 0], out[:, 1], datum_name="wgs84", context="map display")
        lon, lat = wgs84_to_gcj02(out[:, 0], out[:, 1])
        out[:, 0], out[:, 1] = lon, lat
    return out


def _is_position(v: Any) -> bool:
    return (
        isinstance(v, Sequence | np.ndarray)
        and not isinstance(v, str)
        and len(v) >= 2
        and all(isinstance(c, int | float | np.number) and not isinstance(c, bool) for c in v)
    )


def _shift_coords(coords: Any) -> Any:
    """Nested GeoJSON coordinate lists, shifted; same nesting, lists of floats."""
    flat: list[Sequence[float]] = []

    def collect(c: Any) -> None:
        if _is_position(c):
            flat.append(c)
        else:
            for sub in c:
                collect(sub)

    collect(coords)
    if not flat:
        return copy.deepcopy(coords)
    shifted = iter(_shift_positions(np.array([list(p[:2]) for p in flat], dtype=float)).tolist())

    def rebuild(c: Any) -> Any:
        if _is_position(c):
            lon, lat = next(shifted)
            return [lon, lat, *[float(x) for x in c[2:]]]
        return [rebuild(sub) for sub in c]

    return rebuild(coords)


def _shift_geojson(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if k == "coordinates":
                out[k] = _shift_coords(v)
            elif k in ("geometry", "features", "geometries"):
                out[k] = _shift_geojson(v)
            elif k != "bbox":  # dropped: a WGS84 bbox would be wrong, and it is optional
                out[k] = copy.deepcopy(v)
        return out
    if isinstance(obj, list | tuple):
        return [_shift_geojson(v) for v in obj]
    return copy.deepcopy(obj)


def to_display(obj: Any, tiles_datum: str | TilesConfig | None, *, order: str = "lonlat") -> Any:
    """Geometries stored in WGS84, shifted for display on tiles of ``tiles_datum``.

    With no tiles or WGS84 tiles ``obj`` is returned as it is. With GCJ-02 tiles the result
    is a new object of the same kind, its coordinates shifted by ``grid.datum``'s WGS84 ->
    GCJ-02 formula (exact to the published one; unshifted outside China):

    * a GeoJSON mapping (Geometry, Feature, FeatureCollection; properties kept, ``bbox``
      dropped) or an object with ``__geo_interface__`` -> a GeoJSON dict;
    * a shapely geometry -> a shapely geometry; a GeoSeries / GeoDataFrame -> a copy (its
      CRS label stays EPSG:4326 so that folium does not reproject it);
    * a position or a sequence of positions -> list(s) of floats. ``order="lonlat"``
      (GeoJSON) or ``"latlon"`` (folium's Marker / HeatMap order); values after the first
      two (a heat-map weight, an altitude) are kept.

    Raises
    ------
    CoordinateRangeError
        Coordinates that are not plausible WGS84 degrees.
    """
    if order not in ("lonlat", "latlon"):
        raise ValueError("order must be 'lonlat' or 'latlon'")
    if _display_datum(tiles_datum) == "wgs84":
        return obj
    import shapely

    if isinstance(obj, shapely.Geometry):
        return from_wgs84([obj], "gcj02")[0]
    if hasattr(obj, "geometry") and hasattr(obj, "set_geometry"):  # GeoDataFrame
        out = obj.copy()
        geom = out.geometry
        return out.set_geometry(type(geom)(from_wgs84(geom, "gcj02"), index=geom.index, crs=geom.crs))
    if hasattr(obj, "geom_type") and hasattr(obj, "crs"):  # GeoSeries
        return type(obj)(from_wgs84(obj, "gcj02"), index=obj.index, crs=obj.crs)
    if isinstance(obj, Mapping):
        return _shift_geojson(obj)
    if hasattr(obj, "__geo_interface__"):
        return _shift_geojson(obj.__geo_interface__)
    swap = order == "latlon"
    if _is_position(obj):
        p = list(obj)
        one = [p[1], p[0]] if swap else p[:2]
        lon, lat = _shift_positions(np.array([one], dtype=float))[0].tolist()
        return [lat, lon, *p[2:]] if swap else [lon, lat, *p[2:]]
    positions = [list(p) for p in obj]
    if not all(_is_position(p) for p in positions):
        raise TypeError("to_display: expected GeoJSON, shapely/geopandas geometries or positions")
    if not positions:
        return []
    lonlat = np.array([[p[1], p[0]] if swap else p[:2] for p in positions], dtype=float)
    shifted = _shift_positions(lonlat).tolist()
    return [
        [s[1], s[0], *p[2:]] if swap else [s[0], s[1], *p[2:]]
        for s, p in zip(shifted, positions, strict=True)
    ]
