"""petitions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 06:25:12.703037
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
import geoalchemy2
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('roles', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash'),
    sa.UniqueConstraint('name')
    )
    op.create_table('petition',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('token', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=128), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('category_code', sa.String(length=32), nullable=False),
    sa.Column('urgency_requested', sa.String(length=16), nullable=True),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('input_lon', sa.Double(), nullable=True),
    sa.Column('input_lat', sa.Double(), nullable=True),
    sa.Column('input_datum', sa.String(length=32), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('location_status', sa.String(length=16), nullable=False),
    sa.Column('location_method', sa.String(length=32), nullable=True),
    sa.Column('geocode', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('ownership', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('candidates', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('owner_code', sa.String(length=32), nullable=True),
    sa.Column('owner_chain', postgresql.ARRAY(sa.String(length=32)), nullable=False),
    sa.Column('cell_code', sa.String(length=32), nullable=True),
    sa.Column('community_code', sa.String(length=32), nullable=True),
    sa.Column('street_code', sa.String(length=32), nullable=True),
    sa.Column('district_code', sa.String(length=32), nullable=True),
    sa.Column('building_id', sa.String(length=64), nullable=True),
    sa.Column('lead_department', sa.String(length=64), nullable=True),
    sa.Column('co_departments', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('routing', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('first_receiver', sa.String(length=64), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('time_limit', sa.String(length=16), nullable=True),
    sa.Column('calendar_covered', sa.Boolean(), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('callback_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('callback_resolved', sa.Boolean(), nullable=True),
    sa.Column('callback_satisfaction', sa.String(length=24), nullable=True),
    sa.Column('callback_none_reason', sa.Text(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duplicate_of', sa.BigInteger(), nullable=True),
    sa.Column('return_count', sa.Integer(), nullable=False),
    sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("callback_satisfaction IS NULL OR callback_satisfaction IN ('satisfied', 'basically_satisfied', 'unsatisfied')", name='ck_petition_satisfaction'),
    sa.ForeignKeyConstraint(['category_code'], ['category.code'], ),
    sa.ForeignKeyConstraint(['duplicate_of'], ['petition.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('external_id'),
    sa.UniqueConstraint('token')
    )
    op.create_index('idx_petition_geom', 'petition', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_petition_category_received', 'petition', ['category_code', 'received_at'], unique=False)
    op.create_index(op.f('ix_petition_duplicate_of'), 'petition', ['duplicate_of'], unique=False)
    op.create_index(op.f('ix_petition_lead_department'), 'petition', ['lead_department'], unique=False)
    op.create_index('ix_petition_owner_chain', 'petition', ['owner_chain'], unique=False, postgresql_using='gin')
    op.create_index('ix_petition_received', 'petition', ['received_at'], unique=False)
    op.create_index('ix_petition_status', 'petition', ['status'], unique=False)
    op.create_table('petition_contact',
    sa.Column('petition_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('email', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['petition_id'], ['petition.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('petition_id')
    )
    op.create_table('petition_event',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('petition_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.ForeignKeyConstraint(['petition_id'], ['petition.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_petition_event_petition', 'petition_event', ['petition_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_petition_event_petition', table_name='petition_event')
    op.drop_table('petition_event')
    op.drop_table('petition_contact')
    op.drop_index('ix_petition_status', table_name='petition')
    op.drop_index('ix_petition_received', table_name='petition')
    op.drop_index('ix_petition_owner_chain', table_name='petition', postgresql_using='gin')
    op.drop_index(op.f('ix_petition_lead_department'), table_name='petition')
    op.drop_index(op.f('ix_petition_duplicate_of'), table_name='petition')
    op.drop_index('ix_petition_category_received', table_name='petition')
    op.drop_index('idx_petition_geom', table_name='petition', postgresql_using='gist')
    op.drop_table('petition')
    op.drop_table('api_key')
