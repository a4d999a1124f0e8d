"""The petition state machine, exhaustively: every (status, action) pair is allowed or refused."""

from __future__ import annotations

import pytest

from grid.errors import Conflict, InputError
from grid.lifecycle import ACTIONS, OPEN, STATUSES, allowed_actions, check

BODY = {
    "note": "原因",
    "owner_code": "110105001",
    "duplicate_of": 7,
    "resolved": True,
    "satisfaction": "satisfied",
}

MAIN_LINE = [
    ("received", "dispatch"),
    ("dispatched", "accept"),
    ("accepted", "start"),
    ("in_progress", "resolve"),
    ("resolved", "callback"),
    ("callback", "close"),
]


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_pair_is_allowed_or_refused_with_the_allowed_list(status: str, action: str) -> None:
    body = {k: v for k, v in BODY.items() if k in ACTIONS[action].needs}
    if action == "callback":
        body.update(resolved=True, satisfaction="satisfied")
    if status in ACTIONS[action].sources:
        target = check(status, action, body)
        assert target == ACTIONS[action].target
    else:
        with pytest.raises(Conflict) as e:
            check(status, action, body)
        assert e.value.code == "invalid_transition" and e.value.status == 409
        assert e.value.details["allowed"] == allowed_actions(status)


def test_main_line_reaches_closed_and_closed_is_final() -> None:
    for status, action in MAIN_LINE:
        assert status in ACTIONS[action].sources
    assert allowed_actions("closed") == []
    assert check("callback", "close") == "closed"


def test_every_open_status_can_leave() -> None:
    for status in OPEN:
        assert allowed_actions(status), status


@pytest.mark.parametrize("action", [a for a in ACTIONS if ACTIONS[a].needs])
def test_missing_inputs_are_named(action: str) -> None:
    status = sorted(ACTIONS[action].sources)[0]
    field = ACTIONS[action].needs[0]
    with pytest.raises(InputError) as e:
        check(status, action, {})
    assert e.value.code == f"{field}_required"


def test_callback_needs_answers_or_a_reason() -> None:
    with pytest.raises(InputError, match="none_reason"):
        check("resolved", "callback", {"resolved": True})
    with pytest.raises(InputError) as e:
        check("resolved", "callback", {"resolved": True, "satisfaction": "ok"})
    assert e.value.code == "invalid_satisfaction"
    assert check("resolved", "callback", {"none_reason": "拒绝回访"}) == "callback"
    with pytest.raises(InputError):
        check("nope", "fly")
