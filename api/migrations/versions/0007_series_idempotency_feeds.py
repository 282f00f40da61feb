"""series, idempotency keys and calendar feeds

Recurring bookings (session_series, and live_sessions.series_id and
occurrence_start linking each occurrence to its series), stored responses of
booking requests sent with an Idempotency-Key (idempotency_keys), and the
hashed secrets of tutors' and guardians' calendar feeds (calendar_feeds).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('session_series',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('org_id', sa.String(length=32), nullable=False),
    sa.Column('tutor_id', sa.String(length=32), nullable=False),
    sa.Column('student_ids', sa.JSON(), nullable=False),
    sa.Column('subject', sa.String(length=100), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('start_time', sa.Time(), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('rrule', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_session_series_org_id_organizations')),
    sa.ForeignKeyConstraint(['tutor_id'], ['tutors.id'], name=op.f('fk_session_series_tutor_id_tutors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_series'))
    )
    with op.batch_alter_table('session_series', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_series_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_session_series_tutor_id'), ['tutor_id'], unique=False)

    with op.batch_alter_table('live_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('series_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('occurrence_start', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_live_sessions_series_id'), ['series_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_live_sessions_series_id_session_series'), 'session_series', ['series_id'], ['id'], ondelete='SET NULL')

    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('principal_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('principal_id', 'key', name=op.f('uq_idempotency_keys_principal_id_key'))
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_keys_created_at'), ['created_at'], unique=False)

    op.create_table('calendar_feeds',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('org_id', sa.String(length=32), nullable=False),
    sa.Column('owner_kind', sa.Enum('tutor', 'guardian', name='feed_owner', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_calendar_feeds_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_feeds')),
    sa.UniqueConstraint('owner_kind', 'owner_id', name=op.f('uq_calendar_feeds_owner_kind_owner_id')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_calendar_feeds_token_hash'))
    )
    with op.batch_alter_table('calendar_feeds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_feeds_org_id'), ['org_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('calendar_feeds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_feeds_org_id'))
    op.drop_table('calendar_feeds')

    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_keys_created_at'))
    op.drop_table('idempotency_keys')

    with op.batch_alter_table('live_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_live_sessions_series_id_session_series'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_live_sessions_series_id'))
        batch_op.drop_column('occurrence_start')
        batch_op.drop_column('series_id')

    with op.batch_alter_table('session_series', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_series_tutor_id'))
        batch_op.drop_index(batch_op.f('ix_session_series_org_id'))
    op.drop_table('session_series')
