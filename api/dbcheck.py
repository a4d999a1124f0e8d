"""``python -m api.dbcheck``: check that the configured databases answer and have PostGIS."""

from __future__ import annotations

import sys

from sqlalchemy import create_engine, text

from grid.config import get_settings


def main() -> int:
    s = get_settings()
    ok = True
    for label, url in (("database", s.database_url), ("test database", s.test_database_url)):
        try:
            eng = create_engine(url)
            with eng.connect() as c:
                v = c.execute(text("select postgis_lib_version()")).scalar()
            print(f"bootstrap: {label} ok ({eng.url.render_as_string(hide_password=True)}, PostGIS {v})")
        except Exception as exc:  # report, not crash: this is a setup check
            ok = False
            print(f"bootstrap: {label} NOT reachable or without PostGIS: {exc}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
