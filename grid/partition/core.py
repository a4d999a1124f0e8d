"""The entry point of :mod:`grid.partition`: :func:`partition_community`."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from grid.datum import metric_crs_for
from grid.partition._graph import subdivide
from grid.partition._helpers import Plane, as_multipolygon
from grid.partition._input import Input, check_barriers, check_input
from grid.partition._prep import prepare_community
from grid.partition._search import cell_order, choose_k, make_plan
from grid.partition._types import Cell, PartitionParams, PartitionResult
from grid.partition.quality import community_quality

# --------------------------------------------------------------------------------------------
# the entry point


def partition_community(
    community_code: str,
    community_geom: BaseGeometry,
    buildings: gpd.GeoDataFrame,
    *,
    params: PartitionParams | None = None,
    barriers: Any = None,
    metric_epsg: int | None = None,
) -> PartitionResult:
    """Cut one community into balanced, compact, contiguous grid cells.

    Parameters
    ----------
    community_code : str
        The community's 12-digit code (used in messages and the result).
    community_geom : Polygon or MultiPolygon
        The community, EPSG:4326 longitude/latitude, valid.
    buildings : GeoDataFrame
        Columns ``building_id`` (unique), ``households`` (whole numbers >= 0) and a Point
        geometry inside the community (a Polygon geometry is taken as the footprint, its
        representative point as the location); optional ``footprint`` column of Polygons, which
        are kept whole inside one cell (clipped to the community when they reach outside it).
        Another CRS than EPSG:4326 is converted.
    params : PartitionParams, optional
        Target, bounds and search settings (default ``PartitionParams()``: 300 in [200, 400]).
    barriers : GeoSeries or sequence of lines, optional
        Major roads, rivers, railways (EPSG:4326; polygons count by their outline). Cells do not
        cross them unless keeping cells within bounds requires it. Pass the lines near the
        community (an STRtree query of the city's lines), not the whole city's.
    metric_epsg : int, optional
        Metric CRS in which compactness is measured; default the CGCS2000 3-degree Gauss-Kruger
        zone of the community (EPSG:4548 in Beijing).

    Returns
    -------
    PartitionResult
        Cells in numbering order (north to south by row band, then west to east), the
        community's quality record and warnings about the input.

    Raises
    ------
    InputError
        ``no_buildings``, ``building_outside_community`` (naming the buildings),
        ``bad_households`` (missing, negative or fractional; naming the buildings),
        ``duplicate_building``, ``missing_field``, ``bad_building_geometry``.
    GeometryError
        The community is not a valid, non-empty Polygon or MultiPolygon.
    """
    params = params or PartitionParams()
    code = str(community_code)
    community, inp = check_input(code, community_geom, buildings)
    lines_ll = check_barriers(barriers)
    if metric_epsg is None:
        c = community.centroid
        metric_epsg = metric_crs_for(c.x, c.y)
    warnings: list[str] = []
    total = int(inp.households.sum())
    n = len(inp.ids)
    if not lines_ll and total <= params.max and choose_k(total, n, params)[0] == 1:
        # one cell: the community itself (no building can be above max)
        cells = [Cell(list(inp.ids), total, as_multipolygon(community), None)]
        if total < params.min:
            cells[0].forced = f"no partition within bounds: community total {total} < min {params.min}"
    else:
        cells = _partition(code, community, inp, lines_ll, params, warnings)
    quality = community_quality(code, cells, target=params.target, metric_epsg=metric_epsg)
    if n != sum(len(cl.buildings) for cl in cells):
        raise RuntimeError("internal error: a building was lost or duplicated")
    return PartitionResult(code, cells, quality, warnings)


def _partition(
    code: str,
    community: BaseGeometry,
    inp: Input,
    lines_ll: list[BaseGeometry],
    params: PartitionParams,
    warnings: list[str],
) -> list[Cell]:
    minx, miny, maxx, maxy = community.bounds
    plane = Plane((minx + maxx) / 2.0, (miny + maxy) / 2.0)
    plane.remember(community)
    comm_p = plane.to_plane(community)
    lines_p = []
    if lines_ll:
        arr = np.empty(len(lines_ll), dtype=object)
        arr[:] = lines_ll
        hits = shapely.STRtree(arr).query(community, predicate="intersects")
        lines_p = [plane.to_plane(lines_ll[i]) for i in sorted(hits.tolist())]
    prep = prepare_community(
        comm_p,
        plane.fwd(inp.lonlat),
        inp.households,
        plane.to_plane(inp.footprints),
        lines_p,
        inp.ids,
        warnings,
    )
    atoms = subdivide(prep)
    plan = make_plan(atoms.graph, params, np.random.default_rng(params.seed))
    cell_of_atom = np.full(len(prep.w), -1, dtype=np.int64)
    for c, g in enumerate(plan.cells):
        cell_of_atom[g] = c
    faces, face_cell = atoms.faces, cell_of_atom[atoms.face_atom]
    detached: dict[int, float] = {}
    for a, area in atoms.graph.detached.items():
        detached[int(cell_of_atom[a])] = detached.get(int(cell_of_atom[a]), 0.0) + area
    k = len(plan.cells)
    geoms_p = []
    for ci in range(k):
        fs = faces[face_cell == ci]
        geoms_p.append(shapely.coverage_union_all(fs) if len(fs) > 1 else fs[0])
    geoms_ll = [as_multipolygon(g) for g in plane.to_lonlat(np.array(geoms_p, dtype=object))]
    cells = []
    for ci in cell_order(geoms_ll, community, plane):
        bidx = sorted(b for a in plan.cells[ci] for b in prep.members[a])
        reasons = list(plan.forced.get(ci, []))
        if detached.get(ci, 0.0) > 0:
            reasons.append(
                f"not contiguous: holds {detached[ci]:,.0f} m² of the community without buildings "
                "that touches no other part"
            )
        cells.append(
            Cell(
                [inp.ids[b] for b in bidx],
                int(inp.households[bidx].sum()),
                geoms_ll[ci],
                "; ".join(reasons) if reasons else None,
            )
        )
    return cells
