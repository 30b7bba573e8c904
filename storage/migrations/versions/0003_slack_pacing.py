"""slack pacing: a token bucket per channel and a queue of non-card messages

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa

from storage.models import UTCDateTime

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'slack_channels',
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('tokens', sa.Float(), nullable=False),
        sa.Column('refilled_at', UTCDateTime(), nullable=False),
        sa.Column('not_before', UTCDateTime(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('channel'),
    )
    op.create_table(
        'slack_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('ref_id', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('rank', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('ts', sa.String(length=32), nullable=True),
        sa.Column('claimed_at', UTCDateTime(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('slack_messages', schema=None) as batch_op:
        batch_op.create_index('ix_slack_messages_state', ['state', 'rank', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('slack_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_slack_messages_state')
    op.drop_table('slack_messages')
    op.drop_table('slack_channels')
