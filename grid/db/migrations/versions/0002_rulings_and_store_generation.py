"""rulings and store generation

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:07:47.893946
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
import geoalchemy2

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('store_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('ruling',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('level', sa.String(length=32), nullable=False),
    sa.Column('owner_code', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('author', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('supersedes', sa.Integer(), nullable=True),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name='ck_ruling_validity'),
    sa.ForeignKeyConstraint(['level'], ['unit_level.name'], ),
    sa.ForeignKeyConstraint(['supersedes'], ['ruling.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('idx_ruling_geom', 'ruling', ['geom'], unique=False, postgresql_using='gist')
    op.execute("INSERT INTO store_generation (id, generation) VALUES (1, 0)")
    # a sequence, not generation + 1: nextval is never rolled back, so a generation number seen
    # inside a transaction that rolled back can never come back with other data
    op.execute("CREATE SEQUENCE store_generation_seq")
    op.execute(
        "CREATE FUNCTION gridgov_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN UPDATE store_generation SET generation = nextval('store_generation_seq') WHERE id = 1; "
        "RETURN NULL; END $$"
    )
    for table in ("unit", "ruling"):
        op.execute(
            f"CREATE TRIGGER trg_{table}_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gridgov_bump_generation()"
        )


def downgrade() -> None:
    for table in ("unit", "ruling"):
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_generation ON {table}")
    op.execute("DROP FUNCTION IF EXISTS gridgov_bump_generation()")
    op.execute("DROP SEQUENCE IF EXISTS store_generation_seq")
    op.drop_index('idx_ruling_geom', table_name='ruling', postgresql_using='gist')
    op.drop_table('ruling')
    op.drop_table('store_generation')
