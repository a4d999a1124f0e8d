"""Preparation for :mod:`grid.partition`: building groups and barrier regions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from grid.partition._faces import barrier_regions
from grid.partition._helpers import UnionFind, as_multipolygon, ids_text
from grid.partition._types import SAME_POINT_M, FloatArray, IntArray

# --------------------------------------------------------------------------------------------
# preparation: building groups and barrier regions


@dataclass
class Prep:
    """What both paths share, in the plane. A *group* (atom) is a set of buildings that no line
    can separate: at one location, with overlapping footprints, or one's point inside
    another's footprint."""

    community: BaseGeometry
    sites: FloatArray  # (n, 2) each building's location (its footprint's when its point is off it)
    group: IntArray  # building -> group
    members: list[list[int]]  # group -> buildings
    fp_building: IntArray  # building of each footprint
    fp_geoms: npt.NDArray[np.object_]  # footprints clipped to the community
    lines: list[BaseGeometry]  # barrier lines near the community
    regions: list[BaseGeometry]  # the community cut by the barrier lines
    site_region: IntArray  # region of each building's site
    w: list[int]  # group households
    px: list[float]  # group location (mean of its buildings' sites)
    py: list[float]
    region: list[int]  # group region (of its first building)


def prepare_community(
    community: BaseGeometry,
    pts: FloatArray,
    households: IntArray,
    footprints: npt.NDArray[np.object_],
    lines: list[BaseGeometry],
    ids: list[str],
    warnings: list[str],
) -> Prep:
    n = len(pts)
    uf = UnionFind(n)
    # buildings at one location
    keys = np.round(pts / SAME_POINT_M).astype(np.int64)
    first: dict[tuple[int, int], int] = {}
    for i, (kx, ky) in enumerate(keys.tolist()):
        j = first.setdefault((kx, ky), i)
        if j != i:
            uf.union(i, j)
    # footprints, clipped to the community; overlapping ones and points inside another's
    # footprint are kept together
    has_fp = ~shapely.is_missing(footprints)
    sites = pts.copy()
    fp_geoms = np.empty(0, dtype=object)
    fp_idx: list[int] = []
    shapely.prepare(community)
    if has_fp.any():
        idx = np.flatnonzero(has_fp)
        raw = footprints[idx]
        invalid = ~shapely.is_valid(raw)
        if invalid.any():
            raw[invalid] = [as_multipolygon(g) for g in shapely.make_valid(raw[invalid])]
        inside = shapely.covers(community, raw)
        if not inside.all():
            out_idx = np.flatnonzero(~inside)
            clipped = shapely.intersection(raw[out_idx], community)
            lost = shapely.area(raw[out_idx]) - shapely.area(clipped)
            raw[out_idx] = [as_multipolygon(g) for g in clipped]
            real = [int(idx[k]) for k, a in zip(out_idx.tolist(), lost.tolist(), strict=True) if a > 0.01]
            if real:
                warnings.append(
                    f"the footprints of {len(real)} building(s) reach outside the community and were "
                    f"clipped to it: {ids_text([ids[i] for i in real])}"
                )
        ok = shapely.area(raw) > 0
        fp_idx = idx[ok].tolist()
        fp_geoms = raw[ok]
    if fp_idx:
        tree = shapely.STRtree(fp_geoms)
        a, b = tree.query(fp_geoms, predicate="intersects")
        keep = a < b
        a, b = a[keep], b[keep]
        if len(a):
            overlap = shapely.relate_pattern(fp_geoms[a], fp_geoms[b], "2********")
            pairs = []
            for x, y in zip(a[overlap].tolist(), b[overlap].tolist(), strict=True):
                uf.union(fp_idx[x], fp_idx[y])
                pairs.append(f"{ids[fp_idx[x]]}/{ids[fp_idx[y]]}")
            if pairs:
                warnings.append(
                    f"{len(pairs)} pair(s) of overlapping footprints, each kept in one cell: {ids_text(pairs)}"
                )
        own_pts = shapely.points(pts[fp_idx])
        off = ~shapely.covers(fp_geoms, own_pts)
        if off.any():
            moved = [fp_idx[k] for k in np.flatnonzero(off)]
            sites[moved] = shapely.get_coordinates(shapely.point_on_surface(fp_geoms[off]))
            warnings.append(
                f"the points of {len(moved)} building(s) lie outside their footprints; the footprints "
                f"are used: {ids_text([ids[i] for i in moved])}"
            )
        p_idx, f_k = tree.query(shapely.points(sites), predicate="within")
        for p, k in zip(p_idx.tolist(), f_k.tolist(), strict=True):
            if fp_idx[k] != p:
                uf.union(p, fp_idx[k])
    roots = [uf.find(i) for i in range(n)]
    group_of_root: dict[int, int] = {}
    group = np.array([group_of_root.setdefault(r, len(group_of_root)) for r in roots], dtype=np.int64)
    members: list[list[int]] = [[] for _ in range(len(group_of_root))]
    for i, g in enumerate(group.tolist()):
        members[g].append(i)
    same_place = [m for m in members if len(m) > 1 and len({tuple(k) for k in keys[m].tolist()}) == 1]
    if same_place:
        warnings.append(
            f"{len(same_place)} location(s) hold several buildings, each kept in one cell: "
            + ids_text(["+".join(ids[i] for i in m) for m in same_place])
        )
    # barrier regions; a building's region is the one holding its site
    clip = community.envelope.buffer(10.0, join_style="mitre").bounds
    region_lines = [ln for ln in (shapely.clip_by_rect(ln, *clip) for ln in lines) if not ln.is_empty]
    regions = barrier_regions(community, region_lines)
    site_region = np.zeros(n, dtype=np.int64)
    if len(regions) > 1:
        rtree = shapely.STRtree(np.array(regions, dtype=object))
        pi, ri = rtree.query(shapely.points(sites), predicate="intersects")
        site_region[:] = -1
        for p, r in zip(pi.tolist()[::-1], ri.tolist()[::-1], strict=True):  # lowest region wins
            site_region[p] = r
        site_region[site_region < 0] = 0
    w = np.bincount(group, weights=households, minlength=len(members))
    sizes = np.bincount(group, minlength=len(members))
    return Prep(
        community=community,
        sites=sites,
        group=group,
        members=members,
        fp_building=np.asarray(fp_idx, dtype=np.int64),
        fp_geoms=np.asarray(fp_geoms, dtype=object),
        lines=region_lines,
        regions=regions,
        site_region=site_region,
        w=[int(v) for v in w.tolist()],
        px=(np.bincount(group, weights=sites[:, 0]) / sizes).tolist(),
        py=(np.bincount(group, weights=sites[:, 1]) / sizes).tolist(),
        region=[int(site_region[m[0]]) for m in members],
    )
