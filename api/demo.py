"""The demo's tour of petitions: one colloquial petition through the real API, start to score.

Run by ``gridgov demo`` after loading the sample city (in process, through the same FastAPI app
that is then served): a petition with only a colloquial address is taken in, located and
dispatched with its deadline; it appears in Open311; after it is answered and called back, the
month's scores of its street change. The tour's petition stays (it is a real record) and is
marked ``source = demo`` (the key's name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DEMO_KEY_NAME = "demo"
DEMO_STREET = "110105016"  # 双井街道
DEMO_USERS = {"demo-street": ("street_admin", DEMO_STREET), "demo-planner": ("planner", None)}


def demo_key(session: Any) -> str:
    """A fresh development key named ``demo`` (the previous one is revoked and replaced)."""
    from grid.db.maintenance import delete_keys_named
    from grid.db.users import create_key

    delete_keys_named(session, DEMO_KEY_NAME)
    key, _ = create_key(session, DEMO_KEY_NAME, ["operator"])
    return key


def demo_users(session: Any) -> dict[str, str]:
    """Fresh demo accounts with random passwords (printed by the demo; never a default password):
    ``demo-street`` (street admin of 双井) and ``demo-planner``. Returns {username: password}."""
    import secrets

    from grid.db.maintenance import delete_user
    from grid.db.users import add_user

    out = {}
    for name, (role, unit) in DEMO_USERS.items():
        delete_user(session, name)
        password = secrets.token_urlsafe(12)
        add_user(session, name, password, [role], [unit] if unit else [], full_name="demo account")
        out[name] = password
    return out


def tour(
    key: str, say: Callable[[str], None], database_url: str | None = None, users: dict[str, str] | None = None
) -> dict[str, Any]:
    """Post one petition and follow it; returns what was seen (also printed through ``say``)."""
    import datetime as dt
    import warnings

    with warnings.catch_warnings():  # starlette's note about httpx versions is not for demo users
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from api.app import create_app
    from grid.db.petitions import now

    c = TestClient(create_app(database_url=database_url))
    h = {"X-API-Key": key}
    body = {
        "text": "大望东路２号院一号楼门口垃圾没人清，好几天了",
        "category": "HL1006",
        "address": "大望东路２号院一号楼门口",
        "channel": "hotline",
        "contact_phone": "13900001111",
    }
    p = c.post("/v1/petitions", json=body, headers=h).json()
    if "id" not in p:
        raise RuntimeError(f"the tour's petition was refused: {p}")
    pid = p["id"]
    say(
        f"tour: petition #{pid} '{body['address']}' → {p['status']}, cell {p['cell_code']}, "
        f"lead {p['lead_department']} ({(p.get('routing') or {}).get('lead_name', '')}), "
        f"co {p['co_departments']}, due {p['due_at']} ({p['time_limit']})"
    )
    o311 = c.get("/open311/v2/requests.json", params={"service_request_id": str(pid)}, headers=h).json()
    say(
        f"tour: Open311 requests.json has it: status {o311[0]['status']}, agency {o311[0]['agency_responsible']}"
    )
    month = now().strftime("%Y-%m")
    street = p["street_code"]

    def score() -> dict[str, Any]:
        items = c.get("/v1/scores", params={"level": "street", "month": month}, headers=h).json()["items"]
        return next((i for i in items if i["code"] == street), {})

    before = score()
    # the street office works on it as a person who logged in; the 12345 centre calls back
    street_h = h
    if users and "demo-street" in users:
        login = c.post("/v1/auth/token", data={"username": "demo-street", "password": users["demo-street"]})
        if login.status_code != 200:
            raise RuntimeError(f"tour: demo-street could not log in: {login.text}")
        street_h = {"Authorization": f"Bearer {login.json()['access_token']}"}
        say(
            f"tour: demo-street (street_admin of {DEMO_STREET}) logged in; token for {login.json()['expires_in']} s"
        )
    for action, data, hh in (
        ("accept", {"actor": "双井街道城管办"}, street_h),
        ("resolve", {"note": "已清运，并增加清运频次", "actor": "双井街道城管办"}, street_h),
        ("callback", {"resolved": True, "satisfaction": "satisfied", "actor": "12345回访"}, h),
        ("close", {"actor": "12345"}, h),
    ):
        r = c.post(f"/v1/petitions/{pid}/{action}", json=data, headers=hh)
        if r.status_code != 200:
            raise RuntimeError(f"tour: {action} refused: {r.text}")
    after = score()
    say(
        f"tour: {month} scores of street {street}: callbacks {before.get('callbacks', 0)} → {after.get('callbacks')}, "
        f"satisfaction {before.get('satisfaction_rate')} → {after.get('satisfaction_rate')}, "
        f"response {before.get('response_rate')} → {after.get('response_rate')}"
    )
    return {
        "petition": p,
        "open311": o311[0],
        "before": before,
        "after": after,
        "at": dt.datetime.now().isoformat(),
    }
