"""level code formats: length ranges, pattern alone, nesting rule

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

A level's code may have a fixed length (``code_length``), a length range
(``min_length``/``max_length``) or only a pattern; ``nesting`` says how a unit finds its
parent: ``prefix`` (the code starts with the parent's, the Beijing rule), ``field`` (a field
of the layer) or ``containment`` (spatially, at import).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("unit_level", "code_length", existing_type=sa.Integer(), nullable=True)
    op.add_column("unit_level", sa.Column("min_length", sa.Integer(), nullable=True))
    op.add_column("unit_level", sa.Column("max_length", sa.Integer(), nullable=True))
    op.add_column(
        "unit_level", sa.Column("nesting", sa.String(16), nullable=False, server_default="prefix")
    )
    op.create_check_constraint(
        "ck_unit_level_nesting", "unit_level", "nesting IN ('prefix', 'field', 'containment')"
    )


def downgrade() -> None:
    # before the range columns go: a fixed length is what the older schema can hold
    op.execute("UPDATE unit_level SET code_length = coalesce(code_length, max_length, min_length, 0)")
    op.drop_constraint("ck_unit_level_nesting", "unit_level", type_="check")
    op.drop_column("unit_level", "nesting")
    op.drop_column("unit_level", "max_length")
    op.drop_column("unit_level", "min_length")
    op.alter_column("unit_level", "code_length", existing_type=sa.Integer(), nullable=False)
