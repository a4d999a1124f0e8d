"""Schemathesis from outside (issue 20): a real uvicorn server on 127.0.0.1, the schema read from
its ``/openapi.json``, real HTTP requests, once per role.

Beside schema-conforming values, every case has a chance to carry a hostile value in one of its
parameters (query, path or a string field of the body): NUL and other control characters,
integers beyond ``bigint``, dates far in the past or future, very long strings. No answer may be
a 5xx; every 4xx is in our error shape (Open311's under ``/open311``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from grid.config import Settings
from tests import browser
from tests.test_fuzz_api import ROLES, _allowed, _check_shape
from tests.test_security import City, city  # noqa: F401 (the fixture)

EXAMPLES = 50  # per operation and role

CONTROL = "".join(chr(c) for c in range(0x20) if c not in (9, 10, 13))
HOSTILE = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "\x1b[2J", "\x7f\x08", "%00", "\r\n\x0b", "NaN", "-0", "1e999"]),
    st.text(alphabet=st.sampled_from(CONTROL + "a街0 -"), min_size=1, max_size=12),
    st.integers(min_value=2**63, max_value=2**80).map(str),
    st.integers(max_value=-(2**63)).map(str),
    st.sampled_from(
        ["0001-01-01", "9999-12-31", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00", "2024-13-45"]
    ),
    st.integers(min_value=500, max_value=1_500).map(lambda n: "长" * n),  # a URL stays under 16 KB (h11)
)
LONG_BODY = st.integers(min_value=5_000, max_value=50_000).map(lambda n: "长" * n)


def _poison(case: Any, data: st.DataObject) -> str | None:
    """Put one hostile value into one of the case's parameters; the place it went, or None."""
    places: list[tuple[str, Any, str]] = []
    for part in ("query", "path_parameters"):
        values = getattr(case, part, None)
        if isinstance(values, dict):
            places.extend((part, values, k) for k in values)
    if isinstance(case.body, dict):
        places.extend(
            ("body", case.body, k) for k, v in case.body.items() if isinstance(v, str | int) or v is None
        )
    if not places or not data.draw(st.booleans(), label="poison"):
        return None
    part, target, key = data.draw(st.sampled_from(places), label="where")
    target[key] = data.draw(st.one_of(HOSTILE, LONG_BODY) if part == "body" else HOSTILE, label="value")
    return f"{part}.{key}"


@pytest.fixture(scope="module")
def served(city: City) -> Any:  # noqa: F811
    """The city's database behind a real server, with rate limits lifted so that the run reaches
    the handlers (the limiter is tested on its own in tests/test_security.py)."""
    s = Settings(
        environment="development",
        rate_limit_public="1000000/minute",
        rate_limit_key="1000000/minute",
        rate_limit_login="1000000/minute",
    )
    app = create_app(settings=s, database_url=str(city.c.app.state.database_url), sweep=False)  # type: ignore[attr-defined]
    with browser.serve_app(app) as base:
        yield base


@pytest.mark.parametrize("role", ROLES)
def test_schemathesis_over_http(city: City, served: str, role: str) -> None:  # noqa: F811
    schema = schemathesis.openapi.from_url(f"{served}/openapi.json")
    allowed = _allowed(role)
    headers = city.creds[role]
    ops = [r.ok() for r in schema.get_all_operations()]
    ops = [op for op in ops if (op.method.upper(), op.path) in allowed]
    assert len(ops) >= 15
    stats: Counter[str] = Counter()
    failures: list[str] = []

    def fuzz(op: Any) -> None:
        @given(data=st.data())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(data: st.DataObject) -> None:
            case = data.draw(op.as_strategy())
            where = _poison(case, data)
            r = case.call(base_url=served, headers={**(case.headers or {}), **headers}, timeout=60)
            stats["requests"] += 1
            stats["poisoned"] += where is not None
            if r.status_code >= 500:
                failures.append(f"{op.label} [{where}] -> {r.status_code}: {r.text[:200]}")
            elif 400 <= r.status_code < 500:
                try:
                    _check_shape(op.path, r.status_code, r.json())
                except (AssertionError, ValueError):
                    failures.append(f"{op.label} [{where}] -> {r.status_code} wrong shape: {r.text[:200]}")

        run()

    for op in ops:
        fuzz(op)

    print(
        f"\nschemathesis over HTTP [{role}]: {len(ops)} operations, {stats['requests']} requests "
        f"({stats['poisoned']} with a hostile value), {len(failures)} failures"
    )
    assert failures == [], "\n".join(failures[:20])
    assert stats["requests"] >= len(ops) * 10 and stats["poisoned"] > 0
