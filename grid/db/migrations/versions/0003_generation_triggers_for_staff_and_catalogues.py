"""generation triggers for staff and catalogues

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Jurisdiction answers are served from memory (officers and the routing catalogue too), so any
change to staff, categories, departments or routing rules must also bump the store generation.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("staff", "category", "department", "routing_rule")


def upgrade() -> None:
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER trg_{table}_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gridgov_bump_generation()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_generation ON {table}")
