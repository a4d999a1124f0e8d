"""Balanced grid cells of about 300 households from a community's buildings.

:func:`partition_community` cuts one community (社区) into grid cells (网格) that

* tile the community exactly (no gaps, no overlaps: ``grid.validate.validate_units`` finds
  nothing), never split a building, and are contiguous and compact;
* hold a number of households as close to ``target`` as the buildings allow, inside
  ``[min, max]`` whenever the search finds a partition within bounds; a single building above
  ``max`` becomes its own cell and is reported;
* do not cross barrier lines (major roads, rivers, railways) unless they must.

:func:`quality_report` summarises the results of many communities (cells, households min /
median / max, share of cells within +-10% and +-20% of the target, Polsby-Popper compactness
in a metric CRS, contiguity, barrier crossings, forced exceptions); :func:`format_quality`
prints it for people.

How it works
------------
1. **Plane.** Work happens in a local plane that is an *affine* image of longitude/latitude
   (x = (lon - lon0) * metres per degree of longitude at lat0, y = (lat - lat0) * metres per
   degree of latitude; WGS84 radii of curvature at the community's centre). Distances are
   metric to about 1e-4 over a community, and because the map is affine, straight lon/lat
   edges stay straight: a node put on a community edge in the plane lies on the same edge in
   lon/lat, so the cells tile the stored EPSG:4326 polygon exactly, with no projection
   slivers (a Gauss-Kruger projection bends a 500 m lon/lat edge by millimetres). The
   community's own vertices are mapped back to their original coordinates bit for bit.
   Compactness is *measured* in the metric CRS (CGCS2000 Gauss-Kruger zone by default).
2. **Groups.** Buildings at one location (within 1 mm), with overlapping footprints, or with a
   point inside another's footprint are kept together (one *atom*): no line separates them.
3. **Faces.** The community boundary, the barrier lines, the footprints' outlines and the
   Voronoi edges of the building points (one diagram per barrier region, so no building's land
   reaches across a barrier) are noded together once and polygonized: the faces are an exact
   planar subdivision of the community, and neighbouring faces share their edges vertex for
   vertex. A face inside a footprint belongs to that building; any other face to the nearest
   building point of its barrier region.
4. **Atoms.** Each group's faces connected to its point form its atom. The rest (a piece of a
   Voronoi cell cut off by a footprint or a concave boundary, a barrier region without
   buildings) joins the adjacent atom with the longest shared edge, preferring one of the same
   barrier region; a part touching nothing (an exclave without buildings) goes to the nearest
   atom, and that cell is reported as not contiguous (a speck below 1 cm² touching nothing is
   floating point noise and dropped). Atoms are adjacent when they share an edge of positive
   length, found by matching the faces' identical edge segments.
5. **Partition.** Buildings above ``max`` become their own cells. Each connected part of the
   rest is split at barriers into blocks (a block too small for a cell within bounds joins its
   best neighbour: a barrier is crossed only where it must be), and each block is cut into
   ``k`` connected cells, ``k`` minimising ``(H - k*target)**2 / k`` among the counts that can
   keep every cell within bounds (the next counts are tried while cells are out of bounds, or
   once while one is more than 20% off). The search: balanced region growing from spread-out
   seeds (farthest-point, then household-weighted k-means++ restarts), then local search that
   moves single boundary atoms and swaps pairs while both cells stay connected, accepting a
   change when it lowers, lexicographically, (households outside ``[min, max]``, cost); cost =
   sum over cells of the balance cost (:data:`BALANCE_COST`: gentle within +-10% of the
   target, steep beyond +-10% and +-20%) + ``compactness_weight * (P / (2 * sqrt(pi * A)) - 1)``
   (zero for a disc; 1/sqrt(Polsby-Popper) - 1) + ``barrier_penalty * (barrier regions - 1)``.
   The perimeter P and area A of a cell come from its atoms' perimeters, areas and shared edge
   lengths, so a move is evaluated from the moved atom's neighbours only.
6. **Cells.** A cell is the coverage union of its faces, mapped back to lon/lat (MultiPolygon).
   A community whose households make one cell (and that no barrier crosses) is returned whole.

Cell order (the order of ``PartitionResult.cells``, in which the storage layer numbers cells
001, 002, ...): north to south by row band, then west to east. Each cell's reference point is
``shapely.point_on_surface`` of its lon/lat geometry. Row bands are ``h`` metres high, ``h``
the side of a square of the mean cell area; a cell's band is ``floor((N - lat) * m / h)``, N
the community's northern bound and m the metres per degree of latitude there. Cells are sorted
by (band, longitude, -latitude).

Errors (:class:`grid.errors.InputError` with these codes): ``no_buildings``,
``building_outside_community``, ``bad_households`` (missing, negative or fractional),
``duplicate_building`` (the same id twice), ``missing_field``, ``bad_building_geometry``,
``bad_params``; :class:`grid.errors.GeometryError` for a community that is not a valid polygon.

>>> from shapely.geometry import box
>>> import geopandas as gpd
>>> x0, y0 = 116.46, 39.89
>>> community = box(x0, y0, x0 + 0.006, y0 + 0.002)  # about 510 m x 220 m
>>> buildings = gpd.GeoDataFrame(
...     {"building_id": [f"B{i}" for i in range(6)], "households": [100] * 6},
...     geometry=gpd.points_from_xy([x0 + 0.0005 + 0.001 * i for i in range(6)], [y0 + 0.001] * 6),
...     crs=4326,
... )
>>> result = partition_community("110105016061", community, buildings)
>>> [(c.households, c.buildings) for c in result.cells]
[(300, ['B0', 'B1', 'B2']), (300, ['B3', 'B4', 'B5'])]

Modules (private; import from ``grid.partition``): ``_types`` (the public types and tunables),
``_helpers``, ``_input`` (checks), ``_faces`` (the planar subdivision), ``_prep`` (building groups,
barrier regions), ``_graph`` (atoms and their adjacency), ``_search`` (blocks, the search, assembly),
``quality`` (reports), ``core`` (the entry point).
"""

from grid.partition._types import Cell, PartitionParams, PartitionResult
from grid.partition.core import partition_community
from grid.partition.quality import community_quality, format_quality, quality_report

__all__ = [
    "Cell",
    "PartitionParams",
    "PartitionResult",
    "community_quality",
    "format_quality",
    "partition_community",
    "quality_report",
]
