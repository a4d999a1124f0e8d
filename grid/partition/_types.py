"""The public types and the tunables of :mod:`grid.partition`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
from shapely.geometry import MultiPolygon

from grid.errors import InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Building points closer than this (metres) count as one location.
SAME_POINT_M = 1e-3
#: Messages list at most this many building ids (``details`` carries all of them).
MAX_IDS = 10
#: Shared edges shorter than this (metres) do not make two atoms adjacent.
MIN_SHARED_M = 1e-6
#: A face smaller than this (m²) touching no other face is floating point noise and dropped
#: (grid.validate ignores gaps below 0.01 m²).
NOISE_AREA_M2 = 1e-4

#: A cell's state after a move: households, violation, area, perimeter, barrier regions,
#: atoms of the moved atom's region, cost.
CellState = tuple[int, int, float, float, int, int, float]
TWO_SQRT_PI = 2.0 * math.sqrt(math.pi)
#: Balance cost of a cell ``a*d² + b*max(0, d-0.1)² + c*max(0, d-0.2)²`` with d its relative
#: deviation from the target: gentle inside +-10%, steep beyond +-10% and +-20%, so that
#: compactness decides among cells that are all near the target.
BALANCE_COST = (0.25, 4.0, 16.0)
#: The search of a block stops after this many restarts in a row that found nothing better.
STALE_RESTARTS = 1

WGS84_A = 6378137.0
WGS84_E2 = 6.69437999014e-3


# --------------------------------------------------------------------------------------------
# public types


@dataclass(frozen=True)
class PartitionParams:
    """What a good cell is and how hard to search.

    Attributes
    ----------
    target : int
        Households a cell should hold (DB11/T 2157: about 300).
    min, max : int
        Bounds a cell should stay within; ``0 < min <= target <= max``.
    barrier_penalty : float
        Cost of a cell spanning one more barrier region, in units of a squared relative
        deviation from the target (0.5 = the cost of a cell 71% off target). Bounds always come
        first: a barrier is crossed when that is what keeps cells within ``[min, max]``.
    compactness_weight : float
        Weight of ``1/sqrt(Polsby-Popper) - 1`` per cell against the balance cost (0.0025 for a
        cell 10% off target, 0.34 for one 30% off). Higher: rounder cells, fewer of them near
        the target. On 1,000 communities of the benchmark city: 0.1 gives 91.1% of cells within
        +-20% and a mean Polsby-Popper of 0.613, 0.15 gives 90.8% and 0.622, 0.2 gives 90.3%
        and 0.629.
    restarts : int
        Region-growing restarts per block (the search stops early once every cell is within
        +-10% of the target, or after a restart that found nothing better).
    seed : int
        Seed of the restarts' random choices; the same inputs and seed give the same cells.
    """

    target: int = 300
    min: int = 200
    max: int = 400
    barrier_penalty: float = 0.5
    compactness_weight: float = 0.15
    restarts: int = 6
    seed: int = 0

    def __post_init__(self) -> None:
        ints = {"target": self.target, "min": self.min, "max": self.max, "restarts": self.restarts}
        for name, value in ints.items():
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise InputError(f"{name} must be an integer, not {value!r}", code="bad_params")
        if not 0 < self.min <= self.target <= self.max:
            raise InputError(
                f"need 0 < min <= target <= max, got min={self.min}, target={self.target}, max={self.max}",
                code="bad_params",
            )
        if self.restarts < 1:
            raise InputError(f"restarts must be >= 1, not {self.restarts}", code="bad_params")
        for name, fvalue in (
            ("barrier_penalty", self.barrier_penalty),
            ("compactness_weight", self.compactness_weight),
        ):
            if not (isinstance(fvalue, int | float) and math.isfinite(fvalue) and fvalue >= 0):
                raise InputError(f"{name} must be a number >= 0, not {fvalue!r}", code="bad_params")


@dataclass
class Cell:
    """One grid cell.

    Attributes
    ----------
    buildings : list of str
        Ids of the buildings in the cell, in input order.
    households : int
        Their households.
    geometry : MultiPolygon
        EPSG:4326 longitude/latitude.
    forced : str or None
        Why the cell breaks a rule, when it must: ``"single building above max (480 > 400)"``,
        ``"no partition within bounds: community total 150 < min 200"``, ``"crosses a barrier
        line ..."``, ``"not contiguous ..."``; several reasons are joined with ``"; "``.
    """

    buildings: list[str]
    households: int
    geometry: MultiPolygon
    forced: str | None = None


@dataclass
class PartitionResult:
    """The cells of one community, in numbering order (see the module docstring).

    ``quality`` is this community's quality record (as in :func:`quality_report`'s
    ``communities`` entries, plus ``cells_detail``: one dict per cell); ``warnings`` are things
    about the input worth a look (clipped footprints, buildings kept together...).
    """

    community_code: str
    cells: list[Cell]
    quality: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_frame(self) -> gpd.GeoDataFrame:
        """The cells as a GeoDataFrame (EPSG:4326): sequence (1-based), community_code,
        households, buildings (count), building_ids (comma-separated), forced, geometry."""
        return gpd.GeoDataFrame(
            {
                "sequence": list(range(1, len(self.cells) + 1)),
                "community_code": [self.community_code] * len(self.cells),
                "households": [c.households for c in self.cells],
                "buildings": [len(c.buildings) for c in self.cells],
                "building_ids": [",".join(c.buildings) for c in self.cells],
                "forced": [c.forced for c in self.cells],
            },
            geometry=[c.geometry for c in self.cells],
            crs=4326,
        )

    def building_cells(self) -> dict[str, int]:
        """building id -> index of its cell in ``cells`` (0-based)."""
        return {b: i for i, c in enumerate(self.cells) for b in c.buildings}
