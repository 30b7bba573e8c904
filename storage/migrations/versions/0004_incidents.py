"""incidents: one message and one page for many posts about the same problem

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:15:00.000000
"""
from alembic import op
import sqlalchemy as sa

from storage.models import UTCDateTime

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'incidents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('origin', sa.String(length=10), nullable=False),
        sa.Column('declared_by', sa.String(length=32), nullable=True),
        sa.Column('profile', sa.JSON(), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('message_ts', sa.String(length=32), nullable=True),
        sa.Column('merged_into', sa.Integer(), nullable=True),
        sa.Column('changed', sa.Boolean(), nullable=False),
        sa.Column('shown_at', UTCDateTime(), nullable=True),
        sa.Column('paged_at', UTCDateTime(), nullable=True),
        sa.Column('paged_user', sa.String(length=32), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('resolved_at', UTCDateTime(), nullable=True),
        sa.Column('resolved_by', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_status', ['status'], unique=False)
    # Nullable, no default: instant on every database; existing cases are in no incident.
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('incident_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_cases_incident_id', ['incident_id'], unique=False)
        batch_op.create_foreign_key('fk_cases_incident_id', 'incidents', ['incident_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint('fk_cases_incident_id', type_='foreignkey')
        batch_op.drop_index('ix_cases_incident_id')
        batch_op.drop_column('incident_id')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_status')
    op.drop_table('incidents')
