"""Quality of partitions (:mod:`grid.partition`): per community, over many, for people."""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from shapely.geometry import Point

from grid.datum import metric_crs_for, to_metric
from grid.partition._types import Cell, FloatArray, PartitionResult

# --------------------------------------------------------------------------------------------
# quality


def _within(hh: Sequence[int], target: float, share: float) -> float:
    if not hh:
        return 0.0
    return sum(1 for h in hh if abs(h - target) <= share * target + 1e-9) / len(hh)


def _summary(cells: list[dict[str, Any]], target: float) -> dict[str, Any]:
    hh = [int(c["households"]) for c in cells]
    pp = [float(c["pp"]) for c in cells if c.get("pp") is not None]
    return {
        "cells": len(cells),
        "households": int(sum(hh)),
        "buildings": int(sum(int(c["buildings"]) for c in cells)),
        "households_min": min(hh) if hh else None,
        "households_median": float(statistics.median(hh)) if hh else None,
        "households_max": max(hh) if hh else None,
        "within_10": _within(hh, target, 0.10),
        "within_20": _within(hh, target, 0.20),
        "pp_mean": float(np.mean(pp)) if pp else None,
        "pp_min": float(np.min(pp)) if pp else None,
        "contiguous": sum(1 for c in cells if c["parts"] == 1),
        "all_contiguous": all(c["parts"] == 1 for c in cells),
        "barrier_crossings": sum(1 for c in cells if c.get("crosses_barrier")),
        "forced": sum(1 for c in cells if c.get("forced")),
    }


@functools.lru_cache(maxsize=16)
def _metric_transformer(epsg: int) -> pyproj.Transformer:
    to_metric(np.array([Point(117.0, 40.0)], dtype=object), epsg)  # the same checks of the CRS
    return pyproj.Transformer.from_crs(4326, epsg, always_xy=True)


def _to_metric(geoms: npt.NDArray[np.object_], epsg: int) -> npt.NDArray[np.object_]:
    """``grid.datum.to_metric`` for valid lon/lat input, with the transformer cached (to_metric
    looks the CRS up on every call, a tenth of a millisecond)."""
    tr = _metric_transformer(int(epsg))

    def fn(xy: FloatArray) -> FloatArray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])

    return np.asarray(shapely.transform(geoms, fn), dtype=object)


def community_quality(
    community_code: str,
    cells: Sequence[Cell],
    *,
    target: int,
    metric_epsg: int | None = None,
) -> dict[str, Any]:
    """The quality record of one community's cells (any cells: ours, stored or a baseline's).

    Parameters
    ----------
    community_code : str
    cells : sequence of Cell
        EPSG:4326 geometries.
    target : int
        Households per cell that the shares within +-10% / +-20% are measured against.
    metric_epsg : int, optional
        CRS in which areas and perimeters are measured; default the CGCS2000 Gauss-Kruger zone
        of the cells.

    Returns
    -------
    dict
        The figures of a :func:`quality_report` ``by_community`` entry, ``metric_epsg``, and
        ``cells_detail``: per cell ``households``, ``buildings``, ``area_m2``, ``pp``
        (Polsby-Popper ``4*pi*A/P**2``), ``parts`` (polygons; 1 = contiguous),
        ``crosses_barrier`` (its forced reason says so) and ``forced``.
    """
    geoms = np.empty(len(cells), dtype=object)
    geoms[:] = [c.geometry for c in cells]
    if metric_epsg is None:
        if len(cells):
            b = shapely.total_bounds(geoms)
            metric_epsg = metric_crs_for((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0)
        else:
            metric_epsg = metric_crs_for(117.0, 40.0)
    metric = _to_metric(geoms, metric_epsg) if len(cells) else geoms
    area = shapely.area(metric)
    length = shapely.length(metric)
    pp = np.where(length > 0, 4.0 * math.pi * area / np.maximum(length, 1e-12) ** 2, 0.0)
    parts = shapely.get_num_geometries(geoms)
    details = [
        {
            "households": int(c.households),
            "buildings": len(c.buildings),
            "area_m2": round(float(a), 1),
            "pp": round(float(p), 4),
            "parts": int(n),
            "crosses_barrier": bool(c.forced and "crosses a barrier" in c.forced),
            "forced": c.forced,
        }
        for c, a, p, n in zip(cells, area.tolist(), pp.tolist(), parts.tolist(), strict=True)
    ]
    return {
        "community_code": str(community_code),
        **_summary(details, target),
        "metric_epsg": int(metric_epsg),
        "cells_detail": details,
    }


def quality_report(results: Sequence[PartitionResult], target: int) -> dict[str, Any]:
    """Quality of the partitions of many communities, per community and overall.

    Parameters
    ----------
    results : sequence of PartitionResult
        From :func:`partition_community`.
    target : int
        Households per cell that the shares within +-10% / +-20% are measured against.

    Returns
    -------
    dict
        ``{"target", "communities", "overall", "by_community", "forced"}``: ``overall`` and
        each ``by_community`` entry (with ``community_code``) hold ``cells``, ``households``,
        ``buildings``, ``households_min/median/max``, ``within_10``, ``within_20`` (shares of
        cells within +-10% / +-20% of ``target``), ``pp_mean``, ``pp_min`` (Polsby-Popper
        ``4*pi*A/P**2`` in the metric CRS), ``contiguous`` (cells in one piece),
        ``all_contiguous``, ``barrier_crossings`` and ``forced`` (counts); ``forced`` lists
        every forced exception as ``{"community_code", "cell", "households", "reason"}``
        (``cell`` is 1-based, in numbering order).
    """
    all_cells: list[dict[str, Any]] = []
    by_community = []
    forced = []
    for r in results:
        cells = r.quality.get("cells_detail", [])
        all_cells.extend(cells)
        by_community.append({"community_code": r.community_code, **_summary(cells, target)})
        for n, c in enumerate(cells, start=1):
            if c.get("forced"):
                forced.append(
                    {
                        "community_code": r.community_code,
                        "cell": n,
                        "households": c["households"],
                        "reason": c["forced"],
                    }
                )
    return {
        "target": target,
        "communities": len(results),
        "overall": _summary(all_cells, target),
        "by_community": by_community,
        "forced": forced,
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def format_quality(report: dict[str, Any], max_rows: int = 30) -> str:
    """The quality report as text for people: overall figures, a table per community (the
    ``max_rows`` worst by share within +-20% when there are more) and the forced exceptions."""
    o = report["overall"]
    t = report["target"]
    lines = [
        f"grid partition quality (target {t} households per cell)",
        f"  communities {report['communities']:,}  cells {o['cells']:,}  households {o['households']:,}"
        f"  buildings {o['buildings']:,}",
        f"  households per cell: min {o['households_min']}  median {_num(o['households_median'], '{:.0f}')}"
        f"  max {o['households_max']}",
        f"  within +-10%: {_pct(o['within_10'])}   within +-20%: {_pct(o['within_20'])}",
        f"  Polsby-Popper: mean {_num(o['pp_mean'])}  min {_num(o['pp_min'])}",
        f"  contiguous cells: {o['contiguous']:,} of {o['cells']:,}"
        f"   barrier crossings: {o['barrier_crossings']:,}   forced exceptions: {o['forced']:,}",
    ]
    rows = report["by_community"]
    if rows:
        shown = rows
        title = "by community"
        if len(rows) > max_rows:
            shown = sorted(rows, key=lambda r: (r["within_20"], r["community_code"]))[:max_rows]
            title = f"the {max_rows} communities with the fewest cells within +-20%"
        lines.append(f"  {title}:")
        lines.append(
            f"    {'community':<14}{'cells':>6}{'households':>11}{'min':>6}{'median':>8}{'max':>6}"
            f"{'±10%':>8}{'±20%':>8}{'PP mean':>9}{'PP min':>8}{'contig':>8}{'forced':>7}"
        )
        for r in shown:
            lines.append(
                f"    {r['community_code']:<14}{r['cells']:>6}{r['households']:>11,}{r['households_min']!s:>6}"
                f"{_num(r['households_median'], '{:.0f}'):>8}{r['households_max']!s:>6}"
                f"{_pct(r['within_10']):>8}{_pct(r['within_20']):>8}{_num(r['pp_mean']):>9}"
                f"{_num(r['pp_min']):>8}{r['contiguous']:>5}/{r['cells']:<2}{r['forced']:>7}"
            )
    forced = report.get("forced", [])
    if forced:
        lines.append(f"  forced exceptions ({len(forced)}):")
        for f in forced[:max_rows]:
            lines.append(
                f"    {f['community_code']} cell {f['cell']:03d} ({f['households']} households): {f['reason']}"
            )
        if len(forced) > max_rows:
            lines.append(f"    ... and {len(forced) - max_rows} more")
    return "\n".join(lines)
