"""ingest in two stages: posts stored untriaged, then claimed and triaged in batches

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 11:40:00.000000
"""
from alembic import op
import sqlalchemy as sa

import storage.models


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Posts stored before this migration were triaged when stored: they are "done".
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verdict', sa.String(length=10), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('triage_state', sa.String(length=10), nullable=False, server_default='done'))
        batch_op.add_column(sa.Column('triage_claim', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('triage_claimed_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('triage_error', sa.Text(), nullable=True))
        batch_op.create_index('ix_posts_triage_state', ['triage_state', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_index('ix_posts_triage_state')
        batch_op.drop_column('triage_error')
        batch_op.drop_column('triage_claimed_at')
        batch_op.drop_column('triage_claim')
        batch_op.drop_column('triage_state')
        batch_op.drop_column('verdict')
