"""Scope fails closed (issue 15, item 3): every petition reader of grid/db takes ``scope`` as a
required keyword, so a caller cannot forget it; the whole city is said with ``CITY``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from grid.db import open311, petitions, scores

READERS: list[Callable[..., Any]] = [
    petitions.get,
    petitions.contact,
    petitions.events,
    petitions.list_petitions,
    petitions.transition,
    petitions.triage_queue,
    petitions.petition_token,
    petitions.petition_for_token,
    petitions._get,
    open311.service_requests,
    open311.service_request,
    scores.month_frame,
    scores.month_counts,
    scores.month_scores,
]


@pytest.mark.parametrize("reader", READERS, ids=lambda f: f"{f.__module__}.{f.__name__}")
def test_scope_is_a_required_keyword(reader: Callable[..., Any]) -> None:
    p = inspect.signature(reader).parameters.get("scope")
    assert p is not None, f"{reader.__name__} reads petitions without a scope"
    assert p.kind is inspect.Parameter.KEYWORD_ONLY
    assert p.default is inspect.Parameter.empty, f"{reader.__name__}: scope has a default"


def test_every_public_petition_reader_is_listed() -> None:
    """A new function of these modules that takes a scope must be in READERS (and so required)."""
    listed = {f.__name__ for f in READERS}
    for mod in (petitions, open311, scores):
        for name, f in vars(mod).items():
            if (
                (
                    inspect.isfunction(f)
                    and f.__module__ == mod.__name__
                    and "scope" in inspect.signature(f).parameters
                )
                and name != "scope_condition"
                and not name.startswith("_scoped")
            ):
                assert name in listed, f"{mod.__name__}.{name} takes a scope but is not checked"


def test_city_is_the_unscoped_reader() -> None:
    assert petitions.CITY is None
    assert petitions.scope_condition(petitions.CITY) is None
    assert petitions.scope_condition(["110101"]) is not None
