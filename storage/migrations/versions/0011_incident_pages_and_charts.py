"""incidents: the page DMs sent (edited once someone acknowledges), and the rate charts owed to a thread (uploaded once, crash or not)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 15:10:00.000000
"""
from alembic import op
import sqlalchemy as sa

import storage.models


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New tables only: existing incidents keep their chart_*_at marks (a chart claimed before this counts as uploaded),
    # and pages sent before this are not known, so they keep their button (an acknowledge there is still checked).
    op.create_table(
        'incident_pages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('ts', sa.String(length=32), nullable=False),
        sa.Column('escalated', sa.Boolean(), nullable=False),
        sa.Column('sent_at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('closed_at', storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('incident_pages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_pages_incident_id'), ['incident_id'], unique=False)
    op.create_table(
        'incident_charts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('claimed_until', storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('next_attempt_at', storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('file_id', sa.String(length=32), nullable=True),
        sa.Column('done_at', storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('incident_id', 'event', name='uq_incident_charts_event'),
    )


def downgrade() -> None:
    op.drop_table('incident_charts')
    with op.batch_alter_table('incident_pages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_pages_incident_id'))
    op.drop_table('incident_pages')
