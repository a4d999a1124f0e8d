"""Who owns a place: one deterministic, explained owner for every point (pure rules).

The order of rules for a point covered by several units (on a shared edge or vertex, or in a
sliver overlap under the import tolerance) is fixed and documented:

1. ``ruling``: an explicit ruling recorded by a planner for that place wins (it also wins for
   interior points: a ruling is a decision about a place, e.g. a structure across the line);
2. ``building``: the unit the named building is bound to, when it is one of the candidates;
3. ``lowest_code``: otherwise the candidate with the lowest code. Codes are stable across
   re-imports (a re-import keeps a unit's code) and independent of row order, so the same
   point gets the same owner every time, whatever order the cells were loaded in.

A point covered by exactly one unit is ``interior`` (rule ``single_cover``). A point covered by
several units is ``on_boundary`` when it lies on their shared edge or vertex (or in a sliver
thinner than :data:`OVERLAP_DEPTH_M`), and ``overlap`` when it lies well inside at least two of
them: layers that do not tile (Los Angeles neighborhood councils overlap by 25.6 km²) are real,
and the same rule order decides the owner; the candidates say who else covers the place. A
point in a gap between units takes the nearest unit within the gap tolerance (status ``gap``,
rule ``nearest``, ``gap_distance_m`` = ``boundary_distance_m`` = the distance to that unit);
farther away it is ``outside`` (an error with the nearest unit and its distance, never a
guess): a hole of a layer, such as an independent city inside another, is outside. Any answer
may also carry ``near_boundary`` with the distance in metres to the owner's boundary.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from grid.errors import NotFound

RULES = ("ruling", "building", "lowest_code", "single_cover", "nearest")
STATUSES = ("interior", "on_boundary", "overlap", "gap", "outside")
#: a point more than this far inside two covering units is in an overlap, not on a shared edge
OVERLAP_DEPTH_M = 1.0


class OutsideError(NotFound):
    """The point is farther than the gap tolerance from every unit."""

    code = "outside"


@dataclass(frozen=True)
class RulingHit:
    id: int
    owner_code: str
    reason: str = ""


@dataclass
class Decision:
    owner: str
    status: str  # interior | on_boundary | overlap | gap
    rule: str
    candidates: list[str] = field(default_factory=list)
    tie_level: str | None = None  # the level whose candidates tied (on a boundary)
    ruling_id: int | None = None
    near_boundary: bool = False
    boundary_distance_m: float | None = None
    gap_distance_m: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        # shallow: the fields are plain values and lists of strings (asdict deep-copies, which is slow)
        return {f: (list(v) if isinstance(v, list) else v) for f, v in self.__dict__.items()}


def decide(
    candidates: list[str],
    *,
    ruling: RulingHit | None = None,
    building_cell: str | None = None,
    building_id: str | None = None,
    nearest: tuple[str, float] | None = None,
    gap_tolerance_m: float = 50.0,
    inside: Iterable[str] = (),
) -> Decision:
    """Apply the rule order to the units covering a point.

    Parameters
    ----------
    candidates
        Codes of the units whose closed polygon covers the point (any order).
    ruling
        The ruling in force whose place covers the point, if any.
    building_cell, building_id
        The unit the building named by the request is bound to.
    nearest
        ``(code, distance_m)`` of the nearest unit, used only when nothing covers the point.
    inside
        The candidates the point lies well inside (more than :data:`OVERLAP_DEPTH_M` from their
        boundary); two or more make the status ``overlap`` instead of ``on_boundary``.

    >>> decide(["110105016059002", "110105016059001"]).owner
    '110105016059001'
    >>> decide(["A", "B"], building_cell="B").rule
    'building'
    >>> decide(["A", "B"], inside=["A", "B"]).status
    'overlap'
    """
    cands = sorted(set(candidates))
    notes: list[str] = []
    if not cands:
        if nearest is None or nearest[1] > gap_tolerance_m:
            far = f" (nearest unit {nearest[0]} is {nearest[1]:.0f} m away)" if nearest else ""
            raise OutsideError(
                f"the point lies outside every unit in force, farther than the gap tolerance of "
                f"{gap_tolerance_m:g} m{far}",
                details={
                    "nearest": nearest[0] if nearest else None,
                    "distance_m": round(nearest[1], 2) if nearest else None,
                },
            )
        status, owner, rule = "gap", nearest[0], "nearest"
        cands = [nearest[0]]
    elif len(cands) == 1:
        status, owner, rule = "interior", cands[0], "single_cover"
    else:
        status = "overlap" if len(set(inside) & set(cands)) >= 2 else "on_boundary"
        if building_cell is not None and building_cell in cands:
            owner, rule = building_cell, "building"
        else:
            if building_cell is not None:
                notes.append(
                    f"building {building_id} is bound to {building_cell}, which does not touch this point; ignored"
                )
            owner, rule = cands[0], "lowest_code"
    d = Decision(
        owner=owner,
        status=status,
        rule=rule,
        candidates=cands,
        notes=notes,
        gap_distance_m=round(nearest[1], 2) if status == "gap" and nearest else None,
    )
    if ruling is not None:
        d.owner, d.rule, d.ruling_id = ruling.owner_code, "ruling", ruling.id
        if ruling.owner_code not in cands:
            d.notes.append(f"ruling {ruling.id} assigns this place to {ruling.owner_code}: {ruling.reason}")
    return d


def shares(parts: dict[str, float], *, ruling_owner: str | None = None) -> dict[str, Any]:
    """Lead and co-handlers of a shape from each unit's share (area or length in metric units).

    The lead is the largest share (ties: lowest code) unless a ruling names the owner.
    """
    total = sum(parts.values())
    if total <= 0:
        raise NotFound("the shape touches no unit in force", code="outside")
    ranked = sorted(parts.items(), key=lambda kv: (-kv[1], kv[0]))
    lead = ruling_owner if ruling_owner is not None else ranked[0][0]
    return {
        "lead": lead,
        "lead_rule": "ruling" if ruling_owner is not None else "largest_share",
        "co_handlers": [c for c, _ in ranked if c != lead],
        "shares": [{"code": c, "measure": v, "share": v / total} for c, v in ranked],
        "cross_boundary": len(ranked) > 1,
    }
