"""Bulk load of a historical year: same locating and routing rules as live intake, history kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid.db.catalogue import load_catalogue
from grid.db.models import Petition, PetitionContact, PetitionEvent
from grid.db.petition_bulk import bulk_load
from grid.db.petitions import calendar, limits
from grid.deadlines import deadline_for
from tests.test_jurisdiction import COMM, _world
from tests.world import D0

TZ = ZoneInfo("Asia/Shanghai")


def t(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz=TZ)


def test_bulk_load_locates_routes_and_keeps_history(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    load_catalogue(session, D0)
    nat = pd.NaT
    df = pd.DataFrame(
        {
            "external_id": ["H1", "H2", "H3", "H4"],
            "received_at": [
                t("2023-09-28 10:00"),
                t("2023-06-05 09:00"),
                t("2023-06-05 09:00"),
                t("2023-06-06 09:00"),
            ],
            "channel": ["hotline", "app", "hotline", "hotline"],
            "type": ["complaint", "complaint", "consultation", "complaint"],
            "category": ["HL1006", "HL0206", "HL0803", "HL1006"],
            "urgency": [None, None, None, None],
            "text": ["垃圾", "燃气泄漏", "社保咨询", "垃圾"],
            "address": [None, None, None, "火星路1号"],
            "lon": [116.41, 116.46, float("nan"), float("nan")],
            "lat": [39.94, 39.94, float("nan"), float("nan")],
            "datum": ["wgs84", "wgs84", None, None],
            "contact_name": ["张三", None, None, None],
            "contact_phone": ["13800000000", None, None, None],
            "accepted_at": [t("2023-09-28 11:00"), t("2023-06-05 09:10"), nat, nat],
            "resolved_at": [t("2023-10-09 10:00"), t("2023-06-05 10:00"), nat, nat],
            "callback_at": [t("2023-10-10 10:00"), nat, nat, nat],
            "closed_at": [t("2023-10-11 10:00"), nat, nat, nat],
            "callback_resolved": [True, None, None, None],
            "callback_satisfaction": ["satisfied", None, None, None],
            "callback_none_reason": [None, None, None, None],
            "final_status": ["closed", "resolved", "dispatched", "dispatched"],
        }
    )
    r = bulk_load(session, df, source="history")
    assert r["petitions"] == 4 and r["by_status"] == {
        "closed": 1,
        "resolved": 1,
        "dispatched": 1,
        "needs_location": 1,
    }
    rows = {p.external_id: p for p in session.scalars(select(Petition))}
    h1, h2, h3, h4 = rows["H1"], rows["H2"], rows["H3"], rows["H4"]
    assert h1.cell_code == COMM + "001" and h1.lead_department == "110105001-cgb" and h1.status == "closed"
    # received Thu 09-28; holiday 09-29..10-06; make-up Sat 10-07 (1) and Sun 10-08 (2); 10-09..13 (3..7):
    # due at the end of Fri 10-13
    assert h1.due_at == deadline_for(h1.received_at, "general", limits(), calendar()).due_at
    assert h1.due_at == dt.datetime(2023, 10, 14, tzinfo=TZ)
    assert h2.urgency == "urgent" and h2.due_at == dt.datetime(2023, 6, 5, 11, tzinfo=TZ)
    assert h2.street_code == "110105002" and h2.answered_at is not None
    assert h3.lead_department == "110000-rsj" and h3.location_status == "not_needed" and h3.owner_code is None
    assert h4.status == "needs_location" and h4.lead_department is None
    assert session.get(PetitionContact, h1.id).phone == "13800000000"  # type: ignore[union-attr]
    ev = session.scalars(
        select(PetitionEvent.action).where(PetitionEvent.petition_id == h1.id).order_by(PetitionEvent.id)
    ).all()
    assert list(ev) == ["receive", "dispatch", "accept", "resolve", "callback", "close"]
    # loading the same file again adds nothing
    again = bulk_load(session, df, source="history")
    assert again["petitions"] == 0 and again["replayed"] == 4
