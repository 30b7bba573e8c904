"""cards catch up (a version per case change, the version Slack last showed, one editor at a time); replies whose outcome is unknown

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-30 11:40:00.000000
"""
from alembic import op
import sqlalchemy as sa

import storage.models


revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing cards count as current (0 == 0); the next change makes them stale and edits them.
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_version', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('card_shown', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('card_lease', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('card_lease_until', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_cases_card_stale', ['id'], unique=False,
                              sqlite_where=sa.text('card_shown < card_version'), postgresql_where=sa.text('card_shown < card_version'))
    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uncertain', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('checked', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.drop_column('checked')
        batch_op.drop_column('uncertain')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_card_stale')
        batch_op.drop_column('card_lease_until')
        batch_op.drop_column('card_lease')
        batch_op.drop_column('card_shown')
        batch_op.drop_column('card_version')
