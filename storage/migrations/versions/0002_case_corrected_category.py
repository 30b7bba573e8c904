"""case corrected_category: the category the team re-filed a case as

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable and without a default: adding it is instant on every database, existing cases read as "not re-filed".
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('corrected_category', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('corrected_category')
