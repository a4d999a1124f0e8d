"""gazetteer

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 04:19:38.123957
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
import geoalchemy2
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gazetteer_place',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('place_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('aliases', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('building_id', sa.String(length=64), nullable=True),
    sa.Column('compound', sa.Text(), nullable=True),
    sa.Column('road', sa.Text(), nullable=True),
    sa.Column('door_number', sa.String(length=32), nullable=True),
    sa.Column('building_no', sa.String(length=32), nullable=True),
    sa.Column('community_code', sa.String(length=32), nullable=True),
    sa.Column('households', sa.Integer(), nullable=True),
    sa.Column('door_ranges', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('source_datum', sa.String(length=32), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name='ck_gazetteer_place_validity'),
    sa.ForeignKeyConstraint(['import_id'], ['import_run.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('idx_gazetteer_place_geom', 'gazetteer_place', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_gazetteer_place_building', 'gazetteer_place', ['building_id'], unique=False)
    op.create_index('ix_gazetteer_place_kind_name', 'gazetteer_place', ['kind', 'name'], unique=False)
    op.create_index('ix_gazetteer_place_pid', 'gazetteer_place', ['place_id'], unique=False)
    op.execute(
        "ALTER TABLE gazetteer_place ADD CONSTRAINT ex_gazetteer_place_overlap EXCLUDE USING gist "
        "(place_id WITH =, daterange(valid_from, valid_to, '[)') WITH &&)"
    )
    op.execute(
        "CREATE TRIGGER trg_gazetteer_place_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        "ON gazetteer_place FOR EACH STATEMENT EXECUTE FUNCTION gridgov_bump_generation()"
    )


def downgrade() -> None:
    op.drop_index('ix_gazetteer_place_pid', table_name='gazetteer_place')
    op.drop_index('ix_gazetteer_place_kind_name', table_name='gazetteer_place')
    op.drop_index('ix_gazetteer_place_building', table_name='gazetteer_place')
    op.drop_index('idx_gazetteer_place_geom', table_name='gazetteer_place', postgresql_using='gist')
    op.drop_table('gazetteer_place')
