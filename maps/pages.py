"""Map pages for grid officers, planners and leaders: Folium, offline, small.

:func:`unit_page` returns the HTML of one unit's page (no file written): boundaries of every level
under a hierarchical layer control, a choropleth of petitions per 100 households on the finest
level (classes by mapclassify, a legend, popups with code, name, officer, counts and overdue
count, a link to that unit's own page), a heatmap of pre-aggregated weights, a light base of the
gazetteer's roads and buildings when no tile source is set, a search box over unit names and codes
(and over addresses through our own geocoder when served), and a weekly time slider. Everything
the page draws is aggregated on the server (:mod:`maps.aggregate`): its size does not grow with
the number of petitions, and no reporter's location is drawn as an exact point.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

import folium
from branca.element import Element
from folium.plugins import Fullscreen, HeatMap

from maps.aggregate import Classes, classify
from maps.offline import OFFLINE_PREFIX, TilesConfig, offline_map, render, to_display

__all__ = ["LEVEL_LABELS", "UnitPage", "unit_page"]

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


@dataclass
class UnitPage:
    """What one page shows; built by :func:`grid.db.mapdata.unit_page_data` or by hand."""

    code: str
    name: str
    level: str
    layers: list[tuple[str, dict[str, Any]]]  # (level, FeatureCollection), coarse -> fine; WGS84
    stats: dict[
        str, dict[str, Any]
    ]  # code of the finest level -> petitions, per100, overdue, officer, households
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


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _popup_html(p: dict[str, Any], href: str) -> str:
    rows = [
        ("编码 code", p.get("code")),
        ("名称 name", p.get("name")),
        ("网格员 officer", p.get("officer")),
        ("户数 households", p.get("households")),
        ("诉求 petitions", p.get("petitions_shown")),
        ("每百户 per 100 households", _fmt(p.get("per100"))),
        ("超期 overdue", p.get("overdue_shown")),
    ]
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:6px'>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in rows
        if v is not None
    )
    link = html.escape(href.format(code=p.get("code", "")))
    return f"<table>{body}</table><a href='{link}' target='_top'>打开此单元地图 open this unit's map →</a>"


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


_SEARCH_JS = """
(function() {
  var map = %(map)s, index = %(index)s, apiBase = %(api)s;
  var box = L.control({position: 'topleft'});
  box.onAdd = function() {
    var d = L.DomUtil.create('div', 'gg-search');
    d.style.cssText = 'background:#fff;padding:4px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3)';
    d.innerHTML = '<input id="gg-q" type="search" placeholder="搜索 单元 / 编码 / 地址" style="width:210px">' +
                  '<div id="gg-hits" style="font:12px sans-serif;max-height:180px;overflow:auto"></div>';
    L.DomEvent.disableClickPropagation(d);
    return d;
  };
  box.addTo(map);
  var q = document.getElementById('gg-q'), hits = document.getElementById('gg-hits');
  function go(b) { map.fitBounds([[b[1], b[0]], [b[3], b[2]]]); }
  function show(list) {
    hits.innerHTML = '';
    list.slice(0, 8).forEach(function(h) {
      var a = document.createElement('div');
      a.className = 'gg-hit'; a.style.cssText = 'cursor:pointer;padding:2px';
      a.textContent = h.label; a.onclick = function() { go(h.bbox); hits.innerHTML = ''; };
      hits.appendChild(a);
    });
  }
  q.addEventListener('keydown', function(e) {
    if (e.key !== 'Enter') return;
    var s = q.value.trim(); if (!s) return;
    var found = index.filter(function(u) { return u.name.indexOf(s) >= 0 || u.code.indexOf(s) === 0; })
                     .map(function(u) { return {label: u.name + ' ' + u.code, bbox: u.bbox}; });
    if (found.length === 1) { go(found[0].bbox); }
    if (found.length || apiBase === null) { show(found); return; }
    fetch(apiBase + '/v1/geocode?q=' + encodeURIComponent(s)).then(function(r) { return r.json(); })
      .then(function(g) {
        if (g.lon == null) { hits.textContent = '未找到 not found'; return; }
        var d = 0.0015, b = [g.lon - d, g.lat - d, g.lon + d, g.lat + d];
        go(b); show([{label: (g.name || s) + (g.cell_code ? ' → ' + g.cell_code : ''), bbox: b}]);
      }).catch(function() { hits.textContent = '地址搜索不可用 address search unavailable'; });
  });
})();
"""

_SLIDER_JS = """
(function() {
  var map = %(map)s, layer = %(layer)s, weeks = %(weeks)s, labels = %(labels)s, bins = %(bins)s, colours = %(colours)s;
  function colour(v) {
    if (v == null) return '#ffffff';
    for (var i = 0; i < bins.length; i++) { if (v <= bins[i]) return colours[i]; }
    return colours[colours.length - 1];
  }
  var ctl = L.control({position: 'bottomright'});
  ctl.onAdd = function() {
    var d = L.DomUtil.create('div', 'gg-slider');
    d.style.cssText = 'background:#fff;padding:6px;border-radius:4px;font:12px sans-serif';
    d.innerHTML = '<div>周 week: <b id="gg-week">全部 all</b></div>' +
      '<input id="gg-range" type="range" min="0" max="' + labels.length + '" value="' + labels.length + '" style="width:220px">';
    L.DomEvent.disableClickPropagation(d);
    return d;
  };
  ctl.addTo(map);
  var r = document.getElementById('gg-range'), w = document.getElementById('gg-week');
  r.addEventListener('input', function() {
    var i = +r.value;
    if (i === labels.length) {
      w.textContent = '全部 all';
      layer.eachLayer(function(l) { l.setStyle({fillColor: l.feature.properties._fill || '#ffffff'}); });
      return;
    }
    var counts = weeks[labels[i]] || {};
    w.textContent = labels[i];
    layer.eachLayer(function(l) {
      var p = l.feature.properties, c = counts[p.code] || 0;
      var v = p.households ? 100 * c * labels.length / p.households : null;
      l.setStyle({fillColor: colour(v)});
    });
  });
})();
"""


def _bounds(fc: dict[str, Any]) -> list[list[float]] | None:
    import shapely

    geoms = [shapely.geometry.shape(f["geometry"]) for f in fc.get("features", []) if f.get("geometry")]
    if not geoms:
        return None
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    return [[float(y0), float(x0)], [float(y1), float(x1)]]


def unit_page(page: UnitPage, *, base_url: str = OFFLINE_PREFIX) -> str:
    """The HTML of a unit's map page (offline: every asset under ``base_url``)."""
    tiles = page.tiles
    disp = (lambda obj: to_display(obj, tiles)) if tiles is not None else (lambda obj: obj)
    m = offline_map(tiles=tiles, base_url=base_url, control_scale=True, prefer_canvas=True)
    title = f"{page.name} {page.code}"
    root: Any = m.get_root()
    root.header.add_child(Element(f"<title>{html.escape(title)} · gridgov</title>"))
    Fullscreen().add_to(m)

    if page.base is not None and tiles is None:
        fg = folium.FeatureGroup(name="底图 roads & buildings (gazetteer)", show=True)
        folium.GeoJson(
            disp(page.base),
            style_function=lambda f: {
                "color": "#bbbbbb",
                "weight": 1,
                "fillColor": "#dddddd",
                "fillOpacity": 0.4,
            },
            marker=folium.CircleMarker(radius=2, color="#bbbbbb", fill=True),
            smooth_factor=1.5,
        ).add_to(fg)
        fg.add_to(m)

    finest_level, finest = page.layers[-1]
    rates = []
    for f in finest["features"]:
        s = page.stats.get(f["properties"]["code"], {})
        rates.append(s.get("per100"))
    classes: Classes = classify(rates, k=5)
    for f, lab in zip(finest["features"], classes.labels, strict=True):
        props = f["properties"]
        s = page.stats.get(props["code"], {})
        props.update(
            officer=s.get("officer"),
            households=s.get("households"),
            petitions_shown=s.get("petitions_shown"),
            overdue_shown=s.get("overdue_shown"),
            per100=s.get("per100"),
            _fill=classes.colour(lab) or "#ffffff",
        )
    choro = folium.FeatureGroup(
        name=f"诉求密度 petitions per 100 households ({LEVEL_LABELS.get(finest_level, finest_level)})"
    )
    gj = folium.GeoJson(
        disp(finest),
        style_function=lambda f: {
            "fillColor": f["properties"].get("_fill", "#ffffff"),
            "fillOpacity": 0.65,
            "color": "#666666",
            "weight": 0.6,
        },
        highlight_function=lambda f: {"weight": 2.5, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(fields=["name", "code"], aliases=["", ""], labels=False),
        popup=folium.GeoJsonPopup(fields=["_popup"], labels=False),
        smooth_factor=0.5,
        name="choropleth",
    )
    for f in gj.data["features"]:
        f["properties"]["_popup"] = _popup_html(f["properties"], page.href)
    gj.add_to(choro)
    choro.add_to(m)

    if page.heat:
        hg = folium.FeatureGroup(name="热力 heat (50 m bins)", show=False)
        pts = to_display(page.heat, tiles, order="latlon") if tiles is not None else page.heat
        HeatMap(pts, radius=14, blur=18, min_opacity=0.25, max_zoom=17).add_to(hg)
        hg.add_to(m)

    for depth, (level, fc) in enumerate(page.layers):
        label = ("— " * depth) + f"边界 {LEVEL_LABELS.get(level, level)}"
        fg = folium.FeatureGroup(name=label, show=level != finest_level or len(page.layers) == 1)
        style = LEVEL_STYLE.get(level, {"color": "#444444", "weight": 1.0})
        for f in fc["features"]:
            p = f["properties"]
            p["_popup"] = (
                f"<b>{html.escape(str(p.get('name', '')))}</b> {html.escape(str(p.get('code', '')))}<br>"
                f"<a href='{html.escape(page.href.format(code=p.get('code', '')))}' target='_top'>"
                "打开此单元地图 open this unit's map →</a>"
            )
        folium.GeoJson(
            disp(fc),
            style_function=lambda f, st=style: {**st, "fill": False},
            tooltip=folium.GeoJsonTooltip(fields=["name", "code"], aliases=["", ""], labels=False),
            popup=folium.GeoJsonPopup(fields=["_popup"], labels=False),
            smooth_factor=0.5,
        ).add_to(fg)
        fg.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)

    items = []
    lo = 0.0
    for colour, hi in zip(classes.colours, classes.bins, strict=True):
        items.append((colour, f"{lo:.1f} – {hi:.1f}"))
        lo = hi
    notes = [f"单元格诉求少于 {page.k_min} 件不显示数字 (counts under {page.k_min} hidden)"]
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

    index = []
    for level, fc in page.layers:
        for f in fc["features"]:
            b = _bounds({"features": [f]})
            if b:
                index.append(
                    {
                        "code": f["properties"]["code"],
                        "name": str(f["properties"].get("name", "")),
                        "level": level,
                        "bbox": [b[0][1], b[0][0], b[1][1], b[1][0]],
                    }
                )
    js = _SEARCH_JS % {
        "map": m.get_name(),
        "index": json.dumps(index, ensure_ascii=False),
        "api": json.dumps(page.api_base),
    }
    if page.weeks:
        labels = sorted(page.weeks)
        js += _SLIDER_JS % {
            "map": m.get_name(),
            "layer": gj.get_name(),
            "weeks": json.dumps(page.weeks, separators=(",", ":")),
            "labels": json.dumps(labels),
            "bins": json.dumps(classes.bins),
            "colours": json.dumps(classes.colours),
        }
    # after folium's own scripts have made the map and its layers
    root.script.add_child(Element("document.addEventListener('DOMContentLoaded', function() {" + js + "});"))
    b = _bounds(page.layers[0][1])
    if b:
        m.fit_bounds(to_display(b, tiles, order="latlon") if tiles is not None else b)
    return render(m, base_url)
