"""Find the defects of real boundary layers before they are imported.

Real boundary files are messy: invalid rings, slivers and gaps between neighbours, parent ids
off by one between files, units drawn in the wrong CRS. :func:`validate_units` finds each of
these and returns a list of :class:`Finding` objects, one per defect, each naming its kind,
severity, the codes involved, the area in square metres where an area means something, and a
WGS84 location that a person can open on a map. Nothing here writes anywhere or touches the
database; the importer decides what to do with the findings (see :func:`blocking`).

Kinds (``KINDS`` maps each kind to its default severity):

======================  ========  ============================================================
kind                    severity  meaning
======================  ========  ============================================================
missing_geometry        error     the row has no geometry at all
empty_geometry          error     the geometry is empty
bad_coordinates         error     coordinates are not longitude/latitude (wrong CRS declared)
wrong_geometry_type     error     a point or line where a polygon is needed; *warning* for a
                                  GeometryCollection whose polygons are used, other parts dropped
invalid_geometry        error     not a valid polygon (``shapely.is_valid_reason`` and where);
                                  the other checks use a repaired copy
unknown_level           error     the level is missing or not one of ``levels``
bad_code                error     the code does not match its level's format
code_not_nested         error     the code does not start with its parent's code
duplicate_code          error     the same code on more than one row
code_in_other_level     error     the code is already a unit of another level (codes are unique
                                  across all levels)
orphan_child            error     the parent code matches no known parent unit
parent_ids_shifted      warning   one summary: a layer's parent references are systematically
                                  off by one (offset and count)
parent_mismatch         warning   the unit lies mostly inside another parent than the one named
outside_parent          error     part of the unit lies outside its parent (> tolerance);
                                  *warning* when 0 < area <= tolerance
overlap                 error     two siblings overlap (> tolerance); *warning* below
gap                     error     part of a parent is covered by none of its children, or a hole
                                  in the union of top-level units (> tolerance); *warning* below
sliver                  warning   a tiny unit (< tolerance) or a thin one (Polsby-Popper below
                                  ``sliver_ratio`` and area below ``sliver_max_m2``), or such a
                                  part of a multi-part unit
datum_suspect           warning   the layer sits systematically off its parent layer the way a
                                  GCJ-02 or BD-09 layer declared as WGS84 does (set by the importer)
======================  ========  ============================================================

All areas are measured in a metric CRS: the ``metric_epsg`` given, else the CGCS2000
3-degree Gauss-Kruger zone (EPSG:4534-4554, central meridians 75E-135E) nearest the layer's
centre, else (outside China) the UTM zone. The topology itself (overlaps, gaps, containment)
is computed in longitude/latitude, where the data's edges are straight and shared vertices
exact, as the jurisdiction lookup sees them (snap-rounded to :data:`SNAP_DEG`); the metric CRS
only measures: a unit by projecting its vertices, a defect piece by its lon/lat area times the
CRS's areal scale at the piece. Pieces smaller than :data:`NOISE_M2` or thinner on average
than :data:`NOISE_WIDTH_M` are floating point noise and never reported.

>>> from shapely import Polygon
>>> mp, what = repair(Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)]))
>>> mp.geom_type, len(mp.geoms)
('MultiPolygon', 2)
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.errors import GEOSException, ShapelyError
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from grid.errors import InputError
from grid.io import code_str
from grid.levels import Level, Levels

__all__ = [
    "KINDS",
    "NOISE_M2",
    "NOISE_WIDTH_M",
    "Finding",
    "blocking",
    "drop_degenerate_rings",
    "errors",
    "kind_table",
    "repair",
    "repair_measured",
    "sort_for_people",
    "summarize",
    "validate_units",
]

#: Pieces of overlap, gap or outside-parent area below this (m²) are floating point noise.
NOISE_M2 = 0.01
#: ... and so are pieces thinner on average (2 * area / perimeter) than this, in metres: a
#: sub-millimetre strip along a long shared edge is rounding, not a boundary mismatch.
NOISE_WIDTH_M = 0.001
#: A unit lies "mostly" inside a parent when that parent covers at least this share of it.
MOSTLY = 0.5
#: ``parent_ids_shifted`` needs at least this many shifted references ...
SHIFT_MIN_COUNT = 3
#: ... making at least this share of the level's parent references.
SHIFT_MIN_SHARE = 0.5
#: Summary findings list at most this many codes (the message gives the full count).
MAX_CODES = 10

#: Overlays run in longitude/latitude, snap-rounded to this grid (1e-9 degree, about 0.1 mm),
#: so that floating point noise leaves no pieces.
SNAP_DEG = 1e-9
#: Units closer than this (degrees, about 1 cm) to a gap are named as its neighbours.
NEAR_DEG = 1e-7

WGS84 = 4326

KINDS: dict[str, str] = {
    "missing_geometry": "error",  # no geometry on the row
    "empty_geometry": "error",  # an empty geometry
    "bad_coordinates": "error",  # not lon/lat: the file's CRS is wrong or undeclared
    "wrong_geometry_type": "error",  # point/line; warning for a GeometryCollection with polygons
    "invalid_geometry": "error",  # shapely.is_valid_reason, with its location
    "unknown_level": "error",  # level missing or not defined in Levels
    "bad_code": "error",  # code does not match its level's format
    "code_not_nested": "error",  # code does not start with the parent's code
    "duplicate_code": "error",  # the same code on several rows
    "code_in_other_level": "error",  # the code is a unit of another level already
    "orphan_child": "error",  # parent code matches no known parent
    "parent_ids_shifted": "warning",  # summary: parent references systematically off by one
    "parent_mismatch": "warning",  # lies mostly inside another parent than the one named
    "outside_parent": "error",  # part outside its parent; warning when <= tolerance
    "overlap": "error",  # siblings overlap; warning when <= tolerance
    "gap": "error",  # parent not covered by its children / hole; warning when <= tolerance
    "sliver": "warning",  # tiny or thin unit or part
    "datum_suspect": "warning",  # off its parent layer like GCJ-02/BD-09 declared as WGS84 (importer)
}

#: Blocking first, then other errors, then warnings (``sort_for_people``).
_SEVERITY_ORDER = {"error": 0, "warning": 1}

SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class Finding:
    """One defect of a boundary layer.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    severity : str
        ``"error"`` or ``"warning"``.
    codes : tuple of str
        The codes involved (a row without a code shows as ``"<row LABEL>"``).
    message : str
        For people: names the codes, the area and what to do.
    level : str or None
        The level of the unit(s) concerned.
    area_m2 : float or None
        Area of the defect in square metres, where an area means something.
    location : tuple of float or None
        ``(lon, lat)`` in WGS84 of a point of the defect.
    hint : str or None
        A likely cause or fix (e.g. parent ids shifted by one).
    """

    kind: str
    severity: str
    codes: tuple[str, ...]
    message: str
    level: str | None = None
    area_m2: float | None = None
    location: tuple[float, float] | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "codes": list(self.codes),
            "message": self.message,
            "level": self.level,
            "area_m2": self.area_m2,
            "location": list(self.location) if self.location is not None else None,
            "hint": self.hint,
        }


def errors(findings: Iterable[Finding]) -> list[Finding]:
    """The findings of severity ``"error"``, in their order."""
    return [f for f in findings if f.severity == "error"]


def blocking(findings: Iterable[Finding], accepted: Iterable[str] = ()) -> list[Finding]:
    """Errors whose kind is not in ``accepted``: the ones that stop an import.

    Raises
    ------
    InputError
        When ``accepted`` names a kind that does not exist (a typo would silently accept nothing).
    """
    accepted = set(accepted)
    unknown = sorted(accepted - KINDS.keys())
    if unknown:
        raise InputError(
            f"unknown finding kind(s) {', '.join(unknown)}; kinds are: {', '.join(sorted(KINDS))}",
            code="unknown_finding_kind",
        )
    return [f for f in findings if f.severity == "error" and f.kind not in accepted]


def summarize(findings: Iterable[Finding]) -> dict[str, Any]:
    """Counts per kind and severity.

    Returns
    -------
    dict
        ``{"total": n, "error": n, "warning": n, "by_kind": {kind: {"error": n, "warning": n}}}``
        with kinds in alphabetical order.
    """
    found = list(findings)
    by_kind: dict[str, dict[str, int]] = {}
    for f in sorted(found, key=lambda f: f.kind):
        by_kind.setdefault(f.kind, {s: 0 for s in SEVERITIES})
        by_kind[f.kind][f.severity] = by_kind[f.kind].get(f.severity, 0) + 1
    sev = Counter(f.severity for f in found)
    return {"total": len(found), "error": sev["error"], "warning": sev["warning"], "by_kind": by_kind}


def sort_for_people(findings: Iterable[dict[str, Any]], accepted: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Finding dicts in the order people need them: blocking errors first, then accepted errors,
    then warnings; within each, by kind and codes (stable otherwise)."""
    acc = set(accepted)

    def key(f: dict[str, Any]) -> tuple[int, str, list[str]]:
        accepted_here = f.get("accepted") or f["kind"] in acc
        rank = (1 if accepted_here else 0) if f["severity"] == "error" else 2
        return (rank, f["kind"], list(f.get("codes") or []))

    return sorted(findings, key=key)


def kind_table(findings: Iterable[dict[str, Any]], accepted: Iterable[str] = ()) -> list[dict[str, Any]]:
    """One row per (kind, severity): ``{"kind", "severity", "count", "accepted", "area_m2"}``,
    blocking errors first (as :func:`sort_for_people`); ``area_m2`` sums the areas given."""
    acc = set(accepted)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for f in findings:
        row = rows.setdefault(
            (f["kind"], f["severity"]),
            {
                "kind": f["kind"],
                "severity": f["severity"],
                "count": 0,
                "accepted": f["kind"] in acc,
                "area_m2": 0.0,
            },
        )
        row["count"] += 1
        row["area_m2"] += float(f.get("area_m2") or 0.0)
        if f.get("accepted"):  # marked per finding (``gridgov validate``: per level)
            row["accepted"] = True
    return sorted(
        rows.values(),
        key=lambda r: (
            0 if r["severity"] == "error" and not r["accepted"] else 1 if r["severity"] == "error" else 2,
            r["kind"],
        ),
    )


# --------------------------------------------------------------------------------------------
# geometry helpers


def _probe_make_valid_method() -> str:
    try:
        shapely.make_valid(
            Polygon([(0, 0), (1, 0), (1, 1), (0, 0)]), method="structure", keep_collapsed=False
        )
    except (TypeError, ValueError, ShapelyError):  # shapely < 2.1 or GEOS < 3.10
        return "linework"
    return "structure"


MAKE_VALID_METHOD = _probe_make_valid_method()


def _make_valid(geom: BaseGeometry) -> BaseGeometry:
    if MAKE_VALID_METHOD == "structure":
        return shapely.make_valid(geom, method="structure", keep_collapsed=False)
    return shapely.make_valid(geom)


def _polygon_parts(geom: BaseGeometry | None) -> list[Polygon]:
    """Non-empty polygons of ``geom``, flattening multi-parts and (nested) collections."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if geom.geom_type in ("MultiPolygon", "GeometryCollection"):
        out: list[Polygon] = []
        for part in shapely.get_parts(geom):
            out.extend(_polygon_parts(part))
        return out
    return []


def _other_parts(geom: BaseGeometry) -> list[str]:
    """Type names of the non-polygonal parts of a (nested) collection."""
    out: list[str] = []
    for part in shapely.get_parts(geom):
        if part.geom_type == "GeometryCollection":
            out.extend(_other_parts(part))
        elif part.geom_type not in ("Polygon", "MultiPolygon") and not part.is_empty:
            out.append(part.geom_type)
    return out


def _combine(parts: list[Polygon]) -> BaseGeometry | None:
    if not parts:
        return None
    out: BaseGeometry = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    if not out.is_valid:  # overlapping parts of a collection: merge them
        merged = _polygon_parts(shapely.union_all(np.array(parts, dtype=object)))
        if not merged:
            return None
        out = merged[0] if len(merged) == 1 else MultiPolygon(merged)
    return out


def _valid_polygonal(geom: BaseGeometry) -> BaseGeometry | None:
    """A valid Polygon or MultiPolygon with the area of ``geom`` (repaired if need be), or None."""
    if not geom.is_valid:
        geom = _make_valid(geom)
    return _combine([p for p in _polygon_parts(geom) if p.area > 0])


_REASON_XY = re.compile(r"\[\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)")


def _reason_location(reason: str) -> tuple[float, float] | None:
    m = _REASON_XY.search(reason)
    if not m:
        return None
    try:
        x, y = float(m.group(1)), float(m.group(2))
    except ValueError:
        return None
    return _round_xy(x, y) if math.isfinite(x) and math.isfinite(y) else None


def _lonlat_problem(geom: BaseGeometry) -> str | None:
    xy = shapely.get_coordinates(geom)
    if len(xy) == 0:
        return None
    bad = ~np.isfinite(xy).all(axis=1)
    bad |= np.abs(np.nan_to_num(xy[:, 0])) > 180
    bad |= np.abs(np.nan_to_num(xy[:, 1])) > 90
    if not bad.any():
        return None
    x, y = xy[bad][0]
    return (
        f"has {int(bad.sum())} of {len(xy)} coordinates that are not longitude/latitude "
        f"(first: {x:.6g} {y:.6g})"
    )


def _round_xy(x: float, y: float) -> tuple[float, float]:
    return (round(float(x), 7), round(float(y), 7))


@dataclass
class _Inspection:
    clean: BaseGeometry | None  # valid Polygon/MultiPolygon in lon/lat, or None
    problems: list[tuple[str, str, str, tuple[float, float] | None]] = field(default_factory=list)


def _inspect(value: Any) -> _Inspection:
    """Check one geometry; return a clean polygonal copy and the problems found."""
    if value is None or not isinstance(value, BaseGeometry):
        return _Inspection(None, [("missing_geometry", "error", "has no geometry", None)])
    geom: BaseGeometry = value
    if geom.is_empty:
        return _Inspection(None, [("empty_geometry", "error", f"has an empty {geom.geom_type}", None)])
    if shapely.has_z(geom):
        geom = shapely.force_2d(geom)
    coord_problem = _lonlat_problem(geom)
    if coord_problem:
        return _Inspection(None, [("bad_coordinates", "error", coord_problem, None)])
    problems: list[tuple[str, str, str, tuple[float, float] | None]] = []
    if geom.geom_type == "GeometryCollection":
        polys = _polygon_parts(geom)
        others = _other_parts(geom)
        if not polys:
            kinds = ", ".join(sorted(set(others))) or "nothing"
            pt = geom.representative_point()
            return _Inspection(
                None,
                [
                    (
                        "wrong_geometry_type",
                        "error",
                        f"is a GeometryCollection of {kinds}, not a polygon",
                        _round_xy(pt.x, pt.y),
                    )
                ],
            )
        detail = f"is a GeometryCollection: its {len(polys)} polygon part(s) are used"
        if others:
            detail += f", {len(others)} other part(s) ({', '.join(sorted(set(others)))}) dropped"
        problems.append(("wrong_geometry_type", "warning", detail, None))
        geom = polys[0] if len(polys) == 1 else MultiPolygon(polys)
    elif geom.geom_type not in ("Polygon", "MultiPolygon"):
        pt = geom.representative_point()
        return _Inspection(
            None,
            [
                (
                    "wrong_geometry_type",
                    "error",
                    f"is a {geom.geom_type}, not a polygon",
                    _round_xy(pt.x, pt.y),
                )
            ],
        )
    clean: BaseGeometry | None
    if geom.is_valid:
        clean = _combine([p for p in _polygon_parts(geom) if p.area > 0])
    else:
        reason = str(shapely.is_valid_reason(geom))
        clean = _valid_polygonal(geom)
        detail = f"is not a valid polygon: {reason}"
        if clean is None:
            detail += "; repairing it leaves no area"
        problems.append(("invalid_geometry", "error", detail, _reason_location(reason)))
    return _Inspection(clean, problems)


# --------------------------------------------------------------------------------------------
# coordinate reference systems


def _default_metric_epsg(lon: float, lat: float) -> int:
    """CGCS2000 3-degree Gauss-Kruger (central-meridian) zone for ``lon``; UTM outside China.

    EPSG:4534 is "CGCS2000 / 3-degree Gauss-Kruger CM 75E" and each following code moves the
    central meridian 3 degrees east, up to EPSG:4554 "CM 135E" (checked against pyproj).
    """
    if 73.5 <= lon <= 136.5:
        cm = min(max(3 * math.floor(lon / 3 + 0.5), 75), 135)
        return 4534 + (cm - 75) // 3
    zone = min(max(int((lon + 180) // 6) + 1, 1), 60)
    return (32600 if lat >= 0 else 32700) + zone


@lru_cache(maxsize=32)
def _transformer(src: int, dst: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def _check_metric(epsg: int) -> None:
    try:
        crs = pyproj.CRS.from_epsg(epsg)
    except pyproj.exceptions.CRSError as exc:
        raise InputError(f"metric_epsg {epsg} is not a known EPSG code: {exc}", code="bad_crs") from exc
    if not crs.is_projected:
        raise InputError(
            f"metric_epsg {epsg} ({crs.name}) is not a projected CRS; areas need metres", code="bad_crs"
        )


def _project(geoms: Sequence[BaseGeometry | None], tr: pyproj.Transformer) -> np.ndarray:
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = list(geoms)

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])

    return np.asarray(shapely.transform(arr, fn), dtype=object)


def _overlay(op: Any, a: Any, b: Any) -> Any:
    """A shapely overlay (vectorised) with snap rounding; retried on repaired input, never raises."""
    try:
        return op(a, b, grid_size=SNAP_DEG)
    except GEOSException:
        pass
    fa, fb = shapely.make_valid(a), shapely.make_valid(b)
    try:
        return op(fa, fb, grid_size=SNAP_DEG)
    except GEOSException:
        return op(fa, fb)


def _union(geoms: np.ndarray) -> BaseGeometry:
    try:
        return shapely.union_all(geoms, grid_size=SNAP_DEG)
    except GEOSException:
        return shapely.union_all(shapely.make_valid(geoms))


def _as_wgs84(frame: Any, what: str) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{what} must be a GeoDataFrame, not {type(frame).__name__}", code="invalid_input")
    if "code" not in frame.columns:
        raise InputError(
            f"{what} has no 'code' column; columns are: {', '.join(map(str, frame.columns))}",
            code="missing_field",
        )
    try:
        frame.geometry  # noqa: B018 - raises when there is no active geometry column
    except AttributeError as exc:
        raise InputError(f"{what} has no geometry column", code="missing_field") from exc
    if frame.crs is not None and frame.crs != pyproj.CRS.from_epsg(WGS84):
        frame = frame.to_crs(WGS84)
    return frame


# --------------------------------------------------------------------------------------------
# the layer as plain records


def _text(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # arrays and other non-scalars
        pass
    return code_str(value)


def _name(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    text = str(value).strip()
    return text or None


@dataclass
class _Unit:
    label: str  # row label, for messages
    code: str  # the code, or "<row LABEL>" when it has none
    raw_code: str | None
    name: str | None
    level: Level | None
    level_text: str | None
    parent_code: str | None
    geom: BaseGeometry | None  # valid Polygon/MultiPolygon, lon/lat
    area: float  # m², 0 without geometry
    perimeter: float  # m
    point: tuple[float, float] | None  # lon/lat of a point on its surface
    eff_parent: str | None = None  # the parent it is checked against (named, or where it lies)

    def describe(self) -> str:
        lv = self.level.name if self.level else (self.level_text or "unit")
        return f"{lv} {self.code}" + (f" ({self.name})" if self.name else "")


@dataclass
class _Parent:
    code: str
    name: str | None
    geom: BaseGeometry | None

    def describe(self, level: str) -> str:
        return f"{level} {self.code}" + (f" ({self.name})" if self.name else "")


def _fmt_area(a: float) -> str:
    return f"{a:,.1f} m²" if a >= 1 else f"{a:.3f} m²"


@dataclass
class _Ctx:
    tol: float
    sliver_ratio: float
    sliver_max: float
    forward: pyproj.Transformer  # lon/lat -> metres
    findings: list[Finding] = field(default_factory=list)

    def add(
        self,
        kind: str,
        codes: Sequence[str],
        message: str,
        *,
        severity: str | None = None,
        level: str | None = None,
        area: float | None = None,
        location: tuple[float, float] | None = None,
        hint: str | None = None,
    ) -> None:
        self.findings.append(
            Finding(
                kind=kind,
                severity=severity or KINDS[kind],
                codes=tuple(codes),
                message=message,
                level=level,
                area_m2=None if area is None else round(float(area), 3),
                location=location,
                hint=hint,
            )
        )

    def severity(self, kind: str, area: float) -> str:
        return KINDS[kind] if area > self.tol else "warning"

    def m2_per_deg2(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Areal scale of the metric CRS at (lon, lat): m² per square degree (Jacobian)."""
        h = 1e-5
        xe, ye = self.forward.transform(lon + h, lat)
        xw, yw = self.forward.transform(lon - h, lat)
        xn, yn = self.forward.transform(lon, lat + h)
        xs, ys = self.forward.transform(lon, lat - h)
        det = (np.subtract(xe, xw) * np.subtract(yn, ys) - np.subtract(xn, xs) * np.subtract(ye, yw)) / (
            4 * h * h
        )
        return np.abs(np.asarray(det, dtype=float))

    def areas(self, geoms: Any) -> np.ndarray:
        """Areas in m² of small lon/lat geometries (defect pieces; None counts 0).

        The lon/lat area times the CRS's areal scale at the centroid, consistent with the
        planar lon/lat topology: a piece that is degenerate in lon/lat (say, out and back along
        a parallel) measures 0, whereas projecting its vertices would turn the curvature of the
        parallel into millimetres of width and square metres of area.
        """
        arr = np.atleast_1d(np.asarray(geoms, dtype=object))
        if arr.size == 0:
            return np.zeros(0)
        out = np.zeros(arr.size)
        ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
        if not ok.any():
            return out
        live = arr[ok]
        deg2 = shapely.area(live)
        centre = shapely.centroid(live)
        scale = self.m2_per_deg2(shapely.get_x(centre), shapely.get_y(centre))
        out[ok] = np.nan_to_num(np.asarray(deg2 * scale, dtype=float), nan=0.0)
        return out

    def area(self, geom: BaseGeometry | None) -> float:
        return float(self.areas([geom])[0])

    def real_parts(self, geom: BaseGeometry | None) -> list[tuple[Polygon, float]]:
        """The polygon parts of a defect that are not noise, with their areas (m²)."""
        parts = _polygon_parts(geom)
        if not parts:
            return []
        areas = self.areas(parts).tolist()
        lengths = shapely.length(_project(parts, self.forward)).tolist()
        return [
            (p, float(a))
            for p, a, ln in zip(parts, areas, lengths, strict=True)
            if math.isfinite(a) and a > NOISE_M2 and 2 * a / max(ln, 1e-12) >= NOISE_WIDTH_M
        ]

    def lonlat(self, geom: BaseGeometry | None) -> tuple[float, float] | None:
        """A point on the largest polygonal part of ``geom`` (lon/lat)."""
        parts = _polygon_parts(geom)
        target: BaseGeometry | None = max(parts, key=lambda p: p.area) if parts else geom
        if target is None or target.is_empty:
            return None
        pt = shapely.point_on_surface(target)
        return _round_xy(pt.x, pt.y)


def _offset_code(code: str, delta: int) -> str | None:
    """``code`` plus ``delta`` as a number, keeping its zero-padding; None if not possible."""
    if not code.isdigit():
        return None
    value = int(code) + delta
    if value < 0:
        return None
    out = str(value).zfill(len(code))
    return out if len(out) == len(code) else None


def _shift(named: str, actual: str) -> int | None:
    """``named - actual`` when it is +1 or -1 (same length, digits only), else None."""
    if not (named.isdigit() and actual.isdigit()) or len(named) != len(actual):
        return None
    d = int(named) - int(actual)
    return d if d in (1, -1) else None


class _ParentIndex:
    """The known units of one parent level, with a spatial index."""

    def __init__(self, ctx: _Ctx, level: Level, parents: dict[str, _Parent]) -> None:
        self.ctx = ctx
        self.level = level
        self.by_code = parents
        with_geom = [p for p in parents.values() if p.geom is not None]
        self.codes = [p.code for p in with_geom]
        self.geoms = np.empty(len(with_geom), dtype=object)
        self.geoms[:] = [p.geom for p in with_geom]
        shapely.prepare(self.geoms)
        self.tree = shapely.STRtree(self.geoms)

    def inside_area(self, geom: BaseGeometry, area: float, code: str) -> float:
        """Area of ``geom`` inside parent ``code`` (m²)."""
        parent = self.by_code[code].geom
        if parent is None:
            return 0.0
        if shapely.covers(parent, geom):
            return area
        return self.ctx.area(_overlay(shapely.intersection, geom, parent))

    def best(self, geom: BaseGeometry, area: float, exclude: str | None) -> tuple[str | None, float]:
        """The parent (other than ``exclude``) covering most of ``geom``, with its share."""
        idx = self.tree.query(geom, predicate="intersects")
        best_code, best_share = None, 0.0
        if len(idx) == 0 or area <= 0:
            return None, 0.0
        areas = self.ctx.areas(_overlay(shapely.intersection, self.geoms[idx], geom))
        ranked = sorted(
            zip(idx.tolist(), areas.tolist(), strict=True), key=lambda t: (-t[1], self.codes[t[0]])
        )
        for i, a in ranked:
            if self.codes[i] != exclude:
                best_code, best_share = self.codes[i], a / area
                break
        return best_code, best_share

    def describe(self, code: str) -> str:
        return self.by_code[code].describe(self.level.name)


# --------------------------------------------------------------------------------------------
# the checks


def validate_units(
    units: gpd.GeoDataFrame,
    *,
    levels: Levels,
    parents: gpd.GeoDataFrame | None = None,
    tolerance_m2: float = 25.0,
    sliver_ratio: float = 0.02,
    sliver_max_m2: float = 2000.0,
    metric_epsg: int | None = None,
    check_coverage: bool = True,
    taken_codes: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Find the defects of a boundary layer.

    Parameters
    ----------
    units : GeoDataFrame
        Columns ``code``, ``name``, ``level``, ``parent_code`` and geometry, in EPSG:4326 (a
        layer in another declared CRS is converted first). Geometries may be None, empty,
        invalid, 3D, multi-part or collections. Only ``code`` is required: without ``level``
        the level is read from the code format; without ``parent_code`` the parent is the
        code's prefix. Several levels may be mixed: each level's parents are the units of its
        parent level in ``units`` itself, plus those in ``parents``.
    levels : Levels
        Level names, order and code formats.
    parents : GeoDataFrame, optional
        Parent units already stored (``code``, ``name``, ``level``, geometry). A code present
        in both ``units`` and ``parents`` is taken from ``units``.
    tolerance_m2 : float
        Overlaps, gaps and outside-parent parts above this area are errors; smaller ones (but
        above :data:`NOISE_M2`) are warnings. Units smaller than this are slivers.
    sliver_ratio, sliver_max_m2 : float
        A unit (or a part of a multi-part unit) smaller than ``sliver_max_m2`` whose
        Polsby-Popper compactness ``4*pi*A/P**2`` is below ``sliver_ratio`` is a sliver.
    metric_epsg : int, optional
        Projected CRS for areas; default the CGCS2000 3-degree Gauss-Kruger zone of the layer.
    check_coverage : bool
        Look for gaps (set False for a partial layer that is not meant to tile its parents).
    taken_codes : mapping of str to str, optional
        Codes of stored units of *other* levels (code -> level name): codes are unique across
        all levels, so a unit of ``units`` using one is a ``code_in_other_level`` error.

    Returns
    -------
    list of Finding
        Sorted by kind, then codes.

    Raises
    ------
    InputError
        When ``units`` or ``parents`` is not a GeoDataFrame with a ``code`` column, a
        tolerance is negative, or ``metric_epsg`` is not a projected CRS.
    """
    for label, value in (
        ("tolerance_m2", tolerance_m2),
        ("sliver_ratio", sliver_ratio),
        ("sliver_max_m2", sliver_max_m2),
    ):
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise InputError(f"{label} must be a number >= 0, not {value!r}", code="invalid_input")
    frame = _as_wgs84(units, "units")
    pframe = _as_wgs84(parents, "parents") if parents is not None else None

    inspections = [_inspect(g) for g in frame.geometry.array]
    parent_clean = [_inspect(g).clean for g in pframe.geometry.array] if pframe is not None else []
    all_clean = [i.clean for i in inspections] + parent_clean

    if metric_epsg is None:
        present = [g for g in all_clean if g is not None]
        if present:
            b = shapely.total_bounds(np.array(present, dtype=object))
            metric_epsg = _default_metric_epsg((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
        else:
            metric_epsg = _default_metric_epsg(117.0, 40.0)
    _check_metric(metric_epsg)
    # Topology (overlaps, gaps, containment) is computed in lon/lat, where the data's edges are
    # straight and shared vertices exact, as the jurisdiction lookup sees them; the metric CRS
    # only measures. (Projected first, a vertex lying on a long lon/lat edge of a neighbour
    # falls centimetres off it, which over a kilometre makes square metres of false gaps.)
    ctx = _Ctx(tolerance_m2, sliver_ratio, sliver_max_m2, _transformer(WGS84, metric_epsg))
    recs = _records(frame, inspections, levels, ctx)
    _check_geometries(ctx, recs, inspections)
    _check_duplicates(ctx, recs)
    if taken_codes:
        _check_taken(ctx, recs, taken_codes)

    by_level: dict[str, list[_Unit]] = defaultdict(list)
    for u in recs:
        if u.level is not None:
            by_level[u.level.name].append(u)
    for lv in levels:
        group = by_level.get(lv.name)
        if not group:
            continue
        _check_codes(ctx, lv, group)
        plv = levels.parent_of(lv.name)
        pindex = None
        if plv is not None:
            pindex = _ParentIndex(ctx, plv, _parent_map(plv, recs, pframe, parent_clean, levels))
            _check_parents(ctx, lv, pindex, group)
        _check_overlaps(ctx, lv, group, set(pindex.by_code) if pindex is not None else set())
        if check_coverage:
            if pindex is not None and pindex.by_code:
                _check_coverage(ctx, lv, pindex, group)
            else:
                _check_holes(ctx, lv, group)
    _check_slivers(ctx, recs)

    return sorted(
        ctx.findings,
        key=lambda f: (
            f.kind,
            f.codes,
            f.severity,
            f.area_m2 if f.area_m2 is not None else -1.0,
            f.location or (0.0, 0.0),
            f.message,
        ),
    )


def _records(
    frame: gpd.GeoDataFrame,
    inspections: list[_Inspection],
    levels: Levels,
    ctx: _Ctx,
) -> list[_Unit]:
    n = len(frame)
    names = frame["name"].tolist() if "name" in frame.columns else [None] * n
    level_col = frame["level"].tolist() if "level" in frame.columns else None
    parent_col = frame["parent_code"].tolist() if "parent_code" in frame.columns else [None] * n
    wgs = np.empty(n, dtype=object)
    wgs[:] = [i.clean for i in inspections]
    points = shapely.point_on_surface(wgs) if n else wgs
    metric = _project(list(wgs), ctx.forward)
    areas = np.nan_to_num(shapely.area(metric), nan=0.0)
    perimeters = np.nan_to_num(shapely.length(metric), nan=0.0)
    recs: list[_Unit] = []
    code_col = frame["code"].tolist()
    for k, label in enumerate(frame.index.tolist()):
        raw_code = _text(code_col[k])
        level_text = _text(level_col[k]) if level_col is not None else None
        level: Level | None = None
        if level_col is None:
            level = levels.level_of_code(raw_code) if raw_code else None
        elif level_text is not None and level_text in levels.names:
            level = levels.by_name(level_text)
        geom = wgs[k]
        pt = points[k]
        name = names[k]
        recs.append(
            _Unit(
                label=str(label),
                code=raw_code if raw_code is not None else f"<row {label}>",
                raw_code=raw_code,
                name=_name(name),
                level=level,
                level_text=level_text,
                parent_code=_text(parent_col[k]),
                geom=geom,
                area=float(areas[k]),
                perimeter=float(perimeters[k]),
                point=_round_xy(pt.x, pt.y) if pt is not None and not pt.is_empty else None,
            )
        )
        if level is None:
            if level_col is None:
                why = f"its code {raw_code!r} matches no level's format" if raw_code else "it has no code"
                msg = f"cannot tell the level of {recs[-1].describe()}: {why}; add a 'level' column."
            elif level_text is None:
                msg = f"{recs[-1].describe()} has no level; set it to one of {', '.join(levels.names)}."
            else:
                msg = (
                    f"{recs[-1].describe()} has level {level_text!r}, which is not defined; "
                    f"levels are: {', '.join(levels.names)}."
                )
            ctx.add("unknown_level", (recs[-1].code,), msg, level=level_text, location=recs[-1].point)
    return recs


_GEOM_ACTIONS = {
    "missing_geometry": "supply its boundary polygon or drop the row.",
    "empty_geometry": "supply its boundary polygon or drop the row.",
    "bad_coordinates": "the file is probably in a projected CRS or declares the wrong CRS; "
    "declare the right one.",
    "wrong_geometry_type": "a unit needs an area: supply its boundary polygon.",
    "invalid_geometry": "the other checks use a repaired copy; fix the boundary or import with --repair.",
}


def _check_geometries(ctx: _Ctx, recs: list[_Unit], inspections: list[_Inspection]) -> None:
    for u, ins in zip(recs, inspections, strict=True):
        for kind, severity, detail, loc in ins.problems:
            if kind == "wrong_geometry_type" and severity == "warning":
                action = "store it as a MultiPolygon (--repair does)."
            else:
                action = _GEOM_ACTIONS[kind]
            ctx.add(
                kind,
                (u.code,),
                f"{u.describe()} {detail}; {action}",
                severity=severity,
                level=u.level.name if u.level else u.level_text,
                location=loc or u.point,
            )


def _check_duplicates(ctx: _Ctx, recs: list[_Unit]) -> None:
    groups: dict[str, list[_Unit]] = defaultdict(list)
    for u in recs:
        if u.raw_code is not None:
            groups[u.raw_code].append(u)
    for code, unsorted in groups.items():
        if len(unsorted) < 2:
            continue
        group = sorted(unsorted, key=lambda u: _natural(u.label))
        rows = ", ".join(f"row {u.label}" + (f" ({u.name})" if u.name else "") for u in group)
        with_geom = [u for u in group if u.geom is not None]
        how = ""
        if len(with_geom) >= 2:
            a, b = with_geom[0].geom, with_geom[1].geom
            if shapely.equals(a, b):
                how = "; the geometries are identical (a repeated row?)"
            else:
                inter = ctx.area(_overlay(shapely.intersection, a, b))
                how = (
                    f"; the geometries differ and overlap by {_fmt_area(inter)}"
                    if inter > NOISE_M2
                    else "; the geometries differ and do not overlap"
                )
        ctx.add(
            "duplicate_code",
            (code,),
            f"code {code} appears on {len(group)} rows: {rows}{how}. "
            "Give each unit its own code or drop the repeated row.",
            level=group[0].level.name if group[0].level else group[0].level_text,
            location=group[0].point,
        )


def _check_taken(ctx: _Ctx, recs: list[_Unit], taken: Mapping[str, str]) -> None:
    for u in recs:
        if u.raw_code is None or u.raw_code not in taken:
            continue
        other = taken[u.raw_code]
        mine = u.level.name if u.level else u.level_text
        if other == mine:
            continue
        ctx.add(
            "code_in_other_level",
            (u.code,),
            f"{u.describe()}: code {u.raw_code} is already the code of a {other} unit in force; codes "
            f"are unique across all levels. Give this {mine or 'unit'} another code (e.g. a level "
            "prefix) or retire the other unit first.",
            level=mine,
            location=u.point,
        )


def _natural(label: str) -> tuple[int, int, str]:
    """Sort key for row labels: numbers in numeric order, before other labels."""
    return (0, int(label), "") if label.isdigit() else (1, 0, label)


def _check_codes(ctx: _Ctx, lv: Level, group: list[_Unit]) -> None:
    for u in group:
        problem = lv.code_problem(u.raw_code or "")
        if problem:
            ctx.add(
                "bad_code",
                (u.code,),
                f"{u.describe()} has a bad code: {problem}. Correct the code.",
                level=lv.name,
                location=u.point,
            )
        elif (
            lv.nesting == "prefix"
            and u.parent_code is not None
            and not (u.raw_code or "").startswith(u.parent_code)
        ):
            ctx.add(
                "code_not_nested",
                (u.code, u.parent_code),
                f"{u.describe()}: its code does not start with its parent's code {u.parent_code}. "
                "Correct the code or the parent code.",
                level=lv.name,
                location=u.point,
            )


def _parent_map(
    plv: Level,
    recs: list[_Unit],
    pframe: gpd.GeoDataFrame | None,
    pclean: list[BaseGeometry | None],
    levels: Levels,
) -> dict[str, _Parent]:
    out: dict[str, _Parent] = {}
    for u in recs:
        if (
            u.level is not None
            and u.level.name == plv.name
            and u.raw_code is not None
            and u.raw_code not in out
        ):
            out[u.raw_code] = _Parent(u.raw_code, u.name, u.geom)
    if pframe is None:
        return out
    levels_col = pframe["level"].tolist() if "level" in pframe.columns else None
    names = pframe["name"].tolist() if "name" in pframe.columns else [None] * len(pframe)
    for k, value in enumerate(pframe["code"].tolist()):
        code = _text(value)
        if code is None or code in out:
            continue
        if levels_col is not None:
            if _text(levels_col[k]) != plv.name:
                continue
        else:
            found = levels.level_of_code(code)
            if found is None or found.name != plv.name:
                continue
        name = names[k]
        out[code] = _Parent(code, _name(name), pclean[k])
    return out


def _check_parents(ctx: _Ctx, lv: Level, pindex: _ParentIndex, group: list[_Unit]) -> None:
    plv = pindex.level
    shifted: dict[int, list[tuple[str, str, str]]] = defaultdict(list)  # shift -> (child, named, actual)
    n_refs = 0
    for u in group:
        ref = u.parent_code
        code_ok = u.raw_code is not None and lv.code_problem(u.raw_code) is None
        if (
            ref is None
            and code_ok
            and u.raw_code is not None
            and lv.nesting == "prefix"
            and plv.code_length is not None
            and len(u.raw_code) > plv.code_length
        ):
            ref = u.raw_code[: plv.code_length]  # the code names its parent
        if ref is None:
            hint = _where_it_lies(u, pindex, None)
            ctx.add(
                "orphan_child",
                (u.code,),
                f"{u.describe()} has no parent code and its code does not name a {plv.name}. "
                f"Set its parent_code.",
                level=lv.name,
                location=u.point,
                hint=hint,
            )
            continue
        n_refs += 1
        if ref in pindex.by_code:
            u.eff_parent = ref
            _check_inside(ctx, lv, pindex, u, ref, shifted)
        else:
            _orphan(ctx, lv, pindex, u, ref, shifted)
    for s, items in sorted(shifted.items()):
        if len(items) >= SHIFT_MIN_COUNT and len(items) >= SHIFT_MIN_SHARE * n_refs:
            child, named, actual = sorted(items)[0]
            ctx.add(
                "parent_ids_shifted",
                tuple(sorted(c for c, _, _ in items)[:MAX_CODES]),
                f"{len(items)} of the {n_refs} {lv.name} units with a parent code name a {plv.name} "
                f"whose code is {s:+d} from the one that contains them (e.g. {child}: {named} -> {actual}). "
                f"The parent ids of this layer look shifted by {s:+d}: re-check how the files were joined.",
                level=lv.name,
                hint=f"{'subtract 1 from' if s > 0 else 'add 1 to'} every parent_code of this {lv.name} "
                "layer, then validate again",
            )


def _where_it_lies(u: _Unit, pindex: _ParentIndex, exclude: str | None) -> str | None:
    if u.geom is None or u.area <= 0:
        return None
    best, share = pindex.best(u.geom, u.area, exclude)
    if best is None or share < MOSTLY:
        return None
    return f"it lies in {pindex.describe(best)} ({share:.0%} of its area)"


def _check_inside(
    ctx: _Ctx,
    lv: Level,
    pindex: _ParentIndex,
    u: _Unit,
    ref: str,
    shifted: dict[int, list[tuple[str, str, str]]],
) -> None:
    parent = pindex.by_code[ref]
    if u.geom is None or parent.geom is None or u.area <= 0:
        return
    if shapely.covers(parent.geom, u.geom):
        return
    # measure the outside piece itself: area(child) - area(child & parent) would carry the
    # rounding noise of two large areas
    real = ctx.real_parts(_overlay(shapely.difference, u.geom, parent.geom))
    if not real:
        return
    outside = sum(a for _, a in real)
    piece = max(real, key=lambda t: t[1])[0]
    share = max(0.0, 1.0 - outside / u.area)
    best, best_share = pindex.best(u.geom, u.area, ref)
    if best is not None and share < MOSTLY <= best_share:
        s = _shift(ref, best)
        hint = (
            f"parent ids look shifted by {s:+d}: {ref} -> {best} contains it"
            if s is not None
            else f"set its parent_code to {best}"
        )
        if s is not None:
            shifted[s].append((u.code, ref, best))
        u.eff_parent = best
        ctx.add(
            "parent_mismatch",
            (u.code, ref, best),
            f"{u.describe()} names {pindex.describe(ref)} as its parent, which covers {share:.0%} of it, "
            f"but lies {best_share:.0%} inside {pindex.describe(best)}. Correct its parent code "
            f"(or its boundary).",
            level=lv.name,
            area=outside,
            location=u.point,
            hint=hint,
        )
        return
    severity = ctx.severity("outside_parent", outside)
    if severity == "error":
        what = (
            f"lies {_fmt_area(outside)} outside its parent {pindex.describe(ref)} (tolerance {ctx.tol:g} m²)"
        )
        action = "Cut it back to its parent's boundary, or correct the parent's boundary."
    else:
        what = (
            f"lies {_fmt_area(outside)} outside its parent {pindex.describe(ref)}, within the tolerance of "
            f"{ctx.tol:g} m²"
        )
        action = "Probably digitising noise: snap it to its parent's boundary."
    ctx.add(
        "outside_parent",
        (u.code, ref),
        f"{u.describe()} {what}. {action}",
        severity=severity,
        level=lv.name,
        area=outside,
        location=ctx.lonlat(piece),
    )


def _orphan(
    ctx: _Ctx,
    lv: Level,
    pindex: _ParentIndex,
    u: _Unit,
    ref: str,
    shifted: dict[int, list[tuple[str, str, str]]],
) -> None:
    plv = pindex.level
    hint: str | None = None
    for s in (1, -1):
        cand = _offset_code(ref, -s)
        if cand is None or cand not in pindex.by_code:
            continue
        if u.geom is None or pindex.by_code[cand].geom is None or u.area <= 0:
            hint = hint or f"{cand} exists: parent ids may be off by {s:+d} (no geometry to confirm)"
            continue
        share = pindex.inside_area(u.geom, u.area, cand) / u.area
        if share >= MOSTLY:
            hint = f"parent ids look shifted by {s:+d}: {ref} -> {cand} contains it ({share:.0%} of its area)"
            shifted[s].append((u.code, ref, cand))
            u.eff_parent = cand
            break
    else:
        where = _where_it_lies(u, pindex, None)
        if where is not None:
            best, _ = pindex.best(u.geom, u.area, None) if u.geom is not None else (None, 0.0)
            hint = f"{where}: set its parent_code to {best}" if hint is None else f"{hint}; {where}"
            u.eff_parent = best
    if u.eff_parent is None:
        u.eff_parent = ref  # orphans naming the same missing parent are siblings
    ctx.add(
        "orphan_child",
        (u.code, ref),
        f"{u.describe()} names {plv.name} {ref} as its parent, but there is no {plv.name} {ref} "
        f"in this layer or among the stored ones. Import the parent first or correct the parent code.",
        level=lv.name,
        location=u.point,
        hint=hint,
    )


def _with_geom(group: list[_Unit]) -> tuple[list[_Unit], np.ndarray]:
    items = [u for u in group if u.geom is not None and u.area > 0]
    geoms = np.empty(len(items), dtype=object)
    geoms[:] = [u.geom for u in items]
    return items, geoms


def _check_overlaps(ctx: _Ctx, lv: Level, group: list[_Unit], known_parents: set[str]) -> None:
    """Siblings that overlap. Units are siblings when they have the same parent, or when the
    parent of either is not known (a missing parent must not hide overlaps: the whole level is
    checked then)."""
    items, geoms = _with_geom(group)
    if len(items) < 2:
        return
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if len(left) == 0:
        return
    parents = np.array([u.eff_parent for u in items], dtype=object)
    codes = np.array([u.raw_code for u in items], dtype=object)
    same_parent = np.array(
        [
            a == b or a not in known_parents or b not in known_parents
            for a, b in zip(parents[left], parents[right], strict=True)
        ],
        dtype=bool,
    )
    same_code = np.array(
        [a is not None and a == b for a, b in zip(codes[left], codes[right], strict=True)], dtype=bool
    )
    keep = same_parent & ~same_code  # repeated codes are reported as duplicate_code
    left, right = left[keep], right[keep]
    if len(left) == 0:
        return
    interior = shapely.relate_pattern(geoms[left], geoms[right], "2********")
    left, right = left[interior], right[interior]
    if len(left) == 0:
        return
    inter = _overlay(shapely.intersection, geoms[left], geoms[right])
    for i, j, both in zip(left.tolist(), right.tolist(), inter, strict=True):
        real = ctx.real_parts(both)
        if not real:
            continue
        area = sum(a for _, a in real)
        piece = max(real, key=lambda t: t[1])[0]
        a, b = sorted((items[i], items[j]), key=lambda u: u.code)
        severity = ctx.severity("overlap", area)
        if severity == "error":
            tail = (
                f"overlap by {_fmt_area(area)} (tolerance {ctx.tol:g} m²). "
                "Decide which one owns the shared part and cut it from the other."
            )
        else:
            tail = (
                f"overlap by {_fmt_area(area)}, within the tolerance of {ctx.tol:g} m². "
                "Probably digitising noise: snap the shared boundary."
            )
        ctx.add(
            "overlap",
            (a.code, b.code),
            f"{a.describe()} and {b.describe()} {tail}",
            severity=severity,
            level=lv.name,
            area=area,
            location=ctx.lonlat(piece),
        )


def _neighbours(tree: shapely.STRtree, items: list[_Unit], piece: BaseGeometry) -> list[str]:
    idx = tree.query(piece, predicate="dwithin", distance=NEAR_DEG)
    return sorted({items[i].code for i in idx.tolist()})


def _gap_finding(
    ctx: _Ctx, lv: Level, piece: BaseGeometry, area: float, where: str, codes: list[str], around: list[str]
) -> None:
    severity = ctx.severity("gap", area)
    near = ""
    if around:
        shown = ", ".join(around[:MAX_CODES])
        more = f" and {len(around) - MAX_CODES} more" if len(around) > MAX_CODES else ""
        near = f", next to {shown}{more}"
    if severity == "error":
        action = (
            f"more than the tolerance of {ctx.tol:g} m²: extend a neighbouring {lv.name} over it, "
            "or add the missing unit."
        )
    else:
        action = f"within the tolerance of {ctx.tol:g} m², probably digitising noise: snap the neighbours."
    ctx.add(
        "gap",
        tuple(codes + around[:MAX_CODES]),
        f"gap of {_fmt_area(area)} {where}{near}; {action}",
        severity=severity,
        level=lv.name,
        area=area,
        location=ctx.lonlat(piece),
    )


def _check_coverage(ctx: _Ctx, lv: Level, pindex: _ParentIndex, group: list[_Unit]) -> None:
    """Parts of each parent (that has a child in the data) covered by no unit of this level."""
    items, geoms = _with_geom(group)
    if not items:
        return
    tree = shapely.STRtree(geoms)
    checked = sorted({u.eff_parent for u in group if u.eff_parent in pindex.by_code and u.eff_parent})
    for pc in checked:
        parent = pindex.by_code[pc].geom
        if parent is None:
            continue
        idx = tree.query(parent, predicate="intersects")
        covered = _union(geoms[idx]) if len(idx) else Polygon()
        rest = _overlay(shapely.difference, parent, covered)
        where = f"inside {pindex.describe(pc)}, covered by no {lv.name}"
        for piece, area in ctx.real_parts(rest):
            _gap_finding(ctx, lv, piece, area, where, [pc], _neighbours(tree, items, piece))


def _check_holes(ctx: _Ctx, lv: Level, group: list[_Unit]) -> None:
    """Holes in the union of all units of a level that has no known parents."""
    items, geoms = _with_geom(group)
    if not items:
        return
    tree = shapely.STRtree(geoms)
    union = _union(geoms)
    for poly in _polygon_parts(union):
        for ring in poly.interiors:
            rest = _overlay(shapely.difference, Polygon(ring), union)  # islands inside the hole are covered
            for piece, area in ctx.real_parts(rest):
                where = f"in the union of the {lv.name} units (a hole no {lv.name} covers)"
                _gap_finding(ctx, lv, piece, area, where, [], _neighbours(tree, items, piece))


def _check_slivers(ctx: _Ctx, recs: list[_Unit]) -> None:
    for u in recs:
        if u.geom is None or u.area <= 0:
            continue
        lvname = u.level.name if u.level else u.level_text
        problem = _sliver_problem(ctx, u.area, u.perimeter)
        if problem:
            ctx.add(
                "sliver",
                (u.code,),
                f"{u.describe()} {problem}. "
                "Probably a digitising artefact: merge it into a neighbour or drop it.",
                level=lvname,
                area=u.area,
                location=u.point,
            )
            continue
        parts = _polygon_parts(u.geom)
        if len(parts) < 2:
            continue
        metric_parts = _project(parts, ctx.forward)
        for k, (part, mpart) in enumerate(zip(parts, metric_parts, strict=True), start=1):
            part_area = float(shapely.area(mpart))
            problem = _sliver_problem(ctx, part_area, float(shapely.length(mpart)))
            if problem:
                ctx.add(
                    "sliver",
                    (u.code,),
                    f"part {k} of {len(parts)} of {u.describe()} {problem}. "
                    "Probably a digitising artefact: drop the part or merge it into the main one.",
                    level=lvname,
                    area=part_area,
                    location=ctx.lonlat(part),
                )


def _sliver_problem(ctx: _Ctx, area: float, perimeter: float) -> str | None:
    if area < ctx.tol:
        return f"covers only {_fmt_area(area)} (less than the tolerance of {ctx.tol:g} m²)"
    if area < ctx.sliver_max and perimeter > 0:
        pp = 4 * math.pi * area / perimeter**2
        if pp < ctx.sliver_ratio:
            return (
                f"is a sliver: {_fmt_area(area)} with Polsby-Popper compactness {pp:.4f} "
                f"(below {ctx.sliver_ratio:g})"
            )
    return None


# --------------------------------------------------------------------------------------------
# repair


def repair(geom: BaseGeometry | None, metric_epsg: int | None = None) -> tuple[MultiPolygon | None, str]:
    """Make ``geom`` a valid MultiPolygon, saying what changed (see :func:`repair_measured`)."""
    out, what, _, _ = repair_measured(geom, metric_epsg)
    return out, what


def drop_degenerate_rings(geom: BaseGeometry | None) -> tuple[BaseGeometry | None, int]:
    """``geom`` without the rings that enclose nothing: fewer than 4 points, or fewer than 3
    distinct points (a ring of 3 points such as ``A B A``; PostGIS refuses them outright).

    A polygon whose exterior ring is degenerate is dropped whole. Returns the geometry (None
    when nothing is left) and the number of rings dropped. Works in any coordinates.

    >>> g, n = drop_degenerate_rings(Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 2), (1, 1)]]))
    >>> n, len(g.interiors)
    (1, 0)
    """
    if geom is None or not isinstance(geom, BaseGeometry) or geom.is_empty:
        return geom, 0
    if geom.geom_type not in ("Polygon", "MultiPolygon", "GeometryCollection"):
        return geom, 0

    def bad(ring: Any) -> bool:
        xy = np.asarray(ring.coords)
        return len(xy) < 4 or len(np.unique(xy[:, :2], axis=0)) < 3

    dropped = 0
    polys: list[Polygon] = []
    for p in _polygon_parts(geom):
        if bad(p.exterior):
            dropped += 1 + len(p.interiors)
            continue
        holes = [r for r in p.interiors if not bad(r)]
        dropped += len(p.interiors) - len(holes)
        polys.append(p if len(holes) == len(p.interiors) else Polygon(p.exterior, holes))
    if not dropped:
        return geom, 0
    if not polys:
        return None, dropped
    if geom.geom_type == "Polygon" and len(polys) == 1:
        return polys[0], dropped
    return MultiPolygon(polys), dropped


def repair_measured(
    geom: BaseGeometry | None, metric_epsg: int | None = None
) -> tuple[MultiPolygon | None, str, float | None, float | None]:
    """Make ``geom`` a valid MultiPolygon, saying what changed and the area before and after.

    Uses ``shapely.make_valid(method="structure")`` where available (shapely >= 2.1 with
    GEOS >= 3.10; else the default "linework" method), keeps only the polygonal parts, merges
    overlapping parts of a collection and drops Z coordinates.

    Parameters
    ----------
    geom : shapely geometry or None
        In longitude/latitude when areas are wanted.
    metric_epsg : int, optional
        Projected CRS for the area before and after; default the CGCS2000 Gauss-Kruger zone of
        the geometry when its coordinates are longitude/latitude (no areas otherwise).

    Returns
    -------
    (MultiPolygon or None, str, float or None, float or None)
        The repaired geometry (None when nothing polygonal is left), a description, and the
        area in m² as drawn and after repair (None when no metric CRS applies).
    """
    if geom is None or not isinstance(geom, BaseGeometry):
        return None, "no geometry: nothing to repair", None, None
    if geom.is_empty:
        return None, f"empty {geom.geom_type}: nothing to repair", None, None
    steps: list[str] = []
    g = geom
    if shapely.has_z(g):
        g = shapely.force_2d(g)
        steps.append("dropped Z coordinates")
    if g.geom_type not in ("Polygon", "MultiPolygon", "GeometryCollection"):
        return None, f"a {g.geom_type} has no area: cannot repair it into a polygon", None, None
    before_parts = _polygon_parts(g)
    others = _other_parts(g) if g.geom_type == "GeometryCollection" else []
    if others:
        steps.append(f"dropped {len(others)} non-polygonal part(s) ({', '.join(sorted(set(others)))})")
    if not before_parts:
        return None, "; ".join([*steps, "no polygonal part: nothing left"]), None, None
    g0: BaseGeometry = before_parts[0] if len(before_parts) == 1 else MultiPolygon(before_parts)
    drawn = g0
    cleaned, n_rings = drop_degenerate_rings(g0)
    if n_rings:
        steps.append(f"dropped {n_rings} degenerate ring(s) (fewer than 4 points or 3 distinct ones)")
    fixed: BaseGeometry | None = cleaned
    if cleaned is not None and not cleaned.is_valid:
        g0 = cleaned
        reason = shapely.is_valid_reason(g0)
        fixed = _valid_polygonal(g0)
        steps.append(f"made valid with make_valid(method={MAKE_VALID_METHOD!r}) ({reason})")
    a_before: float | None = None
    epsg = metric_epsg
    if epsg is None and _lonlat_problem(drawn) is None:
        c = drawn.centroid
        epsg = _default_metric_epsg(c.x, c.y)
    if epsg is not None:
        tr = _transformer(WGS84, epsg)
        a_before = float(shapely.area(_project([drawn], tr)[0]))
        a_before = a_before if math.isfinite(a_before) else None
    if fixed is None:
        return None, "; ".join([*steps, "no area left"]), a_before, 0.0
    parts = _polygon_parts(fixed)
    out = MultiPolygon(parts)
    if not steps:
        as_multi = " (returned as a MultiPolygon)" if g.geom_type == "Polygon" else ""
        steps.append(f"valid; unchanged{as_multi}")
    steps.append(f"{len(parts)} part(s)")
    a_after: float | None = None
    if epsg is not None:
        a1 = float(shapely.area(_project([out], _transformer(WGS84, epsg))[0]))
        a_after = a1 if math.isfinite(a1) else None
        if a_before is not None and a_after is not None:
            steps.append(f"area {_fmt_area(a_before)} as drawn -> {_fmt_area(a_after)}")
    return out, "; ".join(steps), a_before, a_after
