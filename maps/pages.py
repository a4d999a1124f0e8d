"""Map pages for grid officers, planners and leaders: Folium, offline, small.

:func:`unit_page` returns the HTML of one unit's page (no file written): boundaries of every level
under a hierarchical layer control, a choropleth of petitions per 100 households on the finest
level (classes by mapclassify, a legend, popups with code, name, officer, counts and overdue
count, a link to that unit's own page), a heatmap of pre-aggregated weights, a light base of the
gazetteer's roads and buildings when no tile source is set, a search box over unit names and codes
(and over addresses through our own geocoder when served), and a weekly time slider. Everything
the page draws is aggregated on the server (:mod:`maps.aggregate`): its size does not grow with
the number of petitions, and no reporter's location is drawn as an exact point.

How the page is put together, and why. Folium makes the map, the layer control, the plugins and
their (vendored) assets; the data are not templated into Folium's per-feature JavaScript (its
GeoJson styler lists every feature id per style, its popups copy each feature's HTML), which
made a district page of 2,000 cells 6 MB. Instead the page carries its data once, as one
``<script type="application/json">`` block in feature order (geometries, then per-cell arrays of
counts, classes and weekly counts), and a small script (``_RUNTIME_JS``) builds the Leaflet
layers, styles, popups, search index and slider from it in the browser. The finest level's
features serve both its boundary layer and the choropleth. The block is inserted after Folium has
rendered (and :func:`maps.offline.render` has checked every asset URL), so the large JSON goes
neither through Jinja nor through the URL scan; ``<`` is escaped in it, so it cannot close the
script element.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from typing import Any

import folium
import numpy as np
import orjson
from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.plugins import Fullscreen, HeatMap
from folium.template import Template

from maps.aggregate import Classes, cap_heat, classify
from maps.offline import OFFLINE_PREFIX, TilesConfig, offline_map, render, to_display

__all__ = [
    "DATA_ELEMENT_ID",
    "LEVEL_LABELS",
    "UnitPage",
    "cell_stats",
    "decode_geometry",
    "encode_geometry",
    "page_data",
    "read_page_data",
    "unit_page",
]

DATA_ELEMENT_ID = "gg-data"
_PLACEHOLDER = "@@gridgov-page-data@@"
LEVEL_LABELS = {
    "district": "区 district",
    "street": "街道 street",
    "community": "社区 community",
    "grid": "网格 grid",
}
LEVEL_STYLE = {
    "district": {"color": "#222222", "weight": 3.0},
    "street": {"color": "#3b3b98", "weight": 2.2},
    "community": {"color": "#1b7f5b", "weight": 1.4},
    "grid": {"color": "#555555", "weight": 0.6},
}
HEAT_MAX_POINTS = 16000  # weighted points; beyond it the bins are coarsened (x2, x4, ...)


@dataclass
class UnitPage:
    """What one page shows; built by :func:`grid.db.mapdata.unit_page_data` or by hand."""

    code: str
    name: str
    level: str
    layers: list[tuple[str, dict[str, Any]]]  # (level, FeatureCollection), coarse -> fine; WGS84
    stats: dict[
        str, dict[str, Any]
    ]  # code of the finest level -> petitions_shown, per100, overdue_shown, officer, households
    heat: list[list[float]] = field(default_factory=list)  # [[lat, lon, weight]]
    # ISO week start -> {code: petitions}; the slider scales a week by the number of weeks so that its
    # colours compare with the whole range's
    weeks: dict[str, dict[str, int]] = field(default_factory=dict)
    base: dict[str, Any] | None = None  # light base layer (roads, buildings) when no tiles
    filters: dict[str, Any] = field(default_factory=dict)
    k_min: int = 3
    href: str = "/maps/unit/{code}"  # drill-down link of a unit
    api_base: str | None = ""  # address search through /v1/geocode ("" = same server; None = off)
    tiles: TilesConfig | None = None
    notes: list[str] = field(default_factory=list)
    # hot / cold cells (codes of the finest level) and proactive tasks
    # ({title, evidence, department, lat, lon, colour}) from grid.insights
    insights: dict[str, Any] | None = None
    heat_cell_m: float = 50.0  # the bin size of ``heat``
    heat_max_points: int = HEAT_MAX_POINTS


# ------------------------------------------------------------------------------ the browser side
_RUNTIME_JS = r"""
var gg = (function() {
  var data = JSON.parse(document.getElementById('%(data_id)s').textContent);
  var map = %(map)s, levels = data.levels, cells = data.cells, byCode = {}, colours = data.classes.colours;
  // the view first: layers added after it are projected once, not once more by a later fitBounds
  if (data.bounds) map.fitBounds(data.bounds);
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function(c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  function fmt(v) { return v == null ? '–' : (typeof v === 'number' && v %% 1 ? v.toFixed(1) : String(v)); }
  function href(code) { return esc(data.href.replace('{code}', code)); }
  // geometries arrive as integer rings: 1e-5 degrees, the first vertex absolute, then deltas
  function decode(g) {
    return g.map(function(poly) {
      return poly.map(function(r) {
        var out = new Array(r.length / 2), x = 0, y = 0;
        for (var k = 0; k < r.length; k += 2) { x += r[k]; y += r[k + 1]; out[k / 2] = L.latLng(y / 1e5, x / 1e5); }
        return out;
      });
    });
  }
  levels.forEach(function(lv, depth) {
    lv.codes.forEach(function(code, i) { byCode[code] = {lv: lv, i: i, depth: depth}; });
  });
  var finest = levels[levels.length - 1], n = finest.codes.length;
  var shapes = finest.geoms.map(decode), box = new Float64Array(4 * n);
  shapes.forEach(function(polys, i) {
    var s = 90, w = 180, nn = -90, e = -180;
    polys.forEach(function(rings) { rings[0].forEach(function(p) {
      if (p.lat < s) s = p.lat; if (p.lat > nn) nn = p.lat; if (p.lng < w) w = p.lng; if (p.lng > e) e = p.lng;
    }); });
    box[4 * i] = s; box[4 * i + 1] = w; box[4 * i + 2] = nn; box[4 * i + 3] = e;
  });
  // which cell is under a point: bounding boxes, then even-odd ray casting over the cell's rings
  function hit(ll) {
    var y = ll.lat, x = ll.lng;
    for (var i = 0; i < n; i++) {
      if (y < box[4 * i] || y > box[4 * i + 2] || x < box[4 * i + 1] || x > box[4 * i + 3]) continue;
      var inside = false;
      shapes[i].forEach(function(rings) { rings.forEach(function(r) {
        for (var a = 0, b = r.length - 1; a < r.length; b = a++) {
          if ((r[a].lat > y) !== (r[b].lat > y) &&
              x < (r[b].lng - r[a].lng) * (y - r[a].lat) / (r[b].lat - r[a].lat) + r[a].lng) inside = !inside;
        }
      }); });
      if (inside) return i;
    }
    return -1;
  }
  function fillsAll() { return cells.cls.map(function(c) { return c < 0 ? '#ffffff' : colours[c]; }); }
  var fills = fillsAll();
  function colour(v) {
    if (v == null) return '#ffffff';
    for (var i = 0; i < data.classes.bins.length; i++) { if (v <= data.classes.bins[i]) return colours[i]; }
    return colours[colours.length - 1];
  }
  function chain(depth, i) {  // the unit and the units above it on this page, finest first
    var out = [];
    while (depth >= 0 && i >= 0) {
      var lv = levels[depth];
      out.push({code: lv.codes[i], name: lv.names[i], level: lv.level});
      i = lv.parents ? lv.parents[i] : -1; depth -= 1;
    }
    return out;
  }
  function cellPopup(i) {
    var rows = [
      ['编码 code', finest.codes[i]], ['名称 name', finest.names[i]], ['网格员 officer', cells.officer[i]],
      ['户数 households', cells.households[i]], ['诉求 petitions', cells.petitions[i]],
      ['每百户 per 100 households', cells.per100[i]], ['超期 overdue', cells.overdue[i]]];
    var links = chain(levels.length - 1, i).map(function(u) {
      return '<a href="' + href(u.code) + '" target="_top">' + esc(u.name) + '</a>';
    });
    return '<table>' + rows.map(function(r) {
      return '<tr><th style="text-align:left;padding-right:6px">' + esc(r[0]) + '</th><td>' + esc(fmt(r[1])) + '</td></tr>';
    }).join('') + '</table>打开地图 open the map of: ' + links.join(' · ');
  }
  // the choropleth: one canvas polygon per colour (not one Leaflet layer per cell: a district's
  // thousands of cells would take seconds to add); popups and hover find the cell by hit()
  var choropleth = L.featureGroup(), highlight = L.polygon([], {fill: false, color: '#000000', weight: 2.5, interactive: false});
  function paint() {
    var byFill = {};
    shapes.forEach(function(polys, i) { (byFill[fills[i]] = byFill[fills[i]] || []).push.apply(byFill[fills[i]], polys); });
    choropleth.clearLayers();
    Object.keys(byFill).forEach(function(f) {
      choropleth.addLayer(L.polygon(byFill[f], {fillColor: f, fillOpacity: 0.65, color: '#666666', weight: 0.6, smoothFactor: 0.5}));
    });
  }
  paint();
  choropleth.on('click', function(e) {
    var i = hit(e.latlng);
    if (i >= 0) L.popup().setLatLng(e.latlng).setContent(cellPopup(i)).openOn(map);
  });
  var info = L.control({position: 'topright'}), infoDiv = null, current = -1;
  info.onAdd = function() {
    infoDiv = L.DomUtil.create('div', 'gg-info');
    infoDiv.style.cssText = 'background:rgba(255,255,255,.92);padding:4px 8px;border-radius:4px;font:12px sans-serif;min-width:160px';
    infoDiv.textContent = '指向网格查看 hover a cell';
    return infoDiv;
  };
  function hover(e) {
    var i = hit(e.latlng);
    if (i === current) return;
    current = i;
    if (i < 0) { highlight.setLatLngs([]); if (infoDiv) infoDiv.textContent = '指向网格查看 hover a cell'; return; }
    highlight.setLatLngs(shapes[i]);
    if (infoDiv) infoDiv.innerHTML = '<b>' + esc(finest.names[i]) + '</b> ' + esc(finest.codes[i]) +
      '<br>每百户 per 100 households: ' + esc(fmt(cells.per100[i])) + ' · 诉求 petitions: ' + esc(fmt(cells.petitions[i]));
  }
  choropleth.on('add', function() { highlight.addTo(map); info.addTo(map); map.on('mousemove', hover); });
  choropleth.on('remove', function() { highlight.remove(); info.remove(); map.off('mousemove', hover); current = -1; });
  function layer(key) {
    if (key === 'base') {
      return L.geoJson(data.base, {
        interactive: false, smoothFactor: 1.5,
        style: function() { return {color: '#bbbbbb', weight: 1, fillColor: '#dddddd', fillOpacity: 0.4}; },
        pointToLayer: function(f, ll) { return L.circleMarker(ll, {radius: 2, color: '#bbbbbb', interactive: false}); }
      });
    }
    if (key === 'heat') return L.heatLayer(data.heat.points, data.heat.options);
    if (key === 'hotspots') {  // Gi* hot cells: thick red outlines (cold ones blue, dashed)
      var hs = L.featureGroup();
      data.insights.hot.forEach(function(i) {
        hs.addLayer(L.polygon(shapes[i], {fill: false, color: '#b10026', weight: 3, interactive: false}));
      });
      data.insights.cold.forEach(function(i) {
        hs.addLayer(L.polygon(shapes[i], {fill: false, color: '#2166ac', weight: 2, dashArray: '4 4', interactive: false}));
      });
      return hs;
    }
    if (key === 'tasks') {  // the proactive task list: a marker per task, its evidence in the popup
      var tk = L.featureGroup();
      data.insights.tasks.forEach(function(t) {
        var m = L.circleMarker([t.lat, t.lon], {radius: 7, color: '#000000', weight: 1.5, fillColor: t.colour || '#6a3d9a', fillOpacity: 0.9});
        m.bindTooltip(esc(t.title));
        m.bindPopup('<b>' + esc(t.title) + '</b><br>' + esc(t.evidence) + (t.department ? '<br>建议主办 lead: ' + esc(t.department) : ''));
        tk.addLayer(m);
      });
      return tk;
    }
    if (key === 'choropleth') return choropleth;
    // a level's boundaries: one line layer of all its rings (closed), drawn over the cells
    var lv = levels[+key.split(':')[1]], rings = [];
    (lv === finest ? shapes : lv.geoms.map(decode)).forEach(function(polys) {
      polys.forEach(function(poly) { poly.forEach(function(r) { rings.push(r.concat([r[0]])); }); });
    });
    return L.polyline(rings, {interactive: false, color: lv.style.color, weight: lv.style.weight, smoothFactor: 0.5});
  }
  // a layer that starts hidden is built when it is first shown
  function lazy(key, show) {
    if (show) return layer(key);
    var group = L.layerGroup(), built = false;
    group.on('add', function() { if (!built) { built = true; group.addLayer(layer(key)); } });
    return group;
  }
  function bounds(code) {
    var hit = byCode[code];
    if (!hit) return null;
    var b = L.latLngBounds([]);
    (hit.lv === finest ? shapes[hit.i] : decode(hit.lv.geoms[hit.i])).forEach(function(poly) {
      poly.forEach(function(r) { b.extend(r); });
    });
    return b;
  }
  function search() {
    var ctl = L.control({position: 'topleft'});
    ctl.onAdd = function() {
      var d = L.DomUtil.create('div', 'gg-search');
      d.style.cssText = 'background:#fff;padding:4px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3)';
      d.innerHTML = '<input id="gg-q" type="search" placeholder="搜索 单元 / 编码 / 地址" style="width:210px">' +
                    '<div id="gg-hits" style="font:12px sans-serif;max-height:180px;overflow:auto"></div>';
      L.DomEvent.disableClickPropagation(d);
      return d;
    };
    ctl.addTo(map);
    var q = document.getElementById('gg-q'), hits = document.getElementById('gg-hits');
    function go(b) { map.fitBounds(b); }
    function show(list) {
      hits.innerHTML = '';
      list.slice(0, 8).forEach(function(h) {
        var a = document.createElement('div');
        a.className = 'gg-hit'; a.style.cssText = 'cursor:pointer;padding:2px';
        a.textContent = h.label; a.onclick = function() { go(h.bounds()); hits.innerHTML = ''; };
        hits.appendChild(a);
      });
    }
    q.addEventListener('keydown', function(e) {
      if (e.key !== 'Enter') return;
      var s = q.value.trim(); if (!s) return;
      var found = [];
      Object.keys(byCode).forEach(function(code) {
        var h = byCode[code], name = h.lv.names[h.i];
        if (String(name).indexOf(s) >= 0 || code.indexOf(s) === 0) {
          found.push({label: name + ' ' + code, depth: h.depth, bounds: function() { return bounds(code); }});
        }
      });
      found.sort(function(a, b) { return a.depth - b.depth || (a.label < b.label ? -1 : 1); });
      if (found.length === 1) { go(found[0].bounds()); }
      if (found.length || data.api === null) { show(found); if (!found.length) hits.textContent = '未找到 not found'; return; }
      fetch(data.api + '/v1/geocode?q=' + encodeURIComponent(s)).then(function(r) { return r.json(); })
        .then(function(g) {
          if (g.lon == null) { hits.textContent = '未找到 not found'; return; }
          var d = 0.0015, b = L.latLngBounds([g.lat - d, g.lon - d], [g.lat + d, g.lon + d]);
          go(b); show([{label: (g.name || s) + (g.cell_code ? ' → ' + g.cell_code : ''), bounds: function() { return b; }}]);
        }).catch(function() { hits.textContent = '地址搜索不可用 address search unavailable'; });
    });
  }
  function slider() {
    var weeks = data.weeks;
    if (!weeks || !weeks.labels.length) return;
    var nw = weeks.labels.length, ctl = L.control({position: 'bottomright'});
    ctl.onAdd = function() {
      var d = L.DomUtil.create('div', 'gg-slider');
      d.style.cssText = 'background:#fff;padding:6px;border-radius:4px;font:12px sans-serif';
      d.innerHTML = '<div>周 week: <b id="gg-week">全部 all</b></div>' +
        '<input id="gg-range" type="range" min="0" max="' + nw + '" value="' + nw + '" style="width:220px">';
      L.DomEvent.disableClickPropagation(d);
      return d;
    };
    ctl.addTo(map);
    var r = document.getElementById('gg-range'), w = document.getElementById('gg-week');
    r.addEventListener('input', function() {
      var k = +r.value;
      if (k === nw) {
        w.textContent = '全部 all';
        fills = fillsAll();
      } else {
        w.textContent = weeks.labels[k];
        // a week's rate, scaled by the number of weeks so that its colours compare with the whole range's
        fills = weeks.counts[k].map(function(c, i) {
          var hh = cells.households[i];
          return (c < data.k || !hh) ? '#ffffff' : colour(100 * c * nw / hh);
        });
      }
      paint();
    });
  }
  return {data: data, layer: lazy, bounds: bounds, hit: hit, search: search, slider: slider};
})();
"""


class _Runtime(MacroElement):
    """Reads the page's data block and defines ``gg`` (layers, popups, search, slider) before any
    layer is made."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this.js }}
        {% endmacro %}
        """
    )

    def __init__(self, map_name: str) -> None:
        super().__init__()
        self._name = "GridgovRuntime"
        self.js = _RUNTIME_JS % {"data_id": DATA_ELEMENT_ID, "map": map_name}


class _Controls(MacroElement):
    """The search box and the weekly slider (after the layers and the layer control)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        gg.search();
        gg.slider();
        {% endmacro %}
        """
    )


class _DataLayer(Layer):
    """A layer the runtime builds from the page's data block (``key``: base, choropleth, level:i)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = gg.layer({{ this.key|tojson }}, {{ this.show|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, key: str, name: str, show: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "GridgovLayer"
        self.key = key


class _HeatLayer(JSCSSMixin, _DataLayer):
    """leaflet.heat over the data block's weighted points (its asset vendored like Folium's HeatMap)."""

    default_js = HeatMap.default_js  # the same vendored leaflet.heat

    def __init__(self, name: str, show: bool = False) -> None:
        super().__init__("heat", name, show)


# ------------------------------------------------------------------------------ the server side
def _fmt_bin(v: float) -> str:
    return f"{v:.1f}"


def _legend_html(title: str, items: list[tuple[str, str]], empty_label: str, notes: list[str]) -> str:
    swatch = "display:inline-block;width:14px;height:10px;border:1px solid #999;background:"
    rows = "".join(f"<span style='{swatch}{c}'></span> {html.escape(label)}<br>" for c, label in items)
    rows += f"<span style='{swatch}#ffffff'></span> {html.escape(empty_label)}<br>"
    rows += "".join(f"<span style='color:#555'>{html.escape(n)}</span><br>" for n in notes)
    return (
        "<div id='gg-legend' class='gg-legend' style='position:absolute;bottom:56px;left:10px;z-index:1000;"
        "background:rgba(255,255,255,0.92);padding:8px 10px;border-radius:4px;font:12px/1.4 sans-serif;"
        f"box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:320px'><b>{html.escape(title)}</b><br>{rows}</div>"
    )


def _num(v: Any) -> Any:
    """A JSON-safe number (None for missing or not finite)."""
    if v is None:
        return None
    if isinstance(v, float):
        return round(v, 2) if math.isfinite(v) else None
    return v


def _encode_ring(coords: Any) -> list[int]:
    """A ring as integers of 1e-5 degrees, the first vertex absolute, then deltas; the closing
    vertex dropped (Leaflet closes polygons)."""
    # plain Python: rings are short, and numpy's per-call overhead dominates on thousands of them
    n = len(coords)
    if n > 1 and coords[0][0] == coords[-1][0] and coords[0][1] == coords[-1][1]:
        n -= 1
    out: list[int] = []
    px = py = 0
    for k in range(n):
        x = round(coords[k][0] * 1e5)
        y = round(coords[k][1] * 1e5)
        out.append(x - px)
        out.append(y - py)
        px, py = x, y
    return out


def encode_geometry(geom: dict[str, Any]) -> list[list[list[int]]]:
    """A GeoJSON (Multi)Polygon as ``[polygon][ring][x0, y0, dx1, dy1, ...]`` (see ``_encode_ring``)."""
    if geom["type"] == "Polygon":
        polys = [geom["coordinates"]]
    elif geom["type"] == "MultiPolygon":
        polys = geom["coordinates"]
    else:
        raise ValueError(f"a unit's boundary must be polygonal, not {geom['type']}")
    return [[_encode_ring(r) for r in poly if len(r)] for poly in polys if len(poly)]


def decode_geometry(enc: list[list[list[int]]]) -> list[list[list[tuple[float, float]]]]:
    """The inverse of :func:`encode_geometry`: ``[polygon][ring][(lon, lat)]`` (rings not closed)."""
    out = []
    for poly in enc:
        rings = []
        for r in poly:
            a = np.cumsum(np.asarray(r, dtype="int64").reshape(-1, 2), axis=0) / 1e5
            rings.append([(float(x), float(y)) for x, y in a])
        out.append(rings)
    return out


def _parents(feats: list[dict[str, Any]], above: list[str]) -> list[int]:
    """For each feature the position of its parent among the codes of the level above (-1: not on
    the page): its ``parent`` property, else the longest code above that prefixes its own (the
    national division codes nest so)."""
    where = {c: k for k, c in enumerate(above)}
    lengths = sorted({len(c) for c in above}, reverse=True)
    out = []
    for f in feats:
        p = f["properties"].get("parent")
        code = f["properties"]["code"]
        k = where.get(p, -1) if p else -1
        if k < 0:
            k = next((where[code[:n]] for n in lengths if n < len(code) and code[:n] in where), -1)
        out.append(k)
    return out


def _heat_points(pts: list[list[float]]) -> list[list[float]]:
    """``[[lat, lon, weight]]`` rounded (1e-6 degrees, weights to 0.01) in one numpy pass."""
    if not pts:
        return []
    a = np.asarray(pts, dtype="float64")[:, :3]
    a = a[np.isfinite(a).all(axis=1)]
    out: list[list[float]] = np.column_stack([a[:, :2].round(6), a[:, 2].round(2)]).tolist()
    return out


def _slim(fc: dict[str, Any]) -> dict[str, Any]:
    """The features with only what the page uses (code, name, parent) and their geometry."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "code": str(f["properties"].get("code", "")),
                    "name": str(f["properties"].get("name", "")),
                    "parent": f["properties"].get("parent"),
                },
                "geometry": f["geometry"],
            }
            for f in fc.get("features", [])
            if f.get("geometry")
        ],
    }


def _bare(fc: dict[str, Any]) -> dict[str, Any]:
    """Geometries only (the light base needs no properties)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {}, "geometry": f["geometry"]}
            for f in fc.get("features", [])
            if f.get("geometry")
        ],
    }


def _bounds(fc: dict[str, Any]) -> list[list[float]] | None:
    import shapely

    geoms = [shapely.geometry.shape(f["geometry"]) for f in fc.get("features", []) if f.get("geometry")]
    if not geoms:
        return None
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    return [[float(y0), float(x0)], [float(y1), float(x1)]]


def page_data(page: UnitPage) -> tuple[dict[str, Any], Classes, float]:
    """The data block of ``page`` (JSON-able, display datum), its classes and the heat bin size."""
    tiles = page.tiles
    disp = (lambda obj: to_display(obj, tiles)) if tiles is not None else (lambda obj: obj)
    levels: list[dict[str, Any]] = []
    shown = []
    for level, fc in page.layers:
        slim = disp(_slim(fc))
        shown.append(slim)
        feats = slim["features"]
        codes = [f["properties"]["code"] for f in feats]
        parents = _parents(feats, levels[-1]["codes"]) if levels else None
        levels.append(
            {
                "level": level,
                "style": LEVEL_STYLE.get(level, {"color": "#444444", "weight": 1.0}),
                "parents": parents,
                "codes": codes,
                "names": [f["properties"]["name"] for f in feats],
                "geoms": [encode_geometry(f["geometry"]) for f in feats],
            }
        )
    codes = levels[-1]["codes"]
    st = [page.stats.get(c, {}) for c in codes]
    rates = [_num(s.get("per100")) for s in st]
    classes: Classes = classify(rates, k=5)
    cells = {
        "petitions": [s.get("petitions_shown") for s in st],
        "overdue": [s.get("overdue_shown") for s in st],
        "per100": rates,
        "households": [s.get("households") for s in st],
        "officer": [s.get("officer") for s in st],
        "cls": classes.labels,
    }
    heat_pts, heat_m = cap_heat(page.heat, page.heat_max_points, page.heat_cell_m) if page.heat else ([], 0.0)
    if heat_pts and tiles is not None:
        heat_pts = to_display(heat_pts, tiles, order="latlon")
    heat = {
        "points": _heat_points(heat_pts),
        "options": {"radius": 14, "blur": 18, "minOpacity": 0.25, "maxZoom": 17},
    }
    labels = sorted(page.weeks)
    weeks = {
        "labels": labels,
        "counts": [[int(page.weeks[w].get(c, 0)) for c in codes] for w in labels],
    }
    data = {
        "levels": levels,
        "cells": cells,
        "classes": {"bins": [_num(b) for b in classes.bins], "colours": classes.colours},
        "heat": heat,
        "weeks": weeks,
        "base": disp(_bare(page.base)) if page.base is not None and tiles is None else None,
        "insights": _insights(page, codes),
        "bounds": _bounds(shown[0]),  # display datum: from the shifted features
        "href": page.href,
        "api": page.api_base,
        "k": page.k_min,
    }
    return data, classes, heat_m


def _insights(page: UnitPage, codes: list[str]) -> dict[str, Any] | None:
    """Hot and cold cells as positions among ``codes``; task markers in the display datum."""
    ins = page.insights
    if not ins:
        return None
    where = {c: i for i, c in enumerate(codes)}
    tasks = [dict(t) for t in ins.get("tasks", []) if t.get("lat") is not None and t.get("lon") is not None]
    if tasks and page.tiles is not None:
        shifted = to_display([[t["lat"], t["lon"]] for t in tasks], page.tiles, order="latlon")
        for t, (lat, lon) in zip(tasks, shifted, strict=True):
            t["lat"], t["lon"] = lat, lon
    for t in tasks:  # a task's place, never finer than about 10 m
        t["lat"], t["lon"] = round(float(t["lat"]), 4), round(float(t["lon"]), 4)
    return {
        "hot": [where[c] for c in ins.get("hot", []) if c in where],
        "cold": [where[c] for c in ins.get("cold", []) if c in where],
        "tasks": tasks,
    }


def _data_block(data: dict[str, Any]) -> str:
    # orjson: ~10x json's speed on megabytes of coordinates; NaN is written as null
    blob = orjson.dumps(data).decode()
    return blob.replace("<", "\\u003c")  # nothing in it can end the script element


def unit_page(page: UnitPage, *, base_url: str = OFFLINE_PREFIX) -> str:
    """The HTML of a unit's map page (offline: every asset under ``base_url``)."""
    tiles = page.tiles
    data, classes, heat_m = page_data(page)
    m = offline_map(tiles=tiles, base_url=base_url, lean=True, control_scale=True, prefer_canvas=True)
    title = f"{page.name} {page.code}"
    root: Any = m.get_root()
    root.header.add_child(Element(f"<title>{html.escape(title)} · gridgov</title>"))
    root.html.add_child(
        Element(f'<script type="application/json" id="{DATA_ELEMENT_ID}">{_PLACEHOLDER}</script>')
    )
    Fullscreen().add_to(m)
    _Runtime(m.get_name()).add_to(m)

    if data["base"] is not None:
        _DataLayer("base", "底图 roads & buildings (gazetteer)").add_to(m)
    finest_level = page.layers[-1][0]
    _DataLayer(
        "choropleth",
        f"诉求密度 petitions per 100 households ({LEVEL_LABELS.get(finest_level, finest_level)})",
    ).add_to(m)
    if data["heat"]["points"]:
        _HeatLayer(f"热力 heat ({heat_m:g} m bins)").add_to(m)
    if data["insights"] is not None:
        _DataLayer("hotspots", "热点 hotspots (Gi*, FDR)").add_to(m)
        _DataLayer("tasks", f"主动治理任务 proactive tasks ({len(data['insights']['tasks'])})").add_to(m)
    for depth, (level, _fc) in enumerate(page.layers):
        label = ("— " * depth) + f"边界 {LEVEL_LABELS.get(level, level)}"
        # the finest level's outlines are drawn by the choropleth; its own boundary layer starts hidden
        _DataLayer(f"level:{depth}", label, show=level != finest_level or len(page.layers) == 1).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    _Controls().add_to(m)

    items = []
    lo = 0.0
    for colour, hi in zip(classes.colours, classes.bins, strict=True):
        items.append((colour, f"{_fmt_bin(lo)} – {_fmt_bin(hi)}"))
        lo = hi
    notes = [f"单元格诉求少于 {page.k_min} 件不显示数字 (counts under {page.k_min} hidden)"]
    if page.heat and heat_m != page.heat_cell_m:
        notes.append(f"热力按 {heat_m:g} 米格汇总 (heat binned at {heat_m:g} m)")
    if data["insights"] is not None:
        notes.append(
            "红框 热点 / 蓝虚线 冷点 (Gi*, FDR) · 圆点 主动治理任务 (red outline: hot cells, dashed blue: cold, dots: tasks by kind)"
        )
    if page.filters:
        notes.append(" · ".join(f"{k}: {v}" for k, v in page.filters.items() if v))
    if tiles is not None and tiles.datum == "gcj02":
        notes.append("底图为 GCJ-02：几何已偏移显示 (tiles are GCJ-02: geometries shifted for display)")
    notes.extend(page.notes)
    root.html.add_child(
        Element(
            _legend_html(
                f"每百户诉求 petitions / 100 households ({classes.method})", items, "无数据 no data", notes
            )
        )
    )
    out = render(m, base_url)
    return out.replace(_PLACEHOLDER, _data_block(data), 1)


def read_page_data(page_html: str) -> dict[str, Any]:
    """The data block of a page made by :func:`unit_page` (for tests and for tools that read pages)."""
    import re

    m = re.search(
        rf'<script type="application/json" id="{DATA_ELEMENT_ID}">(.*?)</script>', page_html, flags=re.S
    )
    if m is None:
        raise ValueError("not a gridgov map page: no data block")
    data: dict[str, Any] = json.loads(m.group(1))
    return data


def cell_stats(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{code: {petitions, overdue, per100, households, officer, cls}}`` of a page's finest level."""
    codes = data["levels"][-1]["codes"]
    cols = data["cells"]
    return {code: {k: v[i] for k, v in cols.items()} for i, code in enumerate(codes)}
