"""status updates: an incident's public updates on the brand's own account and Page, and the reminder

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa

from storage.models import UTCDateTime

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'status_updates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('network', sa.String(length=20), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('final', sa.Boolean(), nullable=False),
        sa.Column('requested_by', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('external_id', sa.String(length=128), nullable=True),
        sa.Column('url', sa.Text(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('sent_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['incident_id'], ['incidents.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('status_updates', schema=None) as batch_op:
        batch_op.create_index('ix_status_updates_incident_id', ['incident_id'], unique=False)
    # Nullable: instant everywhere; existing incidents read as "no status update yet".
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_status_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('last_status_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('reminded_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_column('reminded_at')
        batch_op.drop_column('last_status_at')
        batch_op.drop_column('first_status_at')
    with op.batch_alter_table('status_updates', schema=None) as batch_op:
        batch_op.drop_index('ix_status_updates_incident_id')
    op.drop_table('status_updates')
