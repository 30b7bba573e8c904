"""incidents: network (split off by network), paging acknowledgement and escalation, rate-chart uploads

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 12:00:00.000000
"""
from alembic import op
import sqlalchemy as sa

import storage.models


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

COLUMNS = ('network', 'acknowledged_by', 'acknowledged_at', 'escalated_at', 'escalated_to', 'chart_opened_at', 'chart_resolved_at')


def upgrade() -> None:
    # Nullable and without defaults: instant on every database; existing incidents read as never acknowledged or charted.
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('network', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_by', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('escalated_to', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('chart_opened_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('chart_resolved_at', storage.models.UTCDateTime(timezone=True), nullable=True))
    # Incidents from before charts count as charted: an upgrade must not upload a chart for every past incident.
    op.execute("UPDATE incidents SET chart_opened_at = created_at, chart_resolved_at = resolved_at")


def downgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
