"""Bulk load of a historical year: same locating and routing rules as live intake, history kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from data.routing import load_catalogue
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


def test_sql_counts_agree_with_the_pandas_definition(session: Session, tmp_path: Path) -> None:
    import numpy as np

    from grid.db.petitions import CITY
    from grid.db.scores import month_counts, month_frame
    from grid.scores import COUNT_COLUMNS, compute_scores

    _world(session, tmp_path)
    load_catalogue(session, D0)
    rng = np.random.default_rng(4)
    n = 300
    received = [t("2023-06-01") + pd.Timedelta(minutes=int(m)) for m in rng.integers(-3 * 1440, 33 * 1440, n)]
    answered = [
        r + pd.Timedelta(hours=float(h)) if rng.random() < 0.8 else pd.NaT
        for r, h in zip(received, rng.exponential(120, n), strict=True)
    ]
    cb = [bool(rng.random() < 0.8) if a is not pd.NaT and rng.random() < 0.7 else None for a in answered]
    sat = [
        str(rng.choice(["satisfied", "basically_satisfied", "unsatisfied"])) if c is not None else None
        for c in cb
    ]
    cats = rng.choice(["HL1006", "HL0502", "HL0206", "HL0803"], n)
    df = pd.DataFrame(
        {
            "external_id": [f"R{i}" for i in range(n)],
            "received_at": received,
            "channel": "hotline",
            "type": ["consultation" if c == "HL0803" else "complaint" for c in cats],
            "category": cats,
            "urgency": None,
            "text": "x",
            "address": None,
            "lon": rng.uniform(116.401, 116.499, n),
            "lat": rng.uniform(39.851, 39.949, n),
            "datum": "wgs84",
            "accepted_at": answered,
            "resolved_at": answered,
            "callback_at": [a if c is not None else pd.NaT for a, c in zip(answered, cb, strict=True)],
            "closed_at": pd.NaT,
            "callback_resolved": cb,
            "callback_satisfaction": sat,
            "callback_none_reason": None,
            "final_status": [
                "callback" if c is not None else ("resolved" if a is not pd.NaT else "accepted")
                for a, c in zip(answered, cb, strict=True)
            ],
        }
    )
    bulk_load(session, df, source="random")
    frame = month_frame(session, "2023-06", scope=CITY)
    for as_of in (t("2023-06-20"), t("2023-08-01")):
        for level in ("cell", "community", "street", "district", "department"):
            sql = month_counts(session, level=level, month="2023-06", as_of=as_of.to_pydatetime(), scope=CITY)
            ref = compute_scores(frame, level=level, month="2023-06", as_of=as_of.to_pydatetime())
            a = sql.sort_values("code").reset_index(drop=True)[["code", *COUNT_COLUMNS]]
            b = ref.sort_values("code").reset_index(drop=True)[["code", *COUNT_COLUMNS]]
            assert len(a) > 0
            pd.testing.assert_frame_equal(a, b, check_dtype=False)
