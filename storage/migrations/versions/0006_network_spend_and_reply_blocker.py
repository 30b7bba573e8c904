"""network_spend (what each paid API call cost) and posts.reply_blocker (X's 2026 reply rule)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:30:00.000000
"""
from alembic import op
import sqlalchemy as sa

import storage.models


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'network_spend',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('network', sa.String(length=20), nullable=False),
        sa.Column('operation', sa.String(length=32), nullable=False),
        sa.Column('units', sa.Integer(), nullable=False),
        sa.Column('cost_micros', sa.Integer(), nullable=False),
        sa.Column('at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('network_spend', schema=None) as batch_op:
        batch_op.create_index('ix_network_spend_network_at', ['network', 'at'], unique=False)
    # Nullable and without a default: instant on every database; existing posts read as answerable.
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply_blocker', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_column('reply_blocker')
    with op.batch_alter_table('network_spend', schema=None) as batch_op:
        batch_op.drop_index('ix_network_spend_network_at')
    op.drop_table('network_spend')
