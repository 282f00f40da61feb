"""notifications: the guardian email delivery log (notification_deliveries)

One row per email we mean to send a guardian, keyed by kind, event and
guardian so a retried handler never queues twice; the dispatcher moves it
pending -> sending -> sent (or failed), and opted-out guardians get a
skipped row with the reason.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('notification_deliveries',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('org_id', sa.String(length=32), nullable=False),
    sa.Column('guardian_id', sa.String(length=32), nullable=False),
    sa.Column('student_id', sa.String(length=32), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=True),
    sa.Column('kind', sa.Enum('absence_notice', 'session_summary', name='delivery_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('to_address', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('text_body', sa.Text(), nullable=True),
    sa.Column('html_body', sa.Text(), nullable=True),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sending', 'sent', 'failed', 'skipped', name='delivery_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('skip_reason', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=2000), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claim_token', sa.String(length=32), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_notification_deliveries_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_deliveries')),
    sa.UniqueConstraint('key', name=op.f('uq_notification_deliveries_key'))
    )
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_deliveries_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_index('ix_notification_deliveries_org_created', ['org_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_deliveries_session_id'), ['session_id'], unique=False)
        batch_op.create_index('ix_notification_deliveries_status_due', ['status', 'next_attempt_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_deliveries_status_due')
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_session_id'))
        batch_op.drop_index('ix_notification_deliveries_org_created')
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_guardian_id'))

    op.drop_table('notification_deliveries')
