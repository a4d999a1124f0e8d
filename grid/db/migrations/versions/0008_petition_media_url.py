"""petition media_url

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

The URL of a photo or other media the resident sent (Open311's ``media_url``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("petition", sa.Column("media_url", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("petition", "media_url")
