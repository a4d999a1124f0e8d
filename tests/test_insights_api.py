"""Insights from the store: GET /v1/insights, `gridgov insights`, and the map's hotspot layer.

A small world (one street, four cells) with a planted repeat place: eight garbage complaints
at one building in ten days. The detectors themselves are tested in test_insights_*.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from data.routing import load_catalogue
from grid.db import petitions as svc
from grid.db.engine import session_scope
from grid.db.users import create_key
from maps.pages import read_page_data
from tests.test_jurisdiction import _world
from tests.world import D0, import_three_buildings

PHONE = "13812345678"
WEEK = "2023-W24"  # 2023-06-12 .. 06-18


@pytest.fixture()
def city(committed_db: str, tmp_path: Path) -> tuple[str, str]:
    with session_scope(committed_db) as s:
        _world(s, tmp_path)
        load_catalogue(s, D0)
        import_three_buildings(s, tmp_path)
        for i in range(8):  # the repeat place: B1, garbage, 8 in 10 days
            svc.process(
                s,
                svc.create(
                    s,
                    {
                        "text": "楼下垃圾又没人清运",
                        "category": "HL1006",
                        "lon": 116.41 + 0.00001 * i,
                        "lat": 39.94,
                        "datum": "wgs84",
                        "received_at": f"2023-06-{8 + i:02d}T09:00:00+08:00",
                        "contact_phone": PHONE,
                    },
                    actor="t",
                ),
            )
        for k in range(12):  # background elsewhere over the spring (garbage too: the place's test needs it)
            svc.process(
                s,
                svc.create(
                    s,
                    {
                        "text": "路面破损" if k % 3 else "垃圾满了",
                        "category": "HL0502" if k % 3 else "HL1006",
                        "lon": 116.44 if k % 2 else 116.41,
                        "lat": 39.94 if k % 2 else 39.91,
                        "datum": "wgs84",
                        "received_at": f"2023-0{3 + k % 3}-{10 + k:02d}T10:00:00+08:00",
                    },
                    actor="t",
                ),
            )
        for k in range(6):  # and more garbage at the other buildings, months before
            svc.process(
                s,
                svc.create(
                    s,
                    {
                        "text": "垃圾满了",
                        "category": "HL1006",
                        "lon": 116.44 if k % 2 else 116.41,
                        "lat": 39.94 if k % 2 else 39.91,
                        "datum": "wgs84",
                        "received_at": f"2023-0{2 + k % 3}-{3 + k:02d}T10:00:00+08:00",
                    },
                    actor="t",
                ),
            )
        key, _ = create_key(s, "insights-test")
    return committed_db, key


def test_insights_endpoint_names_the_repeat_place(city: tuple[str, str]) -> None:
    url, key = city
    c = TestClient(create_app(database_url=url))
    assert c.get("/v1/insights", params={"unit": "110105001"}).status_code == 401
    r = c.get("/v1/insights", params={"unit": "110105001", "week": WEEK}, headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["week"] == "2023-06-12" and body["iso_week"] == WEEK and body["unit"]["code"] == "110105001"
    reps = [t for t in body["tasks"] if t["kind"] == "repeat_place"]
    assert len(reps) == 1, body["tasks"]
    t = reps[0]
    # located by coordinates alone (no building matched): a 50 m cluster in cell 001
    assert t["category_code"] == "HL1006" and t["numbers"]["count"] == 8
    assert t["cell_code"] == "110105001001001" and "50 m" in t["place"]
    assert t["department"] and t["department_name"]  # the routing catalogue's lead for garbage there
    assert "petition_ids" not in t
    assert PHONE not in r.text and "清运" not in r.text  # no contact, no petition text
    # errors are precise
    bad = c.get("/v1/insights", params={"unit": "110105001", "week": "June"}, headers={"X-API-Key": key})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_week"
    missing = c.get("/v1/insights", params={"unit": "999999", "week": WEEK}, headers={"X-API-Key": key})
    assert missing.status_code == 404 and missing.json()["code"] == "unit_not_found"


def test_insights_cli_text_and_json(city: tuple[str, str]) -> None:
    res = CliRunner().invoke(cli, ["insights", "--unit", "110105001", "--week", WEEK, "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [t["kind"] for t in data["tasks"]].count("repeat_place") == 1
    txt = CliRunner().invoke(cli, ["insights", "--unit", "110105001", "--week", WEEK])
    assert txt.exit_code == 0 and "repeat place" in txt.output and "网格001" in txt.output
    bad = CliRunner().invoke(cli, ["insights", "--unit", "110105001", "--format", "xml"])
    assert bad.exit_code != 0 and "invalid_format" in bad.output


def test_map_page_carries_hotspots_and_task_markers(city: tuple[str, str]) -> None:
    url, key = city
    c = TestClient(create_app(database_url=url))
    plain = read_page_data(c.get("/maps/unit/110105001").text)
    assert plain["insights"] is None
    # the insights layer needs credentials (the counts do not)
    assert c.get("/maps/unit/110105001", params={"insights": "true", "week": WEEK}).status_code == 401
    r = c.get("/maps/unit/110105001", params={"insights": "true", "week": WEEK}, headers={"X-API-Key": key})
    assert r.status_code == 200
    ins = read_page_data(r.text)["insights"]
    assert ins is not None and len(ins["tasks"]) >= 1
    marker = next(t for t in ins["tasks"] if "repeat place" in t["title"])
    # drawn near the building, never finer than ~10 m
    assert abs(marker["lat"] - 39.94) < 0.001 and abs(marker["lon"] - 116.41) < 0.001
    assert marker["lat"] == round(marker["lat"], 4) and marker["lon"] == round(marker["lon"], 4)
    assert "主动治理任务" in r.text and PHONE not in r.text


def test_insights_are_cached_until_a_petition_arrives(
    city: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import grid.db.insights as ins

    url, key = city
    calls: list[str] = []
    real = ins.unit_insights

    def counting(*a: object, **k: object) -> dict[str, object]:
        calls.append("x")
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(ins, "unit_insights", counting)
    ins._RESULTS.clear()
    c = TestClient(create_app(database_url=url))
    h = {"X-API-Key": key}
    q = {"unit": "110105001", "week": WEEK}
    first = c.get("/v1/insights", params=q, headers=h).json()
    again = c.get("/v1/insights", params=q, headers=h).json()
    assert again == first and len(calls) == 1  # served from the cache, the same answer
    r = c.post(
        "/v1/petitions",
        json={"text": "垃圾", "category": "HL1006", "lon": 116.41, "lat": 39.94, "datum": "wgs84"},
        headers=h,
    )
    assert r.status_code == 201
    c.get("/v1/insights", params=q, headers=h)
    assert len(calls) == 2  # a new petition is a new key
