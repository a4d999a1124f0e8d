"""generation triggers for buildings and their cell bindings

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

The geocoder's in-memory gazetteer carries each building's cell binding, cached per store
generation: a change to buildings or bindings alone (``gridgov import buildings``) must bump the
generation too, or addresses keep answering the old cell until some other change.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("building", "building_cell")


def upgrade() -> None:
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER trg_{table}_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gridgov_bump_generation()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_generation ON {table}")
