"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:45:19.543680
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
import geoalchemy2
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


EXCLUSIONS = {
    # no two versions of the same thing may be valid on the same day
    "unit": "code",
    "staff": "unit_code, role",
    "building": "building_id",
    "building_cell": "building_id",
}


def upgrade() -> None:
    # Extensions: created by scripts/bootstrap as the superuser; IF NOT EXISTS makes this a no-op there.
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table('building',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.String(length=64), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('compound', sa.Text(), nullable=True),
    sa.Column('road', sa.Text(), nullable=True),
    sa.Column('door_number', sa.String(length=32), nullable=True),
    sa.Column('building_no', sa.String(length=32), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('footprint', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('floors', sa.Integer(), nullable=True),
    sa.Column('community_code', sa.String(length=32), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('source_datum', sa.String(length=32), nullable=False),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name='ck_building_validity'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('idx_building_geom', 'building', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_building_bid', 'building', ['building_id'], unique=False)
    op.create_table('building_cell',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.String(length=64), nullable=False),
    sa.Column('cell_code', sa.String(length=32), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name='ck_building_cell_validity'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_building_cell_bid', 'building_cell', ['building_id'], unique=False)
    op.create_index('ix_building_cell_cell', 'building_cell', ['cell_code'], unique=False)
    op.create_table('category',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('parent_code', sa.String(length=32), nullable=True),
    sa.Column('scheme', sa.String(length=32), nullable=False),
    sa.Column('needs_place', sa.Boolean(), nullable=False),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['parent_code'], ['category.code'], ),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('department',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('unit_code', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_index(op.f('ix_department_unit_code'), 'department', ['unit_code'], unique=False)
    op.create_table('import_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('level', sa.String(length=32), nullable=True),
    sa.Column('datum', sa.String(length=32), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('findings', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('accepted', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('repairs', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('summary', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_code', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name='ck_staff_validity'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_staff_unit', 'staff', ['unit_code'], unique=False)
    op.create_table('unit_level',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('code_length', sa.Integer(), nullable=False),
    sa.Column('pattern', sa.String(length=200), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('parent', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['parent'], ['unit_level.name'], ),
    sa.PrimaryKeyConstraint('name'),
    sa.UniqueConstraint('rank')
    )
    op.create_table('routing_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category_code', sa.String(length=32), nullable=False),
    sa.Column('unit_code', sa.String(length=32), nullable=False),
    sa.Column('department_code', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name='ck_routing_rule_validity'),
    sa.ForeignKeyConstraint(['category_code'], ['category.code'], ),
    sa.ForeignKeyConstraint(['department_code'], ['department.code'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_routing_unit_cat', 'routing_rule', ['unit_code', 'category_code'], unique=False)
    op.create_table('unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('parent_code', sa.String(length=32), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('geom_source', geoalchemy2.types.Geometry(dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('households', sa.Integer(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('source_datum', sa.String(length=32), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name='ck_unit_validity'),
    sa.ForeignKeyConstraint(['import_id'], ['import_run.id'], ),
    sa.ForeignKeyConstraint(['level'], ['unit_level.name'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('idx_unit_geom', 'unit', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_unit_level_code', 'unit', ['level', 'code'], unique=False)
    op.create_index('ix_unit_parent', 'unit', ['parent_code'], unique=False)
    for table, cols in EXCLUSIONS.items():
        eq = ", ".join(f"{c.strip()} WITH =" for c in cols.split(","))
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT ex_{table}_overlap EXCLUDE USING gist "
            f"({eq}, daterange(valid_from, valid_to, '[)') WITH &&)"
        )
    op.execute(
        "ALTER TABLE routing_rule ADD CONSTRAINT ex_routing_rule_overlap EXCLUDE USING gist "
        "(category_code WITH =, unit_code WITH =, department_code WITH =, "
        "daterange(valid_from, valid_to, '[)') WITH &&)"
    )
    levels = sa.table(
        "unit_level",
        sa.column("name", sa.String), sa.column("rank", sa.Integer), sa.column("code_length", sa.Integer),
        sa.column("pattern", sa.String), sa.column("label", sa.String), sa.column("parent", sa.String),
    )
    op.bulk_insert(levels, [
        {"name": "district", "rank": 0, "code_length": 6, "pattern": r"\d{6}", "label": "区", "parent": None},
        {"name": "street", "rank": 1, "code_length": 9, "pattern": r"\d{9}", "label": "街道/乡镇", "parent": "district"},
        {"name": "community", "rank": 2, "code_length": 12, "pattern": r"\d{12}", "label": "社区/村", "parent": "street"},
        {"name": "grid", "rank": 3, "code_length": 15, "pattern": r"\d{15}", "label": "网格", "parent": "community"},
    ])


def downgrade() -> None:
    op.drop_index('ix_unit_parent', table_name='unit')
    op.drop_index('ix_unit_level_code', table_name='unit')
    op.drop_index('idx_unit_geom', table_name='unit', postgresql_using='gist')
    op.drop_table('unit')
    op.drop_index('ix_routing_unit_cat', table_name='routing_rule')
    op.drop_table('routing_rule')
    op.drop_table('unit_level')
    op.drop_index('ix_staff_unit', table_name='staff')
    op.drop_table('staff')
    op.drop_table('import_run')
    op.drop_index(op.f('ix_department_unit_code'), table_name='department')
    op.drop_table('department')
    op.drop_table('category')
    op.drop_index('ix_building_cell_cell', table_name='building_cell')
    op.drop_index('ix_building_cell_bid', table_name='building_cell')
    op.drop_table('building_cell')
    op.drop_index('ix_building_bid', table_name='building')
    op.drop_index('idx_building_geom', table_name='building', postgresql_using='gist')
    op.drop_table('building')
    