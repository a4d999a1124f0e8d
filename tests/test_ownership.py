"""The ownership rule order (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grid.ownership import OutsideError, RulingHit, decide, shares


def test_single_cover_is_interior() -> None:
    d = decide(["110105016059001"])
    assert (d.status, d.rule, d.owner) == ("interior", "single_cover", "110105016059001")


def test_boundary_rule_order_ruling_building_lowest_code() -> None:
    cands = ["C3", "C1", "C2"]
    assert decide(cands).owner == "C1" and decide(cands).rule == "lowest_code"
    assert decide(cands).status == "on_boundary" and decide(cands).candidates == ["C1", "C2", "C3"]
    b = decide(cands, building_cell="C2", building_id="B7")
    assert (b.owner, b.rule) == ("C2", "building")
    r = decide(cands, ruling=RulingHit(5, "C3", "joint inspection 2024"), building_cell="C2")
    assert (r.owner, r.rule, r.ruling_id) == ("C3", "ruling", 5)
    # a building bound elsewhere does not decide, and the answer says so
    x = decide(cands, building_cell="C9", building_id="B7")
    assert x.owner == "C1" and x.rule == "lowest_code" and "B7" in x.notes[0]


@given(st.lists(st.text("0123456789", min_size=3, max_size=3), min_size=2, max_size=6, unique=True))
def test_tie_break_does_not_depend_on_order(codes: list[str]) -> None:
    assert decide(codes).owner == decide(list(reversed(codes))).owner == min(codes)


def test_overlap_needs_two_units_the_point_is_well_inside() -> None:
    cands = ["N088", "N087", "N089"]
    o = decide(cands, inside=["N089", "N088"])
    assert (o.status, o.owner, o.rule, o.candidates) == ("overlap", "N087", "lowest_code", sorted(cands))
    assert decide(cands, inside=["N089"]).status == "on_boundary"  # one interior: an edge of an overlap
    assert decide(cands, inside=["X1", "X2"]).status == "on_boundary"  # not candidates: ignored
    assert decide(["N087"], inside=["N087"]).status == "interior"
    r = decide(cands, inside=cands, ruling=RulingHit(3, "N089", "shared stakeholders"))
    assert (r.status, r.owner, r.rule) == ("overlap", "N089", "ruling")


def test_gap_and_outside() -> None:
    g = decide([], nearest=("C1", 12.5), gap_tolerance_m=50)
    assert (g.status, g.owner, g.rule, g.gap_distance_m) == ("gap", "C1", "nearest", 12.5)
    with pytest.raises(OutsideError) as e:
        decide([], nearest=("C1", 80.0), gap_tolerance_m=50)
    assert e.value.code == "outside" and e.value.status == 404 and "80 m" in e.value.message


def test_shape_shares_lead_and_co_handlers() -> None:
    s = shares({"110102": 30.0, "110106": 70.0})
    assert s["lead"] == "110106" and s["co_handlers"] == ["110102"] and s["cross_boundary"]
    assert [round(x["share"], 2) for x in s["shares"]] == [0.7, 0.3]
    r = shares({"110102": 30.0, "110106": 70.0}, ruling_owner="110102")
    assert r["lead"] == "110102" and r["lead_rule"] == "ruling" and r["co_handlers"] == ["110106"]
