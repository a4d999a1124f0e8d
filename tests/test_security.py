"""Roles, scopes, the contact audit, settings and limits, against the real app and PostGIS.

The endpoint tables of docs/SECURITY.md are read and checked row by row for every role, so the
documentation cannot drift from what the server does.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from data.routing import load_catalogue
from grid.auth import ROLES, make_token
from grid.config import Settings, get_settings
from grid.db.engine import session_scope
from grid.db.store import assign_staff
from grid.db.users import add_user, create_key
from grid.errors import ConfigError, InputError
from tests.conftest import truncate
from tests.test_jurisdiction import COMM, _world
from tests.world import D0

DOC = Path(__file__).resolve().parents[1] / "docs" / "SECURITY.md"
PHONE, NAME = "13987654321", "李四光"
MASKED = "139****4321"
RUBBISH = "HL1006"
CELL = COMM + "001"  # the officer's cell (NW of street 110105001)
STREET = "110105001"
# scopes of the scoped roles; everything else is city-wide
SCOPES = {"officer": [CELL], "street_admin": [STREET]}
WHO = [*ROLES, "anonymous"]


def _table(heading: str) -> list[list[str]]:
    """The rows of the first markdown table after ``heading`` in docs/SECURITY.md."""
    text_ = DOC.read_text(encoding="utf-8")
    part = text_[text_.index(heading) :]
    rows: list[list[str]] = []
    for line in part.splitlines()[1:]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set(cells[0]) <= {"-"}:
                rows.append(cells)
        elif rows:
            break
    return rows[1:]  # without the header row


def _roles(cell: str) -> set[str]:
    return {r.strip().rstrip("*") for r in cell.split(",")}


class City:
    def __init__(self, client: TestClient, creds: dict[str, dict[str, str]], pids: dict[str, int]) -> None:
        self.c = client
        self.creds = creds
        self.pids = pids
        with session_scope() as s:  # the Open311 token of each petition
            self.tokens = {
                k: str(s.scalar(text("SELECT token FROM petition WHERE id = :i"), {"i": i}))
                for k, i in pids.items()
            }


@pytest.fixture(scope="module")
def city(engine: Engine, db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    """A small city (4 streets, 4 cells in street 110105001), one key per role, three petitions:
    A in the officer's cell, C elsewhere in the same street, B in another street."""
    mp = pytest.MonkeyPatch()
    truncate(engine)
    mp.setenv("GRIDGOV_DATABASE_URL", db_url)
    get_settings.cache_clear()
    tmp = tmp_path_factory.mktemp("security")
    keys: dict[str, str] = {}
    with session_scope(db_url) as s:
        _world(s, tmp)
        assign_staff(s, CELL, "王网格", valid_from=D0)
        load_catalogue(s, D0)
        for role in ROLES:
            keys[role], _ = create_key(s, f"k-{role}", [role], SCOPES.get(role, []))
    c = TestClient(create_app(database_url=db_url))
    creds = {r: {"X-API-Key": k} for r, k in keys.items()}
    creds["anonymous"] = {}
    pids = {}
    for name, (lon, lat) in {"A": (116.41, 39.94), "C": (116.44, 39.91), "B": (116.47, 39.93)}.items():
        r = c.post(
            "/v1/petitions",
            json={
                "text": f"楼道堆物 {name}",
                "category": RUBBISH,
                "lon": lon,
                "lat": lat,
                "datum": "wgs84",
                "contact_phone": PHONE,
                "contact_name": NAME,
                "received_at": "2023-06-05T09:00:00+08:00",
            },
            headers=creds["operator"],
        )
        assert r.status_code == 201, r.text
        pids[name] = r.json()["id"]
    try:
        yield City(c, creds, pids)
    finally:
        mp.undo()
        get_settings.cache_clear()
        truncate(engine)


def _fill(city: City, path: str, petition: str = "A") -> str:
    """``path`` with its parameters filled in, about petition A (or B, C)."""
    subs = {
        "{pid}": str(city.pids[petition]),
        "{code}": STREET,
        "{fmt}": "json",
        "{service_code}": RUBBISH,
        "{service_request_id}": str(city.pids[petition]),
        "{token}": city.tokens[petition],
    }
    for k, v in subs.items():
        path = path.replace(k, v)
    return path


def _call(city: City, method: str, path: str, who: str, **kw: Any) -> Any:
    return city.c.request(method, path, headers=city.creds[who], **kw)


def test_every_endpoint_is_in_the_table(city: City) -> None:
    documented = {(m, p) for m, p, _ in _table("## Endpoints and the roles allowed")}
    served = {(m.upper(), p) for p, ops in city.c.app.openapi()["paths"].items() for m in ops}  # type: ignore[attr-defined]
    assert served - documented == set(), "endpoints missing from docs/SECURITY.md"
    assert documented - served == set(), "docs/SECURITY.md lists endpoints the app does not serve"


def test_each_role_reaches_exactly_its_endpoints(city: City) -> None:
    checked = 0
    for method, path, roles_cell in _table("## Endpoints and the roles allowed"):
        if "{action}" in path:
            continue  # the actions' own table (next test)
        allowed = _roles(roles_cell)
        url = _fill(city, path)
        for who in WHO:
            kw: dict[str, Any] = {"json": {}} if method == "POST" else {}
            r = _call(city, method, url, who, **kw)
            may = "public" in allowed or who in allowed
            if may:
                assert r.status_code not in (401, 403), (method, path, who, r.status_code, r.text[:200])
            else:
                # the Open311 standard answers a missing api_key with 403 (docs/SECURITY.md)
                anon = 403 if (method, path) == ("POST", "/open311/v2/requests.{fmt}") else 401
                assert r.status_code == (anon if who == "anonymous" else 403), (
                    method,
                    path,
                    who,
                    r.text[:200],
                )
            assert r.status_code < 500, (method, path, who, r.text[:300])
            checked += 1
    assert checked >= 30 * len(WHO)


def test_each_action_needs_its_roles(city: City) -> None:
    table = _table("### Lifecycle actions")
    assert {a for a, _ in table} >= {"accept", "resolve", "return", "callback", "settle", "locate"}
    pid = city.pids["A"]
    for action, roles_cell in table:
        allowed = _roles(roles_cell)
        for who in WHO:
            r = _call(city, "POST", f"/v1/petitions/{pid}/{action}", who, json={})
            if who in allowed:
                assert r.status_code not in (401, 403), (action, who, r.text)
            else:
                assert r.status_code == (401 if who == "anonymous" else 403), (action, who, r.text)


def _ids(r: Any) -> set[int]:
    assert r.status_code == 200, r.text
    return {int(i["id"]) for i in r.json()["items"]}


def test_scoped_lists_exports_and_open311_hold_the_scope_only(city: City) -> None:
    A, B, C = (city.pids[k] for k in "ABC")
    assert _ids(_call(city, "GET", "/v1/petitions", "operator")) == {A, B, C}
    assert _ids(_call(city, "GET", "/v1/petitions", "officer")) == {A}
    assert _ids(_call(city, "GET", "/v1/petitions", "street_admin")) == {A, C}
    assert _ids(_call(city, "GET", "/v1/petitions", "officer", params={"unit": "110105002"})) == set()
    csv_ = _call(city, "GET", "/v1/petitions/export.csv", "officer").text
    ids = {int(line.split(",")[0]) for line in csv_.splitlines()[1:] if line}
    assert ids == {A}
    o311 = _call(
        city,
        "GET",
        "/open311/v2/requests.json",
        "street_admin",
        params={"start_date": "2023-06-01T00:00:00+08:00"},
    ).json()
    assert {int(x["service_request_id"]) for x in o311} == {A, C}


@pytest.mark.parametrize(
    "path",
    ["/v1/petitions/{pid}", "/v1/petitions/{pid}/events", "/open311/v2/requests/{pid}.json"],
)
def test_another_cells_petition_is_not_found_not_forbidden(city: City, path: str) -> None:
    for who, other in (("officer", "C"), ("officer", "B"), ("street_admin", "B")):
        r = _call(city, "GET", path.replace("{pid}", str(city.pids[other])), who)
        assert r.status_code == 404, (who, other, r.text)
        assert "401" not in r.text and "forbidden" not in r.text
    r = _call(city, "GET", path.replace("{pid}", str(city.pids["A"])), "officer")
    assert r.status_code == 200


def test_scoped_actions_and_contact_outside_the_scope_are_404(city: City) -> None:
    B, C = city.pids["B"], city.pids["C"]
    r = _call(city, "POST", f"/v1/petitions/{C}/accept", "officer", json={})
    assert r.status_code == 404 and r.json()["code"] == "petition_not_found"
    r = _call(city, "GET", f"/v1/petitions/{B}/contact", "street_admin")
    assert r.status_code == 404 and r.json()["code"] == "petition_not_found"
    with session_scope() as s:
        status = s.scalar(text("SELECT status FROM petition WHERE id = :i"), {"i": C})
    assert status == "dispatched"  # untouched


def test_scoped_scores_and_insights(city: City) -> None:
    month = "2023-06"
    wide = _call(city, "GET", "/v1/scores", "planner", params={"month": month, "level": "street"}).json()
    mine = _call(city, "GET", "/v1/scores", "officer", params={"month": month, "level": "street"}).json()
    assert wide["petitions"] == 3 and mine["petitions"] == 1
    assert mine["scope"] == [CELL]
    r = _call(city, "GET", "/v1/insights", "officer", params={"unit": "110105002", "week": "2023-W23"})
    assert r.status_code == 403 and r.json()["code"] == "out_of_scope"
    r = _call(city, "GET", "/maps/unit/110105002", "officer", params={"insights": "true"})
    assert r.status_code == 403 and r.json()["code"] == "out_of_scope"
    r = _call(city, "GET", "/maps/unit/110105002", "anonymous", params={"insights": "true"})
    assert r.status_code == 401
    assert _call(city, "GET", "/maps/unit/110105002", "anonymous").status_code == 200


def _gets(city: City) -> list[str]:
    """Every GET of the table, about each of the three petitions where a path names one."""
    urls = []
    for method, path, _ in _table("## Endpoints and the roles allowed"):
        if method == "GET" and "{action}" not in path:
            urls += sorted({_fill(city, path, k) for k in "ABC"})
    urls += ["/open311/v2/requests.xml", "/v1/petitions?limit=1000", "/v1/petitions/triage"]
    return urls


@pytest.mark.parametrize("who", ["officer", "planner", "public", "anonymous"])
def test_the_contact_is_in_no_answer_to_a_role_that_may_not_read_it(city: City, who: str) -> None:
    with session_scope() as s:
        before = s.scalar(text("SELECT count(*) FROM contact_access"))
    seen = 0
    for url in _gets(city):
        r = _call(city, "GET", url, who)
        body = r.text
        for secret in (PHONE, MASKED, NAME, "李*"):
            assert secret not in body, (who, url, secret)
        seen += r.status_code == 200
    assert seen >= 10
    with session_scope() as s:
        assert s.scalar(text("SELECT count(*) FROM contact_access")) == before  # nothing was read
    if who == "officer":
        d = _call(city, "GET", f"/v1/petitions/{city.pids['A']}", who).json()
        assert d["contact"] is None and d["has_contact"] is True


def test_every_contact_read_is_audited(city: City) -> None:
    A = city.pids["A"]
    with session_scope() as s:
        before = s.scalar(text("SELECT count(*) FROM contact_access WHERE petition_id = :i"), {"i": A})
    d = _call(city, "GET", f"/v1/petitions/{A}", "operator").json()
    assert d["contact"]["phone"] == MASKED
    full = _call(city, "GET", f"/v1/petitions/{A}/contact", "street_admin").json()
    assert full["phone"] == PHONE and full["name"] == NAME
    log = _call(city, "GET", "/v1/audit/contacts", "admin", params={"petition": A}).json()["items"]
    assert len(log) == before + 2
    assert [(e["actor"], e["kind"]) for e in log[:2]] == [
        ("key:k-street_admin", "full"),
        ("key:k-operator", "masked"),
    ]
    assert all(e["petition_id"] == A for e in log)
    assert _call(city, "GET", "/v1/audit/contacts", "operator").status_code == 403


# ---- people: users, login, tokens ------------------------------------------------------------------


def test_users_log_in_and_are_scoped_and_disabled(city: City) -> None:
    runner = CliRunner()
    r = runner.invoke(
        cli,
        ["users", "add", "wang", "--role", "officer", "--unit", CELL, "--password-stdin"],
        input="correct horse battery\n",
    )
    assert r.exit_code == 0, r.output
    bad = runner.invoke(
        cli, ["users", "add", "li", "--role", "officer", "--password-stdin"], input="x" * 12 + "\n"
    )
    assert bad.exit_code == 2 and "scope_required" in bad.output
    weak = runner.invoke(
        cli, ["users", "add", "zhao", "--role", "planner", "--password-stdin"], input="short\n"
    )
    assert weak.exit_code == 2 and "weak_password" in weak.output
    listed = runner.invoke(cli, ["users", "list", "--format", "json"])
    assert '"wang"' in listed.output and CELL in listed.output

    c = city.c
    assert (
        c.post("/v1/auth/token", data={"username": "wang", "password": "wrong password"}).status_code == 401
    )
    t = c.post("/v1/auth/token", data={"username": "wang", "password": "correct horse battery"})
    assert t.status_code == 200 and t.json()["token_type"] == "bearer"
    h = {"Authorization": f"Bearer {t.json()['access_token']}"}
    me = c.get("/v1/auth/me", headers=h).json()
    assert me["name"] == "wang" and me["scope"] == [CELL] and "officer" in me["roles"]
    assert _ids(c.get("/v1/petitions", headers=h)) == {city.pids["A"]}
    # the cookie the login set works for GET only (no CSRF on writes)
    assert c.get("/v1/petitions").status_code == 200
    r = c.post(f"/v1/petitions/{city.pids['A']}/start", json={})
    assert r.status_code == 401
    c.cookies.clear()
    assert c.get("/v1/petitions").status_code == 401

    assert runner.invoke(cli, ["users", "disable", "wang"]).exit_code == 0
    r = c.get("/v1/petitions", headers=h)
    assert r.status_code == 401 and r.json()["code"] == "account_disabled"
    assert r.headers["www-authenticate"] == "Bearer"
    assert (
        c.post("/v1/auth/token", data={"username": "wang", "password": "correct horse battery"}).status_code
        == 401
    )


def test_forged_and_expired_tokens_are_refused(city: City) -> None:
    from api.security import secret_key

    with session_scope() as s:
        add_user(s, "sun", "another long password", ["planner"])
    secret = secret_key(city.c.app.state.settings)  # type: ignore[attr-defined]
    old = make_token("sun", secret, 5, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    r = city.c.get("/v1/auth/me", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401 and r.json()["code"] == "token_expired"
    forged = make_token("sun", "x" * 48, 5)
    r = city.c.get("/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"
    r = city.c.get("/v1/auth/me", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    ok = make_token("sun", secret, 5)
    assert city.c.get("/v1/auth/me", headers={"Authorization": f"Bearer {ok}"}).json()["name"] == "sun"


def test_keys_validate_roles_and_scopes(city: City) -> None:
    with session_scope() as s:
        with pytest.raises(InputError) as e:
            create_key(s, "x1", ["superuser"])
        assert e.value.code == "unknown_role"
        with pytest.raises(InputError) as e:
            create_key(s, "x2", ["operator"], [CELL])
        assert e.value.code == "scope_not_allowed"
        with pytest.raises(InputError) as e:
            create_key(s, "x3", ["officer"], ["999999999"])
        assert e.value.code == "unit_not_found"
    r = CliRunner().invoke(cli, ["keys", "create", "cli-officer", "--role", "officer", "--unit", CELL])
    assert r.exit_code == 0, r.output
    key = r.output.strip().splitlines()[-1]
    assert _ids(city.c.get("/v1/petitions", headers={"X-API-Key": key})) == {city.pids["A"]}
    assert CliRunner().invoke(cli, ["keys", "revoke", "cli-officer"]).exit_code == 0
    assert city.c.get("/v1/petitions", headers={"X-API-Key": key}).status_code == 401


# ---- settings and limits ---------------------------------------------------------------------------


def test_production_refuses_unsafe_settings(db_url: str) -> None:
    with pytest.raises(ConfigError) as e:
        create_app(Settings(environment="production", database_url=db_url))
    assert e.value.code == "unsafe_settings" and "GRIDGOV_SECRET_KEY" in e.value.message
    with pytest.raises(ConfigError):
        create_app(Settings(environment="production", secret_key="short", database_url=db_url))
    good = "k" * 20 + "9Xq" * 10
    with pytest.raises(ConfigError) as e:
        create_app(Settings(environment="production", secret_key=good, cors_origins="*", database_url=db_url))
    assert "CORS" in e.value.message
    assert create_app(Settings(environment="production", secret_key=good, database_url=db_url)) is not None
    assert Settings().environment == "development"  # the suite's own (conftest); the code default:
    assert Settings.model_fields["environment"].default == "production"
    assert Settings.model_fields["secret_key"].default is None


def test_cors_is_closed_unless_configured(db_url: str) -> None:
    pre = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    c = TestClient(create_app(Settings(environment="development", database_url=db_url)))
    r = c.options("/v1/units", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    c2 = TestClient(
        create_app(
            Settings(environment="development", cors_origins="https://city.example", database_url=db_url)
        )
    )
    ok = c2.options("/v1/units", headers={**pre, "Origin": "https://city.example"})
    assert ok.headers.get("access-control-allow-origin") == "https://city.example"
    bad = c2.options("/v1/units", headers=pre)
    assert "access-control-allow-origin" not in bad.headers


def test_body_limit_and_rate_limits(city: City, db_url: str) -> None:
    s = Settings(
        environment="development",
        database_url=db_url,
        max_body_bytes=2048,
        rate_limit_public="3/minute",
        rate_limit_key="5/minute",
        rate_limit_exempt_keys="k-operator",
    )
    c = TestClient(create_app(s))
    r = c.post("/v1/geocode/batch", json={"queries": ["幸福路1号" * 50] * 20})
    assert r.status_code == 413 and r.json()["code"] == "body_too_large"
    # chunked (no Content-Length) is counted as it arrives
    r = c.post(
        "/v1/geocode/batch",
        content=iter([b'{"queries": ["', b"x" * 4000, b'"]}']),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    codes = [c.get("/v1/units", params={"limit": 1}).status_code for _ in range(4)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    r = c.get("/v1/units", params={"limit": 1})
    assert r.json()["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
    assert 1 <= r.json()["details"]["retry_after"] <= 60
    planner = city.creds["planner"]
    keyed = [c.get("/v1/units", params={"limit": 1}, headers=planner).status_code for _ in range(6)]
    assert keyed == [200] * 5 + [429]  # a key has its own bucket, bigger than an address's
    exempt = [
        c.get("/v1/units", params={"limit": 1}, headers=city.creds["operator"]).status_code for _ in range(10)
    ]
    assert exempt == [200] * 10


def test_login_attempts_are_limited(db_url: str, city: City) -> None:
    c = TestClient(
        create_app(Settings(environment="development", database_url=db_url, rate_limit_login="3/minute"))
    )
    codes = [
        c.post("/v1/auth/token", data={"username": "nobody", "password": "guess"}).status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]


def test_answers_name_no_internal_detail(city: City) -> None:
    """Error answers carry a code and a message, never a traceback or SQL."""
    r = _call(city, "GET", "/v1/petitions/99999999", "operator")
    assert r.status_code == 404 and set(r.json()) >= {"error", "code"}
    assert not re.search(r"Traceback|SELECT|psycopg", r.text)


def test_query_windows_are_bounded(city: City) -> None:
    r = _call(city, "GET", "/maps/unit/110105001", "anonymous", params={"since": "2000-01-01"})
    assert r.status_code == 400 and r.json()["code"] == "window_too_long"
    r = _call(
        city,
        "GET",
        "/open311/v2/requests.json",
        "operator",
        params={"start_date": "2021-01-01T00:00:00+08:00", "end_date": "2023-01-01T00:00:00+08:00"},
    )
    assert r.status_code == 400 and "window_too_long" in r.text
    r = _call(city, "GET", "/v1/petitions", "operator", params={"limit": 1001})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"


def test_rate_limit_storage_is_checked_at_start(db_url: str) -> None:
    with pytest.raises(ConfigError) as e:
        create_app(Settings(environment="development", database_url=db_url, rate_limit_storage="nosuch://x"))
    assert e.value.code == "invalid_setting" and "GRIDGOV_RATE_LIMIT_STORAGE" in e.value.message
