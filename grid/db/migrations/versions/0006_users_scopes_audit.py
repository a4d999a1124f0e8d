"""users, key scopes and the contact audit log

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        'api_key',
        sa.Column('scope', postgresql.ARRAY(sa.String(length=32)), server_default='{}', nullable=False),
    )
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.Text(), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('roles', postgresql.ARRAY(sa.String(length=32)), nullable=False),
    sa.Column('scope', postgresql.ARRAY(sa.String(length=32)), server_default='{}', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('contact_access',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.String(length=160), nullable=False),
    sa.Column('petition_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('via', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_contact_access_petition', 'contact_access', ['petition_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_contact_access_petition', table_name='contact_access')
    op.drop_table('contact_access')
    op.drop_table('app_user')
    op.drop_column('api_key', 'scope')
