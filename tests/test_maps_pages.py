"""Map pages served by the API and exported to disk, checked in a real browser (Debian's chromium).

Each page is loaded from the running server: no console error, no request leaving 127.0.0.1,
layers toggle, the search finds a unit and zooms to it, the legend shows; a screenshot per page
goes to tests/artifacts/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from data.routing import load_catalogue
from grid.db import petitions as svc
from grid.db.engine import session_scope
from grid.db.store import assign_staff
from maps.offline import external_urls
from maps.pages import cell_stats, read_page_data
from tests import browser as _browser
from tests.test_jurisdiction import COMM, _world
from tests.world import D0, import_three_buildings

PHONE = "13812345678"
EXACT = (116.412345, 39.943210)  # a reporter's exact point: must never appear in a page


@pytest.fixture()
def city(committed_db: str, tmp_path: Path) -> str:
    with session_scope(committed_db) as s:
        _world(s, tmp_path)
        assign_staff(s, COMM + "001", "王网格", valid_from=D0)
        load_catalogue(s, D0)
        import_three_buildings(s, tmp_path)
        for i in range(6):  # six in cell 001, two in 002 (under k = 3: hidden), one in 003
            svc.process(
                s,
                svc.create(
                    s,
                    {
                        "text": "垃圾",
                        "category": "HL1006" if i % 2 else "HL0502",
                        "lon": EXACT[0] + 0.0005 * i,
                        "lat": EXACT[1],
                        "datum": "wgs84",
                        "received_at": f"2023-06-{5 + 4 * i:02d}T09:00:00+08:00",
                        "contact_phone": PHONE,
                    },
                    actor="t",
                ),
            )
        for lon, lat in ((116.44, 39.94), (116.441, 39.941), (116.41, 39.91)):
            svc.process(
                s,
                svc.create(
                    s,
                    {
                        "text": "违建",
                        "category": "HL0502",
                        "lon": lon,
                        "lat": lat,
                        "datum": "wgs84",
                        "received_at": "2023-06-20T09:00:00+08:00",
                    },
                    actor="t",
                ),
            )
    return committed_db


def test_pages_are_offline_aggregated_and_private(city: str) -> None:
    c = TestClient(create_app(database_url=city))
    idx = c.get("/maps/")
    assert idx.status_code == 200 and "/maps/unit/110105" in idx.text and "/maps/unit/110105001" in idx.text
    r = c.get("/maps/unit/110105001")
    assert r.status_code == 200, r.text
    page = r.text
    assert external_urls(page) == []
    assert PHONE not in page and "垃圾" not in page  # no contact, no petition text
    assert f"{EXACT[0]}" not in page and f"{EXACT[0]:.5f}" not in page  # no exact reporter point
    # the popup of cell 001 counts its 6 petitions; cell 002 has 2 (< k): hidden, no rate either
    stats = cell_stats(read_page_data(page))
    assert stats["110105001001001"]["petitions"] == 6 and stats["110105001001001"]["officer"] == "王网格"
    assert stats["110105001001001"]["per100"] == pytest.approx(2.0)  # 6 of 300 households
    assert stats["110105001001002"]["petitions"] is None and stats["110105001001002"]["per100"] is None
    assert stats["110105001001002"]["cls"] == -1  # no class: drawn as "no data"
    assert "petitions / 100 households" in page and "counts under 3 hidden" in page
    # the page's data block carries no contact, no text, no exact point either
    block = json.dumps(read_page_data(page), ensure_ascii=False)
    assert PHONE not in block and "垃圾" not in block and f"{EXACT[0]}" not in block
    # no aggregate of the page places fewer than k petitions: weekly counts and heat bins too (issue 20)
    data = read_page_data(page)
    assert data["k"] == 3
    assert all(n == 0 or n >= 3 for week in data["weeks"]["counts"] for n in week)
    assert all(p[2] >= 3 for p in data["heat"]["points"])
    one_week = c.get("/maps/unit/110105001", params={"since": "2023-06-05", "until": "2023-06-12"}).text
    wk = read_page_data(one_week)
    assert all(n == 0 or n >= 3 for week in wk["weeks"]["counts"] for n in week) and not wk["heat"]["points"]
    f = c.get("/maps/unit/110105001", params={"category": "HL1006"}).text
    assert cell_stats(read_page_data(f))["110105001001001"]["petitions"] == 3
    assert c.get("/maps/unit/999").status_code == 404
    assert c.get("/maps/unit/110105001", params={"since": "2023-07-01", "until": "2023-06-01"}).json()[
        "code"
    ] == ("invalid_range")


def test_street_page_in_a_browser(city: str, browser_page: Any) -> None:
    with _browser.serve_app(create_app(database_url=city)) as base:
        bp = browser_page
        pg = bp.page
        pg.goto(f"{base}/maps/unit/110105001")
        pg.wait_for_selector(".leaflet-container")
        pg.wait_for_timeout(300)
        assert pg.is_visible("#gg-legend") and "每百户" in pg.inner_text("#gg-legend")
        paths = "Object.keys(Object.values(window).find(v => v instanceof L.Map)._layers).length"
        before = pg.evaluate(paths)
        label = pg.locator(".leaflet-control-layers-overlays label", has_text="边界 网格 grid")
        label.locator("input").click()  # the grid boundary layer starts hidden
        pg.wait_for_timeout(200)
        assert pg.evaluate(paths) > before
        label.locator("input").click()
        pg.wait_for_timeout(200)
        assert pg.evaluate(paths) == before
        # a click on cell 001 opens its popup: counts, officer and the drill-down link to its own page
        xy = pg.evaluate(
            "(() => { const m = Object.values(window).find(v => v instanceof L.Map);"
            " const p = m.latLngToContainerPoint(gg.bounds('110105001001001').getCenter());"
            " const r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; })()"
        )
        pg.mouse.click(xy[0], xy[1])
        pg.wait_for_selector(".leaflet-popup-content")
        popup = pg.inner_text(".leaflet-popup-content")
        assert "110105001001001" in popup and "王网格" in popup and "6" in popup
        link = pg.get_attribute(".leaflet-popup-content a", "href")
        assert link == "/maps/unit/110105001001001"
        pg.keyboard.press("Escape")
        zoom0 = pg.evaluate("Object.values(window).find(v => v instanceof L.Map).getZoom()")
        pg.fill("#gg-q", "110105001001004")
        pg.press("#gg-q", "Enter")
        pg.wait_for_timeout(500)
        zoom1 = pg.evaluate("Object.values(window).find(v => v instanceof L.Map).getZoom()")
        assert zoom1 > zoom0
        pg.fill("#gg-range", "0")
        pg.dispatch_event("#gg-range", "input")
        assert pg.inner_text("#gg-week").startswith("2023-")
        bp.screenshot("maps_street_110105001")
        pg.goto(f"{base}/maps/unit/110105")
        pg.wait_for_selector(".leaflet-container")
        pg.wait_for_timeout(300)
        bp.screenshot("maps_district_110105")
        pg.goto(f"{base}/maps/")
        bp.screenshot("maps_index")
        bp.assert_local_only()
        bp.assert_clean()


def test_export_opens_from_disk(city: str, tmp_path: Path, browser_page: Any) -> None:
    out = tmp_path / "export"
    res = CliRunner().invoke(cli, ["maps", "export", "--unit", "110105001", "--out", str(out)])
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.glob("*.html")}
    assert {"index.html", "110105001.html", "110105001001.html"} <= names
    assert (out / "static" / "vendor" / "MANIFEST.json").exists()
    page = (out / "index.html").read_text(encoding="utf-8")
    assert external_urls(page) == [] and 'href="static/vendor/' in page
    assert read_page_data(page)["href"] == "{code}.html"  # drill-down links between the exported pages
    bp = browser_page
    bp.page.goto((out / "index.html").as_uri())
    bp.page.wait_for_selector(".leaflet-container")
    bp.page.wait_for_timeout(300)
    assert bp.page.is_visible("#gg-legend")
    assert all(u.startswith("file://") or u.startswith("data:") for u in bp.requests), bp.requests
    bp.assert_clean()
    bp.screenshot("maps_export_110105001")
