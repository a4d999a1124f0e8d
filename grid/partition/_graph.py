"""The graph of building groups (atoms) of :mod:`grid.partition`."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from grid.partition._faces import face_adjacency, inner_points
from grid.partition._helpers import UnionFind
from grid.partition._prep import Prep
from grid.partition._types import MIN_SHARED_M, NOISE_AREA_M2, SAME_POINT_M, FloatArray, IntArray

# --------------------------------------------------------------------------------------------
# the graph of building groups


@dataclass
class Graph:
    """Atoms (building groups with their land) as a graph: the partition works on this."""

    w: list[int]  # households
    area: list[float]  # m²
    cx: list[float]  # centroid of the land
    cy: list[float]
    perim: list[float]  # m
    region: list[int]  # barrier region of the atom's buildings
    nbr: list[dict[int, float]]  # atom -> {adjacent atom: shared edge length, m}
    members: list[list[int]]  # atom -> buildings
    detached: dict[int, float] = field(default_factory=dict)  # atom -> m² of exclave attached to it


@dataclass
class _Atoms:
    """The exact planar subdivision (full path): faces and the atom (group) of each."""

    faces: npt.NDArray[np.object_]
    face_atom: IntArray
    graph: Graph


def subdivide(prep: Prep) -> _Atoms:
    """Faces from the community boundary, barrier lines, footprint outlines and the Voronoi
    edges of the building sites (one diagram per barrier region); each face belongs to the
    footprint it lies in, else to the nearest site of its region; atoms are the groups' faces
    connected to their sites, the rest attached to neighbours (module docstring)."""
    community = prep.community
    sites, group = prep.sites, prep.group
    n_groups = len(prep.members)
    regions = prep.regions
    n_regions = len(regions)
    linework: list[BaseGeometry] = [community.boundary, *prep.lines]
    region_sites: list[tuple[FloatArray, IntArray]] = []
    for r in range(n_regions):
        in_r = np.flatnonzero(prep.site_region == r)
        if len(in_r) == 0:
            region_sites.append((np.zeros((0, 2)), np.zeros(0, np.int64)))
            continue
        rk = np.round(sites[in_r] / SAME_POINT_M).astype(np.int64)
        _, first_idx = np.unique(rk, axis=0, return_index=True)
        chosen = in_r[np.sort(first_idx)]
        region_sites.append((sites[chosen], group[chosen]))
        if len(chosen) >= 2:
            linework.append(
                shapely.voronoi_polygons(
                    shapely.multipoints(sites[chosen]), extend_to=regions[r], only_edges=True
                )
            )
    if len(prep.fp_geoms):
        linework.extend(shapely.boundary(prep.fp_geoms).tolist())
    faces, rx, ry = _faces(linework, community)
    face_area = shapely.area(faces)
    n_faces = len(faces)
    label = np.full(n_faces, -1, dtype=np.int64)
    face_region = _region_of(prep, rx, ry)
    for r in range(n_regions):
        sxy, sgroup = region_sites[r]
        in_r = np.flatnonzero(face_region == r)
        if len(sxy) == 0 or len(in_r) == 0:
            continue
        if len(sxy) == 1:
            label[in_r] = sgroup[0]
            continue
        stree = shapely.STRtree(shapely.points(sxy))
        q, nearest = stree.query_nearest(shapely.points(rx[in_r], ry[in_r]), all_matches=False)
        label[in_r[q]] = sgroup[nearest]
    if len(prep.fp_geoms):
        fi, fk = shapely.STRtree(prep.fp_geoms).query(shapely.points(rx, ry), predicate="within")
        label[fi] = group[prep.fp_building[fk]]
    all_fa, all_fb, all_flen = face_adjacency(faces)
    touch = all_flen > MIN_SHARED_M
    fa, fb, flen = all_fa[touch], all_fb[touch], all_flen[touch]
    # components of same-label faces; a group's atom is the one holding its site
    fuf = UnionFind(n_faces)
    same = (label[fa] == label[fb]) & (label[fa] >= 0)
    for x, y in zip(fa[same].tolist(), fb[same].tolist(), strict=True):
        fuf.union(x, y)
    comp = np.array([fuf.find(f) for f in range(n_faces)], dtype=np.int64)
    anchor = np.full(n_groups, -1, dtype=np.int64)
    hit_p, hit_f = shapely.STRtree(faces).query(shapely.points(sites), predicate="intersects")
    for p, f in zip(hit_p.tolist(), hit_f.tolist(), strict=True):
        g = int(group[p])
        if label[f] == g and anchor[g] < 0:
            anchor[g] = comp[f]
    for g in np.flatnonzero(anchor < 0).tolist():  # degenerate: the group's largest component
        own = np.flatnonzero(label == g)
        if len(own) == 0:
            raise RuntimeError(f"internal error: building group {g} has no face")
        comp_area: dict[int, float] = defaultdict(float)
        for f in own.tolist():
            comp_area[int(comp[f])] += float(face_area[f])
        anchor[g] = max(comp_area, key=lambda c: comp_area[c])
    comp_atom = {int(c): g for g, c in enumerate(anchor.tolist())}
    face_atom = np.array([comp_atom.get(int(c), -1) for c in comp.tolist()], dtype=np.int64)
    # (loose pieces may join through edges of any length: a sliver face of a few square
    # micrometres is attached where it touches)
    detached = _attach_loose(faces, face_atom, face_area, face_region, all_fa, all_fb, all_flen, prep.region)
    if (face_atom < 0).any():  # specks of floating point noise touching nothing: dropped
        keep = face_atom >= 0
        faces, face_atom, face_area = faces[keep], face_atom[keep], face_area[keep]
        fa, fb, flen = face_adjacency(faces)
        touch = flen > MIN_SHARED_M
        fa, fb, flen = fa[touch], fb[touch], flen[touch]
    # the graph: atoms sharing an edge of positive length
    aa, ab = face_atom[fa], face_atom[fb]
    cross = aa != ab
    nbr: list[dict[int, float]] = [{} for _ in range(n_groups)]
    for x, y, ln in zip(aa[cross].tolist(), ab[cross].tolist(), flen[cross].tolist(), strict=True):
        nbr[x][y] = nbr[x].get(y, 0.0) + ln
        nbr[y][x] = nbr[y].get(x, 0.0) + ln
    cent = shapely.centroid(faces)
    fcx, fcy = shapely.get_x(cent), shapely.get_y(cent)
    area = np.bincount(face_atom, weights=face_area, minlength=n_groups)
    safe = np.maximum(area, 1e-12)
    cx = np.bincount(face_atom, weights=face_area * fcx, minlength=n_groups) / safe
    cy = np.bincount(face_atom, weights=face_area * fcy, minlength=n_groups) / safe
    perim = np.asarray(np.bincount(face_atom, weights=shapely.length(faces), minlength=n_groups), dtype=float)
    perim -= 2.0 * np.bincount(aa[~cross], weights=flen[~cross], minlength=n_groups)
    graph = Graph(
        w=list(prep.w),
        area=area.tolist(),
        cx=cx.tolist(),
        cy=cy.tolist(),
        perim=perim.tolist(),
        region=list(prep.region),
        nbr=nbr,
        members=prep.members,
        detached=detached,
    )
    return _Atoms(faces, face_atom, graph)


def _faces(
    linework: list[BaseGeometry], community: BaseGeometry
) -> tuple[npt.NDArray[np.object_], FloatArray, FloatArray]:
    """Node the linework once and polygonize it: the faces inside the community, with a point
    strictly inside each.

    Raises
    ------
    RuntimeError
        When the faces do not cover the community (never seen: polygonizing noded linework
        leaves no gap).
    """
    noded = shapely.union_all(np.array(linework, dtype=object))
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))), dtype=object)
    rx, ry = inner_points(faces)
    inside = shapely.contains_xy(community, rx, ry)
    faces, rx, ry = faces[inside], rx[inside], ry[inside]
    covered = float(np.sum(shapely.area(faces)))
    if not math.isclose(covered, community.area, rel_tol=1e-9, abs_tol=1e-6):
        raise RuntimeError(
            f"internal error: the faces cover {covered:.6f} m² of a {community.area:.6f} m² community"
        )
    return faces, rx, ry


def _region_of(prep: Prep, x: FloatArray, y: FloatArray) -> IntArray:
    region = np.zeros(len(x), dtype=np.int64)
    if len(prep.regions) > 1:
        for r, reg in enumerate(prep.regions):
            shapely.prepare(reg)
            region[shapely.contains_xy(reg, x, y)] = r
    return region


def _attach_loose(
    faces: npt.NDArray[np.object_],
    owner: IntArray,
    face_area: FloatArray,
    face_region: IntArray,
    fa: IntArray,
    fb: IntArray,
    flen: FloatArray,
    owner_region: Sequence[int],
) -> dict[int, float]:
    """Give faces without an owner (-1) to the neighbour they share the longest edge with
    (in place), a connected piece at a time, preferring an owner of the piece's barrier region;
    a piece that touches nothing (an exclave without buildings) goes to the nearest owner.
    Returns owner -> area of such exclaves."""
    detached: dict[int, float] = {}
    loose = owner < 0
    if not loose.any():
        return detached
    luf = UnionFind(len(faces))
    both = loose[fa] & loose[fb]
    for x, y in zip(fa[both].tolist(), fb[both].tolist(), strict=True):
        luf.union(x, y)
    pieces: dict[int, list[int]] = defaultdict(list)
    for f in np.flatnonzero(loose).tolist():
        pieces[luf.find(f)].append(f)
    touching: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for x, y, ln in zip(fa.tolist(), fb.tolist(), flen.tolist(), strict=True):
        touching[x].append((y, ln))
        touching[y].append((x, ln))
    todo = list(pieces.values())
    while todo:
        rest = []
        for piece in todo:
            shared: dict[int, float] = defaultdict(float)
            for f in piece:
                for other, ln in touching[f]:
                    t = int(owner[other])
                    if t >= 0:
                        shared[t] += ln
            if not shared:
                rest.append(piece)
                continue
            reg = int(face_region[max(piece, key=lambda f: face_area[f])])
            owner[piece] = max(shared, key=lambda t: (owner_region[t] == reg, shared[t], -t))
        if len(rest) == len(todo):
            break
        todo = rest
    for piece in todo:
        if float(np.sum(face_area[piece])) < NOISE_AREA_M2:
            continue  # floating point noise: the caller drops it
        geom = shapely.union_all(faces[piece])
        owned = np.flatnonzero(owner >= 0)
        best = int(owner[owned[int(np.argmin(shapely.distance(faces[owned], geom)))]])
        owner[piece] = best
        detached[best] = detached.get(best, 0.0) + float(np.sum(face_area[piece]))
    return detached
