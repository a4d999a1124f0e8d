"""Open311 GeoReport v2 over petitions, against the real PostGIS: discovery, services, posting a
request (form-encoded, with an api_key), the request lists and their filters, tokens, the error shape,
and that no reporter contact ever shows."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from fastapi.testclient import TestClient

from tests.test_petitions import ILLEGAL, RUBBISH, act, api  # noqa: F401  (api is a fixture)

V2 = "/open311/v2"
PHONE = "13812345678"
REQUEST_KEYS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


def error_of(r: Any, status: int) -> str:
    """The description of an Open311 error answer, after checking its status and shape."""
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"code", "description"}, body
    assert body[0]["code"] == status
    return str(body[0]["description"])


PHOTO = "https://img.example.cn/12345/a.jpg"


def submit(c: TestClient, key: str | None, **fields: Any) -> Any:
    form = {
        "api_key": key,
        "service_code": RUBBISH,
        "lat": "39.94",
        "long": "116.41",
        "description": "小区门口暴露垃圾",
        "phone": PHONE,
        "first_name": "张",
        "media_url": PHOTO,
    }
    form.update(fields)
    return c.post(f"{V2}/requests.json", data={k: v for k, v in form.items() if v is not None})


def test_discovery_and_services(api: Any) -> None:  # noqa: F811
    c, _ = api
    d = c.get(f"{V2}/discovery.json").json()
    assert d["changeset"] and d["contact"] and d["key_service"]
    (ep,) = d["endpoints"]
    assert ep["specification"] == "http://wiki.open311.org/GeoReport_v2" and ep["type"] == "production"
    assert ep["url"] == "http://testserver/open311/v2" and ep["formats"] == ["application/json", "text/xml"]
    x = c.get(f"{V2}/discovery.xml")
    assert x.headers["content-type"].startswith("text/xml")
    assert ET.fromstring(x.content).findtext("endpoints/endpoint/url") == ep["url"]

    r = c.get(f"{V2}/services.json", params={"jurisdiction_id": "beijing"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    svcs = r.json()
    by_code = {s["service_code"]: s for s in svcs}
    s = by_code[ILLEGAL]
    assert set(s) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    assert s["service_code"] == ILLEGAL
    assert s["service_name"] == "违法建设"
    assert s["description"] == "Illegal structures"
    assert s["metadata"] is False
    assert s["type"] == "realtime"
    assert s["keywords"] == "违建,私搭乱建,违章建筑,加盖"
    assert s["group"] == "城乡建设"
    assert by_code["HL05"]["group"] == "城乡建设" and by_code["HL05"]["keywords"] == ""
    assert "HL0803" in by_code  # a placeless consultation is a service too

    x = c.get(f"{V2}/services.xml")
    assert x.status_code == 200 and x.headers["content-type"] == "text/xml; charset=utf-8"
    root = ET.fromstring(x.content)
    assert root.tag == "services" and len(root.findall("service")) == len(svcs)
    el = next(e for e in root.findall("service") if e.findtext("service_code") == ILLEGAL)
    assert el.findtext("service_name") == "违法建设" and el.findtext("metadata") == "false"

    assert c.get(f"{V2}/services/{ILLEGAL}.json").json() == {"service_code": ILLEGAL, "attributes": []}
    root = ET.fromstring(c.get(f"{V2}/services/{ILLEGAL}.xml").content)
    assert root.tag == "service_definition" and root.findtext("service_code") == ILLEGAL
    assert "NOPE" in error_of(c.get(f"{V2}/services/NOPE.json"), 404)
    x = c.get(f"{V2}/services/NOPE.xml")
    assert x.status_code == 404
    err = ET.fromstring(x.content)
    assert err.tag == "errors" and err.findtext("error/code") == "404" and err.findtext("error/description")
    assert error_of(c.get(f"{V2}/services.csv"), 404)


def test_post_then_find_the_request_and_follow_it_to_closed(api: Any) -> None:  # noqa: F811
    c, h = api
    key = h["X-API-Key"]
    # keys, required fields and domain errors, all in the Open311 shape
    assert "api_key" in error_of(submit(c, None), 403)
    assert "api_key" in error_of(submit(c, "ggk_wrong"), 403)
    assert "unknown_category" in error_of(submit(c, key, service_code="NOPE"), 400)
    assert "description is required" in error_of(submit(c, key, description=None), 400)
    assert "location_required" in error_of(submit(c, key, lat=None, long=None), 400)
    assert "invalid_coordinates" in error_of(submit(c, key, long=None), 400)
    assert "coordinates" in error_of(submit(c, key, lat="95", long="116.41"), 400)
    assert "invalid_media_url" in error_of(submit(c, key, media_url="javascript:alert(1)"), 400)

    r = submit(c, key)
    assert r.status_code == 200, r.text
    (made,) = r.json()
    assert set(made) == {"service_request_id", "token", "service_notice", "account_id"}
    sid, token = made["service_request_id"], made["token"]
    assert sid.isdigit() and token and made["account_id"] is None and "截止" in made["service_notice"]
    # a placeless service needs no place (JSON body accepted as well)
    r = c.post(
        f"{V2}/requests.json",
        json={"api_key": key, "service_code": "HL0803", "description": "社保怎么转移"},
    )
    assert r.status_code == 200, r.text
    consult = r.json()[0]["service_request_id"]
    detail = c.get(f"/v1/petitions/{sid}", headers=h).json()
    assert detail["channel"] == "app" and detail["type"] == "complaint"
    assert detail["contact"]["phone"] == "138****5678" and detail["contact"]["name"] == "张"
    assert c.get(f"/v1/petitions/{consult}", headers=h).json()["type"] == "consultation"

    # service requests are petitions: credentials that may read them are needed
    anon = c.get(f"{V2}/requests.json")
    assert anon.status_code == 401 and "credentials_required" in anon.text
    assert c.get(f"{V2}/requests/{sid}.json").status_code == 401
    c.headers.update(h)
    r = c.get(f"{V2}/requests.json")
    assert r.status_code == 200 and PHONE not in r.text and "5678" not in r.text
    items = r.json()
    assert [i["service_request_id"] for i in items] == [consult, sid]  # newest first
    it = items[1]
    assert set(it) == REQUEST_KEYS
    assert it["status"] == "open" and it["status_notes"].startswith("dispatched: ")
    assert (it["service_code"], it["service_name"]) == (RUBBISH, "暴露垃圾")
    assert it["description"] == "小区门口暴露垃圾"
    assert it["agency_responsible"] and any("\u4e00" <= ch <= "\u9fff" for ch in it["agency_responsible"])
    assert it["requested_datetime"].endswith("+08:00") and it["updated_datetime"].endswith("+08:00")
    assert it["expected_datetime"].endswith("+08:00") and it["expected_datetime"] in it["service_notice"]
    assert (it["lat"], it["long"]) == (39.94, 116.41)
    assert (it["zipcode"], it["media_url"], it["address"]) == ("", PHOTO, "")

    def ids(**params: str) -> list[str]:
        r = c.get(f"{V2}/requests.json", params=params)
        assert r.status_code == 200, r.text
        return [i["service_request_id"] for i in r.json()]

    assert ids(service_code=RUBBISH) == [sid]
    assert ids(service_code=f"{RUBBISH},HL0803") == [consult, sid]
    assert ids(status="closed") == []
    assert ids(status="open,closed") == [consult, sid]
    assert ids(start_date="2020-01-01T00:00:00Z", end_date="2020-02-01T00:00:00+08:00") == []
    assert ids(service_request_id=f"{sid},999999", status="closed") == [sid]  # the id overrides
    assert "open" in error_of(c.get(f"{V2}/requests.json", params={"status": "pending"}), 400)
    assert "invalid_time" in error_of(c.get(f"{V2}/requests.json", params={"start_date": "yesterday"}), 400)

    one = c.get(f"{V2}/requests/{sid}.json").json()
    assert one == [it]
    x = c.get(f"{V2}/requests/{sid}.xml")
    assert x.status_code == 200 and PHONE not in x.text
    root = ET.fromstring(x.content)
    assert root.tag == "service_requests"
    (req,) = root.findall("request")
    assert {e.tag for e in req} == REQUEST_KEYS
    assert req.findtext("service_request_id") == sid and req.findtext("zipcode") == ""
    assert req.findtext("lat") == "39.94"
    assert "999999" in error_of(c.get(f"{V2}/requests/999999.json"), 404)
    assert error_of(c.get(f"{V2}/requests/abc.json"), 404)
    listed = ET.fromstring(c.get(f"{V2}/requests.xml").content)
    assert len(listed.findall("request")) == 2

    assert c.get(f"{V2}/tokens/{token}.json").json() == [{"service_request_id": sid, "token": token}]
    assert error_of(c.get(f"{V2}/tokens/nope.json"), 404)

    # our lifecycle closes it; Open311 then says closed
    pid = int(sid)
    act(c, h, pid, "accept")
    act(c, h, pid, "resolve", note="已清理")
    act(c, h, pid, "callback", resolved=True, satisfaction="satisfied")
    act(c, h, pid, "close")
    (done,) = c.get(f"{V2}/requests/{sid}.json").json()
    assert done["status"] == "closed" and done["status_notes"].startswith("closed: ")
    assert ids(status="closed") == [sid] and ids(status="open") == [consult]
