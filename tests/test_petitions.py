"""Petitions over HTTP against the real PostGIS: intake, triage, lifecycle, duplicates, privacy,
crash safety, CSV import and scores."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from data.routing import load_catalogue
from grid.db import petitions as svc
from grid.db.engine import session_scope
from grid.db.models import Petition, PetitionContact, PetitionEvent
from grid.db.store import assign_staff
from grid.db.users import create_key, revoke_key
from tests.test_jurisdiction import COMM, X1, _world
from tests.world import D0

PHONE, NAME = "13812345678", "张三丰"
T0 = "2023-06-05T09:00:00+08:00"  # a Monday
ILLEGAL = "HL0502"  # 违法建设: complex (15 working days), street-led
RUBBISH = "HL1006"  # 暴露垃圾: general, street-led


@pytest.fixture()
def api(committed_db: str, tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    with session_scope(committed_db) as s:
        _world(s, tmp_path)
        assign_staff(s, COMM + "001", "王网格", valid_from=D0)
        load_catalogue(s, D0)
        key, _ = create_key(s, "12345-dispatcher", ["admin"])
    return TestClient(create_app(database_url=committed_db)), {"X-API-Key": key}


def post(c: TestClient, h: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("received_at", T0)
    r = c.post("/v1/petitions", json=body, headers=h)
    assert r.status_code == 201, r.text
    return dict(r.json())


def act(c: TestClient, h: dict[str, str], pid: int, action: str, status: int = 200, **body: Any) -> Any:
    r = c.post(f"/v1/petitions/{pid}/{action}", json=body, headers=h)
    assert r.status_code == status, r.text
    return r.json()


def test_intake_locates_dispatches_with_deadline_and_keeps_the_answer(api: Any) -> None:
    c, h = api
    p = post(
        c, h, text="楼顶私搭乱建", category=ILLEGAL, lon=116.41, lat=39.94, datum="wgs84", contact_phone=PHONE
    )
    assert p["status"] == "dispatched" and p["location_status"] == "located"
    assert p["owner_code"] == COMM + "001" and p["cell_code"] == COMM + "001"
    assert (p["community_code"], p["street_code"], p["district_code"]) == (COMM, "110105001", "110105")
    assert p["lead_department"] == "110105001-cgb" and p["co_departments"] == ["110105-cgzf"]
    assert p["first_receiver"] == "110105001-cgb"
    # 15 working days after Mon 2023-06-05: 6-9, 12-16, 19-21 (12), Dragon Boat holiday 06-22..24,
    # make-up working Sunday 06-25 (13), 26 (14), 27 (15): due at the end of 06-27
    assert p["time_limit"] == "15wd" and p["due_at"] == "2023-06-28T00:00:00+08:00"
    own = p["ownership"]
    assert own["status"] == "interior" and own["rule"] == "single_cover" and own["candidates"]
    assert own["officer"]["name"] == "王网格"
    ev = c.get(f"/v1/petitions/{p['id']}/events", headers=h).json()["events"]
    assert [e["action"] for e in ev] == ["receive", "dispatch"] and ev[0]["actor"] == "12345-dispatcher"


def test_urgent_category_gets_two_hours_whatever_the_clerk_says(api: Any) -> None:
    c, h = api
    p = post(
        c, h, text="燃气泄漏了", category="HL0206", urgency="general", lon=116.41, lat=39.94, datum="wgs84"
    )
    assert p["urgency"] == "urgent" and p["due_at"] == "2023-06-05T11:00:00+08:00"


def test_consultation_is_routed_by_category_alone(api: Any) -> None:
    c, h = api
    p = post(c, h, text="社保怎么转移", category="HL0803", type="consultation")
    assert p["status"] == "dispatched" and p["location_status"] == "not_needed"
    assert p["owner_code"] is None and p["lead_department"] == "110000-rsj"
    assert p["routing"]["placeless"] is True


def test_triage_queue_is_emptied_by_locate(api: Any) -> None:
    c, h = api
    a = post(c, h, text="这里垃圾很多", category=RUBBISH, address="火星路1号")
    b = post(
        c,
        h,
        text="那里垃圾很多",
        category=RUBBISH,
        address="木星路2号",
        received_at="2023-06-06T09:00:00+08:00",
    )
    assert a["status"] == b["status"] == "needs_location" and a["lead_department"] is None
    q = c.get("/v1/petitions/triage", headers=h).json()
    assert q["total"] == 2 and {i["id"] for i in q["items"]} == {a["id"], b["id"]}
    assert all("candidates" in i for i in q["items"])
    # an operator places one by a point, the other by naming the unit
    x = act(c, h, a["id"], "locate", lon=116.41, lat=39.94, datum="wgs84", actor="李调度")
    assert x["status"] == "dispatched" and x["owner_code"] == COMM + "001" and x["lead_department"]
    y = act(c, h, b["id"], "locate", owner_code="110105002")
    assert y["status"] == "dispatched" and y["owner_code"] == "110105002" and y["street_code"] == "110105002"
    assert c.get("/v1/petitions/triage", headers=h).json()["total"] == 0
    # locating needs a place
    z = post(
        c, h, text="又有垃圾", category=RUBBISH, address="土星路3号", received_at="2023-06-07T09:00:00+08:00"
    )
    r = act(c, h, z["id"], "locate", 400)
    assert r["code"] == "location_required"


def test_lifecycle_transitions_and_refusals(api: Any) -> None:
    c, h = api
    p = post(c, h, text="楼道堆物", category=RUBBISH, lon=116.41, lat=39.94, datum="wgs84")
    pid = p["id"]
    bad = act(c, h, pid, "resolve", 409, note="done")
    assert bad["code"] == "invalid_transition" and "accept" in bad["details"]["allowed"]
    assert act(c, h, pid, "close", 409)["code"] == "invalid_transition"
    assert act(c, h, pid, "accept", actor="王网格")["status"] == "accepted"
    assert act(c, h, pid, "accept", 409)["code"] == "invalid_transition"
    assert act(c, h, pid, "start")["status"] == "in_progress"
    assert act(c, h, pid, "resolve", 400)["code"] == "note_required"
    r = act(c, h, pid, "resolve", note="已清理")
    assert r["status"] == "resolved" and r["answered_at"] and r["answer"] == "已清理"
    assert act(c, h, pid, "close", 409)["code"] == "callback_required"
    assert act(c, h, pid, "callback", 400)["code"] == "callback_required"
    assert (
        act(c, h, pid, "callback", 400, resolved=True, satisfaction="satisfied", none_reason="x")["code"]
        == "invalid_callback"
    )
    assert act(c, h, pid, "callback", 422, resolved=True, satisfaction="happy")["code"] == "invalid_request"
    cb = act(c, h, pid, "callback", resolved=True, satisfaction="basically_satisfied")
    assert cb["status"] == "callback" and cb["callback"]["satisfaction"] == "basically_satisfied"
    closed = act(c, h, pid, "close", note="结案")
    assert closed["status"] == "closed" and closed["closed_at"]
    for action in ("accept", "return", "resolve", "callback", "merge"):
        r = c.post(f"/v1/petitions/{pid}/{action}", json={"note": "x", "duplicate_of": 1}, headers=h)
        assert r.status_code == 409 and r.json()["code"] == "invalid_transition", action
    assert c.post(f"/v1/petitions/{pid}/fly", json={}, headers=h).json()["code"] == "invalid_request"
    assert c.post("/v1/petitions/999999/accept", json={}, headers=h).json()["code"] == "petition_not_found"
    ev = c.get(f"/v1/petitions/{pid}/events", headers=h).json()["events"]
    assert [(e["from"], e["to"]) for e in ev] == [
        (None, "received"),
        ("received", "dispatched"),
        ("dispatched", "accepted"),
        ("accepted", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "callback"),
        ("callback", "closed"),
    ]
    assert ev[2]["actor"] == "12345-dispatcher:王网格" and ev[-1]["note"] == "结案"
    # a callback that could not happen still allows closing, with its reason
    q = post(
        c,
        h,
        text="又堆物",
        category=RUBBISH,
        lon=116.41,
        lat=39.935,
        datum="wgs84",
        received_at="2023-06-20T09:00:00+08:00",
    )
    for a, body in (
        ("accept", {}),
        ("resolve", {"note": "ok"}),
        ("callback", {"none_reason": "电话无法接通"}),
    ):
        act(c, h, q["id"], a, **body)
    assert act(c, h, q["id"], "close")["callback"]["none_reason"] == "电话无法接通"
    # reopen after an unsatisfied callback clears the callback
    w = post(
        c,
        h,
        text="还是堆物",
        category=RUBBISH,
        lon=116.41,
        lat=39.93,
        datum="wgs84",
        received_at="2023-07-20T09:00:00+08:00",
    )
    for a, body in (
        ("accept", {}),
        ("resolve", {"note": "ok"}),
        ("callback", {"resolved": False, "satisfaction": "unsatisfied"}),
    ):
        act(c, h, w["id"], a, **body)
    assert act(c, h, w["id"], "reopen", note="居民说没解决")["callback"] is None


def test_return_redispatch_dispute_and_settle(api: Any) -> None:
    c, h = api
    p = post(c, h, text="边界上的违建", category=ILLEGAL, lon=X1 - 0.0001, lat=39.94, datum="wgs84")
    pid = p["id"]
    assert p["owner_code"] == COMM + "001"
    assert act(c, h, pid, "return", 400)["code"] == "note_required"
    r = act(c, h, pid, "return", note="不在本网格")
    assert r["status"] == "returned" and r["return_count"] == 1
    # the ownership rules still say cell 001: it goes up the chain to its community
    r = act(c, h, pid, "redispatch")
    assert r["status"] == "dispatched" and r["owner_code"] == COMM and r["cell_code"] is None
    assert r["first_receiver"] == "110105001-cgb"  # 首接负责 stays with the first receiver
    r = act(c, h, pid, "dispute", note="社区认为属于相邻网格")
    assert r["status"] == "disputed"
    assert act(c, h, pid, "settle", 400, note="规划科裁定")["code"] == "owner_code_required"
    r = act(c, h, pid, "settle", owner_code=COMM + "002", note="规划科裁定：归002网格")
    assert r["status"] == "dispatched" and r["owner_code"] == COMM + "002"
    ev = c.get(f"/v1/petitions/{pid}/events", headers=h).json()["events"]
    ruling_id = ev[-1]["data"]["ruling_id"]
    assert ruling_id
    # the ruling now decides that place for everyone
    own = c.get("/v1/jurisdiction", params={"lon": X1 - 0.0001, "lat": 39.94}).json()
    assert own["owner"]["code"] == COMM + "002" and own["rule"] == "ruling" and own["ruling_id"] == ruling_id


GEOD = Geod(ellps="WGS84")


def _east(lon: float, lat: float, m: float) -> tuple[float, float]:
    x, y, _ = GEOD.fwd(lon, lat, 90, m)
    return x, y


def test_me_too_duplicates_at_the_radius_edge(api: Any) -> None:
    c, h = api
    lon, lat = 116.41, 39.94
    first = post(c, h, text="垃圾", category=RUBBISH, lon=lon, lat=lat, datum="wgs84")
    x, y = _east(lon, lat, 249.0)
    near = post(
        c,
        h,
        text="垃圾2",
        category=RUBBISH,
        lon=x,
        lat=y,
        datum="wgs84",
        received_at="2023-06-05T10:00:00+08:00",
    )
    assert near["status"] == "merged" and near["duplicate_of"] == first["id"]
    x, y = _east(lon, lat, 251.0)
    far = post(
        c,
        h,
        text="垃圾3",
        category=RUBBISH,
        lon=x,
        lat=y,
        datum="wgs84",
        received_at="2023-06-05T10:00:00+08:00",
    )
    assert far["status"] == "dispatched" and far["duplicate_of"] is None
    other = post(
        c,
        h,
        text="违建",
        category=ILLEGAL,
        lon=lon,
        lat=lat,
        datum="wgs84",
        received_at="2023-06-05T10:00:00+08:00",
    )
    assert other["status"] == "dispatched"
    late = post(
        c,
        h,
        text="垃圾4",
        category=RUBBISH,
        lon=lon,
        lat=lat,
        datum="wgs84",
        received_at="2023-06-08T10:00:00+08:00",
    )
    assert late["status"] == "dispatched"  # 73 h later: outside the 72 h window
    assert c.get(f"/v1/petitions/{first['id']}", headers=h).json()["me_too"] == [near["id"]]
    # a wrong link is undone by a person
    un = act(c, h, near["id"], "unmerge", note="不同的垃圾点")
    assert un["status"] == "dispatched" and un["duplicate_of"] is None
    m = act(c, h, far["id"], "merge", duplicate_of=first["id"])
    assert m["status"] == "merged" and m["duplicate_of"] == first["id"]


def test_replay_of_external_id_returns_the_same_petition(api: Any) -> None:
    c, h = api
    body = {
        "text": "垃圾",
        "category": RUBBISH,
        "lon": 116.41,
        "lat": 39.94,
        "datum": "wgs84",
        "external_id": "12345-0001",
        "received_at": T0,
    }
    a = c.post("/v1/petitions", json=body, headers=h)
    b = c.post("/v1/petitions", json=body, headers=h)
    assert a.status_code == 201 and b.status_code == 200 and a.json()["id"] == b.json()["id"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"category": RUBBISH}, 422, "invalid_request"),
        ({"text": "x", "category": "NOPE"}, 400, "unknown_category"),
        ({"text": "x", "category": RUBBISH, "lon": 116.41, "lat": 39.94}, 400, "datum_required"),
        (
            {"text": "x", "category": RUBBISH, "lon": 116.41, "lat": 39.94, "datum": "mars"},
            400,
            "unknown_datum",
        ),
        (
            {"text": "x", "category": RUBBISH, "lon": 216.41, "lat": 39.94, "datum": "wgs84"},
            400,
            "coordinates_out_of_range",
        ),
        ({"text": "x", "category": RUBBISH, "lon": 116.41}, 400, "invalid_coordinates"),
        (
            {"text": "x", "category": RUBBISH, "received_at": "2099-01-01T00:00:00+08:00"},
            400,
            "received_in_future",
        ),
        ({"text": "x", "category": RUBBISH, "channel": "pigeon"}, 422, "invalid_request"),
    ],
)
def test_bad_intake_is_refused_and_writes_nothing(
    api: Any, body: dict[str, Any], status: int, code: str
) -> None:
    c, h = api
    r = c.post("/v1/petitions", json=body, headers=h)
    assert r.status_code == status and r.json()["code"] == code, r.text
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Petition)) == 0


def test_api_key_is_required_and_revocable(api: Any) -> None:
    c, h = api
    assert c.get("/v1/petitions").json()["code"] == "credentials_required"
    assert c.get("/v1/petitions", headers={"X-API-Key": "ggk_nope"}).status_code == 401
    with session_scope() as s:
        revoke_key(s, "12345-dispatcher")
    r = c.get("/v1/petitions", headers=h)
    assert r.status_code == 401 and r.json()["code"] == "invalid_api_key"


def test_failure_in_the_middle_of_intake_leaves_no_petition_or_a_whole_one(
    api: Any, monkeypatch: Any, handler_tracebacks: list[Any]
) -> None:
    c, h = api
    real_event = svc._event

    def broken(*a: Any, **k: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(svc, "_event", broken)  # fails after the petition row, before its event
    c2 = TestClient(c.app, raise_server_exceptions=False)
    r = c2.post("/v1/petitions", json={"text": "x", "category": RUBBISH, "contact_phone": PHONE}, headers=h)
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    handler_tracebacks.clear()  # that 500 was on purpose
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Petition)) == 0
        assert s.scalar(select(func.count()).select_from(PetitionContact)) == 0
    monkeypatch.setattr(svc, "_event", real_event)

    # a crash after the commit (while locating) leaves a whole 'received' petition, finished later
    def broken_place(*a: Any, **k: Any) -> Any:
        raise RuntimeError("geocoder crashed")

    monkeypatch.setattr(svc, "_place", broken_place)
    r = c2.post(
        "/v1/petitions",
        json={
            "text": "x",
            "category": RUBBISH,
            "lon": 116.41,
            "lat": 39.94,
            "datum": "wgs84",
            "contact_phone": PHONE,
            "received_at": T0,
        },
        headers=h,
    )
    assert r.status_code == 201 and r.json()["status"] == "received"
    pid = r.json()["id"]
    with session_scope() as s:
        assert s.get(PetitionContact, pid) is not None
        assert (
            s.scalar(select(func.count()).select_from(PetitionEvent).where(PetitionEvent.petition_id == pid))
            == 1
        )
    monkeypatch.undo()
    # the server's sweep leaves a fresh one alone (its own intake may still be at work) ...
    assert svc.sweep_received(older_than_s=60) == (0, 0)
    res = CliRunner().invoke(cli, ["petitions", "process"])
    assert res.exit_code == 0 and "processed 1" in res.output, res.output
    assert c.get(f"/v1/petitions/{pid}", headers=h).json()["status"] == "dispatched"


def test_the_servers_sweep_finishes_petitions_a_crash_left_received(api: Any, monkeypatch: Any) -> None:
    c, h = api
    monkeypatch.setattr(svc, "_place", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash")))
    c2 = TestClient(c.app, raise_server_exceptions=False)
    body = {
        "text": "x",
        "category": RUBBISH,
        "lon": 116.41,
        "lat": 39.94,
        "datum": "wgs84",
        "received_at": T0,
    }
    pids = [c2.post("/v1/petitions", json=body, headers=h).json()["id"] for _ in range(2)]
    monkeypatch.undo()
    with session_scope() as s:  # minutes ago
        s.execute(
            text("UPDATE petition SET created_at = now() - interval '5 minutes' WHERE id = :i"),
            {"i": pids[0]},
        )
    assert svc.sweep_received(older_than_s=60) == (1, 0)
    statuses = [c.get(f"/v1/petitions/{p}", headers=h).json()["status"] for p in pids]
    assert statuses == ["dispatched", "received"]
    # the app runs the sweep itself while it is up (a TestClient context runs the lifespan)
    with session_scope() as s:
        s.execute(
            text("UPDATE petition SET created_at = now() - interval '5 minutes' WHERE id = :i"),
            {"i": pids[1]},
        )
    with TestClient(c.app) as live:
        for _ in range(100):
            if live.get(f"/v1/petitions/{pids[1]}", headers=h).json()["status"] != "received":
                break
            import time

            time.sleep(0.1)
    # the same place and category as the first: processed as its "me too"
    assert c.get(f"/v1/petitions/{pids[1]}", headers=h).json()["status"] == "merged"


def test_overdue_list_by_unit(api: Any) -> None:
    c, h = api
    old = post(c, h, text="垃圾", category=RUBBISH, lon=116.41, lat=39.94, datum="wgs84")
    post(c, h, text="违建", category=ILLEGAL, lon=116.46, lat=39.94, datum="wgs84")
    fresh = dt.datetime.now(dt.UTC).isoformat()
    post(c, h, text="垃圾", category=RUBBISH, lon=116.46, lat=39.92, datum="wgs84", received_at=fresh)
    r = c.get("/v1/petitions", params={"overdue": "true", "unit": "110105001"}, headers=h).json()
    assert [i["id"] for i in r["items"]] == [old["id"]] and r["items"][0]["overdue"] is True
    r = c.get("/v1/petitions", params={"overdue": "true"}, headers=h).json()
    assert r["total"] == 2
    r = c.get("/v1/petitions", params={"overdue": "false"}, headers=h).json()
    assert r["total"] == 1 and r["items"][0]["overdue"] is False


def test_contact_never_leaks_through_lists_exports_or_scores(api: Any) -> None:
    c, h = api
    p = post(
        c,
        h,
        text="垃圾",
        category=RUBBISH,
        lon=116.41,
        lat=39.94,
        datum="wgs84",
        contact_phone=PHONE,
        contact_name=NAME,
    )
    q = post(
        c, h, text="没有地址", category=RUBBISH, address="火星路1号", contact_phone=PHONE, contact_name=NAME
    )
    for a, body in (
        ("accept", {}),
        ("resolve", {"note": "ok"}),
        ("callback", {"resolved": True, "satisfaction": "satisfied"}),
    ):
        act(c, h, p["id"], a, **body)
    urls = [
        "/v1/petitions",
        "/v1/petitions?unit=110105001",
        "/v1/petitions/export.csv",
        "/v1/petitions/triage",
        f"/v1/petitions/{p['id']}/events",
        "/v1/scores?month=2023-06&level=street",
        "/v1/scores?month=2023-06&level=department",
        "/v1/scores.csv?month=2023-06&level=cell",
        "/maps/",
        "/maps/unit/110105001",
        "/maps/unit/110105",
        "/maps/unit/" + COMM + "001",
        "/open311/v2/requests.json",
        f"/open311/v2/requests/{p['id']}.json",
        "/open311/v2/requests.xml",
    ]
    for u in urls:
        r = c.get(u, headers=h)
        assert r.status_code == 200, (u, r.text)
        assert PHONE not in r.text and NAME not in r.text and "5678" not in r.text, u
    d = c.get(f"/v1/petitions/{p['id']}", headers=h).json()
    assert d["contact"] == {"name": "张**", "phone": "138****5678", "email": None}
    assert PHONE not in str(d) and q["contact"] is None and q["has_contact"] is True  # not echoed


def test_anonymise_retention(api: Any) -> None:
    c, h = api
    p = post(
        c,
        h,
        text="我电话13812345678，楼下垃圾",
        category=RUBBISH,
        address="火星路1号",
        contact_phone=PHONE,
        media_url="https://img.example.cn/p/1.jpg",
    )
    assert p["media_url"] == "https://img.example.cn/p/1.jpg"
    res = CliRunner().invoke(cli, ["petitions", "anonymise", "--older-than", "6"])
    assert res.exit_code == 0 and "anonymised 1" in res.output, res.output
    d = c.get(f"/v1/petitions/{p['id']}", headers=h).json()
    assert (
        d["contact"] is None and d["anonymised"] and "13812345678" not in d["text"] and d["address"] is None
    )
    assert d["media_url"] is None  # a photo may show people
    assert "楼下垃圾" in d["text"]
    assert (
        CliRunner()
        .invoke(cli, ["petitions", "anonymise", "--older-than", "6"])
        .output.startswith("anonymised 0")
    )


def test_scores_change_after_a_callback(api: Any) -> None:
    c, h = api
    as_of = "2023-08-01T00:00:00+08:00"
    a = post(c, h, text="垃圾", category=RUBBISH, lon=116.41, lat=39.94, datum="wgs84")
    b = post(c, h, text="垃圾", category=RUBBISH, lon=116.46, lat=39.94, datum="wgs84")
    for pid in (a["id"], b["id"]):
        act(c, h, pid, "accept")
    # (answered "now": long after June's deadlines, so both are late)
    act(c, h, a["id"], "resolve", note="ok")

    def street(code: str) -> dict[str, Any]:
        r = c.get(
            "/v1/scores", params={"month": "2023-06", "level": "street", "as_of": as_of}, headers=h
        ).json()
        return next(i for i in r["items"] if i["code"] == code)

    s1 = street("110105001")
    assert s1["petitions"] == 1 and s1["callbacks"] == 0 and s1["satisfaction_rate"] is None
    act(c, h, a["id"], "callback", resolved=True, satisfaction="satisfied")
    s1 = street("110105001")
    assert (s1["callbacks"], s1["resolution_rate"], s1["satisfaction_rate"]) == (1, 1.0, 1.0)
    s2 = street("110105002")
    assert s2["petitions"] == 1 and s2["due"] == 1 and s2["on_time"] == 0 and s2["response_rate"] == 0.0
    csv = c.get("/v1/scores.csv", params={"month": "2023-06", "level": "street", "as_of": as_of}, headers=h)
    assert csv.headers["content-type"].startswith("text/csv") and "110105001" in csv.text
    assert c.get("/v1/scores", params={"month": "2023-13"}, headers=h).json()["code"] in (
        "invalid_month",
        "invalid_request",
    )


def test_csv_import_is_all_or_nothing(api: Any, tmp_path: Path) -> None:
    head = "external_id,received_at,text,category,address,lon,lat,datum,contact_phone\n"
    good = "E1,2023-06-05 09:00,垃圾,HL1006,,116.41,39.94,wgs84,13800000000\n"
    bad = "E2,2023-06-05 10:00,垃圾,HL1006,,116.41,39.94,,13800000001\nE3,2023-06-05 11:00,垃圾,NOPE,,,,,\n"
    f = tmp_path / "p.csv"
    f.write_text(head + good + bad, encoding="utf-8")
    res = CliRunner().invoke(cli, ["import", "petitions", str(f)])
    assert res.exit_code != 0 and "line 3" in res.output and "datum_required" in res.output
    assert "line 4" in res.output and "unknown_category" in res.output
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Petition)) == 0
    f.write_text(head + good + "E4,2023-06-05 10:00,违建,HL0502,,116.46,39.94,gcj02,\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["import", "petitions", str(f)])
    assert res.exit_code == 0 and "imported 2 of 2" in res.output, res.output
    res = CliRunner().invoke(cli, ["import", "petitions", str(f)])
    assert "imported 0 of 2" in res.output and "2 already known" in res.output
    with session_scope() as s:
        rows = s.execute(
            text("SELECT external_id, status, received_at FROM petition ORDER BY external_id")
        ).all()
    assert [(r[0], r[1]) for r in rows] == [("E1", "dispatched"), ("E4", "dispatched")]
    assert rows[0][2] == dt.datetime(2023, 6, 5, 1, 0, tzinfo=dt.UTC)  # naive time read as Beijing time


def test_a_retry_racing_its_original_gets_the_same_petition(api: Any) -> None:
    """Two requests with one external_id at the same time: one petition, both answered with it."""
    from concurrent.futures import ThreadPoolExecutor

    c, h = api
    body = {"text": "井盖丢了", "category": RUBBISH, "lon": 116.41, "lat": 39.94, "datum": "wgs84"}
    for n in range(3):
        b = {**body, "external_id": f"race-{n}"}
        with ThreadPoolExecutor(4) as pool:
            rs = list(pool.map(lambda b: c.post("/v1/petitions", json=b, headers=h), [b] * 4))
        assert sorted(r.status_code for r in rs) == [200, 200, 200, 201], [r.text for r in rs]
        assert len({r.json()["id"] for r in rs}) == 1
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Petition)) == 3


def test_intake_refuses_nul_out_of_range_times_and_keeps_the_datum_canonical(api: Any) -> None:
    c, h = api
    base = {"text": "路灯不亮", "category": RUBBISH, "lon": 116.41, "lat": 39.94}
    r = c.post("/v1/petitions", json={**base, "datum": "wgs84", "text": "a\x00b"}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "invalid_characters"  # the edge rule (api/guard.py)
    r = c.post(
        "/v1/petitions",
        json={**base, "datum": "wgs84", "received_at": "0001-01-01T00:00:00+09:00"},
        headers=h,
    )
    assert r.status_code == 422 and "outside the accepted dates" in r.json()["error"]
    r = c.post("/v1/petitions", json={**base, "datum": "EPSG:4326", "received_at": T0}, headers=h)
    assert r.status_code == 201
    with session_scope() as s:
        assert s.scalar(select(Petition.input_datum).where(Petition.id == r.json()["id"])) == "wgs84"
