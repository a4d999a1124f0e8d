"""Schemathesis over the whole OpenAPI, in process, once per role with valid credentials.

For every operation the role may call (docs/SECURITY.md), schema-conforming requests are
generated (bounded, derandomised): no answer may be a 5xx, every 4xx must be in the
``{"error", "code"}`` shape (Open311's own ``[{"code", "description"}]`` under /open311), and at
least half of the requests must reach a handler (not stopped by authentication, validation or
the rate limiter), so that the fuzzing exercises the code and not only the gates.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_security import City, _roles, _table, city  # noqa: F401 (the fixture)

EXAMPLES = 10  # per operation and role: ~35 operations x 6 roles x 10 = ~2,000 requests
ROLES = ["public", "operator", "officer", "street_admin", "planner", "admin"]
# answers that mean the request never reached the handler's work
GATES = {401, 403, 413, 422, 429}


def _allowed(role: str) -> set[tuple[str, str]]:
    out = set()
    for method, path, cell in _table("## Endpoints and the roles allowed"):
        roles = _roles(cell)
        if "{action}" in path:
            roles = {r for a, c in _table("### Lifecycle actions") for r in _roles(c)}
        if "public" in roles or role in roles:
            out.add((method, path))
    return out


def _check_shape(path: str, status: int, body: Any) -> None:
    if path.startswith("/open311/"):
        assert isinstance(body, list) and body and {"code", "description"} <= set(body[0]), body
        assert body[0]["code"] == status
    else:
        assert isinstance(body, dict) and {"error", "code"} <= set(body), body
        assert isinstance(body["code"], str) and body["code"] and isinstance(body["error"], str)


@pytest.mark.parametrize("role", ROLES)
def test_schemathesis_per_role(city: City, role: str) -> None:  # noqa: F811
    app = city.c.app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    allowed = _allowed(role)
    headers = city.creds[role]
    stats: Counter[str] = Counter()
    failures: list[str] = []
    ops = [r.ok() for r in schema.get_all_operations()]
    ops = [op for op in ops if (op.method.upper(), op.path) in allowed]
    assert len(ops) >= 15

    def fuzz(op: Any) -> None:
        @given(data=st.data())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(data: Any) -> None:
            case = data.draw(op.as_strategy())
            r = case.call(headers={**(case.headers or {}), **headers})
            stats["requests"] += 1
            status = r.status_code
            if status >= 500:
                failures.append(f"{op.label} -> {status}: {r.text[:300]}")
                return
            if status in GATES:
                stats["gated"] += 1
            else:
                stats["reached"] += 1
            if 400 <= status < 500:
                try:
                    body = r.json()
                except ValueError:
                    failures.append(f"{op.label} -> {status} not JSON: {r.text[:200]}")
                    return
                try:
                    _check_shape(op.path, status, body)
                except AssertionError:
                    failures.append(f"{op.label} -> {status} wrong error shape: {r.text[:200]}")

        run()

    for op in ops:
        fuzz(op)

    print(
        f"\nschemathesis[{role}]: {len(ops)} operations, {stats['requests']} requests, "
        f"{stats['reached']} reached a handler ({stats['reached'] / max(stats['requests'], 1):.0%}), "
        f"{len(failures)} failures"
    )
    assert failures == [], "\n".join(failures[:20])
    assert stats["requests"] >= len(ops)
    assert stats["reached"] >= stats["requests"] / 2, stats
